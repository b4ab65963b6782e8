//! The OpenID provider driven by the `openidconnect` crate as a real relying party: discovery,
//! the authorization code flow with PKCE through a real sign-in (the magic link read from the
//! SMTP sink), ID token verification, userinfo, refresh rotation, revocation, introspection
//! and logout; and every refusal a relying party or an attacker can cause.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::{Browser, Page};
use crate::harness::{TestApp, TestDb, config, eventually, latchkey, master_key, stderr, stdout};
use crate::on_both_databases;
use crate::smtp::SmtpSink;

pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const LOGOUT_URI: &str = "http://127.0.0.1:9/signed-out";

pub(crate) type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(crate) struct Provider {
    pub(crate) app: TestApp,
    pub(crate) smtp: SmtpSink,
    pub(crate) http: openidconnect::reqwest::Client,
    pub(crate) metadata: CoreProviderMetadata,
}

pub(crate) async fn provider(
    db: &TestDb,
    adjust: impl FnOnce(&mut latchkey_server::config::Config),
) -> Provider {
    let smtp = SmtpSink::start().await;
    let mut cfg = config(db, &master_key());
    cfg.mail.smtp_url = smtp.url();
    // Each test signs in several times from one address and one IP.
    cfg.login.rate_limit_per_address = 50;
    adjust(&mut cfg);
    let app = TestApp::spawn(cfg).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base_url.clone()).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    Provider {
        app,
        smtp,
        http,
        metadata,
    }
}

/// Registers a client with the real CLI and returns its `--json` answer.
pub(crate) fn create_client(db: &TestDb, app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["client", "create", "--json"];
    all.extend_from_slice(args);
    let output = latchkey(db.dir.path(), &cli_env(db, app), &all);
    assert!(
        output.status.success(),
        "client create failed: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("one JSON value on stdout")
}

pub(crate) fn cli_env<'a>(db: &'a TestDb, app: &'a TestApp) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("LATCHKEY_DATABASE_URL", db.url.as_str()),
        ("LATCHKEY_ISSUER", app.base_url.as_str()),
        ("LATCHKEY_LOG__LEVEL", "warn"),
        // The tests publish keys on 127.0.0.1 over http.
        ("LATCHKEY_FEDERATION__ALLOW_PRIVATE_NETWORKS", "true"),
    ];
    // As one configuration gives both: what the CLI seals, the provider opens.
    if !app.master_key.is_empty() {
        env.push(("LATCHKEY_KEYS__MASTER_KEY", app.master_key.as_str()));
    }
    env
}

/// A web application's client: confidential, authorization code + refresh, consent required.
pub(crate) fn web_client(db: &TestDb, app: &TestApp, name: &str) -> (String, String) {
    let created = create_client(
        db,
        app,
        &[
            "--name",
            name,
            "--redirect-uri",
            REDIRECT_URI,
            "--post-logout-redirect-uri",
            LOGOUT_URI,
        ],
    );
    (
        created["client_id"].as_str().expect("client_id").to_owned(),
        created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    )
}

impl Provider {
    pub(crate) fn rp(&self, client_id: &str, secret: Option<&str>) -> Rp {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(client_id.to_owned()),
            secret.map(|s| ClientSecret::new(s.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).expect("redirect"))
    }

