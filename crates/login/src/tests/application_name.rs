//! The application a sign-in continues to, in the mail: named when the operator registered it
//! (an OIDC client), never when a team's administrator did (a SAML service provider, whose
//! name anyone can have mailed to any account by starting a sign-on to it).

use latchkey_core::email::Email;
use latchkey_core::secret::SecretToken;
use latchkey_core::{RequestId, SamlRequestId};

use super::fixture::{BO, Fixture, requester};
use crate::{Continuing, Purpose, Resume};

const SP_NAME: &str =
    "Payroll - ACTION REQUIRED: unlock your account at https://evil.example/unlock";

async fn mail_continuing(f: &Fixture, continues: Continuing) -> String {
    let email = Email::parse(BO).unwrap();
    let browser = SecretToken::generate();
    let queued = f
        .login
        .request(
            &email,
            Purpose::Login,
            &browser,
            &requester(),
            Some(&continues),
            None,
            None,
            f.now,
        )
        .await
        .unwrap();
    assert!(queued);
    f.last_mail().await.text
}

#[tokio::test]
async fn a_saml_applications_name_is_not_in_the_mail() {
    let f = Fixture::new().await;
    let continues = Continuing {
        request: Resume::SamlSignOn(SamlRequestId::generate()),
        application: SP_NAME.to_owned(),
    };
    let text = mail_continuing(&f, continues).await;
    assert!(!text.contains("Payroll"), "{text}");
    assert!(!text.contains("evil.example"), "{text}");
    assert!(!text.contains("continue to"), "{text}");
    assert!(text.contains("?token="), "the link is still there: {text}");
}

#[tokio::test]
async fn an_oidc_clients_name_is_in_the_mail() {
    let f = Fixture::new().await;
    let continues = Continuing {
        request: Resume::Authorization(RequestId::from("0193a5b2-7c1e-7d3f-9a4b-1c2d3e4f5a6b")),
        application: "Helpdesk".to_owned(),
    };
    let text = mail_continuing(&f, continues).await;
    assert!(text.contains("continue to Helpdesk"), "{text}");
}
