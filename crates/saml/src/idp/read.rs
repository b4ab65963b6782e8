//! Reading the requests an SP sends: an `AuthnRequest` (with a `RelayState` longer than
//! saml-rs's own reader takes) and a `LogoutRequest`, each checked (signature, destination,
//! age) before anything is answered.

use chrono::{DateTime, Utc};
use saml_rs::raw::{Binding, HttpRequest};
use saml_rs::{AuthnRequest, BrowserInput, ForceAuthn, IsPassive, LogoutRequest};

use super::{IdentityProvider, REQUEST_MAX_AGE, validation};
use crate::ServiceProvider;
use crate::messages::{
    Inbound, LogoutAsk, RequestError, SignOnRequest, bounded_relay_state, form_fields, is_sha1,
    posted_signature, query_relay_state,
};

impl IdentityProvider {
    /// Reads and checks an `AuthnRequest` from `sp`: its signature (verified when present,
    /// required when the SP requires signed requests; SHA-1 only for an SP allowed it), its
    /// destination, its age and its `RelayState` (at most [`crate::MAX_RELAY_STATE`] bytes).
    ///
    /// saml-rs's `receive_sso` refuses a `RelayState` over 80 bytes (SAML Bindings' rule for
    /// senders, which SPs' deep links break), so the request is read one level down, by
    /// `parse_login_request`: the same parser and the same signature checks (with HTTP-Redirect
    /// the detached signature still covers the `RelayState` as sent), and the checks
    /// `receive_sso` adds to them, its destination and its age, are made here. Over HTTP-POST
    /// the XML signature does not cover `RelayState`, so it is not handed to saml-rs at all.
    pub fn read_authn_request(
        &self,
        sp: &ServiceProvider,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<SignOnRequest, RequestError> {
        let (_, raw_sp) = self.described(sp)?;
        let (binding, request, relay_state, posted) = match inbound {
            Inbound::Redirect(query) => {
                let relay_state = query_relay_state(&query)?;
                let input = BrowserInput::<AuthnRequest>::redirect(query);
                (
                    Binding::Redirect,
                    HttpRequest::try_from(input)?,
                    relay_state,
                    None,
                )
            }
            Inbound::Post {
                message,
                relay_state,
            } => {
                let relay_state = bounded_relay_state(relay_state)?;
                let posted = posted_signature(&message)?;
                let input = BrowserInput::<AuthnRequest>::post(form_fields(message, None));
                (
                    Binding::Post,
                    HttpRequest::try_from(input)?,
                    relay_state,
                    Some(posted),
                )
            }
        };
        let engine = self.engine(sp).raw_identity_provider();
        let flow = engine.parse_login_request(&raw_sp, binding, &request)?;
        let message = AuthnRequest::try_from(flow)?;
        // Parsed, a signature that was there verified: over HTTP-Redirect saml-rs says which
        // algorithm it verified; over HTTP-POST it verifies the root's signature when present.
        let (signed, sha1) = match &posted {
            None => {
                let sig_alg = message.raw_flow().sig_alg.as_deref();
                (sig_alg.is_some(), sig_alg.is_some_and(is_sha1))
            }
            Some(posted) => (posted.present, posted.present && posted.sha1),
        };
        if sha1 && !sp.allow_sha1 {
            return Err(RequestError::Sha1);
        }
        // As `receive_sso`: a Destination, when there is one, or when a signature verified
        // that only had to be checked if present, must be this sign-on URL.
        if message.destination().is_some() || (signed && !sp.requires_signed_requests) {
            let expected = engine.metadata.get_single_sign_on_service(binding);
            if message.destination().map(|d| d.as_str()) != expected.as_deref() {
                return Err(RequestError::Refused(
                    "its Destination is not this identity provider's sign-on URL".to_owned(),
                ));
            }
        }
        issued_recently(message.issue_instant().as_str(), now)?;
        // Kept in a column of 256: saml-rs takes IDs of up to 16 KiB.
        if message.id().as_str().len() > 256 {
            return Err(RequestError::Unreadable(
                "its ID is longer than 256 characters".to_owned(),
            ));
        }
        // Responses go back over HTTP-POST only.
        if message
            .protocol_binding()
            .is_some_and(|b| b != saml_rs::SsoResponseBinding::Post)
        {
            return Err(RequestError::Refused(
                "it asks for the response over a binding other than HTTP-POST".to_owned(),
            ));
        }
        let name_id_format = message
            .name_id_policy()
            .and_then(|p| p.format())
            .map(|f| f.as_uri().to_owned());
        Ok(SignOnRequest {
            id: message.id().as_str().to_owned(),
            acs_url: message.acs_url().map(|u| u.as_str().to_owned()),
            force_authn: message.force_authn() == Some(ForceAuthn::Required),
            is_passive: message.is_passive() == Some(IsPassive::Required),
            relay_state,
            acs_index: message.acs_index(),
            name_id_format,
            signed,
        })
    }

    /// Reads and checks a `LogoutRequest` from `sp`.
    pub fn read_logout_request(
        &self,
        sp: &ServiceProvider,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<LogoutAsk, RequestError> {
        if !sp.allow_sha1 && inbound.uses_sha1()? {
            return Err(RequestError::Sha1);
        }
        let descriptor = self.descriptor(sp)?;
        let engine = self.logout_engine(sp, &inbound);
        let input = match inbound {
            Inbound::Redirect(query) => BrowserInput::<LogoutRequest>::redirect(query),
            Inbound::Post {
                message,
                relay_state,
            } => BrowserInput::<LogoutRequest>::post(form_fields(message, relay_state)),
        };
        let received = engine.receive_slo(&descriptor, input, validation(now))?;
        let message = received.message();
        // saml-rs checks a logout request's age only by its optional NotOnOrAfter: a signed
        // request found later (in a log, a history) must not end sessions again.
        let issued = chrono::DateTime::parse_from_rfc3339(message.issue_instant().as_str())
            .map_err(|_| RequestError::Unreadable("its IssueInstant is not a time".to_owned()))?
            .with_timezone(&Utc);
        let skew = chrono::TimeDelta::minutes(5);
        let max_age = chrono::TimeDelta::from_std(REQUEST_MAX_AGE).unwrap_or(skew);
        if issued < now - max_age - skew || issued > now + skew {
            return Err(RequestError::Refused(
                "it was issued too long ago, or in the future".to_owned(),
            ));
        }
        let name_id = message.name_id().map(|n| n.value().to_owned());
        let session_indexes = message
            .session_indexes()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        Ok(LogoutAsk {
            received,
            name_id,
            session_indexes,
        })
    }
}

/// Refuses a request issued more than [`REQUEST_MAX_AGE`] ago or in the future, beside five
/// minutes of clock skew (as saml-rs's `AuthnRequestAgePolicy` does).
fn issued_recently(issue_instant: &str, now: DateTime<Utc>) -> Result<(), RequestError> {
    let issued = chrono::DateTime::parse_from_rfc3339(issue_instant)
        .map_err(|_| RequestError::Unreadable("its IssueInstant is not a time".to_owned()))?
        .with_timezone(&Utc);
    let skew = chrono::TimeDelta::minutes(5);
    let max_age = chrono::TimeDelta::from_std(REQUEST_MAX_AGE).unwrap_or(skew);
    if issued < now - max_age - skew || issued > now + skew {
        return Err(RequestError::Refused(
            "it was issued too long ago, or in the future".to_owned(),
        ));
    }
    Ok(())
}
