//! The key lifecycle as pure functions of the stored keys and the time: which key is next,
//! active or retired, and what maintenance or a rotation must change. States are derived
//! from timestamps, never stored, so every replica reading the same rows agrees.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::algorithm::SigningAlgorithm;

/// How keys rotate.
#[derive(Clone, Copy, Debug)]
pub struct KeyPolicy {
    /// How long a key signs before its successor takes over.
    pub rotation_period: TimeDelta,
    /// How long a new key is published before it may sign, so relying parties that cache
    /// the JWKS have it before they see a token signed with it.
    pub publish_ahead: TimeDelta,
    /// How long a retired key stays published: the longest lifetime of anything it signed.
    pub retain_retired: TimeDelta,
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Published and signing.
    Active,
    /// Published so tokens it signed still verify; signs nothing.
    Retired,
}

/// The part of a stored key that its schedule depends on.
#[derive(Clone, Debug)]
pub(crate) struct KeyTimes {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
}

/// A key with its derived state and the times it changes state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduledKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub state: KeyState,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    /// When its successor takes over (in the future for the active key, if one is scheduled).
    pub retires_at: Option<DateTime<Utc>>,
    /// When it leaves the JWKS.
    pub unpublished_at: Option<DateTime<Utc>>,
}

/// Derives every key's state at `now`. A key retires when the next generation activates.
pub(crate) fn schedule(
    keys: &[KeyTimes],
    now: DateTime<Utc>,
    policy: &KeyPolicy,
) -> Vec<ScheduledKey> {
    let mut sorted: Vec<&KeyTimes> = keys.iter().collect();
    sorted.sort_by_key(|k| (k.algorithm.as_str(), k.generation));
    sorted
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let successor = sorted.get(i + 1).filter(|s| s.algorithm == key.algorithm);
            let retires_at = successor.map(|s| s.activates_at);
            let state = if key.activates_at > now {
                KeyState::Next
            } else if retires_at.is_some_and(|r| r <= now) {
                KeyState::Retired
            } else {
                KeyState::Active
            };
            ScheduledKey {
                kid: key.kid.clone(),
                algorithm: key.algorithm,
                state,
                generation: key.generation,
                created_at: key.created_at,
                activates_at: key.activates_at,
                retires_at,
                unpublished_at: retires_at.map(|r| r + policy.retain_retired),
            }
        })
        .collect()
}

/// A change to the stored keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Generate and store a key of this generation that activates at the given time.
    Create {
        algorithm: SigningAlgorithm,
        generation: i64,
        activates_at: DateTime<Utc>,
    },
    /// Move a next key's activation earlier, to the given time.
    Promote {
        kid: String,
        activates_at: DateTime<Utc>,
    },
    /// Delete a retired key whose tokens have all expired.
    Delete { kid: String },
}

/// What keeps the ring healthy at `now`: an active and a next key for each algorithm, and no
/// key published longer than needed.
pub(crate) fn maintenance(
    keys: &[ScheduledKey],
    now: DateTime<Utc>,
    policy: &KeyPolicy,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for algorithm in SigningAlgorithm::ALL {
        let of_alg: Vec<&ScheduledKey> = keys.iter().filter(|k| k.algorithm == algorithm).collect();
        let last_generation = of_alg.iter().map(|k| k.generation).max().unwrap_or(0);
        for key in &of_alg {
            if key.unpublished_at.is_some_and(|at| at <= now) && key.state == KeyState::Retired {
                changes.push(Change::Delete {
                    kid: key.kid.clone(),
                });
            }
        }
        let active = of_alg.iter().find(|k| k.state == KeyState::Active);
        let next = of_alg.iter().find(|k| k.state == KeyState::Next);
        match (active, next) {
            (Some(_), Some(_)) => {}
            (Some(active), None) => changes.push(Change::Create {
                algorithm,
                generation: last_generation + 1,
                activates_at: (active.activates_at + policy.rotation_period)
                    .max(now + policy.publish_ahead),
            }),
            (None, Some(next)) => {
                changes.push(Change::Promote {
                    kid: next.kid.clone(),
                    activates_at: now,
                });
                changes.push(Change::Create {
                    algorithm,
                    generation: last_generation + 1,
                    activates_at: now + policy.rotation_period,
                });
            }
            (None, None) => {
                // First start: nothing has been published, so nothing can be cached yet and
                // the first key may sign at once.
                changes.push(Change::Create {
                    algorithm,
                    generation: last_generation + 1,
                    activates_at: now,
                });
                changes.push(Change::Create {
                    algorithm,
                    generation: last_generation + 2,
                    activates_at: now + policy.rotation_period,
                });
            }
        }
    }
    changes
}

