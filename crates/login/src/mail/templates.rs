use serde::Serialize;
use tera::{Context, Tera};

use crate::Purpose;

/// The email templates, embedded in the binary: each mail has a text and an HTML part.
pub struct MailTemplates {
    tera: Tera,
}

/// A rendered mail.
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The view of the magic-link mail.
#[derive(Serialize)]
pub struct MagicLinkMail<'a> {
    pub link: &'a str,
    /// None when the address has had too many wrong codes: the mail then says only the link
    /// works.
    pub code: Option<&'a str>,
    pub email: &'a str,
    /// What the link does; picks the subject.
    pub purpose: Purpose,
    /// The same in words, for the body ("join the team Acme").
    pub action: &'a str,
    pub minutes: i64,
    pub requested_at: String,
    pub ip: &'a str,
    pub browser: &'a str,
    pub issuer: &'a str,
    /// The application signing in continues to, named so the person knows where it leads.
    pub application: Option<&'a str>,
}

/// The view of the note sent when someone asks to sign in with an address that has no account.
#[derive(Serialize)]
pub struct NoAccountMail<'a> {
    pub email: &'a str,
    pub register_url: &'a str,
    pub requested_at: String,
}

impl MailTemplates {
    pub fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates([
            (
                "magic_link.txt",
                include_str!("../../../../templates/email/magic_link.txt"),
            ),
            (
                "magic_link.html",
                include_str!("../../../../templates/email/magic_link.html"),
            ),
            (
                "no_account.txt",
                include_str!("../../../../templates/email/no_account.txt"),
            ),
            (
                "no_account.html",
                include_str!("../../../../templates/email/no_account.html"),
            ),
        ])?;
        Ok(Self { tera })
    }

    pub fn magic_link(&self, view: &MagicLinkMail<'_>) -> Result<RenderedMail, tera::Error> {
        let subject = match view.purpose {
            Purpose::Login => format!("Sign in to {}", view.issuer),
            Purpose::Register => format!("Finish creating your account at {}", view.issuer),
            Purpose::Join => format!("Join your team at {}", view.issuer),
        };
        self.render("magic_link", subject, view)
    }

    pub fn no_account(&self, view: &NoAccountMail<'_>) -> Result<RenderedMail, tera::Error> {
        self.render(
            "no_account",
            "Sign-in attempt: no account for this address".to_owned(),
            view,
        )
    }

    fn render<V: Serialize>(
        &self,
        name: &str,
        subject: String,
        view: &V,
    ) -> Result<RenderedMail, tera::Error> {
        let context = Context::from_serialize(view)?;
        Ok(RenderedMail {
            subject,
            text: self.tera.render(&format!("{name}.txt"), &context)?,
            html: self.tera.render(&format!("{name}.html"), &context)?,
        })
    }
}
