//! RP-Initiated Logout 1.0 (§2–§3): which client asks, whom its `id_token_hint` names, and
//! where the person may be sent afterwards. Deciding this is the protocol's part; signing out
//! and the pages are the caller's.

use latchkey_core::ClientId;
use std::sync::Arc;

use super::authorize::response_url;
use super::client::Client;
use super::id_token_hint::HintedIdToken;
use super::provider::Provider;
use latchkey_login::SessionUser;

/// What a client sends to the end-session endpoint.
#[derive(Debug, Default)]
pub struct LogoutParams<'a> {
    pub id_token_hint: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// Why a logout request is refused.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("the id_token_hint was not issued by this provider")]
    ForeignIdToken,
    #[error("the id_token_hint was issued to another client than client_id")]
    ClientMismatch,
    #[error("the client is not registered")]
    UnknownClient,
    #[error("post_logout_redirect_uri is not registered for the client")]
    UnregisteredRedirect,
    #[error("the client could not be looked up: {0}")]
    Failed(super::client::ClientError),
}

/// A logout request that checked out.
#[derive(Debug)]
pub struct Logout {
    /// The client that asked, when it said or its ID token shows.
    pub client: Option<Arc<Client>>,
    /// Whom the `id_token_hint` names, and in which session.
    hinted: Option<HintedIdToken>,
    /// A registered `post_logout_redirect_uri`.
    redirect: Option<String>,
    state: Option<String>,
}

impl Provider {
    /// Checks a logout request: an `id_token_hint` must be one of ours (expired or not), the
    /// client it names must be the `client_id` given, and the return address must be one the
    /// client registered.
    pub async fn logout_request(&self, params: &LogoutParams<'_>) -> Result<Logout, LogoutError> {
        let hinted = match params.id_token_hint {
            Some(hint) => Some(
                self.id_token_audience(hint)
                    .ok_or(LogoutError::ForeignIdToken)?,
            ),
            None => None,
        };
        let client_id = match (params.client_id, &hinted) {
            (Some(id), Some(hint)) if hint.client != *id => {
                return Err(LogoutError::ClientMismatch);
            }
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(hint)) => Some(hint.client.to_string()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => Some(
                self.clients()
                    .find(&ClientId::from(id.as_str()))
                    .await
                    .map_err(LogoutError::Failed)?
                    .ok_or(LogoutError::UnknownClient)?,
            ),
            None => None,
        };
        let redirect = match params.post_logout_redirect_uri {
            Some(uri) => {
                let registered = client
                    .as_ref()
                    .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
                if !registered {
                    return Err(LogoutError::UnregisteredRedirect);
                }
                Some(uri.to_owned())
            }
            None => None,
        };
        Ok(Logout {
            client,
            hinted,
            redirect,
            state: params.state.map(str::to_owned),
        })
    }
}

impl Logout {
    /// Whether the person must confirm first: always, unless the client's ID token names
    /// them in this very session, so a link on another site cannot sign anyone out (§2, §6),
    /// not even with an old ID token of theirs found in a log or a browser history.
    pub fn needs_confirmation(&self, person: &SessionUser) -> bool {
        !self
            .hinted
            .as_ref()
            .is_some_and(|hint| hint.subject == person.user_id.as_str() && hint.sid == person.sid)
    }

    /// The registered return address, as the confirmation form carries it along.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect.as_deref()
    }

    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// Where to send the person once signed out, with `state` (§3), if the client asked.
    pub fn return_url(&self) -> Option<String> {
        let target = self.redirect.as_deref()?;
        let params: Vec<(&str, &str)> = self.state().map(|s| ("state", s)).into_iter().collect();
        Some(response_url(target, &params))
    }
}
