//! Mail: messages rendered from templates, written to a durable outbox in the same transaction
//! as what they announce, and delivered by a worker over SMTP (or into `.eml` files).

mod abandoned;
mod outbox;
mod recovery;
mod reseal;
mod send;
mod templates;

pub use outbox::{Outbox, OutboxError};
pub use reseal::{ResealError, reseal_waiting};
pub use templates::{MagicLinkMail, MailTemplates, NoAccountMail, RenderedMail};

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, Tokio1Executor};

/// Where mail goes.
#[derive(Clone)]
pub enum MailTransport {
    /// An SMTP relay (`mail.smtp_url`).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per message under this folder, for development without a mail server.
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl MailTransport {
    /// Builds the transport: SMTP when a URL is configured, files otherwise.
    pub fn new(smtp_url: &str, outbox_dir: PathBuf) -> Result<Self, String> {
        if smtp_url.trim().is_empty() {
            std::fs::create_dir_all(&outbox_dir).map_err(|e| {
                format!(
                    "mail.outbox_dir: cannot create {}: {e}",
                    outbox_dir.display()
                )
            })?;
            return Ok(Self::Files(
                AsyncFileTransport::new(&outbox_dir),
                outbox_dir,
            ));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| {
                format!("mail.smtp_url: {smtp_url:?} is not an SMTP URL like smtp://host:25 ({e})")
            })?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        Ok(Self::Smtp(transport))
    }

    /// How many mails to hand over at once: a relay answers each in a network round trip,
    /// so several go side by side (lettre's pool keeps up to ten connections); files
    /// created side by side in one folder only queue for it.
    pub fn sends_at_once(&self) -> usize {
        match self {
            Self::Smtp(_) => 8,
            Self::Files(..) => 1,
        }
    }
}

/// What the mail parts of the provider are configured with.
#[derive(Clone)]
pub struct MailSettings {
    pub from: Mailbox,
    pub transport: MailTransport,
}
