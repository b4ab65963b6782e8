//! Property tests of what reads untrusted input here: the authorization request, the token
//! request, redirect-URI matching and JWT assertions. Whatever arrives, nothing panics, and
//! nothing the strict rules refuse is let through.

use std::collections::HashMap;

use jsonwebtoken::Algorithm;
use proptest::prelude::*;

use crate::ErrorCode;
use crate::assertion::Unverified;
use crate::authorize::{AuthorizeError, AuthorizeParams, check_request};
use crate::client::Client;
use crate::redirect;
use crate::token_request::TokenRequest;

const REDIRECT: &str = "https://rp.example/cb";

/// Mostly plausible values, sometimes anything printable, sometimes absent.
fn value(plausible: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => proptest::sample::select(plausible).prop_map(|v| Some(v.to_owned())),
        1 => "[ -~]{0,60}".prop_map(Some),
        1 => Just(None),
    ]
}

prop_compose! {
    fn params()(
        response_type in value(&["code", "token", "code id_token"]),
        response_mode in value(&["query", "fragment"]),
        scope in value(&["openid", "openid email", "openid admin", ""]),
        state in value(&["s1"]),
        nonce in value(&["n1"]),
        code_challenge in value(&["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "short"]),
        code_challenge_method in value(&["S256", "plain"]),
        prompt in value(&["none", "login", "consent", "none login", "select_account"]),
        max_age in value(&["0", "60", "-1", "99999999999999999999"]),
        login_hint in value(&["ann@example.com"]),
        resource in value(&["https://api.example", "https://api.example#f"]),
    ) -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("client-1".into()),
            redirect_uri: Some(REDIRECT.into()),
            response_type,
            response_mode,
            scope,
            state,
            nonce,
            code_challenge,
            code_challenge_method,
            prompt,
            max_age,
            login_hint,
            id_token_hint: None,
            request: None,
            request_uri: None,
            resource,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// An authorization request is accepted only as the strict rules allow: the code flow,
    /// answered in the query, scopes the client has, and an S256 challenge of the right form.
    #[test]
    fn an_accepted_authorization_request_keeps_every_rule(params in params(), public in any::<bool>()) {
        let client = Client::for_tests(public, REDIRECT);
        let asked = (
            params.response_type.clone(),
            params.response_mode.clone(),
            params.code_challenge_method.clone(),
        );
        match check_request(params, &client, REDIRECT.into()) {
            Ok(request) => {
                prop_assert_eq!(asked.0.as_deref(), Some("code"));
                prop_assert!(matches!(asked.1.as_deref(), None | Some("query")));
                prop_assert_eq!(asked.2.as_deref(), Some("S256"));
                let challenge = request.code_challenge.clone().unwrap_or_default();
                prop_assert_eq!(challenge.len(), 43);
                prop_assert!(!request.scopes().is_empty());
                prop_assert!(request.scopes().is_subset_of(&client.scopes));
                prop_assert!(request.state.is_none_or(|s| s.len() <= 2048));
                prop_assert!(request.max_age.is_none_or(|m| m >= 0));
            }
            Err(AuthorizeError::Redirect { redirect_uri, .. }) => prop_assert_eq!(redirect_uri, REDIRECT),
            Err(other) => prop_assert!(false, "only redirect errors once the URI is known: {other:?}"),
        }
    }

    /// Any form reads as a grant's request or the RFC's error for it.
    #[test]
    fn a_token_form_is_a_grant_or_its_error(
        form in proptest::collection::hash_map(
            prop_oneof![
                Just("grant_type".to_owned()), Just("code".to_owned()), Just("scope".to_owned()),
                Just("resource".to_owned()), "[a-z_]{1,12}",
            ],
            prop_oneof![
                Just("authorization_code".to_owned()), Just("client_credentials".to_owned()),
                Just("refresh_token".to_owned()), Just("password".to_owned()), "[ -~]{0,30}",
            ],
            0..6,
        )
    ) {
        let grant = form.get("grant_type").cloned();
        match TokenRequest::parse(form) {
            Ok(_) => prop_assert!(matches!(
                grant.as_deref(),
                Some("authorization_code" | "refresh_token" | "client_credentials" | crate::federation::JWT_BEARER)
            )),
            Err(e) if grant.is_none() => prop_assert_eq!(e.code, ErrorCode::InvalidRequest),
            Err(e) => prop_assert_eq!(e.code, ErrorCode::UnsupportedGrantType),
        }
    }

    /// A redirect URI matches only a registered one exactly, or, for a public client, a
    /// registered loopback IP literal on another port; never anything else.
    #[test]
    fn redirect_matching_is_exact_but_for_loopback_ports(
        presented in prop_oneof![
            Just(REDIRECT.to_owned()),
            Just("http://127.0.0.1:5555/cb".to_owned()),
            Just("http://127.0.0.1/cb".to_owned()),
            "(https?://)?[a-z0-9.:/@?#%_-]{0,40}",
            "https://rp\\.example/cb[ -~]{0,5}",
            "http://127\\.0\\.0\\.1:[0-9]{1,5}/c[a-b]",
        ],
        public in any::<bool>(),
    ) {
        let registered = vec![REDIRECT.to_owned(), "http://127.0.0.1/cb".to_owned()];
        if redirect::matches(&registered, &presented, public) {
            let exact = registered.contains(&presented);
            let loopback_port = public
                && url::Url::parse(&presented).is_ok_and(|mut u| {
                    u.set_port(None).is_ok() && u.as_str() == "http://127.0.0.1/cb"
                });
            prop_assert!(exact || loopback_port, "{presented:?} matched");
        }
    }

    /// Reading an assertion's header never panics, and accepts only a listed algorithm.
    #[test]
    fn an_assertion_header_is_read_safely(token in "[A-Za-z0-9_.=-]{0,200}", header in "[ -~]{0,80}") {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&header);
        for input in [token.clone(), format!("{encoded}.{token}")] {
            if let Ok(read) = Unverified::read(&input, &[Algorithm::ES256], "ES256") {
                prop_assert_eq!(read.header.alg, Algorithm::ES256);
            }
        }
    }
}

#[test]
fn the_helpers_build_what_the_properties_need() {
    let form: HashMap<String, String> =
        [("grant_type".to_owned(), "client_credentials".to_owned())].into();
    assert!(TokenRequest::parse(form).is_ok());
    assert!(
        Client::for_tests(false, REDIRECT)
            .redirect_uris
            .contains(&REDIRECT.to_owned())
    );
}
