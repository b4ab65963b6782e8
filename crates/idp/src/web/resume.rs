//! What the sign-in pages say of the request a sign-in will resume.

use latchkey_login::Resume;

use crate::state::AppState;

/// The name of the application a pending request (an OIDC authorization request, or a SAML
/// sign-on) continues to, while it waits; for the launcher, the person's applications.
pub(super) async fn pending_application(state: &AppState, resume: &Resume) -> Option<String> {
    let now = state.now();
    match resume {
        Resume::Authorization(request) => state.provider.pending_client_name(request, now).await,
        Resume::Launcher => Some("your applications".to_owned()),
        Resume::SamlSignOn(request) => match state.saml_sps.pending(request, now).await {
            Ok(pending) => pending.map(|p| p.sp.name),
            Err(error) => {
                tracing::warn!(%error, "could not read a pending SAML sign-on");
                None
            }
        },
    }
}
