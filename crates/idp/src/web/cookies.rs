//! The provider's cookies: names and attributes in one place.

use axum_extra::extract::cookie::{Cookie, SameSite};

/// Which cookie.
#[derive(Clone, Copy)]
pub(crate) enum Jar {
    /// The session id.
    Session,
    /// The double-submit CSRF token of the forms.
    Csrf,
    /// Binds a pending sign-in to the browser that asked, for the typed code.
    Browser,
    /// Says this browser signed in to an account before (a signed note, kept 90 days): it
    /// asks for that account's links from a budget of its own.
    Device,
    /// Binds a sign-in sent to a team's identity provider to the browser that started it.
    Upstream,
    /// The single logout under way (its chain's id), for its page.
    SignOut,
}

/// Names and attributes: `HttpOnly`, `SameSite=Lax`, path `/`; over https also `Secure` and
/// the `__Host-` prefix, which browsers accept only from a secure origin with no domain.
#[derive(Clone, Copy)]
pub(crate) struct CookiePolicy {
    pub secure: bool,
    /// Whether cookies for a framed sign-on can be set: they must be `Secure`, which browsers
    /// accept over https, and over http from this machine only.
    pub framable: bool,
}

impl CookiePolicy {
    pub(crate) fn name(self, jar: Jar) -> &'static str {
        match (jar, self.secure) {
            (Jar::Session, true) => "__Host-latchkey-session",
            (Jar::Session, false) => "latchkey-session",
            (Jar::Csrf, true) => "__Host-latchkey-csrf",
            (Jar::Csrf, false) => "latchkey-csrf",
            (Jar::Browser, true) => "__Host-latchkey-browser",
            (Jar::Browser, false) => "latchkey-browser",
            (Jar::Device, true) => "__Host-latchkey-device",
            (Jar::Device, false) => "latchkey-device",
            (Jar::Upstream, true) => "__Host-latchkey-upstream",
            (Jar::Upstream, false) => "latchkey-upstream",
            (Jar::SignOut, true) => "__Host-latchkey-signout",
            (Jar::SignOut, false) => "latchkey-signout",
        }
    }

    /// A cookie holding `value`; it lives as long as the browser session (the server decides
    /// expiry for sessions and links).
    pub(crate) fn make(self, jar: Jar, value: String) -> Cookie<'static> {
        Cookie::build((self.name(jar), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build()
    }

    /// A cookie holding `value` that outlives the browser session, for `max_age`.
    pub(crate) fn make_lasting(
        self,
        jar: Jar,
        value: String,
        max_age: std::time::Duration,
    ) -> Cookie<'static> {
        let mut cookie = self.make(jar, value);
        cookie.set_max_age(time::Duration::try_from(max_age).unwrap_or(time::Duration::DAY));
        cookie
    }

    /// A cookie for a session opened inside another site's frame: `SameSite=None`, or the
    /// browser would not send it from the frame, and `Partitioned` (CHIPS), so browsers that
    /// block third-party cookies keep it, for that top-level site alone. `None` where such a
    /// cookie cannot be set (plain http to another host).
    pub(crate) fn make_framed(self, jar: Jar, value: String) -> Option<Cookie<'static>> {
        if !self.framable {
            return None;
        }
        let mut cookie = self.make(jar, value);
        cookie.set_secure(true);
        cookie.set_same_site(SameSite::None);
        cookie.set_partitioned(true);
        Some(cookie)
    }

    /// The cookie that deletes `jar`'s cookie as a framed sign-on set it: a partitioned
    /// cookie is deleted only by one with the same attributes.
    pub(crate) fn framed_removal(self, jar: Jar) -> Cookie<'static> {
        let mut cookie = self.removal(jar);
        if self.framable {
            cookie.set_secure(true);
            cookie.set_same_site(SameSite::None);
            cookie.set_partitioned(true);
        }
        cookie
    }

    /// The cookie that deletes `jar`'s cookie.
    pub(crate) fn removal(self, jar: Jar) -> Cookie<'static> {
        Cookie::build((self.name(jar), ""))
            .path("/")
            .secure(self.secure)
            .removal()
            .build()
    }
}
