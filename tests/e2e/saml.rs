//! SAML 2.0 single sign-on with a service provider nobody here wrote: pysaml2 (with xmlsec1)
//! makes the requests and checks the responses, run from `saml-sp/sp.py`; the test is the
//! browser between them. Over both bindings, started by the SP and by Latchkey, encrypted,
//! RelayState, ForceAuthn and IsPassive, single logout, and the requests refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::{Browser, Page};
use crate::harness::{TestDb, cli_json, until_some};
use crate::oidc::{Provider, provider};
use crate::on_both_databases;

/// The service provider's side: a folder of its state, driven through `sp.py`.
pub(crate) struct ServiceProvider {
    dir: tempfile::TempDir,
    pub(crate) entity_id: String,
    acs: String,
    slo: String,
}

fn python() -> PathBuf {
    match std::env::var("LATCHKEY_TEST_SAML_PYTHON") {
        Ok(python) if !python.is_empty() => PathBuf::from(python),
        _ => sp_folder().join(".venv/bin/python"),
    }
}

fn sp_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/saml-sp")
}

impl ServiceProvider {
    pub(crate) fn new(name: &str) -> Self {
        // Never contacted: the test reads the form the browser would post there.
        Self::at(name, &format!("https://{name}.sp.example/acs"))
    }

    /// An SP whose assertion consumer service is `acs`.
    pub(crate) fn at(name: &str, acs: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = format!("https://{name}.sp.example");
        let sp = Self {
            dir,
            entity_id: format!("{base}/metadata"),
            acs: acs.to_owned(),
            slo: format!("{base}/slo"),
        };
        let made = sp.run(&["init", &sp.entity_id, &sp.acs, &sp.slo]);
        assert_eq!(made["ok"], true, "{made}");
        sp
    }

    /// An SP served at `base` (a server of the test's own): its ACS and logout URLs there.
    pub(crate) fn serving(name: &str, base: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let sp = Self {
            dir,
            entity_id: format!("https://{name}.sp.example/metadata"),
            acs: format!("{base}/acs"),
            slo: format!("{base}/slo"),
        };
        let made = sp.run(&["init", &sp.entity_id, &sp.acs, &sp.slo]);
        assert_eq!(made["ok"], true, "{made}");
        sp
    }

    pub(crate) fn run(&self, args: &[&str]) -> Value {
        let output = Command::new(python())
            .arg(sp_folder().join("sp.py"))
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "pysaml2 runs from {} (./test.sh installs it): {e}",
                    python().display()
                )
            });
        assert!(
            output.status.success(),
            "sp.py {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("sp.py prints JSON")
    }

    /// Has the SP ask for persistent NameIDs (its requests' `NameIDPolicy`).
    fn asks_persistent(&self) {
        let config = self.dir.path().join("config.json");
        let mut json: Value =
            serde_json::from_str(&std::fs::read_to_string(&config).expect("config")).expect("json");
        json["name_id_format"] = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
        std::fs::write(&config, json.to_string()).expect("write");
    }

    pub(crate) fn cert(&self) -> String {
        self.dir.path().join("sp.crt").display().to_string()
    }

    /// Reads the metadata of the identity provider this SP is registered with (its team's),
    /// as an SP administrator uploads it.
    pub(crate) async fn trust(&self, db: &TestDb, p: &Provider) {
        let registered = registered(db, p, &self.entity_id);
        let url = registered["metadata_url"].as_str().expect("metadata_url");
        let metadata = p.app.get(url.trim_start_matches(&p.app.base_url)).await;
        assert_eq!(metadata.status(), StatusCode::OK);
        assert_eq!(
            metadata.headers()["content-type"],
            "application/samlmetadata+xml"
        );
        let xml = metadata.text().await.expect("metadata");
        std::fs::write(self.dir.path().join("idp.xml"), xml).expect("write");
    }

    /// Gives `other` the metadata this SP read.
    fn trust_into(&self, other: &ServiceProvider) {
        std::fs::copy(
            self.dir.path().join("idp.xml"),
            other.dir.path().join("idp.xml"),
        )
        .expect("copy");
    }

    /// The signing certificate the metadata publishes, as a PEM file.
    fn idp_certificate(&self) -> PathBuf {
        let xml = std::fs::read_to_string(self.dir.path().join("idp.xml")).expect("idp.xml");
        let body = xml
            .split("<ds:X509Certificate>")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("a certificate in the metadata");
        let path = self.dir.path().join("idp.crt");
        std::fs::write(
            &path,
            format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
        )
        .expect("write");
        path
    }
}

/// The registration of the SP `entity_id`, as `saml-sp list` shows it.
pub(crate) fn registered(db: &TestDb, p: &Provider, entity_id: &str) -> Value {
    let listed = cli_json(db, &p.app, &["saml-sp", "list"]);
    listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|sp| sp["entity_id"] == entity_id)
        .cloned()
        .unwrap_or_else(|| panic!("{entity_id} is registered: {listed}"))
}

/// The path of the identity provider endpoint a request `sp.py` made is addressed to.
fn sent_to(asked: &Value) -> String {
    asked["action"].as_str().expect("action").to_owned()
}

/// Where a team's SPs start a sign-on at Latchkey.
fn init_path(entity_id: &str, team: &str, relay_state: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("sp", entity_id).append_pair("team", team);
    if let Some(relay_state) = relay_state {
        query.append_pair("RelayState", relay_state);
    }
    format!("/saml/init?{}", query.finish())
}

