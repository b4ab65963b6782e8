//! A provider with one team (Ada administers it, Bo is a member, Cy is in no team), clients
//! registered as each test asks, and the steps of the code flow as a client takes them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::secret::SecretToken;
use latchkey_core::{Clock, Db};
use latchkey_keys::MasterKey;
use latchkey_login::{Opening, SessionUser};
use latchkey_testkit::{Member, Team};

use crate::remote_jwks::RemoteJwks;
use crate::tokens::TokenResponse;
use crate::{
    AudiencePolicy, AuthorizeError, AuthorizeParams, Client, ClientAuthenticator, Clients,
    Endpoint, NewClient, Next, OAuthError, Presented, Provider, TokenRequest, TokenSettings,
};

pub const REDIRECT_URI: &str = "https://app.example.test/callback";
/// The verifier and challenge of RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A well-formed verifier that is not the one `CHALLENGE` was made from.
pub const OTHER_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";

/// Lifetimes as the provider's defaults set them: codes live a minute.
pub fn token_settings() -> TokenSettings {
    TokenSettings {
        access_token_ttl: TimeDelta::minutes(10),
        id_token_ttl: TimeDelta::minutes(10),
        code_ttl: TimeDelta::minutes(1),
        refresh_idle_ttl: TimeDelta::days(1),
        refresh_max_ttl: TimeDelta::days(30),
        request_ttl: TimeDelta::minutes(30),
    }
}

pub struct Fixture {
    pub db: Db,
    pub now: DateTime<Utc>,
    pub provider: Provider,
    pub team: Team,
    pub bo: Member,
    pub cy: Member,
}

/// A registered client and the secret it was given (none for a public client).
pub struct Registered {
    pub client: Arc<Client>,
    pub secret: Option<String>,
}

impl Fixture {
    pub async fn new() -> Self {
        let latchkey_testkit::Ground {
            db,
            keys,
            issuer,
            now,
        } = latchkey_testkit::Ground::new().await;
        let authenticator = ClientAuthenticator::new(
            Clients::new(db.clone()),
            RemoteJwks::new(Clock::system(), false).expect("a JWKS fetcher"),
            db.clone(),
            &issuer,
            AudiencePolicy::default(),
        );
        let (master_key, _) = MasterKey::generate().expect("a master key");
        let provider = Provider::new(
            db.clone(),
            keys,
            issuer,
            token_settings(),
            authenticator,
            Arc::new(master_key),
        );
        let latchkey_testkit::Acme { team, bo, cy } = latchkey_testkit::Acme::found(&db, now).await;
        Self {
            db,
            now,
            provider,
            team,
            bo,
            cy,
        }
    }

