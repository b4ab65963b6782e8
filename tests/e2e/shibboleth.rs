//! SAML 2.0 single sign-on with the most widely deployed service provider, which nobody here
//! wrote: Debian's Shibboleth SP (`shibd` and Apache's `mod_shib`), in its default
//! configuration (`shibboleth-sp/shibboleth2.xml` says each line changed from Debian's, and
//! why). Apache protects a page, `whoami.cgi`, that prints what the SP tells an application
//! about the person; real Chromium goes from it to Latchkey and back, signing in with the
//! mailed link on the way. Single logout goes from the SP's `/Shibboleth.sso/Logout`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::chromium::Chromium;
use crate::harness::{TestDb, cli_json, eventually, free_port};
use crate::oidc::{Provider, provider};
use crate::on_both_databases;

/// How long shibd and Apache may take to answer after they start.
const START: Duration = Duration::from_secs(20);
/// The entity ID Debian's shibboleth2.xml names as its IdP: the SP's first run, before it
/// knows Latchkey's, keeps it.
const DEBIAN_IDP: &str = "https://idp.example.org/idp/shibboleth";
/// The address the SP's attribute map reads as `mail` (see `attribute-map-mail.xml`).
const MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";

fn sp_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/shibboleth-sp")
}

/// The IdP the SP trusts: Latchkey's entity ID and where its metadata is.
struct Idp {
    entity_id: String,
    metadata_url: String,
}

/// Debian's Shibboleth SP on a free localhost port, its files in a folder of its own.
struct ShibbolethSp {
    dir: tempfile::TempDir,
    port: u16,
    entity_id: String,
    /// Apache, then shibd: stopped when the SP restarts or is dropped.
    running: Vec<Process>,
}