/// A provider with a team (`agent@example.com` its administrator, named Ann Agent) and an SP
/// of that team that signs its requests, and whose requests must be signed.
async fn set_up(db: &TestDb, sp_flags: &[&str]) -> (Provider, ServiceProvider, String) {
    let p = provider(db, |_| {}).await;
    let cli = |args: &[&str]| cli_json(db, &p.app, args);
    let team = cli(&[
        "team",
        "create",
        "--name",
        "Support",
        "--admin",
        "agent@example.com",
    ])["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    cli(&[
        "user",
        "set-name",
        "--email",
        "agent@example.com",
        "--name",
        "Ann Agent",
    ]);
    let sp = ServiceProvider::new("helpdesk");
    let mut args = vec![
        "saml-sp",
        "add",
        "--team",
        &team,
        "--entity-id",
        &sp.entity_id,
        "--acs-url",
        &sp.acs,
        "--slo-url",
        &sp.slo,
        "--name",
        "Helpdesk",
    ];
    let cert = sp.cert();
    args.extend(["--signing-cert", cert.as_str()]);
    args.extend(["--require-signed-requests", "true"]);
    args.extend(sp_flags);
    let added = cli(&args);
    assert_eq!(added["entity_id"], sp.entity_id.as_str(), "{added}");
    assert_eq!(
        added["metadata_url"],
        p.app.url(&format!("/saml/teams/{team}/metadata")).as_str(),
        "{added}"
    );
    sp.trust(db, &p).await;
    (p, sp, team)
}

/// Follows the provider's own redirects from `url` to the first page that is not one.
async fn follow(browser: &Browser, url: &str) -> Page {
    let mut page = browser.get(url).await;
    while page.status == StatusCode::SEE_OTHER {
        let next = page.location().expect("location").to_owned();
        if !next.starts_with('/') {
            break;
        }
        page = browser.get(&next).await;
    }
    page
}

/// From a sign-on that sends the browser to sign in, through the emailed link, to the page
/// after: the auto-posted response.
async fn sign_in(p: &Provider, browser: &Browser, login: &Page, email: &str) -> Page {
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    let to_login = login.location().expect("to sign in").to_owned();
    assert!(to_login.starts_with("/login?request=saml"), "{to_login}");
    let form = browser.get(&to_login).await;
    assert!(
        form.body.contains("Sign in to continue to Helpdesk")
            || form.body.contains("continue to Helpdesk"),
        "{}",
        form.body
    );
    let request = form.field("request");
    let before = p.smtp.mails_to(email).len();
    let asked = browser
        .submit(
            &format!("/register?request={request}"),
            "/register",
            &[("email", email), ("request", &request)],
        )
        .await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
    let mail = p
        .smtp
        .nth_mail_to(email, before + 1, std::time::Duration::from_secs(10))
        .await;
    // The SP's name is its team administrator's text: the page shows it, the mail never does.
    assert!(!mail.text.contains("Helpdesk"), "{}", mail.text);
    let signed_in = browser.follow_link(&mail.link()).await;
    let next = signed_in.location().expect("continues").to_owned();
    follow(browser, &next).await
}

/// The auto-post page's form: its action and fields.
fn posted(page: &Page) -> (String, std::collections::HashMap<String, String>) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let unescape = |s: &str| {
        s.replace("&#x2F;", "/")
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
    };
    let action = page
        .body
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(unescape)
        .expect("a form");
    let mut fields = std::collections::HashMap::new();
    for name in ["SAMLResponse", "RelayState"] {
        if page.body.contains(&format!("name=\"{name}\"")) {
            fields.insert(name.to_owned(), unescape(&page.field(name)));
        }
    }
    (action, fields)
}

