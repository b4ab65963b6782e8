//! `latchkey issuer …`: the arguments of trusting an integration's own JWTs.

use clap::Subcommand;
use latchkey_core::{TeamId, TrustedIssuerId};

#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Trust an issuer's signed assertions for a team's members.
    Add(Box<IssuerAddArgs>),
    /// List a team's trusted issuers.
    List {
        #[arg(long)]
        team: TeamId,
    },
    /// Stop trusting an issuer.
    Remove {
        #[arg(long)]
        team: TeamId,
        /// The id `issuer add` printed.
        id: TrustedIssuerId,
    },
}

#[derive(Debug, clap::Args)]
pub struct IssuerAddArgs {
    /// The team whose members the issuer's assertions name.
    #[arg(long)]
    pub team: TeamId,
    /// The `iss` its assertions carry.
    #[arg(long)]
    pub issuer: String,
    /// Where it publishes its public keys (https; cached, refetched for an unknown kid).
    #[arg(long = "jwks-uri", value_name = "URI")]
    pub jwks_uri: Option<String>,
    /// A file holding its public keys as a JWKS.
    #[arg(long = "jwks-file", value_name = "FILE")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// A file holding one of its public keys as PEM (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`):
    /// RSA of 2048 bits or more, or EC P-256; its kid is its RFC 7638 thumbprint. Repeatable.
    #[arg(long = "public-key-file", value_name = "PEM")]
    pub public_key_files: Vec<std::path::PathBuf>,
    /// Algorithms it may sign with: ES256, RS256, EdDSA [default: all three].
    #[arg(long = "algorithm", value_name = "ALG", value_delimiter = ',', value_parser = parse_issuer_algorithm)]
    pub algorithms: Vec<latchkey_oidc::federation::Algorithm>,
    /// The `aud` its assertions must carry [default: the token endpoint URL or the issuer].
    #[arg(long)]
    pub audience: Option<String>,
    /// The longest token lifetime (exp - iat) accepted, up to 24h.
    #[arg(long = "max-lifetime", default_value = "5m", value_parser = crate::duration::Ttl::parse)]
    pub max_lifetime: crate::duration::Ttl,
    /// Whether its tokens must carry a jti. Either way a token works once: without a jti, its
    /// SHA-256 is remembered until it expires.
    #[arg(long = "require-jti", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_jti: bool,
    /// CLAIM=VALUE: a token carrying it (the value, or a list holding it) makes the member an
    /// administrator, and one lacking it a plain member (never the last administrator). Off
    /// by default: then its tokens never sign in an administrator.
    #[arg(long = "allow-admin-claim", value_name = "CLAIM=VALUE")]
    pub allow_admin_claim: Option<String>,
    /// An origin (https://host[:port]) that may frame the sessions its tokens open at
    /// /sso/jwt. Repeatable.
    #[arg(long = "frame-origin", value_name = "ORIGIN", value_delimiter = ',')]
    pub frame_origins: Vec<String>,
    /// The claim holding the member's email address (may be `sub`).
    #[arg(long = "email-claim", default_value = "email")]
    pub email_claim: String,
    /// The claim holding the member's name.
    #[arg(long = "name-claim", default_value = "name")]
    pub name_claim: String,
}

/// `--algorithm`: ES256, RS256 or EdDSA.
fn parse_issuer_algorithm(raw: &str) -> Result<latchkey_oidc::federation::Algorithm, String> {
    latchkey_oidc::federation::parse_algorithm(raw).map_err(|e| e.to_string())
}
