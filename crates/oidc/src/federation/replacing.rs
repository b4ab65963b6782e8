//! A browser sign-on never silently replaces a session the person chose.
//!
//! Anyone can make a browser open `/sso/jwt` with a token (a link, a form posted from another
//! site): a token of any team's integration would otherwise end the browser's session and
//! sign it in as whoever that integration names (login CSRF, and a one-click sign-out of
//! anyone). In a top-level browser that already has a live session, the sign-on therefore
//! asks first ("You are signed in as X. Continue as Y through integration Z?"), and goes on
//! only when the person confirms on Latchkey's own page; the token is not spent until then,
//! and cancelling keeps the session. Asking was chosen over keeping both sessions apart: a
//! browser has one cookie jar per site at top level, so "apart" would mean a second cookie
//! that every page must choose between, and the person would still not know which identity a
//! page acts as.
//!
//! No question is asked when nothing the person chose is lost: the integration renewing a
//! session it opened itself, in its team, for the same person. Nor inside a frame: there the
//! session lives in the frame's own partitioned cookie (CHIPS), apart from the person's
//! top-level session, which the frame can neither see nor end.

use latchkey_login::SessionUser;
use sea_orm::ConnectionTrait;

use super::members::{linked, named_person};
use super::rejection::Rejection;
use crate::assertion::Verified;
use crate::entities::trusted_issuer;

/// The question a sign-on asks before it replaces the browser's session.
#[derive(Debug, Clone)]
pub struct Replacing {
    /// The address of the person the browser is signed in as.
    pub signed_in_as: String,
    /// The address the token names, as the integration asserts it.
    pub continuing_as: String,
    /// The integration: the issuer of the token.
    pub issuer: String,
}

/// What the browser brings beside the token, as far as replacing its session goes.
#[derive(Clone, Copy)]
pub(crate) struct Browser<'a> {
    /// Its live session, if it has one.
    pub current: Option<&'a SessionUser>,
    /// Whether it opened the sign-on inside a frame.
    pub framed: bool,
    /// Whether the person confirmed on the page this question led to.
    pub confirmed: bool,
}

/// The question to ask, or `None` when the sign-on may go ahead.
pub(crate) async fn question<C: ConnectionTrait>(
    conn: &C,
    browser: Browser<'_>,
    trusted: &trusted_issuer::Model,
    verified: &Verified,
) -> Result<Option<Replacing>, Rejection> {
    let Some(current) = browser.current else {
        return Ok(None);
    };
    if browser.framed || browser.confirmed {
        return Ok(None);
    }
    let (sub, email) = named_person(verified, trusted)?;
    if opened_by_this_integration(current, trusted) {
        let same_person = linked(conn, trusted, sub)
            .await?
            .is_some_and(|(account, _)| account.id == current.user_id.as_str());
        if same_person {
            return Ok(None);
        }
    }
    Ok(Some(Replacing {
        signed_in_as: current.shown_email.clone(),
        continuing_as: email.as_str().to_owned(),
        issuer: trusted.issuer.clone(),
    }))
}

/// Whether `current` is a session this trusted issuer's token opened, in its team.
fn opened_by_this_integration(current: &SessionUser, trusted: &trusted_issuer::Model) -> bool {
    current.opened_by.as_deref() == Some(trusted.issuer.as_str())
        && current
            .team_id
            .as_ref()
            .is_some_and(|team| team.as_str() == trusted.team_id)
}