on_both_databases!(a_service_provider_signs_people_in_over_both_bindings);
async fn a_service_provider_signs_people_in_over_both_bindings(db: TestDb) {
    let (p, sp, team) = set_up(
        &db,
        &[
            "--attribute",
            "email=email,firstName=given_name,lastName=family_name,team=team,role=role,urn:oid:2.5.4.42=given_name",
            "--attribute",
            "OrganizationName=literal:Acme, Inc.",
        ],
    )
    .await;
    let browser = Browser::new(&p.app.base_url);

    // HTTP-Redirect, started by the SP, with RelayState; the person signs in on the way.
    let asked = sp.run(&["login", "redirect", "ticket 42 & more"]);
    let first = browser.get(asked["url"].as_str().expect("url")).await;
    let continued = browser.get(first.location().expect("kept")).await;
    let page = sign_in(&p, &browser, &continued, "agent@example.com").await;
    let (action, fields) = posted(&page);
    assert_eq!(action, sp.acs, "posted to the registered ACS URL");
    assert_eq!(fields["RelayState"], "ticket 42 & more");
    let checked = sp.run(&["acs", &fields["SAMLResponse"]]);
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["name_id"], "agent@example.com");
    assert_eq!(
        checked["name_id_format"],
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    );
    assert_eq!(checked["in_response_to"], asked["id"]);
    assert_eq!(checked["audience"][0], sp.entity_id.as_str());
    assert_eq!(checked["assertion_signed"], true);
    let attributes = &checked["attributes"];
    assert_eq!(attributes["firstName"][0], "Ann", "{checked}");
    assert_eq!(attributes["lastName"][0], "Agent");
    assert_eq!(attributes["team"][0], "Support");
    assert_eq!(attributes["role"][0], "administrator");
    assert_eq!(
        attributes["OrganizationName"][0], "Acme, Inc.",
        "a fixed value"
    );
    // Sent with the uri NameFormat, pysaml2 reads the OID as the attribute it names.
    assert_eq!(attributes["givenName"][0], "Ann", "{checked}");

    // xmlsec1 verifies the saved response with the certificate from the metadata, and not
    // once a byte of what it says is changed.
    let response = STANDARD.decode(&fields["SAMLResponse"]).expect("base64");
    let saved = sp.dir.path().join("response.xml");
    std::fs::write(&saved, &response).expect("write");
    assert!(xmlsec1_verifies(&saved, &sp.idp_certificate()));
    let forged = String::from_utf8(response)
        .expect("utf-8")
        .replace("agent@example.com", "boss@example.com");
    let forged_path = sp.dir.path().join("forged.xml");
    std::fs::write(&forged_path, forged).expect("write");
    assert!(!xmlsec1_verifies(&forged_path, &sp.idp_certificate()));

    // HTTP-POST, started by the SP: the person is signed in already.
    let asked = sp.run(&["login", "post", "by-post"]);
    let fields_sent = form_of(&asked);
    let form: Vec<(&str, &str)> = fields_sent
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Answered at once: the browser carries its session (a real one, posting across sites,
    // would not: it goes by /saml/continue, as in Chromium).
    let page = browser.post(&sent_to(&asked), &form).await;
    let (_, fields) = posted(&page);
    assert_eq!(fields["RelayState"], "by-post");
    let checked = sp.run(&["acs", &fields["SAMLResponse"]]);
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["in_response_to"], asked["id"]);

    // The same request again is a replay.
    let again = browser.post(&sent_to(&asked), &form).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body.contains("already used"), "{}", again.body);
    assert!(!again.body.contains("SAMLResponse"));
    // And sent eight times at once (kept in one batch on SQLite): answered once.
    let asked = sp.run(&["login", "post", ""]);
    let fields_sent = form_of(&asked);
    let form: Vec<(&str, &str)> = fields_sent
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let to = sent_to(&asked);
    let pages = futures_util::future::join_all((0..8).map(|_| browser.post(&to, &form))).await;
    let statuses: Vec<StatusCode> = pages.iter().map(|page| page.status).collect();
    let answered = pages
        .iter()
        .filter(|page| page.status == StatusCode::OK && page.body.contains("SAMLResponse"))
        .count();
    let refused = pages
        .iter()
        .filter(|page| page.status == StatusCode::BAD_REQUEST && page.body.contains("already used"))
        .count();
    assert_eq!((answered, refused), (1, 7), "{statuses:?}");

    // Started at Latchkey (IdP-initiated), as Genesys Cloud and Intercom links do.
    let init = init_path(&sp.entity_id, &team, Some("/queue"));
    let page = follow(&browser, &init).await;
    let (action, fields) = posted(&page);
    assert_eq!(action, sp.acs);
    assert_eq!(fields["RelayState"], "/queue");
    let checked = sp.run(&["acs", &fields["SAMLResponse"], "--unsolicited"]);
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["in_response_to"], Value::Null);
    // An SP that did not ask refuses it: it is unsolicited.
    let refused = sp.run(&["acs", &fields["SAMLResponse"]]);
    assert_eq!(refused["ok"], false, "{refused}");

    // ForceAuthn: a signed-in person is sent to sign in again.
    let asked = sp.run(&["login", "redirect", "", "--force"]);
    let first = browser.get(asked["url"].as_str().expect("url")).await;
    let forced = browser.get(first.location().expect("kept")).await;
    assert!(
        forced
            .location()
            .is_some_and(|l| l.starts_with("/login?request=saml")),
        "{:?}",
        forced.location()
    );

    // Someone outside the SP's team cannot sign in to it.
    let outsider = Browser::new(&p.app.base_url);
    let asked = sp.run(&["login", "redirect", ""]);
    let first = outsider.get(asked["url"].as_str().expect("url")).await;
    let continued = outsider.get(first.location().expect("kept")).await;
    let page = sign_in(&p, &outsider, &continued, "outsider@example.com").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("cannot sign in to this application"));
    assert!(!page.body.contains("SAMLResponse"));

    // Single logout, started by the SP: the session it names ends, and the SP gets a signed
    // LogoutResponse back over the Redirect binding.
    let session_index = checked["session_index"].as_str().expect("session index");
    let asked = sp.run(&["logout", "redirect", "agent@example.com", session_index]);
    let answered = browser.get(asked["url"].as_str().expect("url")).await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);
    let back = answered.location().expect("back to the SP").to_owned();
    assert!(back.starts_with(&sp.slo), "{back}");
    let query = back.split_once('?').expect("a query").1;
    let logged_out = sp.run(&["logout-response", "redirect", query]);
    assert_eq!(logged_out["ok"], true, "{logged_out}");
    assert_eq!(logged_out["signed"], true, "{logged_out}");
    assert_eq!(logged_out["in_response_to"], asked["id"]);
    assert_eq!(browser.signed_in_as().await, None, "signed out");
    // The same LogoutRequest again is a replay: a page, and nothing signed.
    let again = browser.get(asked["url"].as_str().expect("url")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body.contains("already used"), "{}", again.body);
    assert!(again.location().is_none());
    p.app.stop().await;
}

fn xmlsec1_verifies(file: &Path, cert: &Path) -> bool {
    xmlsec1_verifies_as(
        file,
        cert,
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
    )
}

/// Whether `xmlsec1 --verify` accepts the first signature in `file`, over the element whose
/// `ID` attribute it is told of.
fn xmlsec1_verifies_as(file: &Path, cert: &Path, element: &str) -> bool {
    Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(cert)
        .args(["--id-attr:ID", element])
        .arg(file)
        .output()
        .expect("xmlsec1 runs (./test.sh installs it)")
        .status
        .success()
}