/// A process of the SP, killed when dropped (a test that fails leaves nothing running).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ShibbolethSp {
    /// Makes the SP's keys with Debian's shib-keygen and starts it, trusting no IdP yet (as
    /// Debian's configuration): enough to serve its own metadata.
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Apache, started as root, serves as www-data: it must reach its files here.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let port = free_port();
        let entity_id = format!("http://localhost:{port}/shibboleth");
        let mut sp = Self {
            dir,
            port,
            entity_id,
            running: Vec::new(),
        };
        sp.make_keys();
        sp.install_files();
        sp.run(None).await;
        sp
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// A signing and an encryption key pair, as Debian's package documents
    /// (`shib-keygen -n sp-signing`, `-n sp-encrypt`), owned by whoever runs the test.
    fn make_keys(&self) {
        let owner = fs::metadata(self.dir.path()).expect("the folder");
        for name in ["sp-signing", "sp-encrypt"] {
            let made = Command::new("/usr/sbin/shib-keygen")
                .arg("-o")
                .arg(self.dir.path())
                .args(["-n", name, "-h", "localhost", "-e", &self.entity_id])
                .args([
                    "-u",
                    &owner.uid().to_string(),
                    "-g",
                    &owner.gid().to_string(),
                ])
                .output()
                .unwrap_or_else(|e| {
                    panic!("shib-keygen runs (./test.sh installs libapache2-mod-shib): {e}")
                });
            assert!(
                made.status.success(),
                "shib-keygen -n {name}: {}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
    }

    /// The protected page, the attribute map and Apache's configuration.
    fn install_files(&self) {
        fs::create_dir_all(self.path("htdocs")).expect("htdocs");
        fs::create_dir_all(self.path("cgi")).expect("cgi");
        let page = self.path("cgi/whoami.cgi");
        fs::copy(sp_folder().join("whoami.cgi"), &page).expect("copy whoami.cgi");
        fs::set_permissions(&page, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::copy(
            sp_folder().join("attribute-map-mail.xml"),
            self.path("attribute-map-mail.xml"),
        )
        .expect("copy the attribute map");
        let apache = read_template("apache2.conf")
            .replace("{{DIR}}", &self.dir.path().display().to_string())
            .replace("{{PORT}}", &self.port.to_string());
        fs::write(self.path("apache2.conf"), apache).expect("write apache2.conf");
    }

    /// shibboleth2.xml for this SP, trusting `idp` (or, before it is registered, no IdP).
    fn write_config(&self, idp: Option<&Idp>) {
        let mut xml = read_template("shibboleth2.xml");
        match idp {
            Some(idp) => {
                xml = xml
                    .replace("{{IDP_ENTITY_ID}}", plain(&idp.entity_id))
                    .replace("{{IDP_METADATA_URL}}", plain(&idp.metadata_url));
            }
            None => {
                // Debian's file has no MetadataProvider: the one the test adds is left out.
                let start = xml
                    .find("<MetadataProvider type=\"XML\" validate=\"true\" url=\"{{IDP_METADATA_URL}}\"")
                    .expect("the template's MetadataProvider");
                let end = start + xml[start..].find("/>").expect("its end") + 2;
                xml.replace_range(start..end, "");
                xml = xml.replace("{{IDP_ENTITY_ID}}", DEBIAN_IDP);
            }
        }
        let xml = xml
            .replace("{{DIR}}", &self.dir.path().display().to_string())
            .replace("{{SP_ENTITY_ID}}", plain(&self.entity_id));
        assert!(!xml.contains("{{"), "every placeholder is filled in");
        fs::write(self.path("shibboleth2.xml"), xml).expect("write shibboleth2.xml");
    }

    /// (Re)starts shibd and Apache with the configuration for `idp`, and waits until the SP
    /// answers.
    async fn run(&mut self, idp: Option<&Idp>) {
        self.running.clear();
        self.write_config(idp);
        // A killed shibd leaves its socket behind (gone, it shows when the new one listens),
        // and a killed Apache its pid file.
        let socket = self.path("shibd.sock");
        let _ = fs::remove_file(&socket);
        let _ = fs::remove_file(self.path("apache2.pid"));
        let shibd = self.spawn(
            Command::new("/usr/sbin/shibd")
                .args(["-F", "-f", "-c"])
                .arg(self.path("shibboleth2.xml"))
                .arg("-p")
                .arg(self.path("shibd.pid")),
            "shibd",
        );
        self.running.push(shibd);
        let listening = eventually(START, || {
            let up = socket.exists();
            async move { up }
        })
        .await;
        assert!(listening, "shibd never listened:\n{}", self.logs());
        let apache = self.spawn(
            Command::new("/usr/sbin/apache2")
                .arg("-X")
                .arg("-f")
                .arg(self.path("apache2.conf")),
            "apache",
        );
        self.running.insert(0, apache);
        let client = reqwest::Client::new();
        let metadata = self.url("/Shibboleth.sso/Metadata");
        let answering = eventually(START, || {
            let asked = client.get(&metadata).send();
            async move { asked.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        assert!(answering, "the SP never answered:\n{}", self.logs());
    }

    /// Starts `command`, which logs as sp.logger says to `NAME.log` here (rather than to
    /// /var/log/shibboleth and syslog) and prints to `NAME.out`.
    fn spawn(&self, command: &mut Command, name: &str) -> Process {
        let log = self.path(&format!("{name}.log"));
        let logger = self.path(&format!("{name}.logger"));
        let config = read_template("sp.logger").replace("{{LOG}}", &log.display().to_string());
        fs::write(&logger, config).expect("write the logger");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(&format!("{name}.out")))
            .expect("output file");
        let child = command
            .env("SHIBSP_LOGGING", &logger)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("output file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{command:?} starts (./test.sh installs apache2 and libapache2-mod-shib): {e}"
                )
            });
        Process(child)
    }

    /// The SP's own metadata, from its metadata handler, as its administrator downloads it.
    async fn metadata(&self) -> PathBuf {
        let xml = reqwest::get(self.url("/Shibboleth.sso/Metadata"))
            .await
            .expect("the SP's metadata")
            .text()
            .await
            .expect("its text");
        let path = self.path("sp-metadata.xml");
        fs::write(&path, xml).expect("write the SP's metadata");
        path
    }

    /// What shibd and Apache logged, for a failure's message.
    fn logs(&self) -> String {
        [
            "shibd.out",
            "shibd.log",
            "apache.out",
            "apache.log",
            "apache-error.log",
        ]
        .iter()
        .map(|name| {
            let text = fs::read_to_string(self.path(name)).unwrap_or_default();
            format!("--- {name}:\n{text}")
        })
        .collect()
    }
}

fn read_template(name: &str) -> String {
    fs::read_to_string(sp_folder().join(name)).expect("the SP's template")
}

/// `value`, which goes into an XML attribute as it is: the test's own URLs and entity IDs,
/// with nothing in them XML would read differently.
fn plain(value: &str) -> &str {
    assert!(
        !value.contains(['&', '<', '>', '"']),
        "{value} needs no escaping"
    );
    value
}

/// The entityID of the EntityDescriptor in `xml`.
fn entity_id_of(xml: &str) -> String {
    let document = roxmltree::Document::parse(xml).expect("Latchkey's metadata is XML");
    document
        .descendants()
        .find(|n| n.has_tag_name("EntityDescriptor"))
        .and_then(|n| n.attribute("entityID"))
        .expect("an EntityDescriptor with an entityID")
        .to_owned()
}

/// A provider with a team, "Research", whose member `ann@example.com` is its administrator;
/// a second team with its own member, `otto@example.com`; and the Shibboleth SP registered
/// with the first from its own metadata, trusting Latchkey's from the URL the CLI printed.
async fn set_up(db: &TestDb) -> (Provider, ShibbolethSp, Idp) {
    let p = provider(db, |_| {}).await;
    let cli = |args: &[&str]| cli_json(db, &p.app, args);
    let team = cli(&[
        "team",
        "create",
        "--name",
        "Research",
        "--admin",
        "ann@example.com",
    ]);
    let team_id = team["team_id"].as_str().expect("team_id");
    cli(&[
        "team",
        "create",
        "--name",
        "Other",
        "--admin",
        "otto@example.com",
    ]);
    let mut sp = ShibbolethSp::start().await;
    let metadata = sp.metadata().await;
    let added = cli(&[
        "saml-sp",
        "add",
        "--team",
        team_id,
        "--metadata-file",
        metadata.to_str().expect("a UTF-8 path"),
        "--name",
        "Wiki",
        "--attribute",
        &format!("{MAIL}=email"),
    ]);
    assert_eq!(added["entity_id"], sp.entity_id.as_str(), "{added}");
    let metadata_url = added["metadata_url"]
        .as_str()
        .expect("metadata_url")
        .to_owned();
    let idp_metadata = reqwest::get(&metadata_url)
        .await
        .expect("Latchkey's metadata")
        .text()
        .await
        .expect("its text");
    let idp = Idp {
        entity_id: entity_id_of(&idp_metadata),
        metadata_url,
    };
    sp.run(Some(&idp)).await;
    (p, sp, idp)
}

/// From a page of the SP that sent the browser to Latchkey: asks for a link for `email`, and
/// opens it in the same browser.
async fn sign_in_on_the_way(browser: &Chromium, p: &Provider, email: &str) {
    browser.sees_heading("Sign in to continue to Wiki").await;
    let before = p.smtp.mails_to(email).len();
    browser.fill("Email address", email).await;
    browser.press("Email me a sign-in link").await;
    browser.sees_heading("Check your email").await;
    let mail = p
        .smtp
        .nth_mail_to(email, before + 1, Duration::from_secs(10))
        .await;
    browser.open(&mail.link()).await;
    browser.sees_heading("Sign in").await;
    browser.sees(email).await;
    browser.press("Sign me in").await;
}

/// The protected page's `NAME=value` line.
async fn shown(browser: &Chromium, name: &str) -> String {
    let text = browser.text().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} on the page:\n{text}"))
        .to_owned()
}

on_both_databases!(a_member_signs_in_to_a_shibboleth_protected_page);
async fn a_member_signs_in_to_a_shibboleth_protected_page(db: TestDb) {
    let (p, sp, idp) = set_up(&db).await;
    let browser = Chromium::launch("shibboleth-member").await;

    // The protected page sends the browser to Latchkey; signed in there, it arrives back.
    let page = sp.url("/secure/whoami.cgi");
    browser.open(&page).await;
    sign_in_on_the_way(&browser, &p, "ann@example.com").await;
    browser.sees("Shib-Session-ID=_").await;
    assert_eq!(
        browser.url().await.as_str(),
        page,
        "back at the page asked for"
    );
    assert_eq!(
        shown(&browser, "Shib-Identity-Provider").await,
        idp.entity_id
    );
    // The address, as the SP's attribute map names it: what the application greets and
    // keys its account on.
    assert_eq!(
        shown(&browser, "mail").await,
        "ann@example.com",
        "the address reaches the application\n{}",
        sp.logs()
    );

    // The SP keeps its session (its cookie is `Secure`, kept from http://localhost): the
    // page opens again without a trip to Latchkey.
    let session = shown(&browser, "Shib-Session-ID").await;
    browser.open(&page).await;
    browser.sees("Shib-Session-ID=_").await;
    assert_eq!(shown(&browser, "Shib-Session-ID").await, session);
    browser.close().await;
}

on_both_databases!(a_person_of_another_team_is_refused_at_latchkey);
async fn a_person_of_another_team_is_refused_at_latchkey(db: TestDb) {
    let (p, sp, _) = set_up(&db).await;
    let browser = Chromium::launch("shibboleth-outsider").await;
    browser.open(&sp.url("/secure/whoami.cgi")).await;
    sign_in_on_the_way(&browser, &p, "otto@example.com").await;
    browser
        .sees_heading("You cannot sign in to this application")
        .await;
    browser
        .sees("Wiki is for the members of one team, and otto@example.com is not one of them.")
        .await;
    assert!(
        browser.url().await.as_str().starts_with(&p.app.base_url),
        "the person stays at Latchkey"
    );
    // Nothing reached the SP: it holds no session for this browser.
    browser.open(&sp.url("/Shibboleth.sso/Session")).await;
    browser.sees("A valid session was not found.").await;
    browser.close().await;
}

on_both_databases!(signing_out_at_the_shibboleth_sp_ends_both_sessions);
async fn signing_out_at_the_shibboleth_sp_ends_both_sessions(db: TestDb) {
    let (p, sp, _) = set_up(&db).await;
    let browser = Chromium::launch("shibboleth-logout").await;
    let page = sp.url("/secure/whoami.cgi");
    browser.open(&page).await;
    sign_in_on_the_way(&browser, &p, "ann@example.com").await;
    browser.sees("Shib-Session-ID=_").await;

    // The SP's logout, as its default configuration offers it (`<Logout>SAML2 Local</Logout>`):
    // a LogoutRequest to Latchkey, whose LogoutResponse brings the browser back to the SP.
    browser.open(&sp.url("/Shibboleth.sso/Logout")).await;
    browser.sees_heading("Global Logout").await;
    browser.sees("Logout completed successfully.").await;

    // Both sessions are over: the protected page sends the browser to Latchkey, which asks
    // for an address again.
    browser.open(&page).await;
    browser.sees_heading("Sign in to continue to Wiki").await;
    browser.open(&p.app.url("/dashboard")).await;
    browser.sees_heading("Sign in").await;
    browser.close().await;
}
