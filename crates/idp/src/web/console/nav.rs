//! The navigation of every signed-in page: the person's own pages for everyone, and the team's
//! for its administrators. Built from the session alone: the team it works in and the person's
//! role there.

use latchkey_core::urls;
use latchkey_login::SessionUser;
use latchkey_teams::Role;
use serde::Serialize;

use crate::state::AppState;

/// Which page of the console a handler renders, marked `aria-current="page"`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Section {
    Account,
    Apps,
    Team,
    Applications,
    Integrations,
    Audit,
}

#[derive(Serialize, Debug)]
struct Link {
    href: &'static str,
    label: &'static str,
    current: bool,
}

/// The navigation as `base.html` shows it.
#[derive(Serialize, Debug)]
pub(crate) struct Nav {
    links: Vec<Link>,
    /// The team the session works in, named beside the links.
    team: Option<String>,
    /// Whether the person administers that team (the overview and the links are theirs).
    pub is_admin: bool,
}

impl Nav {
    /// The links for `user`, with `current` marked. A failure to read the membership shows the
    /// person's own links only: the pages themselves check every right again.
    pub(crate) async fn for_user(state: &AppState, user: &SessionUser, current: Section) -> Self {
        let membership = match &user.team_id {
            Some(team) => state.teams.open(team, &user.user_id).await.ok(),
            None => None,
        };
        let is_admin = membership
            .as_ref()
            .is_some_and(|m| m.role == Role::Administrator);
        let mut sections = vec![
            (Section::Account, urls::DASHBOARD, "Your account"),
            (Section::Apps, urls::APPS, "Apps"),
        ];
        if membership.is_some() {
            sections.push((Section::Team, urls::TEAM_SETTINGS, "Team"));
        }
        if is_admin {
            sections.extend([
                (Section::Applications, urls::APPLICATIONS, "Applications"),
                (Section::Integrations, urls::INTEGRATIONS, "Integrations"),
                (Section::Audit, urls::TEAM_AUDIT, "Audit"),
            ]);
        }
        Self {
            links: sections
                .into_iter()
                .map(|(section, href, label)| Link {
                    href,
                    label,
                    current: section == current,
                })
                .collect(),
            team: membership.map(|m| m.team.name),
            is_admin,
        }
    }
}