on_both_databases!(an_encrypted_assertion_is_decrypted_by_the_service_provider);
async fn an_encrypted_assertion_is_decrypted_by_the_service_provider(db: TestDb) {
    let (p, _, team) = set_up(&db, &[]).await;
    let cli = |args: &[&str]| cli_json(&db, &p.app, args);
    let browser = Browser::new(&p.app.base_url);
    for (encryption, sign) in [("aes256-cbc", "both"), ("aes256-gcm", "response")] {
        // An SP of the same team that has assertions encrypted to its certificate.
        let sp = ServiceProvider::new(&format!("intercom-{encryption}"));
        let cert = sp.cert();
        let added = cli(&[
            "saml-sp",
            "add",
            "--team",
            &team,
            "--entity-id",
            &sp.entity_id,
            "--acs-url",
            &sp.acs,
            "--signing-cert",
            &cert,
            "--encrypt-cert",
            &cert,
            "--encryption",
            encryption,
            "--sign",
            sign,
            "--name",
            "Helpdesk",
        ]);
        assert_eq!(added["encrypts"], true, "{added}");
        sp.trust(&db, &p).await;
        let asked = sp.run(&["login", "post", "enc"]);
        let form = form_of(&asked);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let kept = browser.post(&sent_to(&asked), &form).await;
        // The first round signs in; the second is answered at once, from the session.
        let page = match kept.location() {
            Some(continue_at) => {
                let continued = browser.get(continue_at).await;
                sign_in(&p, &browser, &continued, "agent@example.com").await
            }
            None => kept,
        };
        let (_, fields) = posted(&page);
        let xml = String::from_utf8(STANDARD.decode(&fields["SAMLResponse"]).expect("b64"))
            .expect("utf-8");
        assert!(xml.contains("EncryptedAssertion"), "{xml}");
        assert!(
            !xml.contains("agent@example.com"),
            "nothing of the person shows outside the encryption"
        );
        // An SP that wants signed assertions refuses an assertion signed only by way of the
        // response; one that wants signed responses takes it.
        let wants = if sign == "response" {
            let refused = sp.run(&["acs", &fields["SAMLResponse"]]);
            assert_eq!(refused["ok"], false, "{refused}");
            "--response-signed"
        } else {
            "--unsolicited"
        };
        let checked = sp.run(&["acs", &fields["SAMLResponse"], wants]);
        assert_eq!(checked["ok"], true, "{encryption}: {checked}");
        assert_eq!(checked["name_id"], "agent@example.com");
        assert_eq!(checked["attributes"]["firstName"][0], "Ann");
        // The response itself is signed, over the encrypted assertion.
        let saved = sp.dir.path().join("response.xml");
        std::fs::write(&saved, &xml).expect("write");
        assert!(xmlsec1_verifies_as(
            &saved,
            &sp.idp_certificate(),
            "urn:oasis:names:tc:SAML:2.0:protocol:Response"
        ));
    }
    p.app.stop().await;
}

/// The fields of a form `sp.py` made.
fn form_of(asked: &Value) -> Vec<(String, String)> {
    asked["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// What a service provider, or someone posing as one, sends that Latchkey refuses: each gets
/// a page saying why, and nothing signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_page_and_nothing_signed() {
    let db = TestDb::sqlite();
    let (p, sp, team) = set_up(&db, &[]).await;
    let browser = Browser::new(&p.app.base_url);
    let refused = |page: &Page, says: &str| {
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
        assert!(page.body.contains(says), "{says:?} in {}", page.body);
        assert!(!page.body.contains("SAMLResponse"), "nothing signed");
    };

    // An SP nobody registered.
    let stranger = ServiceProvider::new("stranger");
    sp.trust_into(&stranger);
    let asked = stranger.run(&["login", "redirect", ""]);
    refused(
        &browser.get(asked["url"].as_str().expect("url")).await,
        "not registered",
    );

    // A Redirect-binding signature that does not verify: the RelayState was changed.
    let asked = sp.run(&["login", "redirect", "mine"]);
    let url = asked["url"].as_str().expect("url");
    assert!(url.contains("RelayState=mine"), "{url}");
    refused(
        &browser
            .get(&url.replace("RelayState=mine", "RelayState=theirs"))
            .await,
        "not signed by the application",
    );

    // A RelayState longer than Latchkey keeps (4 KiB): a page says the return address is
    // too long. (Over HTTP-POST: a 100 KB URL is more than HTTP clients send.)
    let asked = sp.run(&["login", "post", "mine"]);
    let huge = "x".repeat(100 * 1024);
    let fields_sent: Vec<(String, String)> = form_of(&asked)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "RelayState" => (k, huge.clone()),
            _ => (k, v),
        })
        .collect();
    let form: Vec<(&str, &str)> = fields_sent
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    refused(
        &browser
            .post(&format!("/saml/teams/{team}/sso"), &form)
            .await,
        "The address to return to is too long",
    );

    // An ACS URL the SP did not register.
    let asked = sp.run(&["login", "redirect", "", "--acs", "https://evil.example/acs"]);
    refused(
        &browser.get(asked["url"].as_str().expect("url")).await,
        "has not registered",
    );

    // Malformed, oversized, and XML with a DOCTYPE and an entity.
    let sso = format!("/saml/teams/{team}/sso");
    let post = |message: String| {
        let (browser, sso) = (browser.clone(), sso.clone());
        async move { browser.post(&sso, &[("SAMLRequest", &message)]).await }
    };
    refused(&post("not base64 at all!".to_owned()).await, "malformed");
    refused(&post("A".repeat(100 * 1024)).await, "larger than");
    let entity = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_x\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"><saml:Issuer>{}&e;</saml:Issuer></samlp:AuthnRequest>",
        sp.entity_id
    );
    refused(&post(STANDARD.encode(entity)).await, "malformed");

    // An unsigned request from an SP that signs its requests.
    let signed = sp.run(&["login", "post", ""]);
    let signed_xml = String::from_utf8(
        STANDARD
            .decode(signed["fields"]["SAMLRequest"].as_str().expect("request"))
            .expect("base64"),
    )
    .expect("utf-8");
    let unsigned = unsigned_authn_request(&sp.entity_id, &sp.acs, "");
    refused(
        &post(STANDARD.encode(&unsigned)).await,
        "not signed by the application",
    );

    // Signature wrapping: an unsigned request around the signed one, naming another ACS URL
    // and asking for another person.
    let body = without_declaration(&signed_xml);
    let wrapped = unsigned_authn_request(
        &sp.entity_id,
        "https://evil.example/acs",
        &format!("<samlp:Extensions>{body}</samlp:Extensions>"),
    );
    refused(
        &post(STANDARD.encode(&wrapped)).await,
        "not signed by the application",
    );

    // The same for a LogoutRequest: a signed one wrapped in an unsigned one naming someone
    // else is refused, and their session goes on.
    let victim = Browser::new(&p.app.base_url);
    let asked = sp.run(&["login", "redirect", ""]);
    let first = victim.get(asked["url"].as_str().expect("url")).await;
    let continued = victim.get(first.location().expect("kept")).await;
    let page = sign_in(&p, &victim, &continued, "agent@example.com").await;
    let (_, fields) = posted(&page);
    let checked = sp.run(&["acs", &fields["SAMLResponse"]]);
    let session_index = checked["session_index"].as_str().expect("index");
    let logout = sp.run(&["logout", "post", "someone@example.com", "_none"]);
    let logout_xml = String::from_utf8(
        STANDARD
            .decode(logout["fields"]["SAMLRequest"].as_str().expect("request"))
            .expect("base64"),
    )
    .expect("utf-8");
    let inner = without_declaration(&logout_xml);
    let wrapped_logout = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_evil\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"><saml:Issuer>{}</saml:Issuer><saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">agent@example.com</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex><samlp:Extensions>{inner}</samlp:Extensions></samlp:LogoutRequest>",
        now_instant(),
        p.app.url(&format!("/saml/teams/{team}/slo")),
        sp.entity_id
    );
    let answered = victim
        .post(
            &format!("/saml/teams/{team}/slo"),
            &[("SAMLRequest", &STANDARD.encode(&wrapped_logout))],
        )
        .await;
    refused(&answered, "not signed by the application");
    assert!(victim.signed_in_as().await.is_some(), "still signed in");

    // IsPassive for a browser that is not signed in: the SP is told NoPassive, signed.
    let asked = sp.run(&["login", "redirect", "", "--passive"]);
    let fresh = Browser::new(&p.app.base_url);
    let first = fresh.get(asked["url"].as_str().expect("url")).await;
    let page = fresh.get(first.location().expect("kept")).await;
    let (action, fields) = posted(&page);
    assert_eq!(action, sp.acs);
    let checked = sp.run(&["acs", &fields["SAMLResponse"]]);
    assert_eq!(checked["ok"], false, "{checked}");
    assert!(
        checked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("NoPassive"),
        "{checked}"
    );
    p.app.stop().await;
}

