//! Where a sign-in goes once it is done: back to the request that sent the person to sign
//! in. Pages, mail links and rows carry it as text; this is the one place that reads it.

use latchkey_core::{RequestId, SamlRequestId, urls};

/// A request waiting for the person to sign in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// An OpenID Connect authorization request.
    Authorization(RequestId),
    /// A SAML sign-on.
    SamlSignOn(SamlRequestId),
    /// The person's application launcher (`/apps`), which sent them to sign in first.
    Launcher,
}

/// How [`Resume::Launcher`] is carried: no request id is ever this word.
const LAUNCHER: &str = "apps";

impl Resume {
    /// The request a page, link or row carries; none for an empty value.
    pub fn parse(carried: &str) -> Option<Self> {
        if carried.is_empty() {
            return None;
        }
        if carried == LAUNCHER {
            return Some(Self::Launcher);
        }
        Some(match SamlRequestId::recognise(carried) {
            Some(id) => Self::SamlSignOn(id),
            None => Self::Authorization(RequestId::from(carried)),
        })
    }

    /// As it is carried (the inverse of [`Resume::parse`]).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Authorization(id) => id.as_str(),
            Self::SamlSignOn(id) => id.as_str(),
            Self::Launcher => LAUNCHER,
        }
    }

    /// Where the browser goes to resume it.
    pub fn path(&self) -> String {
        let at = match self {
            Self::Authorization(_) => urls::AUTHORIZE_CONTINUE,
            Self::SamlSignOn(_) => urls::SAML_CONTINUE,
            Self::Launcher => return urls::APPS.to_owned(),
        };
        urls::with_query(at, &[("request", self.as_str())])
    }
}

impl std::fmt::Display for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_resumes_at_its_own_endpoint() {
        let saml = SamlRequestId::generate();
        let resume = Resume::parse(&saml).unwrap();
        assert_eq!(resume, Resume::SamlSignOn(saml.clone()));
        assert_eq!(resume.path(), format!("/saml/continue?request={saml}"));
        let oidc = Resume::parse("0193a5b2-7c1e-7d3f-9a4b-1c2d3e4f5a6b").unwrap();
        assert!(matches!(oidc, Resume::Authorization(_)));
        assert_eq!(
            oidc.path(),
            "/authorize/continue?request=0193a5b2-7c1e-7d3f-9a4b-1c2d3e4f5a6b"
        );
        assert_eq!(Resume::parse(oidc.as_str()), Some(oidc));
        assert_eq!(Resume::parse(""), None);
        let launcher = Resume::parse("apps").unwrap();
        assert_eq!(launcher, Resume::Launcher);
        assert_eq!(launcher.path(), "/apps");
        assert_eq!(Resume::parse(launcher.as_str()), Some(Resume::Launcher));
    }
}
