//! The code beside the link: typed in the browser that asked, it signs in once; five wrong
//! codes void the link, and ten for one address in a day turn its codes off.

use latchkey_core::secret::SecretToken;

use super::fixture::{Fixture, requester, wrong};
use crate::{CodeError, LinkError, MAX_WRONG_CODES};

/// The wrong codes a link takes before it is void.
const WRONG_CODES_PER_LINK: i32 = crate::link::MAX_FAILED_CODES;

#[tokio::test]
async fn a_code_signs_in_once() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    let code = f.bo_asks(&browser).await.code().expect("a code");

    let signed_in = f
        .login
        .confirm_code(&browser, &code, &requester(), f.now)
        .await;
    assert!(signed_in.is_ok(), "{signed_in:?}");

    let again = f
        .login
        .confirm_code(&browser, &code, &requester(), f.now)
        .await;
    assert!(matches!(again, Err(CodeError::NothingPending)), "{again:?}");
}

#[tokio::test]
async fn a_code_works_only_in_the_browser_that_asked() {
    let f = Fixture::new().await;
    let code = f.bo_asks(&SecretToken::generate()).await.code().unwrap();

    let elsewhere = SecretToken::generate();
    let refused = f
        .login
        .confirm_code(&elsewhere, &code, &requester(), f.now)
        .await;

    assert!(
        matches!(refused, Err(CodeError::NothingPending)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_code_spends_the_link_beside_it() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    let mail = f.bo_asks(&browser).await;
    let code = mail.code().unwrap();
    f.login
        .confirm_code(&browser, &code, &requester(), f.now)
        .await
        .unwrap();

    let link = f.login.confirm(&mail.token(), &requester(), f.now).await;

    assert!(matches!(link, Err(LinkError::Used)), "{link:?}");
}

#[tokio::test]
async fn five_wrong_codes_void_the_link_and_its_code() {
    let f = Fixture::new().await;
    let browser = SecretToken::generate();
    let mail = f.bo_asks(&browser).await;
    let code = mail.code().unwrap();

    for tried in 1..WRONG_CODES_PER_LINK {
        let refused = f
            .login
            .confirm_code(&browser, &wrong(&code), &requester(), f.now)
            .await;
        let left = WRONG_CODES_PER_LINK - tried;
        assert!(
            matches!(refused, Err(CodeError::Wrong { remaining }) if remaining == left),
            "try {tried}: {refused:?}"
        );
    }
    let last = f
        .login
        .confirm_code(&browser, &wrong(&code), &requester(), f.now)
        .await;
    assert!(matches!(last, Err(CodeError::Voided)), "{last:?}");

    let right = f
        .login
        .confirm_code(&browser, &code, &requester(), f.now)
        .await;
    assert!(matches!(right, Err(CodeError::Voided)), "{right:?}");
    let link = f.login.confirm(&mail.token(), &requester(), f.now).await;
    assert!(matches!(link, Err(LinkError::Voided)), "{link:?}");
}

#[tokio::test]
async fn too_many_wrong_codes_for_an_address_turn_its_codes_off_but_not_its_links() {
    let f = Fixture::new().await;
    let mut typed = 0;
    // New links give new tries per link, but not beyond the address's allowance.
    while typed < MAX_WRONG_CODES {
        let browser = SecretToken::generate();
        let code = f.bo_asks(&browser).await.code().unwrap();
        for _ in 0..WRONG_CODES_PER_LINK {
            let _ = f
                .login
                .confirm_code(&browser, &wrong(&code), &requester(), f.now)
                .await;
            typed += 1;
        }
    }

    let browser = SecretToken::generate();
    let mail = f.bo_asks(&browser).await;
    assert_eq!(mail.code(), None, "the mail says only the link works");
    let typed_anyway = f
        .login
        .confirm_code(&browser, "00000000", &requester(), f.now)
        .await;
    assert!(
        matches!(typed_anyway, Err(CodeError::CodesOff)),
        "{typed_anyway:?}"
    );
    assert!(
        f.login
            .confirm(&mail.token(), &requester(), f.now)
            .await
            .is_ok()
    );
}
