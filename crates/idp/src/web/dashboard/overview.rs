//! The administrator's overview on `/dashboard`: how many members, who signed in lately, the
//! join links still open, and what needs attention soon (SAML certificates that end within 60
//! days, domains of the team's identity providers that are not proven or lost their proof).
//! Only what the data already holds: refused sign-ons are not recorded, so they are not here.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::TeamId;
use latchkey_teams::{Actor, AuditFilter};
use serde::Serialize;

use crate::state::AppState;
use crate::web::console::Moment;
use crate::web::error::PageError;

/// Sign-ins shown.
const RECENT: u64 = 5;
/// How far back a lost domain proof still needs attention.
const LOST_PROOF_WINDOW: TimeDelta = TimeDelta::days(30);

#[derive(Serialize)]
pub(super) struct Overview {
    members: usize,
    sign_ins: Vec<SignIn>,
    open_links: usize,
    attention: Vec<Attention>,
}

#[derive(Serialize)]
struct SignIn {
    at: Moment,
    sentence: String,
}

/// Something to do soon: a sentence, and the page where it is done.
#[derive(Serialize)]
struct Attention {
    text: String,
    href: String,
}

impl Overview {
    /// The overview of `team` for its administrator `me`.
    pub(super) async fn of(state: &AppState, team: &TeamId, me: &Actor) -> Result<Self, PageError> {
        let now = state.now();
        let teams = &state.teams;
        let members = teams.members(team, me).await.map_err(PageError::internal)?;
        let links = teams
            .join_links(team, me, now)
            .await
            .map_err(PageError::internal)?;
        let filter = |action: &str, limit| AuditFilter {
            action: Some(action.to_owned()),
            person: None,
            before: None,
            limit,
        };
        let sign_ins = teams
            .audit_log(team, me, &filter("member.signed_in", RECENT))
            .await
            .map_err(PageError::internal)?
            .into_iter()
            .map(|e| SignIn {
                at: Moment::new(e.at, now),
                sentence: e.readable().sentence,
            })
            .collect();
        Ok(Self {
            members: members.len(),
            sign_ins,
            open_links: links.iter().filter(|l| l.unusable().is_none()).count(),
            attention: attention(state, team, me, now).await?,
        })
    }
}

async fn attention(
    state: &AppState,
    team: &TeamId,
    me: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Attention>, PageError> {
    let with_team = |path: &str| format!("{path}?team={team}");
    let mut found = Vec::new();
    let ending = state
        .saml_sps
        .certificates()
        .expiring(now)
        .await
        .map_err(PageError::internal)?;
    for (_, id, not_after) in ending.into_iter().filter(|(t, _, _)| t == team) {
        found.push(Attention {
            text: format!(
                "The SAML signing certificate {id} ends on {} ({}): publish a next one and give it to your applications.",
                latchkey_teams::readable_time(not_after),
                Moment::new(not_after, now).relative
            ),
            href: with_team(latchkey_core::urls::INTEGRATIONS_SAML),
        });
    }
    let connections = state
        .connections
        .list(Some(team), me)
        .await
        .map_err(PageError::internal)?;
    for connection in &connections {
        for domain in connection.domains.iter().filter(|d| !d.proven) {
            found.push(Attention {
                text: format!(
                    "The domain {} of {} is not proven: its addresses do not sign in with it yet.",
                    domain.domain, connection.name
                ),
                href: with_team(latchkey_core::urls::INTEGRATIONS_CONNECTIONS),
            });
        }
    }
    let lost = AuditFilter {
        action: Some("connection.domain_unproven".to_owned()),
        person: None,
        before: None,
        limit: 5,
    };
    let lost = state
        .teams
        .audit_log(team, me, &lost)
        .await
        .map_err(PageError::internal)?;
    for event in lost.into_iter().filter(|e| now - e.at < LOST_PROOF_WINDOW) {
        found.push(Attention {
            text: format!(
                "{} ({}).",
                event.readable().sentence,
                Moment::new(event.at, now).relative
            ),
            href: with_team(latchkey_core::urls::INTEGRATIONS_CONNECTIONS),
        });
    }
    Ok(found)
}
