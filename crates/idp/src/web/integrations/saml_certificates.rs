//! The team's SAML signing certificates on `/dashboard/integrations`: publish a next one, sign
//! with it (for every application, or one), retire one nothing signs with, and move an
//! application registered before teams had their own SAML identity to the team's.
//! Administrators only; the domain checks the role on every action.

use axum::extract::State;
use axum::response::Response;
use latchkey_core::urls;
use latchkey_core::{SamlSpId, TeamId};
use latchkey_login::Requester;
use latchkey_saml::{SamlError, ServiceProviderChange};
use serde::Deserialize;

use super::reply::back_to;
use super::saml::refused;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{SignedInForm, works_in};

/// Where the page shows the certificates.
const SECTION: &str = "#saml-certificates-heading";

/// `POST /dashboard/integrations/saml/certificates`: one of the actions below.
#[derive(Deserialize)]
pub(super) struct CertificateForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    action: String,
    #[serde(default)]
    certificate: String,
    /// Empty: every application of the team.
    #[serde(default)]
    sp: String,
}

pub(super) async fn act(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<CertificateForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let actor = user.actor(&from);
    let certificates = state.saml_sps.certificates();
    let now = state.now();
    let sp = Some(form.sp.trim())
        .filter(|sp| !sp.is_empty())
        .map(SamlSpId::from);
    let done = match form.action.as_str() {
        "add" => {
            certificates
                .add(&form.team, &actor, now)
                .await
                .map_err(refused)?;
            "saml-certificate-added"
        }
        "use" => {
            if let Some(sp) = &sp {
                super::saml::one_of_the_team(&state, &from, &user, &form.team, sp).await?;
            }
            certificates
                .use_for(&form.team, &form.certificate, sp.as_ref(), &actor, now)
                .await
                .map_err(refused)?;
            "saml-certificate-used"
        }
        "retire" => {
            certificates
                .retire(Some(&form.team), &form.certificate, &actor, now)
                .await
                .map_err(refused)?;
            "saml-certificate-retired"
        }
        "move" => {
            let sp = sp.ok_or_else(|| refused(SamlError::NotFound(String::new())))?;
            super::saml::one_of_the_team(&state, &from, &user, &form.team, &sp).await?;
            let change = ServiceProviderChange {
                move_to_team_identity: true,
                ..ServiceProviderChange::default()
            };
            state
                .saml_sps
                .update(&sp, change, &actor, now)
                .await
                .map_err(refused)?;
            "saml-moved"
        }
        _ => return Err(refused(SamlError::Identity)),
    };
    Ok(back_to(urls::INTEGRATIONS_SAML, &form.team, done, SECTION))
}
