//! A helpdesk's agent widget, the way integrations sign agents in to Latchkey: the helpdesk
//! knows who its agent is, signs a short JWT saying so with its own PEM key, and shows
//! Latchkey's dashboard in an iframe opened at `/sso/jwt?token=…`. Latchkey trusts the
//! helpdesk's public key (`latchkey issuer add --public-key-file`) and lets the helpdesk's
//! origin frame the session (`--frame-origin`).

use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// Who the widget signs in, and where.
#[derive(Clone, Debug)]
pub struct Agent {
    pub email: String,
    pub name: String,
}

/// The widget: its key, its `iss`, and the Latchkey it opens.
pub struct Widget {
    key: EncodingKey,
    issuer: String,
    latchkey: url::Url,
    agent: Agent,
}

/// A P-256 key pair as PEM: the private half stays with the widget, the public half is given
/// to Latchkey.
pub struct PemPair {
    pub private_pem: String,
    pub public_pem: String,
}

impl PemPair {
    pub fn generate() -> Result<Self, String> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| format!("generating a key: {e}"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|e| format!("reading the key: {e}"))?;
        let spki: PublicKeyX509Der<'static> = pair
            .public_key()
            .as_der()
            .map_err(|e| format!("encoding the public key: {e}"))?;
        Ok(Self {
            private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
        })
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl Widget {
    /// `private_pem`: the widget's PKCS#8 EC P-256 key. `latchkey`: Latchkey's issuer URL.
    pub fn new(
        private_pem: &str,
        issuer: &str,
        latchkey: &str,
        agent: Agent,
    ) -> Result<Self, String> {
        Ok(Self {
            key: EncodingKey::from_ec_pem(private_pem.as_bytes())
                .map_err(|e| format!("the private key: {e}"))?,
            issuer: issuer.to_owned(),
            latchkey: url::Url::parse(latchkey).map_err(|e| format!("the Latchkey URL: {e}"))?,
            agent,
        })
    }

    /// A token for the agent: made out to Latchkey, living a minute, used once.
    pub fn token(&self) -> Result<String, String> {
        self.token_for(&self.agent)
    }

    /// A token for `agent`.
    pub fn token_for(&self, agent: &Agent) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": agent.email,
            "email": agent.email,
            "name": agent.name,
            "aud": self.latchkey.as_str().trim_end_matches('/'),
            "iat": now,
            "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| format!("signing: {e}"))
    }

    /// Where the iframe opens: `/sso/jwt` with a fresh token, landing on the dashboard.
    pub fn sign_on_url(&self) -> Result<String, String> {
        let mut url = self
            .latchkey
            .join("/sso/jwt")
            .map_err(|e| format!("the Latchkey URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("token", &self.token()?)
            .append_pair("return_to", "/dashboard");
        Ok(url.into())
    }
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Helpdesk</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem}iframe{width:100%;height:80vh;border:1px solid #999;border-radius:.5rem}</style>
</head>
<body>
<h1>Helpdesk</h1>
<p>Signed in to the helpdesk as {{ name }}. Latchkey, below, signs you in too.</p>
<iframe src="{{ src }}" title="Latchkey"></iframe>
</body>
</html>"#;

/// The widget's page: the helpdesk, with Latchkey framed inside it.
pub fn router(widget: Arc<Widget>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(page))
        .with_state(widget)
}

async fn page(State(widget): State<Arc<Widget>>) -> Response {
    let rendered = widget.sign_on_url().and_then(|src| {
        let mut context = tera::Context::new();
        context.insert("src", &src);
        context.insert("name", &widget.agent.name);
        // Autoescaped: the URL and the name go into HTML.
        tera::Tera::one_off(PAGE, &context, true).map_err(|e| e.to_string())
    });
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(error) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, error).into_response(),
    }
}