/// Requests anyone could write, for an SP that takes no sign-on it did not ask for and has
/// no certificate: a signed-in member is asked "Continue to …?" first (a CSRF-checked form),
/// and a status for a browser nobody is signed in to waits for a press of its button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_requests_ask_before_anything_is_posted() {
    let db = TestDb::sqlite();
    let (p, sp, team) = set_up(&db, &[]).await;
    let asks = ServiceProvider::new("asks");
    let added = cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "add",
            "--team",
            &team,
            "--name",
            "Asks",
            "--entity-id",
            &asks.entity_id,
            "--acs-url",
            &asks.acs,
            "--idp-initiated",
            "false",
        ],
    );
    assert_eq!(added["requires_signed_requests"], false, "{added}");
    // Signed in through the other SP.
    let browser = Browser::new(&p.app.base_url);
    let asked = sp.run(&["login", "redirect", ""]);
    let first = browser.get(asked["url"].as_str().expect("url")).await;
    let continued = browser.get(first.location().expect("kept")).await;
    posted(&sign_in(&p, &browser, &continued, "agent@example.com").await);

    let unsigned = unsigned_authn_request(&asks.entity_id, &asks.acs, "");
    let question = browser
        .post(
            &format!("/saml/teams/{team}/sso"),
            &[
                ("SAMLRequest", &STANDARD.encode(&unsigned)),
                ("RelayState", "r"),
            ],
        )
        .await;
    assert_eq!(question.status, StatusCode::OK, "{}", question.body);
    assert!(
        question.body.contains("Continue to Asks?"),
        "{}",
        question.body
    );
    assert!(question.body.contains("agent@example.com"));
    assert!(
        !question.body.contains("SAMLResponse"),
        "nothing signed yet"
    );
    let (csrf, request) = (question.field("csrf"), question.field("request"));
    let forged = browser
        .post(
            "/saml/continue",
            &[("csrf", "wrong"), ("request", &request)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let answered = browser
        .post("/saml/continue", &[("csrf", &csrf), ("request", &request)])
        .await;
    let (action, fields) = posted(&answered);
    assert_eq!(action, asks.acs);
    assert_eq!(fields["RelayState"], "r");

    // A NameID format Latchkey cannot give, from a browser nobody signed in to: a page says
    // so, and posts the status only when its button is pressed.
    let stranger = Browser::new(&p.app.base_url);
    let unmet = unsigned_authn_request(
        &asks.entity_id,
        &asks.acs,
        "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName\"/>",
    );
    let page = stranger
        .post(
            &format!("/saml/teams/{team}/sso"),
            &[("SAMLRequest", &STANDARD.encode(&unmet))],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Return to Asks"), "{}", page.body);
    assert!(page.body.contains("SAMLResponse"), "a form to press");
    assert!(!page.body.contains("<script>"), "not posted on its own");
    p.app.stop().await;
}

/// A document without its XML declaration, to put inside another.
fn without_declaration(xml: &str) -> &str {
    let xml = xml.trim_start();
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(xml, |(_, body)| body.trim_start()),
        None => xml,
    }
}

/// An AuthnRequest nobody signed, with `inner` inside it.
fn unsigned_authn_request(issuer: &str, acs: &str, inner: &str) -> String {
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{}\" Version=\"2.0\" IssueInstant=\"{}\" AssertionConsumerServiceURL=\"{acs}\"><saml:Issuer>{issuer}</saml:Issuer>{inner}</samlp:AuthnRequest>",
        uuid::Uuid::new_v4().simple(),
        now_instant()
    )
}

