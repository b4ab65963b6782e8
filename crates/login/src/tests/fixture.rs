//! The login flow with Bo's account in place, links asked for as the login page asks, and
//! the mails they send read back from the outbox.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::email::Email;
use latchkey_core::secret::SecretToken;
use latchkey_core::{Clock, Db};
use latchkey_keys::MasterKey;
use sea_orm::{EntityTrait, QueryOrder};

use crate::entities::mail_outbox;
use crate::mail::{MailSettings, MailTemplates, MailTransport, Outbox};
use crate::{Login, LoginSettings, Purpose, Requester};

/// At most this many links per address and window in these tests.
pub const LINKS_PER_WINDOW: u64 = 3;
pub const WINDOW: TimeDelta = TimeDelta::hours(1);
pub const LINK_TTL: TimeDelta = TimeDelta::minutes(10);

pub const BO: &str = "bo@acme.test";

pub struct Fixture {
    pub db: Db,
    pub now: DateTime<Utc>,
    pub login: Login,
    master_key: Arc<MasterKey>,
    /// Where the file transport would write; kept so the folder lives as long as the test.
    _outbox_dir: tempfile::TempDir,
}

/// A mail as its recipient reads it.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl Fixture {
    pub async fn new() -> Self {
        let now = latchkey_testkit::start_of_test();
        let db = latchkey_testkit::memory_db().await;
        let keys = latchkey_testkit::key_ring(&db, now).await;
        latchkey_testkit::account(&db, BO, now).await;
        let (master_key, _) = MasterKey::generate().expect("a master key");
        let master_key = Arc::new(master_key);
        let outbox_dir = tempfile::tempdir().expect("an outbox folder");
        let mail = MailSettings {
            from: "Latchkey <no-reply@example.test>"
                .parse()
                .expect("a sender"),
            transport: MailTransport::new("", outbox_dir.path().to_owned())
                .expect("a file transport"),
        };
        let outbox = Outbox::new(db.clone(), master_key.clone(), mail, Clock::system());
        let settings = LoginSettings {
            magic_link_ttl: LINK_TTL,
            rate_limit_per_address: LINKS_PER_WINDOW,
            rate_limit_window: WINDOW,
            session_idle_ttl: TimeDelta::days(1),
            session_max_ttl: TimeDelta::days(7),
        };
        let templates = Arc::new(MailTemplates::load().expect("mail templates"));
        let login = Login::new(
            db.clone(),
            keys,
            latchkey_testkit::issuer(),
            settings,
            outbox,
            templates,
        );
        Self {
            db,
            now,
            login,
            master_key,
            _outbox_dir: outbox_dir,
        }
    }

    pub fn later(&self, by: TimeDelta) -> DateTime<Utc> {
        self.now + by
    }

    /// Asks for a link for `email` from `browser` at `at`, as the login page does; whether
    /// a mail was queued.
    pub async fn ask_at(
        &self,
        email: &str,
        purpose: Purpose,
        browser: &SecretToken,
        at: DateTime<Utc>,
    ) -> bool {
        let email = Email::parse(email).expect("an address");
        self.login
            .request(&email, purpose, browser, &requester(), None, None, None, at)
            .await
            .expect("the request handled")
    }

    /// Asks, now, for Bo's sign-in link from `browser`, and returns the mail it sent.
    pub async fn bo_asks(&self, browser: &SecretToken) -> Mail {
        assert!(self.ask_at(BO, Purpose::Login, browser, self.now).await);
        self.last_mail().await
    }

    /// Every mail queued, oldest first, opened as the outbox worker opens it to send it.
    /// (Not delivered through the transport: delivery reads the system clock, and the fixed
    /// clock of these tests may lie in its past, where every link has expired.)
    pub async fn mails(&self) -> Vec<Mail> {
        let rows = mail_outbox::Entity::find()
            .order_by_asc(mail_outbox::Column::Id)
            .all(self.db.read())
            .await
            .expect("the outbox read");
        rows.iter().map(|row| self.open(row)).collect()
    }

    pub async fn last_mail(&self) -> Mail {
        self.mails().await.pop().expect("a mail")
    }

    fn open(&self, row: &mail_outbox::Model) -> Mail {
        let sealed = row.sealed_message.as_deref().expect("a sealed message");
        let bytes = self.master_key.open(&row.id, sealed).expect("opened");
        let message = mail_parser::MessageParser::default()
            .parse(&bytes)
            .expect("a MIME message");
        let to = message
            .to()
            .and_then(|to| to.first())
            .and_then(|addr| addr.address())
            .expect("a recipient")
            .to_owned();
        assert_eq!(to, row.recipient, "the envelope and the header agree");
        Mail {
            to,
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).expect("a text part").into_owned(),
        }
    }
}

impl Mail {
    /// The link's token, as the verify page receives it.
    pub fn token(&self) -> String {
        let (_, after) = self.text.split_once("?token=").expect("a link");
        after.split_whitespace().next().expect("a token").to_owned()
    }

    /// The code beside the link, if the mail has one.
    pub fn code(&self) -> Option<String> {
        let (_, after) = self.text.split_once("browser where you asked: ")?;
        Some(after.split_whitespace().next()?.to_owned())
    }
}

/// Who asks, as the web layer describes a browser.
pub fn requester() -> Requester {
    Requester {
        ip: "192.0.2.1".to_owned(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".to_owned(),
        device: None,
    }
}

/// A code that is not `code`, of the same form.
pub fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &code[1..])
}
