#![allow(clippy::unwrap_used)]

use super::*;

fn connection(email_claim: &str, require_email_verified: bool) -> connection::Model {
    connection::Model {
        id: "c1".into(),
        team_id: "t1".into(),
        name: "Acme Okta".into(),
        issuer: "https://acme.okta.com".into(),
        client_id: "latchkey".into(),
        client_secret_sealed: Vec::new(),
        scopes: "openid email profile".into(),
        email_claim: email_claim.into(),
        require_email_verified,
        created_at: chrono::DateTime::UNIX_EPOCH,
        hosted_domain: None,
    }
}

/// Okta's code-flow ID token: `sub`, the address, nothing more.
fn thin_okta_token() -> Claims {
    Claims {
        subject: "00u1ann".into(),
        email: Some("ann@acme.example".into()),
        ..Claims::default()
    }
}

/// Okta's UserInfo for the same person.
fn okta_user_info() -> Claims {
    Claims {
        subject: "00u1ann".into(),
        email: Some("ann@acme.example".into()),
        email_verified: Some(true),
        name: Some("Ann Acme".into()),
        given_name: Some("Ann".into()),
        family_name: Some("Acme".into()),
        ..Claims::default()
    }
}

#[test]
fn a_thin_id_token_is_completed_from_user_info_with_the_default_settings() {
    let row = connection("email", true);
    let id_token = thin_okta_token();
    assert!(id_token.thin_for(&row), "no email_verified, no name");
    let person = person_named(&row, id_token.completed_with(okta_user_info()).unwrap()).unwrap();
    assert_eq!(person.email.as_str(), "ann@acme.example");
    assert!(person.vouched, "UserInfo's email_verified vouches for it");
    assert_eq!(person.name.map(|n| n.name).as_deref(), Some("Ann Acme"));
    assert_eq!(person.subject, "00u1ann");
}

#[test]
fn without_user_info_a_thin_token_stays_unverified() {
    let row = connection("email", true);
    let refused = person_named(&row, thin_okta_token()).err().unwrap();
    assert!(
        matches!(refused, SignInFailure::UnverifiedEmail(_)),
        "{refused}"
    );
}

#[test]
fn user_info_for_another_subject_is_refused() {
    let mut other = okta_user_info();
    other.subject = "00u1bob".into();
    let refused = thin_okta_token().completed_with(other).err().unwrap();
    assert!(
        matches!(refused, SignInFailure::UserInfoSubject),
        "{refused}"
    );
}

#[test]
fn the_id_token_wins_where_both_carry_a_claim() {
    let id_token = Claims {
        email_verified: Some(false),
        name: Some("Ann From Token".into()),
        ..thin_okta_token()
    };
    let mut user_info = okta_user_info();
    user_info.email = Some("someone@else.example".into());
    let merged = id_token.completed_with(user_info).unwrap();
    assert_eq!(merged.email.as_deref(), Some("ann@acme.example"));
    assert_eq!(merged.email_verified, Some(false));
    assert_eq!(merged.name.as_deref(), Some("Ann From Token"));
    assert_eq!(
        merged.family_name.as_deref(),
        Some("Acme"),
        "what only UserInfo has"
    );
}

#[test]
fn user_info_verifies_only_its_own_address() {
    // UserInfo verifies another address than the one the ID token carries: that says
    // nothing about the token's.
    let mut user_info = okta_user_info();
    user_info.email = Some("ann@other.example".into());
    let merged = thin_okta_token().completed_with(user_info).unwrap();
    assert_eq!(merged.email.as_deref(), Some("ann@acme.example"));
    assert_eq!(merged.email_verified, None);
    let refused = person_named(&connection("email", true), merged)
        .err()
        .unwrap();
    assert!(
        matches!(refused, SignInFailure::UnverifiedEmail(_)),
        "{refused}"
    );
}

#[test]
fn a_full_id_token_needs_no_user_info() {
    let full = okta_user_info();
    assert!(!full.thin_for(&connection("email", true)));
    // Entra: the sign-in name and a name, no email_verified, which is not read then.
    let entra = Claims {
        subject: "entra-ann".into(),
        preferred_username: Some("ann@acme.example".into()),
        name: Some("Ann Acme".into()),
        ..Claims::default()
    };
    assert!(!entra.thin_for(&connection("preferred_username", false)));
    assert!(
        entra.thin_for(&connection("email", false)),
        "no email claim"
    );
}

#[test]
fn a_hosted_domain_admits_only_its_own_accounts() {
    let mut row = connection("email", true);
    row.hosted_domain = Some("acme.example".into());
    let google = |hd: Option<&str>| Claims {
        hosted_domain: hd.map(str::to_owned),
        ..okta_user_info()
    };
    assert!(person_named(&row, google(Some("acme.example"))).is_ok());
    assert!(
        person_named(&row, google(Some("ACME.example"))).is_ok(),
        "domains ignore case"
    );
    for hd in [None, Some("evil.example"), Some("sub.acme.example")] {
        let refused = person_named(&row, google(hd)).err().unwrap();
        assert!(
            matches!(&refused, SignInFailure::HostedDomain { expected, found }
                if expected == "acme.example" && found.as_deref() == hd),
            "{hd:?}: {refused}"
        );
    }
    // Without a hosted domain, none is asked for.
    row.hosted_domain = None;
    assert!(person_named(&row, google(None)).is_ok());
}
