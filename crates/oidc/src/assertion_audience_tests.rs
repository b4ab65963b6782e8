//! The audiences a client assertion may name, endpoint by endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn audiences(policy: AudiencePolicy) -> ClientAssertionAudiences {
    ClientAssertionAudiences::new(&Issuer::parse("https://id.example").unwrap(), policy)
}

#[test]
fn by_default_the_issuer_and_the_token_endpoint_identify_this_server_everywhere() {
    let rule = audiences(AudiencePolicy::IssuerOrEndpoint);
    assert_eq!(
        rule.at(Endpoint::Token),
        ["https://id.example", "https://id.example/token"]
    );
    assert_eq!(
        rule.at(Endpoint::Introspection),
        [
            "https://id.example",
            "https://id.example/token",
            "https://id.example/introspect"
        ]
    );
    assert_eq!(
        rule.at(Endpoint::Revocation),
        [
            "https://id.example",
            "https://id.example/token",
            "https://id.example/revoke"
        ]
    );
}

#[test]
fn an_endpoint_url_names_that_endpoint_only() {
    let rule = audiences(AudiencePolicy::IssuerOrEndpoint);
    let introspection = "https://id.example/introspect".to_owned();
    let revocation = "https://id.example/revoke".to_owned();
    assert!(!rule.at(Endpoint::Token).contains(&introspection));
    assert!(!rule.at(Endpoint::Token).contains(&revocation));
    assert!(!rule.at(Endpoint::Revocation).contains(&introspection));
    assert!(!rule.at(Endpoint::Introspection).contains(&revocation));
    for endpoint in [
        Endpoint::Token,
        Endpoint::Introspection,
        Endpoint::Revocation,
    ] {
        assert!(
            !rule
                .at(endpoint)
                .contains(&"https://id.example/authorize".to_owned())
        );
    }
}

#[test]
fn the_issuer_setting_leaves_the_issuer_alone() {
    let rule = audiences(AudiencePolicy::Issuer);
    for endpoint in [
        Endpoint::Token,
        Endpoint::Introspection,
        Endpoint::Revocation,
    ] {
        assert_eq!(rule.at(endpoint), ["https://id.example"]);
        assert!(rule.explain(endpoint).contains("alone"), "{endpoint:?}");
    }
}

#[test]
fn the_explanation_names_every_value_accepted() {
    let rule = audiences(AudiencePolicy::IssuerOrEndpoint);
    let said = rule.explain(Endpoint::Introspection);
    for value in rule.at(Endpoint::Introspection) {
        assert!(said.contains(&value), "{said}");
    }
    assert!(said.contains("one string"), "{said}");
}

#[test]
fn the_setting_takes_its_two_values_and_names_them_otherwise() {
    assert_eq!(
        AudiencePolicy::parse("issuer-or-endpoint"),
        Ok(AudiencePolicy::IssuerOrEndpoint)
    );
    assert_eq!(AudiencePolicy::parse("issuer"), Ok(AudiencePolicy::Issuer));
    let refused = AudiencePolicy::parse("token-endpoint").unwrap_err();
    assert!(
        refused.contains("issuer-or-endpoint") && refused.contains("issuer"),
        "{refused}"
    );
}

#[test]
fn endpoints_are_found_by_their_paths_only() {
    assert_eq!(Endpoint::at_path("/token"), Some(Endpoint::Token));
    assert_eq!(
        Endpoint::at_path("/introspect"),
        Some(Endpoint::Introspection)
    );
    assert_eq!(Endpoint::at_path("/revoke"), Some(Endpoint::Revocation));
    assert_eq!(Endpoint::at_path("/authorize"), None);
}