/// A rotation at `now`: each algorithm's next key becomes active as soon as it has been
/// published for `publish_ahead`, and a new next key is scheduled one period after that.
/// Expects a maintained ring (a next key for each algorithm).
pub(crate) fn rotation(
    keys: &[ScheduledKey],
    now: DateTime<Utc>,
    policy: &KeyPolicy,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for algorithm in SigningAlgorithm::ALL {
        let of_alg: Vec<&ScheduledKey> = keys.iter().filter(|k| k.algorithm == algorithm).collect();
        let Some(next) = of_alg.iter().find(|k| k.state == KeyState::Next) else {
            continue;
        };
        let last_generation = of_alg
            .iter()
            .map(|k| k.generation)
            .max()
            .unwrap_or(next.generation);
        let activates_at = now.max(next.created_at + policy.publish_ahead);
        changes.push(Change::Promote {
            kid: next.kid.clone(),
            activates_at,
        });
        changes.push(Change::Create {
            algorithm,
            generation: last_generation + 1,
            activates_at: activates_at + policy.rotation_period,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> KeyPolicy {
        KeyPolicy {
            rotation_period: TimeDelta::days(30),
            publish_ahead: TimeDelta::days(1),
            retain_retired: TimeDelta::hours(72),
        }
    }

    fn t(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::hours(hours)
    }

    /// Applies changes the way the store does, with kids made from the generation.
    fn apply(keys: &mut Vec<KeyTimes>, changes: &[Change], now: DateTime<Utc>) {
        for change in changes {
            match change {
                Change::Create {
                    algorithm,
                    generation,
                    activates_at,
                } => keys.push(KeyTimes {
                    kid: format!("{algorithm}-{generation}"),
                    algorithm: *algorithm,
                    generation: *generation,
                    created_at: now,
                    activates_at: *activates_at,
                }),
                Change::Promote { kid, activates_at } => keys
                    .iter_mut()
                    .filter(|k| &k.kid == kid)
                    .for_each(|k| k.activates_at = *activates_at),
                Change::Delete { kid } => keys.retain(|k| &k.kid != kid),
            }
        }
    }

    fn states(keys: &[KeyTimes], now: DateTime<Utc>) -> Vec<(String, KeyState)> {
        schedule(keys, now, &policy())
            .into_iter()
            .filter(|k| k.algorithm == SigningAlgorithm::Es256)
            .map(|k| (k.kid, k.state))
            .collect()
    }

    #[test]
    fn a_key_goes_from_next_to_active_to_retired_and_then_leaves() {
        let p = policy();
        let mut keys = Vec::new();
        let changes = maintenance(&schedule(&keys, t(0), &p), t(0), &p);
        apply(&mut keys, &changes, t(0));
        assert_eq!(
            states(&keys, t(0)),
            vec![
                ("ES256-1".into(), KeyState::Active),
                ("ES256-2".into(), KeyState::Next)
            ]
        );
        assert!(
            maintenance(&schedule(&keys, t(1), &p), t(1), &p).is_empty(),
            "a healthy ring needs nothing"
        );

        // Thirty days on, the next key takes over by schedule, and maintenance adds a successor.
        let later = t(30 * 24);
        assert_eq!(
            states(&keys, later),
            vec![
                ("ES256-1".into(), KeyState::Retired),
                ("ES256-2".into(), KeyState::Active)
            ]
        );
        let changes = maintenance(&schedule(&keys, later, &p), later, &p);
        assert_eq!(
            changes
                .iter()
                .filter(|c| matches!(
                    c,
                    Change::Create {
                        algorithm: SigningAlgorithm::Es256,
                        ..
                    }
                ))
                .count(),
            1
        );
        apply(&mut keys, &changes, later);

        // The retired key stays published for as long as its tokens live, then goes.
        let just_before = later + p.retain_retired - TimeDelta::seconds(1);
        assert!(maintenance(&schedule(&keys, just_before, &p), just_before, &p).is_empty());
        let after = later + p.retain_retired;
        let changes = maintenance(&schedule(&keys, after, &p), after, &p);
        assert!(changes.contains(&Change::Delete {
            kid: "ES256-1".into()
        }));
    }

    #[test]
    fn a_rotation_waits_until_the_next_key_has_been_published_long_enough() {
        let p = policy();
        let mut keys = Vec::new();
        apply(&mut keys, &maintenance(&[], t(0), &p), t(0));

        // Two hours after first start the next key has been public for two hours only.
        let changes = rotation(&schedule(&keys, t(2), &p), t(2), &p);
        assert!(changes.contains(&Change::Promote {
            kid: "ES256-2".into(),
            activates_at: t(24)
        }));
        apply(&mut keys, &changes, t(2));
        assert_eq!(states(&keys, t(2))[1], ("ES256-2".into(), KeyState::Next));
        assert_eq!(
            states(&keys, t(24)),
            vec![
                ("ES256-1".into(), KeyState::Retired),
                ("ES256-2".into(), KeyState::Active),
                ("ES256-3".into(), KeyState::Next)
            ]
        );

        // Once the next key has been public long enough, a rotation takes effect at once.
        let now = t(24 + 48);
        let changes = rotation(&schedule(&keys, now, &p), now, &p);
        assert!(changes.contains(&Change::Promote {
            kid: "ES256-3".into(),
            activates_at: now
        }));
    }

    #[test]
    fn a_ring_with_only_a_next_key_promotes_it_rather_than_signing_with_nothing() {
        let p = policy();
        let keys = vec![KeyTimes {
            kid: "k".into(),
            algorithm: SigningAlgorithm::Es256,
            generation: 4,
            created_at: t(0),
            activates_at: t(5),
        }];
        let changes = maintenance(&schedule(&keys, t(1), &p), t(1), &p);
        assert!(changes.contains(&Change::Promote {
            kid: "k".into(),
            activates_at: t(1)
        }));
        assert!(changes.contains(&Change::Create {
            algorithm: SigningAlgorithm::Es256,
            generation: 5,
            activates_at: t(1) + p.rotation_period
        }));
    }
}
