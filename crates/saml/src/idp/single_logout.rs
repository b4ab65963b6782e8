//! The identity provider's side of single logout across SPs: a signed `LogoutRequest` to an
//! SP naming the person as it was told of them, and the `LogoutResponse` it sends back,
//! checked (its issuer, destination, `InResponseTo` and RelayState, its signature whenever it
//! carries one and the SP registered a certificate, SHA-1 only for an SP allowed it) through
//! saml-rs. An unsigned answer is taken from an SP that does not require signed messages: at
//! worst it marks that SP signed out on the page, and ends nothing.

use saml_rs::{
    BrowserInput, EntityId, FormField, LogoutBinding, LogoutResponse, LogoutSubject, MessageId,
    NameId, PendingLogoutRequest, RelayStateParam, SessionIndex, StartSlo,
};

use super::{IdentityProvider, validation};
use crate::messages::{Inbound, Outgoing};
use crate::{SamlError, ServiceProvider};

/// What an SP answered to a `LogoutRequest` Latchkey sent.
#[derive(Debug, PartialEq, Eq)]
pub enum LogoutAnswer {
    /// Checked, and it signed the person out.
    SignedOut,
    /// Checked as far as its status: it did not sign the person out (the status code).
    Failed(String),
    /// It cannot be read, or fails its checks: it proves nothing.
    Refused(String),
}

impl IdentityProvider {
    /// A signed `LogoutRequest` to `sp`'s logout URL over HTTP-Redirect, naming `name_id`
    /// and `session_indexes` as `sp` was given them; `relay_state` comes back with the answer.
    /// Returns the request's ID (the answer must name it) and where to send the browser.
    pub fn logout_request(
        &self,
        sp: &ServiceProvider,
        name_id: &str,
        session_indexes: &[String],
        relay_state: &str,
    ) -> Result<(String, Outgoing), SamlError> {
        let failed = |e: saml_rs::SamlError| SamlError::Signing(e.to_string());
        let descriptor = self
            .descriptor(sp)
            .map_err(|e| SamlError::Signing(e.to_string()))?;
        let format = saml_rs::NameIdFormat::Custom(sp.name_id_format.urn().to_owned());
        let indexes = session_indexes
            .iter()
            .map(|index| SessionIndex::try_new(index.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        let subject = LogoutSubject::new(NameId::new(name_id, Some(format)), indexes);
        // Signed whatever the binding (SAML Profiles §4.4.3.1); the relay state is the
        // chain's short id, well within the 80 bytes saml-rs allows.
        let options = StartSlo::redirect()
            .relay_state(RelayStateParam::try_from_option(Some(relay_state)).map_err(failed)?)
            .apply_single_logout_generation_rules();
        let started = self
            .engine(sp)
            .start_slo(&descriptor, subject, options)
            .map_err(failed)?;
        let url = started.outbound.redirect_url().map_err(failed)?.to_owned();
        Ok((
            started.pending.id().as_str().to_owned(),
            Outgoing::Redirect(url),
        ))
    }

    /// Reads the `LogoutResponse` `sp` sent to the request `request_id`, which carried
    /// `relay_state`: the response must come from `sp`, to Latchkey's logout URL, answer that
    /// request and carry the same relay state, and be signed when `sp` registered a signing
    /// certificate.
    pub fn read_logout_response(
        &self,
        sp: &ServiceProvider,
        inbound: Inbound,
        request_id: &str,
        relay_state: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> LogoutAnswer {
        let refused = |e: &dyn std::fmt::Display| LogoutAnswer::Refused(e.to_string());
        let descriptor = match self.descriptor(sp) {
            Ok(descriptor) => descriptor,
            Err(e) => return refused(&e),
        };
        match inbound.uses_sha1() {
            Ok(false) => {}
            Ok(true) if sp.allow_sha1 => {}
            Ok(true) => return refused(&crate::RequestError::Sha1),
            Err(e) => return refused(&e),
        }
        let engine = self.logout_engine(sp, &inbound);
        // Answered over whichever binding the SP chose: the binding proves nothing, its
        // checks do.
        let (binding, input) = match inbound {
            Inbound::Redirect(query) => (
                LogoutBinding::Redirect,
                BrowserInput::<LogoutResponse>::redirect(query),
            ),
            Inbound::Post {
                message,
                relay_state,
            } => {
                let mut fields = vec![FormField::new("SAMLResponse", message)];
                if let Some(relay_state) = relay_state {
                    fields.push(FormField::new("RelayState", relay_state));
                }
                (
                    LogoutBinding::Post,
                    BrowserInput::<LogoutResponse>::post(fields),
                )
            }
        };
        let pending = MessageId::try_new(request_id).and_then(|id| {
            PendingLogoutRequest::try_new(
                id,
                RelayStateParam::try_from_option(Some(relay_state))?,
                binding,
                EntityId::try_new(sp.entity_id.clone())?,
            )
        });
        let pending = match pending {
            Ok(pending) => pending,
            Err(e) => return refused(&e),
        };
        match engine.finish_slo(&descriptor, &pending, input, validation(now)) {
            Ok(_) => LogoutAnswer::SignedOut,
            Err(saml_rs::SamlError::StatusNotSuccess { top, second }) => {
                LogoutAnswer::Failed(second.unwrap_or(top))
            }
            Err(saml_rs::SamlError::FailedStatus { top, second }) => {
                LogoutAnswer::Failed(if second.is_empty() { top } else { second })
            }
            Err(e) => refused(&e),
        }
    }
}