    /// A raw form POST to a discovered endpoint, for what the crate has no call for.
    pub(crate) async fn post(
        &self,
        url: &str,
        auth: (&str, &str),
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let response = self
            .app
            .http
            .post(url)
            .basic_auth(auth.0, Some(auth.1))
            .form(form)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn token(
        &self,
        auth: (&str, &str),
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.post(&self.app.url("/token"), auth, form).await
    }

    /// Exchanges a code at the token endpoint; the exchange must succeed.
    pub(crate) async fn exchange(
        &self,
        auth: (&str, &str),
        code: &str,
        request: &Request,
    ) -> Value {
        let (status, tokens) = self
            .token(
                auth,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", request.verifier.secret()),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }

    pub(crate) async fn introspect(&self, auth: (&str, &str), token: &str) -> Value {
        let (status, body) = self
            .post(&self.app.url("/introspect"), auth, &[("token", token)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// An authorization request as the relying party makes it.
pub(crate) struct Request {
    pub(crate) url: String,
    pub(crate) state: CsrfToken,
    pub(crate) nonce: Nonce,
    pub(crate) verifier: PkceCodeVerifier,
}

fn authorize(rp: &Rp, extra: &[(&str, &str)]) -> Request {
    authorize_scopes(rp, &["email", "offline_access"], extra)
}

pub(crate) fn authorize_scopes(rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> Request {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.url();
    Request {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// The query parameters of a redirect to the client.
pub(crate) fn callback(page: &Page) -> std::collections::HashMap<String, String> {
    let location = page
        .location()
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.body));
    assert!(
        location.starts_with(REDIRECT_URI),
        "redirected to the client: {location}"
    );
    url::Url::parse(location)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// From the authorization request to the page after sign-in: the person is sent to sign in,
/// asks for a link (registering if new), and opens it; the browser lands on the continuation.
pub(crate) async fn sign_in(
    p: &Provider,
    browser: &Browser,
    authorize_url: &str,
    email: &str,
) -> Page {
    let first = browser.get(authorize_url).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let login = first.location().expect("to the login page").to_owned();
    assert!(
        login.starts_with("/login?request="),
        "{login} from {authorize_url}"
    );
    let form = browser.get(&login).await;
    let request = form.field("request");
    let register = format!("/register?request={request}");
    let before = p.smtp.mails_to(email).len();
    let asked = browser
        .submit(
            &register,
            "/register",
            &[("email", email), ("request", &request)],
        )
        .await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
    let mail = p
        .smtp
        .nth_mail_to(email, before + 1, Duration::from_secs(10))
        .await;
    // The mail and the confirm page say where signing in leads (I8).
    assert!(mail.text.contains(" and continue to "), "{}", mail.text);
    let confirm = browser.get(&mail.link()).await;
    assert!(
        confirm.body.contains(", then continue to <strong>"),
        "{}",
        confirm.body
    );
    let signed_in = browser.follow_link(&mail.link()).await;
    let next = signed_in.location().expect("continues").to_owned();
    assert!(
        next.starts_with("/authorize/continue?request="),
        "sign-in continues the request: {next}"
    );
    browser.get(&next).await
}

/// Presses "Allow" on the consent page.
pub(crate) async fn allow(browser: &Browser, consent: &Page) -> Page {
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(
        consent.body.contains("wants to access your account"),
        "{}",
        consent.body
    );
    browser
        .post(
            "/authorize/consent",
            &[
                ("request", &consent.field("request")),
                ("csrf", &consent.field("csrf")),
                ("decision", "allow"),
            ],
        )
        .await
}

async fn a_relying_party_signs_a_person_in_and_out(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    assert_eq!(
        p.metadata.token_endpoint().map(|u| u.as_str().to_owned()),
        Some(p.app.url("/token"))
    );
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);

    let request = authorize(&rp, &[]);
    let consent = sign_in(&p, &browser, &request.url, "ann@example.com").await;
    assert!(consent.body.contains("Helpdesk") && consent.body.contains("ann@example.com"));
    let back = allow(&browser, &consent).await;
    let params = callback(&back);
    assert_eq!(params["state"], *request.state.secret(), "state comes back");
    assert_eq!(
        params["iss"], p.app.base_url,
        "iss in the authorization response (RFC 9207)"
    );

    let tokens = rp
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("token endpoint discovered")
        .set_pkce_verifier(request.verifier)
        .request_async(&p.http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &request.nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ann@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some(), "auth_time");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(
        claims.access_token_hash(),
        Some(&at_hash),
        "at_hash binds the access token"
    );
    let subject = claims.subject().clone();
    let raw_id_token = id_token.to_string();
    let id_payload = jwt_payload(&raw_id_token);
    assert_eq!(id_payload["azp"], client_id);
    assert!(
        id_payload["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "sid"
    );
    let access = tokens.access_token().secret().clone();
    assert_eq!(
        jwt_header(&access)["typ"],
        "at+jwt",
        "RFC 9068 access token"
    );
    let access_claims = jwt_payload(&access);
    for claim in [
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "iat",
        "exp",
        "jti",
    ] {
        assert!(
            !access_claims[claim].is_null(),
            "access token has {claim}: {access_claims}"
        );
    }

    let userinfo: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .expect("userinfo discovered")
        .request_async(&p.http)
        .await
        .expect("userinfo");
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("ann@example.com")
    );
    // An access token cannot pose as an ID token, nor the ID token as an access token.
    let as_bearer = p
        .app
        .http
        .get(p.app.url("/userinfo"))
        .bearer_auth(&raw_id_token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
    assert!(
        as_bearer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Refresh: a new refresh token every time; the old one used again revokes the family.
    let first_refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    let refreshed = rp
        .exchange_refresh_token(&first_refresh)
        .expect("token endpoint")
        .request_async(&p.http)
        .await
        .expect("refresh");
    let second_refresh = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let introspected = p
        .introspect((&client_id, &secret), refreshed.access_token().secret())
        .await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["sub"], subject.as_str());

    let reuse = rp
        .exchange_refresh_token(&first_refresh)
        .expect("token endpoint")
        .request_async(&p.http)
        .await;
    assert!(reuse.is_err(), "a rotated refresh token is refused");
    let (status, body) = p
        .token(
            (&client_id, &secret),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", second_refresh.secret()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the whole family is revoked: {body}"
    );
    let after_reuse = p
        .introspect((&client_id, &secret), refreshed.access_token().secret())
        .await;
    assert_eq!(
        after_reuse,
        serde_json::json!({"active": false}),
        "access tokens of the family stop too"
    );

    // A second authorization: consent is remembered, the session is reused, no mail is sent.
    let again = authorize(&rp, &[]);
    let back = browser.get(&again.url).await;
    let code = callback(&back)["code"].clone();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(again.verifier)
        .request_async(&p.http)
        .await
        .expect("second exchange");
    assert_eq!(
        p.smtp.mails_to("ann@example.com").len(),
        1,
        "no new mail for a live session"
    );

    // Revoking the access token ends it for userinfo and introspection.
    let access = tokens.access_token().secret().clone();
    let (status, _) = p
        .post(
            &p.app.url("/revoke"),
            (&client_id, &secret),
            &[("token", &access)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        p.introspect((&client_id, &secret), &access).await["active"],
        false
    );
    let revoked: Result<CoreUserInfoClaims, _> = rp
        .user_info(AccessToken::new(access), None)
        .expect("userinfo")
        .request_async(&p.http)
        .await;
    assert!(revoked.is_err(), "a revoked token gets no userinfo");
    // Revoking the refresh token ends its grant.
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    let (status, _) = p
        .post(
            &p.app.url("/revoke"),
            (&client_id, &secret),
            &[("token", &refresh), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = p
        .token(
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(body["error"], "invalid_grant");

    // RP-initiated logout: a registered return address only, with state; the session ends.
    let unregistered = browser
        .get(&format!(
            "/end-session?id_token_hint={raw_id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(unregistered.status, StatusCode::BAD_REQUEST);
    assert!(
        unregistered.location().is_none(),
        "never redirected to an unregistered address"
    );
    assert!(
        browser.signed_in_as().await.is_some(),
        "and still signed in"
    );
    let logout = browser
        .get(&format!(
            "/end-session?id_token_hint={raw_id_token}&post_logout_redirect_uri={}&state=bye",
            urlencode(LOGOUT_URI)
        ))
        .await;
    assert_eq!(
        logout.location(),
        Some(format!("{LOGOUT_URI}?state=bye").as_str()),
        "{}",
        logout.body
    );
    assert_eq!(browser.signed_in_as().await, None, "signed out");
    let after = authorize(&rp, &[("prompt", "none")]);
    let back = browser.get(&after.url).await;
    assert_eq!(callback(&back)["error"], "login_required");

    // An ID token from an earlier session (found in a log or a history) cannot sign the
    // person out of a later one without asking.
    a_code(&p, &rp, &browser, "ann@example.com").await;
    assert!(browser.signed_in_as().await.is_some(), "signed in again");
    let stale = browser
        .get(&format!("/end-session?id_token_hint={raw_id_token}"))
        .await;
    assert_eq!(stale.status, StatusCode::OK, "{}", stale.body);
    assert!(stale.location().is_none());
    assert!(
        browser.signed_in_as().await.is_some(),
        "still signed in until the person confirms"
    );
}
on_both_databases!(a_relying_party_signs_a_person_in_and_out);

async fn the_authorization_endpoint_refuses_bad_requests(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    let base = authorize(&rp, &[]).url;

    // Unknown client or redirect URI: a page, never a redirect.
    for url in [
        base.replace(&client_id, "no-such-client"),
        base.replace(
            &urlencode(REDIRECT_URI),
            &urlencode("http://127.0.0.1:9/other"),
        ),
        base.replace(
            &urlencode(REDIRECT_URI),
            &urlencode(&format!("{REDIRECT_URI}/")),
        ),
    ] {
        let page = browser.get(&url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(page.location().is_none(), "no redirect for {url}");
    }

    // Everything else goes back to the client with error, state and iss.
    let plain = base.replace("code_challenge_method=S256", "code_challenge_method=plain");
    let no_pkce = url_without(&base, &["code_challenge", "code_challenge_method"]);
    let implicit = base.replace("response_type=code", "response_type=token");
    let bad_scope = base.replace("scope=openid", "scope=openid+admin");
    for (url, error) in [
        (plain, "invalid_request"),
        (no_pkce, "invalid_request"),
        (implicit, "unsupported_response_type"),
        (bad_scope, "invalid_scope"),
        (format!("{base}&prompt=none"), "login_required"),
    ] {
        let params = callback(&browser.get(&url).await);
        assert_eq!(params["error"], error, "{url}: {params:?}");
        assert!(
            params.contains_key("state") && params["iss"] == p.app.base_url,
            "{params:?}"
        );
    }

    // A huge max_age is capped, not a crash; prompt=none stands alone.
    let huge = browser
        .get(&format!("{base}&max_age=99999999999999999"))
        .await;
    assert_eq!(huge.status, StatusCode::SEE_OTHER, "{}", huge.body);
    let mixed = callback(
        &browser
            .get(&format!("{base}&prompt=none+select_account"))
            .await,
    );
    assert_eq!(mixed["error"], "invalid_request");
    // A form POST from the client's site becomes the same GET, which carries the session cookie.
    let pairs: Vec<(String, String)> = url::Url::parse(&base)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let posted = browser
        .client
        .post(p.app.url("/authorize"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let location = posted.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/authorize?") && location.contains(&client_id),
        "{location}"
    );

    // Denying consent tells the client access_denied.
    let request = authorize(&rp, &[]);
    let consent = sign_in(&p, &browser, &request.url, "bo@example.com").await;
    let denied = browser
        .post(
            "/authorize/consent",
            &[
                ("request", &consent.field("request")),
                ("csrf", &consent.field("csrf")),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(callback(&denied)["error"], "access_denied");
    // With a session but no consent, prompt=none cannot ask: consent_required.
    let silent = authorize(&rp, &[("prompt", "none")]);
    assert_eq!(
        callback(&browser.get(&silent.url).await)["error"],
        "consent_required"
    );
    // The consent form needs its CSRF token.
    let request = authorize(&rp, &[]);
    let consent = browser.get(&request.url).await;
    let forged = browser
        .post(
            "/authorize/consent",
            &[
                ("request", &consent.field("request")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}
on_both_databases!(the_authorization_endpoint_refuses_bad_requests);

/// Signs in and allows, returning the authorization request and its code.
async fn a_code(p: &Provider, rp: &Rp, browser: &Browser, email: &str) -> (Request, String) {
    let request = authorize(rp, &[]);
    let mut page = browser.get(&request.url).await;
    if page.location().is_some_and(|l| l.starts_with("/login")) {
        page = sign_in(p, browser, &request.url, email).await;
    }
    if page.status == StatusCode::OK {
        page = allow(browser, &page).await;
    }
    let code = callback(&page)["code"].clone();
    (request, code)
}

async fn send(
    p: &Provider,
    auth: (&str, &str),
    form: Vec<(&'static str, String)>,
) -> (StatusCode, Value) {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.token(auth, &form).await
}

async fn the_token_endpoint_refuses_stolen_and_replayed_codes(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let (other_id, other_secret) = web_client(&db, &p.app, "Other app");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    let (request, code) = a_code(&p, &rp, &browser, "cy@example.com").await;
    let verifier = request.verifier.secret().clone();
    let form = |verifier: Option<&str>, redirect: &str| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", redirect.to_owned()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier.to_owned()));
        }
        form
    };
    let wrong_verifier = "x".repeat(43);
    for (auth, form, status, error) in [
        (
            (client_id.as_str(), "wrong-secret"),
            form(Some(&verifier), REDIRECT_URI),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            (other_id.as_str(), other_secret.as_str()),
            form(Some(&verifier), REDIRECT_URI),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            (client_id.as_str(), secret.as_str()),
            form(Some(&wrong_verifier), REDIRECT_URI),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            (client_id.as_str(), secret.as_str()),
            form(None, REDIRECT_URI),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            (client_id.as_str(), secret.as_str()),
            form(Some(&verifier), "http://127.0.0.1:9/other"),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ] {
        let (got, body) = send(&p, auth, form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }

    // None of the refusals spent the code: the rightful exchange works, once.
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .expect("token endpoint")
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.clone()))
        .request_async(&p.http)
        .await
        .expect("the rightful exchange");
    let (status, body) = send(
        &p,
        (&client_id, &secret),
        form(Some(&verifier), REDIRECT_URI),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    // The replay revoked what the code gave.
    let access = tokens.access_token().secret();
    assert_eq!(
        p.introspect((&client_id, &secret), access).await["active"],
        false
    );
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    let (_, body) = p
        .token(
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(body["error"], "invalid_grant");

    // Without offline_access there is no refresh token, but a replay still ends the access
    // token the code gave.
    let request = authorize_scopes(&rp, &["email"], &[]);
    let code = callback(&browser.get(&request.url).await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", request.verifier.secret().as_str()),
    ];
    let (status, first) = p.token((&client_id, &secret), &form).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.get("refresh_token").is_none());
    let access = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        p.introspect((&client_id, &secret), &access).await["active"],
        true
    );
    let (_, replay) = p.token((&client_id, &secret), &form).await;
    assert_eq!(replay["error"], "invalid_grant");
    assert_eq!(
        p.introspect((&client_id, &secret), &access).await["active"],
        false,
        "the replay revoked it"
    );
    let fresh = authorize_scopes(&rp, &["email"], &[]);
    let code = callback(&browser.get(&fresh.url).await)["code"].clone();
    let mut tampered = code.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (_, body) = p
        .token(
            (&client_id, &secret),
            &[
                ("grant_type", "authorization_code"),
                ("code", &tampered),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", fresh.verifier.secret()),
            ],
        )
        .await;
    assert_eq!(body["error"], "invalid_grant", "a tampered code is refused");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{body}"
    );

    // Ten exchanges of one code at once: at most one gets tokens, and the others, being
    // replays, revoke them.
    let (request, code) = a_code(&p, &rp, &browser, "cy@example.com").await;
    let verifier = request.verifier.secret().clone();
    let token_url = p.app.url("/token");
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let (http, url, id, secret) = (
                p.app.http.clone(),
                token_url.clone(),
                client_id.clone(),
                secret.clone(),
            );
            let form = [
                ("grant_type", "authorization_code".to_owned()),
                ("code", code.clone()),
                ("redirect_uri", REDIRECT_URI.to_owned()),
                ("code_verifier", verifier.clone()),
            ];
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&form)
                    .send()
                    .await
                    .expect("token");
                (
                    response.status(),
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.expect("exchange task"));
    }
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert!(
        won.len() <= 1,
        "at most one exchange gets tokens: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(status, body)| *status == StatusCode::OK || body["error"] == "invalid_grant"),
        "{answers:?}"
    );
    // The replays revoke whatever the winner (if any, as the race fell) was given.
    if let Some(winner) = won.first() {
        let access = winner["access_token"].as_str().unwrap();
        assert_eq!(
            p.introspect((&client_id, &secret), access).await["active"],
            false,
            "the replays revoked it"
        );
        let refresh = winner["refresh_token"].as_str().unwrap();
        let (_, body) = p
            .token(
                (&client_id, &secret),
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await;
        assert_eq!(body["error"], "invalid_grant", "and its refresh token");
    }

    // Expired rows are swept; live ones are not.
    let db_conn = latchkey_server::database::connect(&db.url, None)
        .await
        .expect("connect")
        .read()
        .clone();
    let (request, code) = a_code(&p, &rp, &browser, "cy@example.com").await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(request.verifier)
        .request_async(&p.http)
        .await
        .expect("exchange after a sweep");
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    latchkey_server::workers::sweep_expired(
        &latchkey_core::Db::new(db_conn.clone()),
        chrono::Utc::now(),
        chrono::TimeDelta::days(1),
    )
    .await
    .expect("sweep");
    let (status, body) = p
        .token(
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a sweep now leaves live tokens: {body}"
    );
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let swept = latchkey_server::workers::sweep_expired(
        &latchkey_core::Db::new(db_conn.clone()),
        chrono::Utc::now() + chrono::TimeDelta::days(400),
        chrono::TimeDelta::days(1),
    )
    .await
    .expect("sweep");
    assert!(
        swept >= 3,
        "a sweep a year on deletes the grant, its tokens and the codes: {swept}"
    );
    let (_, body) = p
        .token(
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(body["error"], "invalid_grant");

    // Every token response and error is uncacheable; repeated parameters are refused.
    let response = p
        .app
        .http
        .post(p.app.url("/token"))
        .basic_auth(&client_id, Some(&secret))
        .body("grant_type=refresh_token&grant_type=client_credentials")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
}
on_both_databases!(the_token_endpoint_refuses_stolen_and_replayed_codes);

/// A code that leaked after use (history, a proxy log) is useless without the client's whole
/// proof: replayed late without the PKCE verifier, it is refused and revokes nothing.
async fn a_late_replay_without_the_verifier_revokes_nothing(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    let (request, code) = a_code(&p, &rp, &browser, "lee@example.com").await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .expect("token endpoint")
        .set_pkce_verifier(PkceCodeVerifier::new(request.verifier.secret().clone()))
        .request_async(&p.http)
        .await
        .expect("the rightful exchange");
    p.app.clock.advance(chrono::TimeDelta::minutes(2));
    let (status, body) = p
        .token(
            (&client_id, &secret),
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier is missing"),
        "{body}"
    );
    assert_eq!(
        p.introspect((&client_id, &secret), tokens.access_token().secret())
            .await["active"],
        true,
        "the tokens the code gave still work"
    );
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    let (status, body) = p
        .token(
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    p.app.stop().await;
}
on_both_databases!(a_late_replay_without_the_verifier_revokes_nothing);

async fn machine_clients_get_only_their_scopes(db: TestDb) {
    const API: &str = "https://reports.example/api";
    let p = provider(&db, |cfg| {
        cfg.tokens.access_token_ttl = latchkey_server::duration::Ttl::from_secs(2);
    })
    .await;
    let machine = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Reports job",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api,reports",
        ],
    );
    let (id, secret) = (
        machine["client_id"].as_str().unwrap(),
        machine["client_secret"].as_str().unwrap(),
    );
    let resource = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "API",
            "--grant-type",
            "client_credentials",
            "--scope",
            "introspect",
        ],
    );
    let (rs_id, rs_secret) = (
        resource["client_id"].as_str().unwrap(),
        resource["client_secret"].as_str().unwrap(),
    );
    // The API the job calls, which introspects with its own credentials.
    crate::harness::cli_json(
        &db,
        &p.app,
        &[
            "resource",
            "add",
            "--identifier",
            API,
            "--scope",
            "api,reports",
            "--introspection-client",
            rs_id,
        ],
    );

    let (status, body) = p
        .token(
            (id, secret),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "api"),
                ("resource", API),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_payload(&token);
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some(id), Some(id))
    );

    for scope in ["api admin", "openid", "offline_access"] {
        let (status, body) = p
            .token(
                (id, secret),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "{scope}"
        );
    }
    let (_, body) = p
        .token(
            (id, secret),
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await;
    assert_eq!(body["error"], "unauthorized_client");
    let (_, body) = p.token((id, secret), &[("grant_type", "password")]).await;
    assert_eq!(body["error"], "unsupported_grant_type");
    // client_secret_post is not this client's registered method.
    let response = p
        .app
        .http
        .post(p.app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));

    // Browser apps may call the token endpoint from their own origin (a CORS preflight).
    let preflight = p
        .app
        .http
        .request(reqwest::Method::OPTIONS, p.app.url("/token"))
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    // A resource server introspects; another client cannot revoke the token; its owner can.
    let seen = p.introspect((rs_id, rs_secret), &token).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["scope"].as_str()),
        (Some(true), Some("api"))
    );
    let (status, body) = p
        .post(
            &p.app.url("/revoke"),
            (rs_id, rs_secret),
            &[("token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        p.introspect((rs_id, rs_secret), &token).await["active"],
        true
    );
    let (status, _) = p
        .post(&p.app.url("/revoke"), (id, secret), &[("token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        p.introspect((rs_id, rs_secret), &token).await["active"],
        false
    );
    // Garbage is simply inactive, and revoking it is not an error (RFC 7009 §2.2).
    assert_eq!(
        p.introspect((rs_id, rs_secret), "not-a-token").await["active"],
        false
    );
    assert_eq!(
        p.post(
            &p.app.url("/revoke"),
            (id, secret),
            &[("token", "not-a-token")]
        )
        .await
        .0,
        StatusCode::OK
    );

    // Tokens expire.
    let (_, body) = p
        .token(
            (id, secret),
            &[("grant_type", "client_credentials"), ("resource", API)],
        )
        .await;
    assert_eq!(body["scope"], "api reports", "all its scopes by default");
    let short_lived = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        p.introspect((rs_id, rs_secret), &short_lived).await["active"],
        true
    );
    p.app.clock.advance(chrono::TimeDelta::milliseconds(2_100));
    assert_eq!(
        p.introspect((rs_id, rs_secret), &short_lived).await["active"],
        false,
        "expired"
    );

    // A deleted client stops working (within the client cache's few seconds).
    let output = latchkey(
        db.dir.path(),
        &cli_env(&db, &p.app),
        &["client", "delete", id, "--json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let gone = eventually(Duration::from_secs(8), || async {
        p.token((id, secret), &[("grant_type", "client_credentials")])
            .await
            .0
            == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(gone, "a deleted client is refused");
}
on_both_databases!(machine_clients_get_only_their_scopes);

async fn prompt_and_max_age_force_a_new_sign_in(db: TestDb) {
    // Codes live 5 s here: long enough for a loaded machine to exchange them, short enough
    // to move the clock past.
    let p = provider(&db, |cfg| {
        cfg.tokens.code_ttl = latchkey_server::duration::Ttl::from_secs(5);
    })
    .await;
    let created = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Portal",
            "--redirect-uri",
            REDIRECT_URI,
            "--first-party",
        ],
    );
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let rp = p.rp(id, Some(secret));
    let browser = Browser::new(&p.app.base_url);
    let (_, _) = a_code(&p, &rp, &browser, "di@example.com").await;
    assert_eq!(p.smtp.mails_to("di@example.com").len(), 1);

    // A first-party client asks no consent, and prompt=none answers at once with a session.
    let silent = authorize(&rp, &[("prompt", "none")]);
    let code = callback(&browser.get(&silent.url).await)["code"].clone();

    // A client registered for RS256 gets RS256 ID tokens, verified from discovery alone.
    let rsa = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "RSA only",
            "--redirect-uri",
            REDIRECT_URI,
            "--first-party",
            "--id-token-alg",
            "RS256",
        ],
    );
    let rsa_rp = p.rp(
        rsa["client_id"].as_str().unwrap(),
        rsa["client_secret"].as_str(),
    );
    let rsa_request = authorize(&rsa_rp, &[]);
    let rsa_code = callback(&browser.get(&rsa_request.url).await)["code"].clone();
    let tokens = rsa_rp
        .exchange_code(AuthorizationCode::new(rsa_code))
        .expect("token endpoint")
        .set_pkce_verifier(rsa_request.verifier)
        .request_async(&p.http)
        .await
        .expect("exchange");
    let id_token = tokens.id_token().expect("ID token");
    assert_eq!(jwt_header(&id_token.to_string())["alg"], "RS256");
    id_token
        .claims(&rsa_rp.id_token_verifier(), &rsa_request.nonce)
        .expect("the RS256 ID token verifies");

    // An expired code is refused.
    p.app.clock.advance(chrono::TimeDelta::milliseconds(5_500));
    let (_, body) = p
        .token(
            (id, secret),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", silent.verifier.secret()),
            ],
        )
        .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // prompt=login and an exceeded max_age send the person to sign in again, and the new
    // sign-in satisfies them.
    for extra in [("prompt", "login"), ("max_age", "1")] {
        let before = p.smtp.mails_to("di@example.com").len();
        let request = authorize(&rp, &[extra]);
        let page = sign_in(&p, &browser, &request.url, "di@example.com").await;
        assert_eq!(
            p.smtp.mails_to("di@example.com").len(),
            before + 1,
            "{extra:?} asked for a new sign-in"
        );
        let code = callback(&page)["code"].clone();
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .expect("token endpoint")
            .set_pkce_verifier(request.verifier)
            .request_async(&p.http)
            .await
            .expect("exchange");
        let claims = tokens
            .id_token()
            .unwrap()
            .claims(&rp.id_token_verifier(), &request.nonce)
            .unwrap();
        let auth_time = claims.auth_time().expect("auth_time");
        assert!(
            (chrono::Utc::now() - auth_time).num_seconds() <= 5,
            "auth_time is the new sign-in"
        );
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
}
on_both_databases!(prompt_and_max_age_force_a_new_sign_in);

async fn client_registration_says_what_to_fix(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let long_team = "t".repeat(40);
    for (args, message) in [
        (vec!["--name", "No redirect"], "--redirect-uri"),
        (
            vec![
                "--name",
                "Insecure",
                "--redirect-uri",
                "http://app.example.com/cb",
            ],
            "https",
        ),
        (
            vec![
                "--name",
                "Public",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "public client",
        ),
        (
            vec![
                "--name",
                "Keys",
                "--redirect-uri",
                REDIRECT_URI,
                "--auth-method",
                "private_key_jwt",
            ],
            "--jwks-uri",
        ),
        (
            vec!["--name", "Grant", "--grant-type", "password"],
            "unknown grant type",
        ),
        (
            vec![
                "--name",
                "Team",
                "--redirect-uri",
                REDIRECT_URI,
                "--team",
                &long_team,
            ],
            "is not a team id",
        ),
    ] {
        let mut all = vec!["client", "create"];
        all.extend(args.iter().copied());
        let output = latchkey(db.dir.path(), &cli_env(&db, &app), &all);
        assert!(!output.status.success(), "{args:?} is refused");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let public = create_client(
        &db,
        &app,
        &[
            "--name",
            "Mobile",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb,com.example.app:/cb",
        ],
    );
    assert!(public["client_secret"].is_null());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert_eq!(
        public["redirect_uris"].as_array().unwrap().len(),
        2,
        "comma lists split"
    );
    let output = latchkey(
        db.dir.path(),
        &cli_env(&db, &app),
        &["client", "list", "--json"],
    );
    let listed: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(listed[0]["client_id"], public["client_id"]);
    assert!(
        !stdout(&output).contains("secret_hash"),
        "no secret material is listed"
    );
}
on_both_databases!(client_registration_says_what_to_fix);

/// `id_token_hint` (Core §3.1.2.1) is verified when the request arrives and kept as the
/// subject it names: a waiting request stores a few bytes, not an 8 KB token (L4), and only
/// the person it names is answered.
async fn an_id_token_hint_is_kept_as_its_subject_and_checked(db: TestDb) {
    use latchkey_oidc::entities::authorization_request;
    use sea_orm::EntityTrait;

    let p = provider(&db, |_| {}).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let ann = Browser::new(&p.app.base_url);
    let (request, code) = a_code(&p, &rp, &ann, "ann@example.com").await;
    let tokens = p.exchange((&client_id, &secret), &code, &request).await;
    let hint = tokens["id_token"].as_str().expect("id_token").to_owned();

    // Not an ID token of this client's: refused at once, at the client's redirect URI.
    let stranger = Browser::new(&p.app.base_url);
    let bad = authorize(&rp, &[("id_token_hint", "not.a.token")]);
    assert_eq!(
        callback(&stranger.get(&bad.url).await)["error"],
        "invalid_request"
    );

    // Nobody signed in: the request waits for sign-in, holding the subject only.
    let hinted = authorize(&rp, &[("id_token_hint", &hint)]);
    let waiting = stranger.get(&hinted.url).await;
    assert!(
        waiting
            .location()
            .is_some_and(|l| l.starts_with("/login?request=")),
        "{:?}",
        waiting.location()
    );
    let conn = latchkey_server::database::connect(&db.url, None)
        .await
        .expect("database");
    let kept = authorization_request::Entity::find()
        .all(conn.read())
        .await
        .expect("requests");
    assert!(!kept.is_empty());
    for row in &kept {
        assert!(
            !row.params.contains(&hint),
            "the token itself is not stored"
        );
        assert!(row.params.len() < 1024, "{} bytes", row.params.len());
    }

    // Someone else signed in, asked silently for Ann: login_required.
    let bo = Browser::new(&p.app.base_url);
    a_code(&p, &rp, &bo, "bo@example.com").await;
    let silent = authorize(&rp, &[("id_token_hint", &hint), ("prompt", "none")]);
    assert_eq!(
        callback(&bo.get(&silent.url).await)["error"],
        "login_required"
    );
    // Ann herself is answered at once.
    let again = authorize(&rp, &[("id_token_hint", &hint)]);
    assert!(callback(&ann.get(&again.url).await).contains_key("code"));
    p.app.stop().await;
}
on_both_databases!(an_id_token_hint_is_kept_as_its_subject_and_checked);

/// Each new authorization request may be kept while the person signs in, so one client
/// address may start only so many a minute (L4); the sign-in pages keep their own budget.
#[tokio::test]
async fn authorization_requests_per_ip_past_the_limit_get_429() {
    let db = TestDb::sqlite();
    let p = provider(&db, |cfg| cfg.http.rate_limit_per_ip = 3).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    for _ in 0..3 {
        let page = browser.get(&authorize(&rp, &[]).url).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    let limited = browser.get(&authorize(&rp, &[]).url).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.get("retry-after").is_some());
    let login = browser.request_login("ann@example.com").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "a budget of its own");
    p.app.stop().await;
}

/// "Sign out everywhere" also ends what applications hold (I5): a refresh token stolen with a
/// device stops working with the sessions, and so do the access tokens issued from it.
async fn signing_out_everywhere_revokes_the_applications_tokens(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    let (request, code) = a_code(&p, &rp, &browser, "eve@example.com").await;
    let tokens = p.exchange((&client_id, &secret), &code, &request).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(
        p.introspect((&client_id, &secret), &access).await["active"],
        true
    );

    let dashboard = browser.get("/dashboard").await;
    assert!(
        dashboard
            .body
            .contains("signs you out of every application")
    );
    let out = browser
        .post("/logout/everywhere", &[("csrf", &dashboard.field("csrf"))])
        .await;
    assert_eq!(out.location(), Some("/login"));
    let (status, body) = p
        .token(
            (&client_id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        p.introspect((&client_id, &secret), &access).await["active"],
        false
    );
    p.app.stop().await;
}
on_both_databases!(signing_out_everywhere_revokes_the_applications_tokens);

/// People have names (issue 15): the operator sets one, and a relying party that asks for
/// `profile` sees it, split into given and family names, in the ID token and at userinfo;
/// without `profile` it sees none.
async fn the_profile_scope_gives_the_persons_name(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    a_code(&p, &rp, &browser, "ada@example.com").await;
    let set = crate::harness::cli_json(
        &db,
        &p.app,
        &[
            "user",
            "set-name",
            "--email",
            "ada@example.com",
            "--name",
            " Ada  King Lovelace",
        ],
    );
    assert_eq!(set["family_name"], "Lovelace");

    let request = authorize_scopes(&rp, &["profile", "email"], &[]);
    let consent = browser.get(&request.url).await;
    let code = callback(&allow(&browser, &consent).await)["code"].clone();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(request.verifier)
        .request_async(&p.http)
        .await
        .expect("exchange");
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.id_token_verifier(), &request.nonce)
        .expect("verifies");
    let name = |claim: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserName>>| {
        claim
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned())
    };
    assert_eq!(name(claims.name()).as_deref(), Some("Ada King Lovelace"));
    assert_eq!(
        claims
            .given_name()
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned())
            .as_deref(),
        Some("Ada King")
    );
    assert_eq!(
        claims
            .family_name()
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned())
            .as_deref(),
        Some("Lovelace")
    );
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("ada@example.com")
    );
    let userinfo: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .expect("userinfo discovered")
        .request_async(&p.http)
        .await
        .expect("userinfo");
    assert_eq!(name(userinfo.name()).as_deref(), Some("Ada King Lovelace"));
    assert!(userinfo.updated_at().is_some());

    // Without profile: no name anywhere.
    let request = authorize_scopes(&rp, &["email"], &[]);
    let code = callback(&browser.get(&request.url).await)["code"].clone();
    let raw = p.exchange((&client_id, &secret), &code, &request).await;
    let id_token = jwt_payload(raw["id_token"].as_str().expect("id_token"));
    assert!(id_token.get("name").is_none() && id_token.get("preferred_username").is_none());
    p.app.stop().await;
}
on_both_databases!(the_profile_scope_gives_the_persons_name);

/// RFC 9700 §4.8: a client allowed to skip PKCE that got a code without a challenge cannot
/// pass a verifier at the exchange: that is the downgrade an attacker who injected a stolen
/// code would try. The refused attempt does not spend the code.
async fn a_verifier_for_a_code_without_a_challenge_is_refused(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let created = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Legacy RP",
            "--redirect-uri",
            REDIRECT_URI,
            "--pkce-optional",
        ],
    );
    let (id, secret) = (
        created["client_id"].as_str().expect("id"),
        created["client_secret"].as_str().expect("secret"),
    );
    let rp = p.rp(id, Some(secret));
    let browser = Browser::new(&p.app.base_url);
    let request = authorize(&rp, &[]);
    let without_pkce = url_without(&request.url, &["code_challenge", "code_challenge_method"]);
    let consent = sign_in(&p, &browser, &without_pkce, "dee@example.com").await;
    let code = callback(&allow(&browser, &consent).await)["code"].clone();
    let exchange = |verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        form.extend(verifier.map(|v| ("code_verifier", v)));
        form.into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect::<Vec<_>>()
    };
    let (status, body) = send(&p, (id, secret), exchange(Some(request.verifier.secret()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("had no code_challenge"),
        "{body}"
    );
    let (status, body) = send(&p, (id, secret), exchange(None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    p.app.stop().await;
}
on_both_databases!(a_verifier_for_a_code_without_a_challenge_is_refused);

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("JWT part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

pub(crate) fn jwt_payload(token: &str) -> Value {
    jwt_part(token, 1)
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn url_without(url: &str, names: &[&str]) -> String {
    let mut parsed = url::Url::parse(url).expect("url");
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !names.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(kept);
    parsed.into()
}

async fn a_revocation_reaches_every_replica(db: TestDb) {
    // Two replicas of one provider: same database, issuer and master key. The second starts
    // after a first revocation, so it must read it when it loads.
    let key = master_key();
    let a = TestApp::spawn(config(&db, &key)).await;
    let mut second = config(&db, &key);
    second.issuer = a.base_url.clone();
    let machine = create_client(
        &db,
        &a,
        &[
            "--name",
            "Job",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
        ],
    );
    let (id, secret) = (
        machine["client_id"].as_str().unwrap(),
        machine["client_secret"].as_str().unwrap(),
    );
    let post = |app: &TestApp, path: &str, form: Vec<(&'static str, String)>| {
        let request = app
            .http
            .post(app.url(path))
            .basic_auth(id, Some(secret))
            .form(&form);
        async move {
            request
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .unwrap_or(Value::Null)
        }
    };
    let issue = || {
        post(
            &a,
            "/token",
            vec![("grant_type", "client_credentials".into())],
        )
    };
    let early = issue().await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let token = issue().await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    post(&a, "/revoke", vec![("token", early.clone())]).await;

    let b = TestApp::spawn(second).await;
    let introspect_on_b = |token: String| post(&b, "/introspect", vec![("token", token)]);
    assert_eq!(
        introspect_on_b(early).await["active"],
        false,
        "revoked before b started"
    );
    assert_eq!(
        introspect_on_b(token.clone()).await["active"],
        true,
        "b accepts what a issued"
    );

    post(&a, "/revoke", vec![("token", token.clone())]).await;
    assert_eq!(
        post(&a, "/introspect", vec![("token", token.clone())]).await["active"],
        false,
        "at once where revoked"
    );
    let seen = eventually(Duration::from_secs(5), || async {
        introspect_on_b(token.clone()).await["active"] == false
    })
    .await;
    assert!(
        seen,
        "the other replica learns of the revocation within seconds"
    );
}
on_both_databases!(a_revocation_reaches_every_replica);
