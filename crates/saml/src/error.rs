//! Why registering a service provider, or answering one, failed. Each says what to fix.

use latchkey_teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error(
        "the entity ID must be 1 to 512 characters, without spaces (the SP's metadata names it entityID)"
    )]
    EntityId,
    #[error(
        "an SP with the entity ID {0:?} is already registered in this team: change or remove that one"
    )]
    EntityIdTaken(String),
    #[error(
        "a team may publish at most {0} SAML certificates at once: retire one it no longer uses (`latchkey saml-cert retire`)"
    )]
    TooManyCertificates(usize),
    #[error(
        "there is no certificate {0:?} in this team's SAML metadata: publish one with `latchkey saml-cert add` and use the certificate_id it prints"
    )]
    CertificateNotPublished(String),
    #[error("the certificate {0:?} has expired: publish a new one with `latchkey saml-cert add`")]
    CertificateExpired(String),
    #[error(
        "the certificate {0:?} still signs ({1} service providers, or the team's next ones): switch them to another first (`latchkey saml-cert use`)"
    )]
    CertificateInUse(String, usize),
    #[error(
        "an SP registered before teams had their own SAML identity can only move to its team's (`--identity team`)"
    )]
    Identity,
    #[error("the name must be at most 200 characters on one line")]
    Name,
    #[error("give at least one ACS URL (--acs-url), where the SP receives responses")]
    NoAcsUrl,
    #[error("an SP may register at most {0} ACS URLs")]
    TooManyAcsUrls(usize),
    #[error("{0:?} is not an https URL (http is allowed on localhost only), without a fragment")]
    Url(String),
    #[error("{0:?} is not an attribute name: 1 to 256 characters without spaces")]
    AttributeName(String),
    #[error("the attribute {0:?} is given twice")]
    AttributeTwice(String),
    #[error(
        "{0:?} is not NAME=CLAIM or NAME=literal:VALUE; the claims are email, name, given_name, family_name, team, role and sub"
    )]
    Attribute(String),
    #[error("the fixed value of {0:?} must be 1 to {1} characters on one line")]
    Literal(String, usize),
    #[error("{0:?} is not NAME=FORMAT; the formats are uri, basic and unspecified")]
    AttributeFormat(String),
    #[error(
        "a format is given for {0:?}, which is not an attribute sent to this SP: give it as an attribute too"
    )]
    FormatOfUnsent(String),
    #[error("an SP may be sent at most {0} attributes")]
    TooManyAttributes(usize),
    #[error(
        "the audience must be 1 to 512 characters, without spaces (the SP's documentation names it audience or entity ID)"
    )]
    Audience,
    #[error(
        "requiring signed requests needs the SP's signing certificate (--signing-cert, or its metadata's)"
    )]
    SignedRequestsNeedCertificate,
    #[error("the SP's metadata lists the ACS index {0} twice")]
    AcsIndexTwice(u16),
    #[error(
        "the ACS URLs must be the SP's HTTP-POST assertion consumer services: give both from its metadata, or the URLs alone"
    )]
    AcsEndpointsDisagree,
    #[error("the {0} certificate cannot be read: {1}")]
    Certificate(&'static str, String),
    #[error("the SP's metadata cannot be used: {0}")]
    Metadata(String),
    #[error("a team may register at most {0} SAML service providers: remove one first")]
    TooMany(usize),
    #[error("there is no such team: use the team_id that `latchkey team create` printed")]
    NoTeam,
    #[error(transparent)]
    Team(TeamError),
    #[error("there is no SAML service provider {0:?}")]
    NotFound(String),
    #[error("this team has no SAML identity yet: it gets one with its first SAML service provider")]
    NoIdentity,
    #[error("signing: {0}")]
    Signing(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}