fn now_instant() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `latchkey saml-sp` says what to fix, reads an SP's metadata, lists and removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_sp_commands_say_what_to_fix() {
    let db = TestDb::sqlite();
    let (p, sp, team) = set_up(&db, &[]).await;
    let env = crate::oidc::cli_env(&db, &p.app);
    let run = |args: &[&str]| crate::harness::latchkey(db.dir.path(), &env, args);
    let fails = |args: &[&str], says: &str| {
        let output = run(args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = crate::harness::stderr(&output);
        assert!(stderr.contains(says), "{says:?} in {stderr}");
    };
    let add = ["saml-sp", "add", "--team", team.as_str()];
    fails(
        &[
            &add[..],
            &[
                "--entity-id",
                "https://x.example",
                "--acs-url",
                "http://x.example/acs",
            ],
        ]
        .concat(),
        "is not an https URL",
    );
    fails(
        &[
            &add[..],
            &[
                "--entity-id",
                &sp.entity_id,
                "--acs-url",
                "https://x.example/acs",
            ],
        ]
        .concat(),
        "already registered",
    );
    fails(
        &[
            "saml-sp",
            "add",
            "--team",
            "nope",
            "--entity-id",
            "https://y.example",
            "--acs-url",
            "https://y.example/acs",
        ],
        "no such team",
    );
    fails(
        &[
            &add[..],
            &[
                "--entity-id",
                "https://z.example",
                "--acs-url",
                "https://z.example/acs",
                "--attribute",
                "x=password",
            ],
        ]
        .concat(),
        "is not NAME=CLAIM",
    );
    fails(
        &[
            &add[..],
            &[
                "--entity-id",
                "https://z.example",
                "--acs-url",
                "https://z.example/acs",
                "--require-signed-requests",
                "true",
            ],
        ]
        .concat(),
        "requiring signed requests needs the SP's signing certificate",
    );
    let junk = crate::harness::write_file(db.dir.path(), "junk.pem", "not a certificate");
    fails(
        &[
            &add[..],
            &[
                "--entity-id",
                "https://z.example",
                "--acs-url",
                "https://z.example/acs",
                "--encrypt-cert",
                &junk.display().to_string(),
            ],
        ]
        .concat(),
        "certificate cannot be read",
    );
    // From the SP's own metadata: entity ID, ACS, logout URL, format and certificates.
    let other = ServiceProvider::new("genesys");
    let cert = std::fs::read_to_string(other.cert()).expect("cert");
    let body: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let metadata = sp_metadata(
        &other.entity_id,
        &format!(
            "{}{}<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{}\"/><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>",
            key_descriptor("signing", &body, ""),
            key_descriptor(
                "encryption",
                &body,
                "<md:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/>"
            ),
            other.slo
        ),
        &other.acs,
    );
    let file = crate::harness::write_file(db.dir.path(), "sp.xml", &metadata);
    let added = cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "add",
            "--team",
            &team,
            "--metadata-file",
            &file.display().to_string(),
        ],
    );
    assert_eq!(added["entity_id"], other.entity_id.as_str(), "{added}");
    assert_eq!(added["acs_urls"][0], other.acs.as_str());
    assert_eq!(added["slo_url"], other.slo.as_str());
    assert_eq!(added["name_id_format"], "persistent");
    assert_eq!(
        added["requires_signed_requests"], true,
        "its AuthnRequestsSigned"
    );
    assert_eq!(added["encrypts"], true);
    assert_eq!(added["encryption"], "aes256-cbc");
    assert_eq!(added["sign"], "both", "CBC is signed over: {added}");
    let doctype = crate::harness::write_file(
        db.dir.path(),
        "doctype.xml",
        &format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{metadata}"),
    );
    fails(
        &[
            &add[..],
            &["--metadata-file", &doctype.display().to_string()],
        ]
        .concat(),
        "without a DTD",
    );
    let listed = cli_json(&db, &p.app, &["saml-sp", "list", "--team", &team]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    // Updated: what is given changes, the rest stays; bad values are refused as in add.
    let other_id = added["sp_id"].as_str().expect("sp_id");
    let update = ["saml-sp", "update", "--sp", other_id];
    let updated = cli_json(
        &db,
        &p.app,
        &[
            &update[..],
            &[
                "--name",
                "Genesys Cloud",
                "--no-encrypt-cert",
                "--acs-url",
                "https://genesys.sp.example/acs2",
            ],
        ]
        .concat(),
    );
    assert_eq!(updated["sp_id"], other_id, "{updated}");
    assert_eq!(updated["name"], "Genesys Cloud");
    assert_eq!(updated["acs_urls"][0], "https://genesys.sp.example/acs2");
    assert_eq!(updated["encrypts"], false);
    assert_eq!(updated["requires_signed_requests"], true, "kept: {updated}");
    assert_eq!(updated["slo_url"], other.slo.as_str(), "kept: {updated}");
    assert_eq!(
        updated["changed"],
        serde_json::json!(["name", "acs_urls", "encrypt_cert", "acs_endpoints"]),
        "URLs given alone forget the metadata's indexed endpoints"
    );
    // The metadata again brings its ACS URL and encryption certificate back.
    let again = cli_json(
        &db,
        &p.app,
        &[
            &update[..],
            &["--metadata-file", &file.display().to_string()],
        ]
        .concat(),
    );
    assert_eq!(again["acs_urls"][0], other.acs.as_str(), "{again}");
    assert_eq!(again["encrypts"], true);
    assert_eq!(again["name"], "Genesys Cloud", "kept: {again}");
    let unchanged = cli_json(
        &db,
        &p.app,
        &[&update[..], &["--name", "Genesys Cloud"]].concat(),
    );
    assert_eq!(unchanged["changed"], serde_json::json!([]));
    fails(
        &[&update[..], &["--acs-url", "http://genesys.sp.example/acs"]].concat(),
        "is not an https URL",
    );
    fails(
        &[&update[..], &["--entity-id", &sp.entity_id]].concat(),
        "already registered",
    );
    fails(
        &["saml-sp", "update", "--sp", "nope", "--name", "x"],
        "no SAML service provider",
    );
    let two_certificates = crate::harness::write_file(
        db.dir.path(),
        "two.pem",
        &[cert.as_str(), cert.as_str()].concat(),
    );
    fails(
        &[
            &update[..],
            &["--encrypt-cert", &two_certificates.display().to_string()],
        ]
        .concat(),
        "give one certificate",
    );
    let kept = cli_json(&db, &p.app, &["saml-sp", "list", "--team", &team]);
    assert!(
        kept.to_string()
            .contains("https://genesys.sp.example/acs\""),
        "a refused change changes nothing: {kept}"
    );

    let removed = cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "remove",
            "--sp",
            added["sp_id"].as_str().expect("sp_id"),
        ],
    );
    assert_eq!(removed["entity_id"], other.entity_id.as_str());
    let listed = cli_json(&db, &p.app, &["saml-sp", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let audit = cli_json(&db, &p.app, &["audit", "--team", &team]);
    let actions: Vec<&str> = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"saml_sp.added"), "{actions:?}");
    assert!(actions.contains(&"saml_sp.updated"), "{actions:?}");

    // An SP that always starts its own sign-ons refuses those started here; the others take
    // them.
    let no_init = ServiceProvider::new("no-init");
    let added = cli_json(
        &db,
        &p.app,
        &[
            &add[..],
            &[
                "--entity-id",
                &no_init.entity_id,
                "--acs-url",
                &no_init.acs,
                "--idp-initiated",
                "false",
            ],
        ]
        .concat(),
    );
    assert_eq!(added["idp_initiated"], false, "{added}");
    assert_eq!(added["init_url"], Value::Null, "{added}");
    let init = |entity_id: &str| init_path(entity_id, &team, None);
    let browser = Browser::new(&p.app.base_url);
    let refused = browser.get(&init(&no_init.entity_id)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("Start signing in at the application"));
    let started = browser.get(&init(&sp.entity_id)).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    assert!(
        started
            .location()
            .is_some_and(|l| l.starts_with("/saml/continue")),
        "{:?}",
        started.location()
    );
    assert!(actions.contains(&"saml_sp.removed"), "{actions:?}");
    p.app.stop().await;
}

