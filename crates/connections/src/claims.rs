//! What a connection's provider says about the person, from its verified ID token and, where
//! that token is "thin", from its UserInfo endpoint (OpenID Connect Core §5.3): Okta's code
//! flow, for one, puts `email` but not `email_verified` in the ID token, and the profile claims
//! at UserInfo only. Then the person those claims name, under the connection's settings.

use latchkey_core::Email;
use latchkey_teams::PersonName;
use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AdditionalClaims, IdTokenClaims, LocalizedClaim, StandardClaims, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use crate::accounts::Person;
use crate::entities::connection;
use crate::failure::{SignInFailure, printable};

/// The claims beyond OpenID Connect's own that a connection reads: Google's `hd`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct ProviderClaims {
    /// The Google Workspace domain of the account; absent for consumer accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hd: Option<String>,
}

impl AdditionalClaims for ProviderClaims {}

/// The verified ID token's claims, with the claims above.
pub(crate) type ProviderIdTokenClaims = IdTokenClaims<ProviderClaims, CoreGenderClaim>;
/// A UserInfo answer, with the claims above.
pub(crate) type ProviderUserInfo = UserInfoClaims<ProviderClaims, CoreGenderClaim>;

/// What the provider says about the person, as plain values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub hosted_domain: Option<String>,
}

impl Claims {
    pub(crate) fn from_id_token(claims: &ProviderIdTokenClaims) -> Self {
        Self {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified(),
            preferred_username: claims.preferred_username().map(|u| u.as_str().to_owned()),
            name: localized(claims.name()),
            given_name: localized(claims.given_name()),
            family_name: localized(claims.family_name()),
            hosted_domain: claims.additional_claims().hd.clone(),
        }
    }

    pub(crate) fn from_user_info(answer: &ProviderUserInfo) -> Self {
        let standard: &StandardClaims<CoreGenderClaim> = answer.standard_claims();
        Self {
            subject: standard.subject().as_str().to_owned(),
            email: standard.email().map(|e| e.as_str().to_owned()),
            email_verified: standard.email_verified(),
            preferred_username: standard.preferred_username().map(|u| u.as_str().to_owned()),
            name: localized(standard.name()),
            given_name: localized(standard.given_name()),
            family_name: localized(standard.family_name()),
            hosted_domain: answer.additional_claims().hd.clone(),
        }
    }

    /// Whether the ID token lacks something the connection reads that UserInfo may have: the
    /// address in its email claim, `email_verified` (it decides whether the provider vouches
    /// for an `email`), or a name.
    pub(crate) fn thin_for(&self, row: &connection::Model) -> bool {
        self.lacks_identity(row) || (self.name.is_none() && self.given_name.is_none())
    }

    /// Whether the claims lack what decides who the person is: the address, or
    /// `email_verified` beside an `email`. Without it, a failed UserInfo request fails the
    /// sign-in; with it, only the name is lost.
    pub(crate) fn lacks_identity(&self, row: &connection::Model) -> bool {
        let address = match row.email_claim.as_str() {
            "preferred_username" => &self.preferred_username,
            _ => &self.email,
        };
        address.is_none() || (row.email_claim == "email" && self.email_verified.is_none())
    }

    /// These claims completed with UserInfo's, which must speak of the same person (Core
    /// §5.3.2: its `sub` MUST equal the ID token's, or the answer may be another person's).
    /// The ID token's claims win where both carry one: it is the signed statement.
    pub(crate) fn completed_with(self, user_info: Claims) -> Result<Claims, SignInFailure> {
        if user_info.subject != self.subject {
            tracing::warn!(id_token = %printable(&self.subject, 64), user_info = %printable(&user_info.subject, 64), "UserInfo named another subject");
            return Err(SignInFailure::UserInfoSubject);
        }
        // `email_verified` speaks of one address: UserInfo's, only beside its own address.
        let email_verified = match (&self.email, self.email_verified) {
            (_, Some(verified)) => Some(verified),
            (Some(email), None) if user_info.email.as_ref() != Some(email) => None,
            _ => user_info.email_verified,
        };
        Ok(Claims {
            subject: self.subject,
            email: self.email.or(user_info.email),
            email_verified,
            preferred_username: self.preferred_username.or(user_info.preferred_username),
            name: self.name.or(user_info.name),
            given_name: self.given_name.or(user_info.given_name),
            family_name: self.family_name.or(user_info.family_name),
            hosted_domain: self.hosted_domain.or(user_info.hosted_domain),
        })
    }
}

fn localized<T: std::ops::Deref<Target = String>>(
    claim: Option<&LocalizedClaim<T>>,
) -> Option<String> {
    claim
        .and_then(|c| c.get(None))
        .map(|value| value.as_str().to_owned())
}

/// The person the claims name: their address from the connection's email claim (verified
/// where the connection requires it), in its hosted domain where it names one, their name if
/// given, and their `sub`.
pub(crate) fn person_named(
    row: &connection::Model,
    claims: Claims,
) -> Result<Person, SignInFailure> {
    let email = claimed_email(row, &claims)?;
    if row.require_email_verified && claims.email_verified != Some(true) {
        return Err(SignInFailure::UnverifiedEmail(email.as_str().to_owned()));
    }
    check_hosted_domain(row, &claims)?;
    let subject = claims.subject.as_str();
    if subject.is_empty() || subject.len() > 255 {
        return Err(SignInFailure::IdToken(
            "sub must be 1 to 255 characters".into(),
        ));
    }
    Ok(Person {
        subject: subject.to_owned(),
        vouched: row.email_claim == "preferred_username" || claims.email_verified == Some(true),
        name: claimed_name(&claims),
        email,
    })
}

/// Google's `hd`, where the connection names a hosted domain: the account must be one of that
/// Workspace domain's (a consumer account has none), whatever the consent screen's audience.
fn check_hosted_domain(row: &connection::Model, claims: &Claims) -> Result<(), SignInFailure> {
    let Some(expected) = &row.hosted_domain else {
        return Ok(());
    };
    match &claims.hosted_domain {
        Some(hd) if hd.eq_ignore_ascii_case(expected) => Ok(()),
        other => Err(SignInFailure::HostedDomain {
            expected: expected.clone(),
            found: other.as_deref().map(|hd| printable(hd, 253)),
        }),
    }
}

/// The address in the claim the connection reads it from.
fn claimed_email(row: &connection::Model, claims: &Claims) -> Result<Email, SignInFailure> {
    let raw_email = match row.email_claim.as_str() {
        "preferred_username" => claims.preferred_username.as_deref(),
        _ => claims.email.as_deref(),
    };
    raw_email
        .and_then(|raw| Email::parse(raw).ok())
        .ok_or_else(|| SignInFailure::MissingEmail(row.email_claim.clone()))
}

/// The person's name: `name`, else `given_name` and `family_name` together.
fn claimed_name(claims: &Claims) -> Option<PersonName> {
    claims
        .name
        .clone()
        .or_else(|| {
            let given = claims.given_name.as_deref()?;
            Some(match claims.family_name.as_deref() {
                Some(family) => format!("{given} {family}"),
                None => given.to_owned(),
            })
        })
        .and_then(|raw| PersonName::parse(&raw))
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
