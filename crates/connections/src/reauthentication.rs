//! Re-authentication passed on to a connection's provider. An application that asks Latchkey
//! for `prompt=login` or `max_age` before a sensitive action, for a person who signs in
//! through their team's provider, gets what it asked for only if that provider is asked too:
//! otherwise the provider's own session answers silently, and Latchkey would vouch for a fresh
//! sign-in nobody made. So the demand goes upstream, and the `auth_time` the provider's ID
//! token brings back is checked against it (as Keycloak does for brokered providers), since
//! the parameters travel through the browser and can be stripped on the way.

use chrono::{DateTime, TimeDelta, Utc};

use crate::failure::SignInFailure;

/// How far a provider's clock may be from ours.
pub(crate) const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(60);

/// What the application demanded of the sign-in (OpenID Connect Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reauthentication {
    /// `prompt=login`: the person presents their credential again, whatever session they have.
    pub login: bool,
    /// `max_age`: the person presented it no more than this many seconds ago.
    pub max_age: Option<i64>,
}

/// What the authorization request to the provider carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Asked {
    pub prompt_login: bool,
    pub max_age: Option<i64>,
}

impl Reauthentication {
    /// What to ask a provider that takes `prompt=login` or not. One that does not (Google's
    /// `prompt` takes none, consent and select_account) is sent `max_age=0`, which Core
    /// §3.1.2.1 makes equivalent and which obliges it to say `auth_time`.
    pub(crate) fn asked_of(self, takes_prompt_login: bool) -> Asked {
        if self.login && !takes_prompt_login {
            return Asked {
                prompt_login: false,
                max_age: Some(0),
            };
        }
        Asked {
            prompt_login: self.login,
            max_age: self.max_age,
        }
    }

    /// When the person last presented their credential to the provider, as Latchkey's session
    /// records it (and its ID tokens' `auth_time` say), once the provider's `auth_time` meets
    /// the demand. `sent_at`: when the sign-in was sent upstream.
    ///
    /// Where anything was demanded, `auth_time` is required: Core §3.1.2.1 makes it so with
    /// `max_age`, and without it a `prompt=login` stripped on its way through the browser
    /// would go unnoticed. Within the clock skew allowed, the time recorded is moved into the
    /// window demanded, so the authorization request it continues finds it fresh enough.
    pub(crate) fn authenticated_at(
        self,
        auth_time: Option<DateTime<Utc>>,
        sent_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, SignInFailure> {
        let oldest = self.oldest_allowed(sent_at, now);
        let Some(auth_time) = auth_time else {
            return match oldest {
                Some(_) => Err(SignInFailure::NoAuthTime),
                None => Ok(now),
            };
        };
        let Some(oldest) = oldest else {
            return Ok(auth_time.min(now));
        };
        if auth_time < oldest - CLOCK_SKEW {
            return Err(SignInFailure::StaleAuthentication);
        }
        Ok(auth_time.max(oldest).min(now))
    }

    /// The earliest sign-in the demand accepts, if it demands anything.
    fn oldest_allowed(self, sent_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let by_max_age = self.max_age.map(|seconds| {
            TimeDelta::try_seconds(seconds)
                .and_then(|age| now.checked_sub_signed(age))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        });
        let by_login = self.login.then_some(sent_at);
        by_max_age.max(by_login)
    }
}

/// Whether the provider takes `prompt=login`. Google documents `prompt` as none, consent and
/// select_account; every other provider is assumed to follow Core (Okta, Entra ID and
/// node-oidc-provider do).
pub(crate) fn takes_prompt_login(issuer: &str) -> bool {
    !matches!(
        issuer.trim_end_matches('/'),
        "https://accounts.google.com" | "accounts.google.com"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    const LOGIN: Reauthentication = Reauthentication {
        login: true,
        max_age: None,
    };

    #[test]
    fn prompt_login_goes_upstream_as_the_provider_takes_it() {
        let okta = LOGIN.asked_of(takes_prompt_login("https://acme.okta.com"));
        assert_eq!(
            okta,
            Asked {
                prompt_login: true,
                max_age: None
            }
        );
        let google = LOGIN.asked_of(takes_prompt_login("https://accounts.google.com"));
        assert_eq!(
            google,
            Asked {
                prompt_login: false,
                max_age: Some(0)
            }
        );
        let max_age = Reauthentication {
            login: false,
            max_age: Some(300),
        };
        assert_eq!(
            max_age.asked_of(false),
            Asked {
                prompt_login: false,
                max_age: Some(300)
            }
        );
        assert_eq!(Reauthentication::default().asked_of(true), Asked::default());
    }

    #[test]
    fn prompt_login_needs_a_sign_in_after_the_request_went_upstream() {
        let (sent, now) = (at(0), at(30));
        assert_eq!(
            LOGIN.authenticated_at(Some(at(20)), sent, now).unwrap(),
            at(20)
        );
        // The provider's clock a little behind ours: recorded as when it was sent.
        assert_eq!(
            LOGIN.authenticated_at(Some(at(-50)), sent, now).unwrap(),
            sent
        );
        // Its own session's sign-in, from before: no credential was presented.
        let stale = LOGIN
            .authenticated_at(Some(at(-3600)), sent, now)
            .err()
            .unwrap();
        assert!(
            matches!(stale, SignInFailure::StaleAuthentication),
            "{stale}"
        );
        let silent = LOGIN.authenticated_at(None, sent, now).err().unwrap();
        assert!(matches!(silent, SignInFailure::NoAuthTime), "{silent}");
    }

    #[test]
    fn max_age_needs_a_sign_in_that_recent() {
        let demand = Reauthentication {
            login: false,
            max_age: Some(300),
        };
        let (sent, now) = (at(0), at(10));
        // A sign-in at the provider four minutes ago will do, as it was.
        assert_eq!(
            demand.authenticated_at(Some(at(-230)), sent, now).unwrap(),
            at(-230)
        );
        // Just past max_age by the provider's clock: within the skew, recorded at the limit.
        assert_eq!(
            demand.authenticated_at(Some(at(-320)), sent, now).unwrap(),
            at(-290)
        );
        let stale = demand
            .authenticated_at(Some(at(-3600)), sent, now)
            .err()
            .unwrap();
        assert!(
            matches!(stale, SignInFailure::StaleAuthentication),
            "{stale}"
        );
        let missing = demand.authenticated_at(None, sent, now).err().unwrap();
        assert!(matches!(missing, SignInFailure::NoAuthTime), "{missing}");
        let zero = Reauthentication {
            login: false,
            max_age: Some(0),
        };
        assert!(zero.authenticated_at(Some(at(-3600)), sent, now).is_err());
    }

    #[test]
    fn without_a_demand_the_providers_auth_time_is_recorded_as_it_is() {
        let none = Reauthentication::default();
        let (sent, now) = (at(0), at(10));
        assert_eq!(
            none.authenticated_at(Some(at(-86_400)), sent, now).unwrap(),
            at(-86_400)
        );
        assert_eq!(
            none.authenticated_at(Some(at(500)), sent, now).unwrap(),
            now,
            "never later than now"
        );
        assert_eq!(none.authenticated_at(None, sent, now).unwrap(), now);
    }
}