/// A session an integration's token opened speaks for that integration's team only, as it
/// does for OIDC clients: the SP of another team sends the person to sign in themselves, even
/// when they are a member there too; nothing is signed for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_an_integration_opened_signs_in_to_its_own_team_only() {
    let db = TestDb::sqlite();
    let (p, sp, _) = set_up(&db, &[]).await;
    let other = cli_json(
        &db,
        &p.app,
        &[
            "team",
            "create",
            "--name",
            "Other",
            "--admin",
            "boss@other.example",
        ],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    let key =
        crate::browser_sign_on::trust_helpdesk(&db, &p.app, &other, &["--email-claim", "sub"]);
    let now = chrono::Utc::now().timestamp();
    let token = key.sign(&serde_json::json!({
        "iss": crate::browser_sign_on::HELPDESK,
        "sub": "agent@example.com",
        "aud": p.app.base_url,
        "iat": now,
        "exp": now + 60,
        "jti": "other-team",
    }));
    let browser = Browser::new(&p.app.base_url);
    let opened = browser.post("/sso/jwt", &[("token", token.as_str())]).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    assert_eq!(
        browser.signed_in_as().await.as_deref(),
        Some("agent@example.com")
    );

    // The Support team's SP, over both bindings: the person is a member of Support, but this
    // session is Other's.
    let asked = sp.run(&["login", "redirect", ""]);
    let first = browser.get(asked["url"].as_str().expect("url")).await;
    let continued = browser.get(first.location().expect("kept")).await;
    assert!(
        continued
            .location()
            .is_some_and(|l| l.starts_with("/login?request=saml")),
        "{:?} {}",
        continued.location(),
        continued.body
    );
    let asked = sp.run(&["login", "post", ""]);
    let fields = form_of(&asked);
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let page = browser.post(&sent_to(&asked), &form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let kept = page.location().expect("kept").to_owned();
    assert!(kept.starts_with("/saml/continue"), "{kept}");
    let continued = browser.get(&kept).await;
    assert!(
        continued
            .location()
            .is_some_and(|l| l.starts_with("/login?request=saml")),
        "{:?} {}",
        continued.location(),
        continued.body
    );
    p.app.stop().await;
}

/// Persistent NameIDs: the same person gets the same one at each sign-on to an SP, another at
/// each other SP, and none shows their address; single logout finds the person by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_name_ids_are_stable_per_sp_and_unlinkable() {
    let db = TestDb::sqlite();
    let (p, first_sp, team) = set_up(&db, &["--name-id-format", "persistent"]).await;
    first_sp.asks_persistent();
    let second_sp = ServiceProvider::new("second");
    second_sp.asks_persistent();
    let cert = second_sp.cert();
    cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "add",
            "--team",
            &team,
            "--entity-id",
            &second_sp.entity_id,
            "--acs-url",
            &second_sp.acs,
            "--signing-cert",
            &cert,
            "--name-id-format",
            "persistent",
            "--name",
            "Helpdesk",
        ],
    );
    second_sp.trust(&db, &p).await;
    let browser = Browser::new(&p.app.base_url);
    let asked = first_sp.run(&["login", "redirect", ""]);
    let first = browser.get(asked["url"].as_str().expect("url")).await;
    let continued = browser.get(first.location().expect("kept")).await;
    let page = sign_in(&p, &browser, &continued, "agent@example.com").await;
    let signed_on = first_sp.run(&["acs", &posted(&page).1["SAMLResponse"]]);
    assert_eq!(signed_on["ok"], true, "{signed_on}");
    assert_eq!(
        signed_on["name_id_format"],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    );
    let name_id = signed_on["name_id"].as_str().expect("name id").to_owned();
    assert_eq!(name_id.len(), 40, "{name_id}");
    assert!(name_id.chars().all(|c| c.is_ascii_hexdigit()), "{name_id}");

    // Signed in already: answered at once, with the same NameID at the same SP, another at
    // the other, and different SessionIndexes.
    // Updated (here its attributes) it keeps its identifiers: the same NameID.
    let listed = cli_json(&db, &p.app, &["saml-sp", "list", "--team", &team]);
    let first_id = listed
        .as_array()
        .and_then(|sps| {
            sps.iter()
                .find(|sp| sp["entity_id"] == first_sp.entity_id.as_str())
        })
        .and_then(|sp| sp["sp_id"].as_str())
        .expect("the first SP")
        .to_owned();
    let updated = cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "update",
            "--sp",
            &first_id,
            "--attribute",
            "mail=email",
        ],
    );
    assert_eq!(
        updated["changed"],
        serde_json::json!(["attributes"]),
        "{updated}"
    );
    // The running provider reads the change once its copy of the SP is older than
    // SP_CACHE_TTL (5 s): the CLI is another process. Signed on again until it shows.
    let again = until_some(
        SP_COPY_REPLACED_WITHIN,
        "the updated attributes in a sign-on",
        || async {
            let again = answered_at_once(&browser, &first_sp).await;
            (again["attributes"]["mail"][0] == "agent@example.com").then_some(again)
        },
    )
    .await;
    assert_eq!(again["name_id"], name_id.as_str(), "{again}");
    let elsewhere = answered_at_once(&browser, &second_sp).await;
    assert_eq!(elsewhere["ok"], true, "{elsewhere}");
    let other_name_id = elsewhere["name_id"].as_str().expect("name id");
    assert_ne!(other_name_id, name_id, "unlinkable across SPs");
    assert_ne!(elsewhere["session_index"], again["session_index"]);

    // Single logout by the persistent NameID and SessionIndex ends the session.
    let session_index = again["session_index"].as_str().expect("session index");
    let logout = first_sp.run(&["logout", "redirect", &name_id, session_index]);
    let answered = browser.get(logout["url"].as_str().expect("url")).await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);
    assert_eq!(browser.signed_in_as().await, None, "signed out");
    p.app.stop().await;
}

