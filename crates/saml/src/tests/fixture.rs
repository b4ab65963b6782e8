//! A provider with one team (Ada administers it, Bo is a member, Cy is in no team) and a
//! service provider registered as the test asks.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::Db;
use latchkey_core::secret::SecretToken;
use latchkey_login::{Opening, SessionUser};
use latchkey_testkit::{Member, Team};

use crate::{
    Certificates, CurrentIdentityProvider, Identity, NewServiceProvider, PostBack, Reply,
    ServiceProvider, ServiceProviders, SignOns,
};

pub const SP_ENTITY_ID: &str = "https://sp.example.test/metadata";
pub const ACS: &str = "https://sp.example.test/acs";
pub const SECOND_ACS: &str = "https://sp.example.test/acs/second";
pub const SLO: &str = "https://sp.example.test/slo";

thread_local! {
    /// The team whose identity provider this test's requests are addressed to: the request
    /// builders write its endpoints as their Destination. Each test runs on one thread.
    static TEAM_UNDER_TEST: std::cell::RefCell<Option<latchkey_core::TeamId>> =
        const { std::cell::RefCell::new(None) };
}

/// Where a request of this test goes: `team_route` of the team under test, or `shared` when
/// there is none.
pub fn destination(shared: &str, team_route: &str) -> String {
    let issuer = latchkey_testkit::issuer();
    TEAM_UNDER_TEST.with(|team| match team.borrow().as_ref() {
        Some(team) => issuer.endpoint(&latchkey_core::urls::saml_team(team_route, team.as_str())),
        None => issuer.endpoint(shared),
    })
}

/// How long team certificates last in tests, unless a test says otherwise.
pub const CERTIFICATE_LIFETIME: TimeDelta = TimeDelta::days(5 * 365);

pub struct Fixture {
    pub db: Db,
    /// The identity provider the team's SPs trust.
    pub identity: Identity,
    pub master_key: std::sync::Arc<latchkey_keys::MasterKey>,
    /// The key ring the shared identity provider signs with.
    pub keys: latchkey_core::SharedKeyRing,
    pub now: DateTime<Utc>,
    pub sps: ServiceProviders,
    pub sign_ons: SignOns,
    pub team: Team,
    pub bo: Member,
    pub cy: Member,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_lifetime(CERTIFICATE_LIFETIME).await
    }

    /// The same, team certificates lasting `lifetime`.
    pub async fn with_lifetime(lifetime: TimeDelta) -> Self {
        let ground = latchkey_testkit::Ground::new().await;
        let (master_key, _) = latchkey_keys::MasterKey::generate().expect("a master key");
        let master_key = std::sync::Arc::new(master_key);
        let certificates = Certificates::new(ground.db.clone(), master_key.clone(), lifetime);
        let sps = ServiceProviders::new(
            ground.db.clone(),
            ground.issuer.clone(),
            certificates.clone(),
        );
        let keys = ground.keys.clone();
        let idp = CurrentIdentityProvider::new(ground.issuer, ground.keys, certificates);
        let sessions = latchkey_testkit::sessions(&ground.db);
        let sign_ons = SignOns::new(sps.clone(), idp, sessions, TimeDelta::days(7));
        let acme = latchkey_testkit::Acme::found(&ground.db, ground.now).await;
        TEAM_UNDER_TEST.with(|team| *team.borrow_mut() = Some(acme.team.id.clone()));
        Self {
            identity: Identity::Team(acme.team.id.clone()),
            master_key,
            keys,
            db: ground.db,
            now: ground.now,
            sps,
            sign_ons,
            team: acme.team,
            bo: acme.bo,
            cy: acme.cy,
        }
    }

    /// The team's SP, registered with two ACS URLs and a logout URL, changed by `adjust`.
    pub async fn sp(&self, adjust: impl FnOnce(&mut NewServiceProvider)) -> ServiceProvider {
        let mut new = NewServiceProvider {
            team_id: self.team.id.clone(),
            entity_id: SP_ENTITY_ID.to_owned(),
            name: Some("Helpdesk".to_owned()),
            acs_urls: vec![ACS.to_owned(), SECOND_ACS.to_owned()],
            slo_url: Some(SLO.to_owned()),
            idp_initiated: true,
            ..NewServiceProvider::default()
        };
        adjust(&mut new);
        self.sps
            .add(new, &self.team.admin.actor, self.now)
            .await
            .expect("SP registered")
    }

    /// `member` signed in now, in a browser of their own.
    pub async fn signed_in(&self, member: &Member) -> (SecretToken, SessionUser) {
        member.sign_in(&self.db, Opening::default(), self.now).await
    }

    /// An `AuthnRequest` as the web layer takes it: checked, then (unless answered by the
    /// check) received with the browser's person.
    pub async fn receive(
        &self,
        inbound: crate::Inbound,
        browser: Option<&SessionUser>,
        at: DateTime<Utc>,
    ) -> Result<Reply, crate::Refusal> {
        let request = self.sign_ons.check(&self.identity, inbound, at).await?;
        let browser = browser.filter(|_| request.takes_a_session());
        self.sign_ons.receive(request, browser, at).await
    }

    /// A `LogoutRequest` as the web layer takes it: checked, then answered.
    pub async fn logout(
        &self,
        inbound: crate::Inbound,
        browser: Option<&SessionUser>,
        post: bool,
        at: DateTime<Utc>,
    ) -> Result<crate::LogoutOutcome, crate::Refusal> {
        let request = self
            .sign_ons
            .check_logout(&self.identity, inbound, at)
            .await?;
        self.sign_ons.logout(request, browser, post, at).await
    }

    pub fn later(&self, by: TimeDelta) -> DateTime<Utc> {
        self.now + by
    }
}

/// The path a reply redirects to; fails on anything else.
pub fn redirected(reply: Reply) -> String {
    match reply {
        Reply::Redirect(to) => to,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

/// The form a reply posts at once; fails on anything else.
pub fn posted(reply: Reply) -> PostBack {
    match reply {
        Reply::Post(form) => form,
        other => panic!("expected a post, got {other:?}"),
    }
}

/// The page of a status posted only on the person's press; fails on anything else.
pub fn status_page(reply: Reply) -> crate::StatusPage {
    match reply {
        Reply::StatusPage(page) => page,
        other => panic!("expected a page with a button, got {other:?}"),
    }
}

/// The question whether to continue to the SP; fails on anything else.
pub fn asked_first(reply: Reply) -> crate::Confirmation {
    match reply {
        Reply::Confirm(question) => question,
        other => panic!("expected the question whether to continue, got {other:?}"),
    }
}

impl PostBack {
    /// A field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded `SAMLResponse`.
    pub fn response_xml(&self) -> String {
        use base64::Engine;
        let encoded = self.field("SAMLResponse").expect("a SAMLResponse");
        let xml = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        String::from_utf8(xml).expect("UTF-8")
    }
}

/// The id of the kept sign-on a `/saml/continue` or `/login` path names.
pub fn kept_id(path: &str) -> latchkey_core::SamlRequestId {
    let query = path.split_once('?').expect("a query").1;
    let id = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "request")
        .expect("a request")
        .1;
    latchkey_core::SamlRequestId::recognise(&id).expect("a kept sign-on's id")
}
