//! Why a link was asked for: registering makes an account, signing in needs one, and
//! whichever it is, the mail goes to the address asked for and nowhere else.

use latchkey_core::secret::SecretToken;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::fixture::{BO, Fixture, requester};
use crate::Purpose;
use crate::entities::user;

const NEWCOMER: &str = "nia@newco.test";

async fn accounts_of(f: &Fixture, email: &str) -> u64 {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .count(f.db.read())
        .await
        .unwrap()
}

#[tokio::test]
async fn registering_a_new_address_makes_its_account_when_the_link_is_used() {
    let f = Fixture::new().await;
    assert!(
        f.ask_at(NEWCOMER, Purpose::Register, &SecretToken::generate(), f.now)
            .await
    );
    let mail = f.last_mail().await;
    assert!(
        mail.subject.starts_with("Finish creating your account"),
        "{mail:?}"
    );
    assert_eq!(
        accounts_of(&f, NEWCOMER).await,
        0,
        "nothing made before the link is used"
    );

    let view = f.login.inspect(&mail.token(), f.now).await.unwrap();
    assert_eq!(view.purpose, Purpose::Register);
    let signed_in = f
        .login
        .confirm(&mail.token(), &requester(), f.now)
        .await
        .unwrap();

    assert_eq!(signed_in.email, NEWCOMER);
    assert_eq!(accounts_of(&f, NEWCOMER).await, 1);
}

#[tokio::test]
async fn registering_an_address_that_has_an_account_signs_in_instead() {
    let f = Fixture::new().await;
    assert!(
        f.ask_at(BO, Purpose::Register, &SecretToken::generate(), f.now)
            .await
    );
    let mail = f.last_mail().await;

    let view = f.login.inspect(&mail.token(), f.now).await.unwrap();

    assert_eq!(view.purpose, Purpose::Login);
    assert!(mail.subject.starts_with("Sign in to"), "{mail:?}");
}

#[tokio::test]
async fn signing_in_with_an_unknown_address_mails_a_note_without_a_link() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();

    // Answered as for a known address, so the page does not tell who has an account.
    assert!(f.ask_at(NEWCOMER, Purpose::Login, &browser, f.now).await);

    let mail = f.last_mail().await;
    assert_eq!(mail.to, NEWCOMER);
    assert!(!mail.text.contains("?token="), "{mail:?}");
    assert_eq!(mail.code(), None);
    assert_eq!(accounts_of(&f, NEWCOMER).await, 0);
}

#[tokio::test]
async fn the_link_is_mailed_only_to_the_address_asked_for() {
    let f = Fixture::new().await;

    let mail = f.bo_asks(&SecretToken::generate()).await;

    let mails = f.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mail.to, BO);
}
