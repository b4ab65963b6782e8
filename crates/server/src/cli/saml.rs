//! `latchkey saml-sp …`: the arguments of registering and changing SAML service providers.

use std::path::PathBuf;

use clap::Subcommand;
use latchkey_core::{SamlSpId, TeamId};

#[derive(Debug, Subcommand)]
pub enum SamlSpCommand {
    /// Register a service provider, from flags or from its own metadata. Prints its sp_id and
    /// the identity provider metadata URL to give it.
    Add(Box<SamlSpAddArgs>),
    /// List the service providers of a team, or of every team.
    List {
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Change a service provider: a flag given replaces what is registered (a list replaces
    /// the whole list), the SP's metadata replaces what it says; the rest stays. Its sp_id,
    /// and the persistent NameIDs it was given, stay.
    Update(Box<SamlSpUpdateArgs>),
    /// Remove a service provider; sign-ons it started and has not finished are dropped.
    Remove {
        /// The sp_id `saml-sp add` printed.
        #[arg(long)]
        sp: SamlSpId,
    },
}

#[derive(Debug, clap::Args)]
pub struct SamlSpAddArgs {
    #[arg(long)]
    pub team: TeamId,
    /// The SP's entity ID (its metadata's entityID).
    #[arg(long = "entity-id", required_unless_present_any = ["metadata_file", "metadata_url"])]
    pub entity_id: Option<String>,
    /// Where the SP receives responses (its Assertion Consumer Service). Repeatable.
    #[arg(long = "acs-url", value_delimiter = ',', required_unless_present_any = ["metadata_file", "metadata_url"])]
    pub acs_urls: Vec<String>,
    #[command(flatten)]
    pub settings: SamlSpSettings,
    /// Whether a sign-on may start at Latchkey (/saml/init), unasked by the SP: false for an
    /// SP that always starts its own.
    #[arg(long = "idp-initiated", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub idp_initiated: bool,
}

/// What `saml-sp update` changes: a flag given replaces what is registered.
#[derive(Debug, clap::Args)]
pub struct SamlSpUpdateArgs {
    /// The sp_id `saml-sp add` printed.
    #[arg(long)]
    pub sp: SamlSpId,
    /// Its new entity ID, when the SP's changes.
    #[arg(long = "entity-id")]
    pub entity_id: Option<String>,
    /// Where the SP receives responses. Repeatable; replaces every registered one.
    #[arg(long = "acs-url", value_delimiter = ',')]
    pub acs_urls: Vec<String>,
    #[command(flatten)]
    pub settings: SamlSpSettings,
    /// Forget the logout URL: single logout is then refused.
    #[arg(long = "no-slo-url", conflicts_with = "slo_url")]
    pub no_slo_url: bool,
    /// Stop encrypting assertions.
    #[arg(long = "no-encrypt-cert", conflicts_with = "encrypt_cert")]
    pub no_encrypt_cert: bool,
    /// Forget the SP's signing certificate: its requests are then neither verified nor
    /// required to be signed.
    #[arg(long = "no-signing-cert", conflicts_with = "signing_cert")]
    pub no_signing_cert: bool,
    /// Forget the audience: assertions name the entity ID again.
    #[arg(long = "no-audience", conflicts_with = "audience")]
    pub no_audience: bool,
    /// Whether a sign-on may start at Latchkey (/saml/init).
    #[arg(long = "idp-initiated", value_name = "BOOL")]
    pub idp_initiated: Option<bool>,
    /// Move an SP registered before teams had their own SAML identity to its team's
    /// (`team`); then give the SP the team's metadata URL this prints.
    #[arg(long, value_name = "team", value_parser = ["team"])]
    pub identity: Option<String>,
}

/// The flags `saml-sp add` and `update` share.
#[derive(Debug, clap::Args)]
pub struct SamlSpSettings {
    /// Read the entity ID, ACS URLs, logout URL, NameID format and certificates from the SP's
    /// metadata file (again, when it rotates its certificates), and on add the attributes it
    /// requests that Latchkey can fill. Flags given beside it win.
    #[arg(
        long = "metadata-file",
        value_name = "FILE",
        conflicts_with = "metadata_url"
    )]
    pub metadata_file: Option<PathBuf>,
    /// The same, fetched from the SP's metadata URL (https).
    #[arg(long = "metadata-url", value_name = "URL")]
    pub metadata_url: Option<String>,
    /// A name for people and the audit log (default: the entity ID).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the SP receives logout requests and responses.
    #[arg(long = "slo-url")]
    pub slo_url: Option<String>,
    /// How the person is named when a request does not ask: email (their address),
    /// persistent (an opaque id for this SP), transient (an opaque id for one session) or
    /// unspecified (their address, under the unspecified format).
    #[arg(long = "name-id-format")]
    pub name_id_format: Option<String>,
    /// An attribute: NAME=CLAIM (claims: email, name, given_name, family_name, team, role,
    /// sub) or NAME=literal:VALUE, the same value for everyone (up to 1024 characters; it takes
    /// the rest of a comma list, commas included). Repeatable; replaces every attribute.
    /// Default: what the SP's metadata requests and Latchkey can fill (on add), else email,
    /// firstName, lastName, displayName.
    #[arg(long = "attribute", value_name = "NAME=CLAIM|NAME=literal:VALUE")]
    pub attributes: Vec<String>,
    /// The NameFormat of an attribute sent: NAME=uri|basic|unspecified. Repeatable. Default:
    /// uri for a name with a ':' (a URI such as urn:oid:2.5.4.42), else basic.
    #[arg(
        long = "attribute-format",
        value_name = "NAME=FORMAT",
        value_delimiter = ','
    )]
    pub attribute_formats: Vec<String>,
    /// The assertions' Audience, when the SP expects another than its entity ID (Zendesk:
    /// acme.zendesk.com). Default: the entity ID.
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// Encrypt assertions to the certificate in this PEM file.
    #[arg(long = "encrypt-cert", value_name = "FILE")]
    pub encrypt_cert: Option<PathBuf>,
    /// The cipher of encrypted assertions: aes256-gcm or aes256-cbc.
    #[arg(long)]
    pub encryption: Option<String>,
    /// Verify the SP's signed requests with the certificate(s) in this PEM file (while it
    /// rotates its key, the current and the next one after the other). Unsigned ones are
    /// refused only when signed requests are required (--require-signed-requests).
    #[arg(long = "signing-cert", value_name = "FILE")]
    pub signing_cert: Option<PathBuf>,
    /// Whether the SP's requests must be signed (needs its signing certificate). Default:
    /// what its metadata's AuthnRequestsSigned says, else false; a signed request is
    /// verified either way.
    #[arg(long = "require-signed-requests", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub require_signed_requests: Option<bool>,
    /// Whether request signatures made with SHA-1 are accepted from the SP (default false:
    /// only for an SP that cannot sign with SHA-256).
    #[arg(long = "allow-sha1-signatures", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub allow_sha1_signatures: Option<bool>,
    /// What to sign: assertion, response or both.
    #[arg(long)]
    pub sign: Option<String>,
}