    /// A confidential, first-party client of no team (so no consent page), with the code
    /// flow, refresh tokens and PKCE required, changed by `adjust`.
    pub async fn client(&self, adjust: impl FnOnce(&mut NewClient)) -> Registered {
        let mut new = NewClient {
            name: "Notes".to_owned(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            first_party: true,
            ..NewClient::default()
        };
        adjust(&mut new);
        let created = self
            .provider
            .clients()
            .create(new, self.now)
            .await
            .expect("client registered");
        let client = self
            .provider
            .clients()
            .find(&latchkey_core::ClientId::from(created.client_id.as_str()))
            .await
            .expect("client read")
            .expect("client found");
        Registered {
            client,
            secret: created.client_secret,
        }
    }

    /// `member` signed in now, in a browser of their own.
    pub async fn signed_in(&self, member: &Member) -> SessionUser {
        self.signed_in_at(member, Opening::default(), self.now)
            .await
    }

    pub async fn signed_in_at(
        &self,
        member: &Member,
        opening: Opening<'_>,
        at: DateTime<Utc>,
    ) -> SessionUser {
        let (_secret, user): (SecretToken, SessionUser) =
            member.sign_in(&self.db, opening, at).await;
        user
    }

    pub fn later(&self, by: TimeDelta) -> DateTime<Utc> {
        self.now + by
    }

    /// The request a client sends: its own id and redirect URI, `openid offline_access`, a
    /// state, and the PKCE challenge; changed by `adjust`.
    pub fn params(
        &self,
        client: &Client,
        adjust: impl FnOnce(&mut AuthorizeParams),
    ) -> AuthorizeParams {
        let mut params = AuthorizeParams {
            client_id: Some(client.id.to_string()),
            redirect_uri: Some(REDIRECT_URI.to_owned()),
            response_type: Some("code".to_owned()),
            scope: Some("openid offline_access".to_owned()),
            state: Some("xyz".to_owned()),
            nonce: Some("n-0S6_WzA2Mj".to_owned()),
            code_challenge: Some(CHALLENGE.to_owned()),
            code_challenge_method: Some("S256".to_owned()),
            ..AuthorizeParams::default()
        };
        adjust(&mut params);
        params
    }

    /// Starts a request as `user` (or nobody) at `now`.
    pub async fn start(
        &self,
        params: AuthorizeParams,
        user: Option<&SessionUser>,
    ) -> Result<Next, AuthorizeError> {
        self.provider.start(params, user, self.now).await
    }

    /// What the provider does with a plain request from `client` for a signed-in `user`.
    pub async fn authorize(&self, client: &Client, user: &SessionUser) -> Next {
        let params = self.params(client, |_| {});
        self.start(params, Some(user))
            .await
            .expect("an answer, not an error page")
    }

    /// The code a signed-in `user` is sent back with, the request as `params` adjusts it.
    pub async fn code(
        &self,
        client: &Client,
        user: &SessionUser,
        adjust: impl FnOnce(&mut AuthorizeParams),
    ) -> String {
        let next = self
            .start(self.params(client, adjust), Some(user))
            .await
            .expect("request accepted");
        query_param(&redirected(next), "code").expect("a code")
    }

    /// The token endpoint, for a client already authenticated, with the form as sent.
    pub async fn token(
        &self,
        client: &Client,
        form: &[(&str, &str)],
        at: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let form: HashMap<String, String> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let request = TokenRequest::parse(form)?;
        self.provider.token(client, request, at).await
    }

    /// Exchanges `code` as the client does: its redirect URI and the right verifier.
    pub async fn exchange(
        &self,
        client: &Client,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
            at,
        )
        .await
    }

    /// Uses a refresh token, asking for `scope` if given.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(client, &form, at).await
    }

    /// Whether an access token is still accepted (as userinfo and introspection check it).
    pub async fn accepted(&self, access_token: &str, at: DateTime<Utc>) -> bool {
        self.provider
            .check_access_token(access_token, at)
            .await
            .is_ok()
    }

    /// Authenticates as the token endpoint does, with the secret in the Basic header.
    pub async fn authenticate_basic(
        &self,
        client: &Client,
        secret: &str,
    ) -> Result<Arc<Client>, OAuthError> {
        let presented = Presented {
            basic: Some((client.id.to_string(), secret.to_owned())),
            ..Presented::default()
        };
        self.provider
            .authenticator()
            .authenticate(presented, Endpoint::Token, self.now)
            .await
    }
}

/// The URL a `Next` sends the browser back to the client with; fails on anything else.
pub fn redirected(next: Next) -> String {
    match next {
        Next::Redirect(to) => to,
        other => panic!("expected a redirect to the client, got {other:?}"),
    }
}

/// The id of the request kept while the person signs in; fails on anything else.
pub fn sign_in_asked(next: Next) -> String {
    match next {
        Next::SignIn { request_id, .. } => request_id,
        other => panic!("expected to be sent to sign in, got {other:?}"),
    }
}

/// A parameter of a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `error` a redirect to the client carries.
pub fn redirect_error(next: Next) -> String {
    query_param(&redirected(next), "error").expect("an error in the redirect")
}

/// The error a request is refused with before anything is kept, which the web layer sends
/// to the client's redirect URI; fails on anything else.
pub fn refused_to_client(result: Result<Next, AuthorizeError>) -> crate::ErrorCode {
    match result {
        Err(AuthorizeError::Redirect { error, .. }) => error.code,
        other => panic!("expected a refusal sent to the client, got {other:?}"),
    }
}
