//! Which issuers a token may come from, and why one was refused: shared by the flows that
//! verify issuers' tokens (`assertions`), admit the person they name (`members`) and open
//! sessions with them (`browser`, `sign_on_batch`).

use latchkey_core::TeamId;

use crate::assertion::Refused;
use crate::error::OAuthError;

/// Which issuers a token may come from.
#[derive(Clone, Copy)]
pub(crate) enum Trusting<'a> {
    /// Those of one team (a client bound to it exchanges the token), with the `aud` values
    /// its token endpoint answers to when the issuer names none.
    Team(&'a TeamId),
    /// Those of any team (a browser brings the token to the shared `/sso/jwt`): the issuer
    /// decides the team, and the token must be made out to Latchkey itself when the issuer
    /// names no audience.
    AnyTeam,
    /// Those of one team (a browser brings the token to that team's own `/sso/jwt/teams/…`):
    /// made out to Latchkey itself or to that URL when the issuer names no audience.
    TeamSignOn(&'a TeamId),
}

impl<'a> Trusting<'a> {
    /// The one team whose trusts count, if only one team's do.
    pub(crate) fn only_team(self) -> Option<&'a TeamId> {
        match self {
            Self::Team(team) | Self::TeamSignOn(team) => Some(team),
            Self::AnyTeam => None,
        }
    }
}

/// Why a token was refused: a check that failed, in words for the integrator, or a failure of
/// ours.
pub(crate) enum Rejection {
    Refused(String),
    Internal(OAuthError),
}

impl From<Refused> for Rejection {
    fn from(why: Refused) -> Self {
        Self::Refused(why.0)
    }
}

impl From<sea_orm::DbErr> for Rejection {
    /// A database that cannot take requests now is said as such (`temporarily_unavailable`,
    /// a 503 page), since the same request works once it passes.
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(OAuthError::from(error))
    }
}
