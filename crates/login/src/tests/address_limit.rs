//! The per-address limit: so many links per window, then nothing is sent until the window
//! runs out. Addresses that reach one mailbox (`bo+x@`) share it.

use latchkey_core::secret::SecretToken;

use super::fixture::{BO, Fixture, LINKS_PER_WINDOW, WINDOW};
use crate::Purpose;

#[tokio::test]
async fn past_the_limit_no_link_is_sent() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    for _ in 0..LINKS_PER_WINDOW {
        assert!(f.ask_at(BO, Purpose::Login, &browser, f.now).await);
    }

    let over = f.ask_at(BO, Purpose::Login, &browser, f.now).await;

    assert!(!over, "the request past the limit queues nothing");
    assert_eq!(f.mails().await.len(), LINKS_PER_WINDOW as usize);
}

#[tokio::test]
async fn the_limit_starts_again_when_its_window_runs_out() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    for _ in 0..=LINKS_PER_WINDOW {
        f.ask_at(BO, Purpose::Login, &browser, f.now).await;
    }

    let next_window = f.later(WINDOW);

    assert!(f.ask_at(BO, Purpose::Login, &browser, next_window).await);
}

#[tokio::test]
async fn sub_addresses_of_one_mailbox_share_its_limit() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    for n in 0..LINKS_PER_WINDOW {
        let address = format!("ann+{n}@example.test");
        assert!(f.ask_at(&address, Purpose::Register, &browser, f.now).await);
    }

    let over = f
        .ask_at("ann@example.test", Purpose::Register, &browser, f.now)
        .await;

    assert!(!over);
}

#[tokio::test]
async fn other_addresses_keep_their_own_limit() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    for _ in 0..=LINKS_PER_WINDOW {
        f.ask_at(BO, Purpose::Login, &browser, f.now).await;
    }

    assert!(
        f.ask_at("ada@acme.test", Purpose::Register, &browser, f.now)
            .await
    );
}