/// How long a change made through the CLI may take to reach the running provider: its copy
/// of the SP lives SP_CACHE_TTL (5 s), with room for the sign-ons that look for the change.
const SP_COPY_REPLACED_WITHIN: Duration = Duration::from_secs(10);

/// An SP-initiated sign-on (HTTP-Redirect) for a browser signed in already: what the SP reads
/// in the response.
async fn answered_at_once(browser: &Browser, sp: &ServiceProvider) -> Value {
    let asked = sp.run(&["login", "redirect", ""]);
    let page = browser.get(asked["url"].as_str().expect("url")).await;
    sp.run(&["acs", &posted(&page).1["SAMLResponse"]])
}

/// An SP rotating its signing key lists both certificates in its metadata: requests signed
/// with either verify. Updated to a certificate that is not its key, its requests are refused
/// (the running provider makes its copy of the SP again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sp_rotating_its_signing_key_is_verified_with_each_certificate() {
    let db = TestDb::sqlite();
    let (p, _, team) = set_up(&db, &[]).await;
    let rotating = ServiceProvider::new("rotating");
    let other_key = ServiceProvider::new("other-key");
    let body = |sp: &ServiceProvider| -> String {
        std::fs::read_to_string(sp.cert())
            .expect("cert")
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    };
    // The key it signs with is listed second, as the next key during a rotation.
    let metadata = sp_metadata(
        &rotating.entity_id,
        &[
            key_descriptor("signing", &body(&other_key), ""),
            key_descriptor("signing", &body(&rotating), ""),
        ]
        .concat(),
        &rotating.acs,
    );
    let file = crate::harness::write_file(db.dir.path(), "rotating.xml", &metadata);
    let added = cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "add",
            "--team",
            &team,
            "--name",
            "Helpdesk",
            "--metadata-file",
            &file.display().to_string(),
        ],
    );
    assert_eq!(added["requires_signed_requests"], true, "{added}");
    rotating.trust(&db, &p).await;
    let browser = Browser::new(&p.app.base_url);
    let kept = |page: &Page| page.status == StatusCode::SEE_OTHER;
    let asked = rotating.run(&["login", "redirect", ""]);
    let page = browser.get(asked["url"].as_str().expect("url")).await;
    assert!(kept(&page), "signed query verified: {}", page.body);
    let asked = rotating.run(&["login", "post", ""]);
    let fields = form_of(&asked);
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let page = browser.post(&sent_to(&asked), &form).await;
    assert!(kept(&page), "signed request verified: {}", page.body);

    // Only the other certificate now: its own signatures no longer verify.
    let updated = cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "update",
            "--sp",
            added["sp_id"].as_str().expect("sp_id"),
            "--signing-cert",
            &other_key.cert(),
        ],
    );
    assert_eq!(
        updated["changed"],
        serde_json::json!(["signing_cert"]),
        "{updated}"
    );
    // Refused once the running provider's copy of the SP is older than SP_CACHE_TTL.
    let page = until_some(
        SP_COPY_REPLACED_WITHIN,
        "a request signed with the old key refused",
        || async {
            let asked = rotating.run(&["login", "redirect", ""]);
            let page = browser.get(asked["url"].as_str().expect("url")).await;
            (page.status != StatusCode::SEE_OTHER).then_some(page)
        },
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.body.contains("not signed by the application"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("SAMLResponse"));
    p.app.stop().await;
}

/// An SP's metadata: its entity ID, what `inner` says (keys, logout, formats) and its ACS URL.
fn sp_metadata(entity_id: &str, inner: &str, acs: &str) -> String {
    format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{entity_id}\"><md:SPSSODescriptor AuthnRequestsSigned=\"true\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{inner}<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{acs}\" index=\"0\"/></md:SPSSODescriptor></md:EntityDescriptor>"
    )
}

/// A `KeyDescriptor` for `usage` with a certificate's base64 body, and `extra` inside it.
fn key_descriptor(usage: &str, body: &str, extra: &str) -> String {
    format!(
        "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{extra}</md:KeyDescriptor>"
    )
}
