//! What the SAML exchanges answer a browser with, for the web layer to carry out: a redirect,
//! a form posted to the SP (at once, or on the person's press), or a question to ask first.

use latchkey_core::SamlRequestId;

/// Where the browser goes next.
#[derive(Debug)]
pub enum Reply {
    /// A top-level GET to this URL or path.
    Redirect(String),
    /// A form posted to the SP at once.
    Post(PostBack),
    /// A status for the SP, posted only when the person presses the page's button.
    StatusPage(StatusPage),
    /// Ask the signed-in person whether to continue to the SP: a form posted back to
    /// `/saml/continue` (with the browser's CSRF token) answers it.
    Confirm(Confirmation),
}

/// A form to post to a service provider, and what its page says meanwhile.
#[derive(Debug)]
pub struct PostBack {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub title: String,
}

impl PostBack {
    pub(crate) fn response(
        acs_url: &str,
        response: String,
        relay_state: Option<&str>,
        title: String,
    ) -> Self {
        let mut fields = vec![("SAMLResponse".to_owned(), response)];
        if let Some(relay_state) = relay_state {
            fields.push(("RelayState".to_owned(), relay_state.to_owned()));
        }
        Self {
            action: acs_url.to_owned(),
            fields,
            title,
        }
    }
}

/// A status response the browser carries back to the SP only when the person presses the
/// button, and what the page says of it.
#[derive(Debug)]
pub struct StatusPage {
    pub form: PostBack,
    pub message: String,
    pub button: String,
}

/// A sign-on waiting for the signed-in person to say they want it.
#[derive(Debug)]
pub struct Confirmation {
    /// The kept sign-on the button continues.
    pub request: SamlRequestId,
    /// The SP's name.
    pub sp: String,
    /// Who the SP would be told signed in.
    pub email: String,
}
