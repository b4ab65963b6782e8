//! The launcher's OpenID half: a member sees their team's applications that registered a
//! login URI, each linked with `iss` and their address, and nothing of any other team; and a
//! login URI is checked when it is registered.

use latchkey_core::TeamId;
use latchkey_teams::Role;
use latchkey_testkit::Team;

use super::fixture::Fixture;
use crate::client::ClientError;
use crate::initiate_login::InitiateLoginUriError;
use crate::{LauncherError, NewClient};

const LOGIN_URI: &str = "https://notes.example.test/login";

fn issuer() -> latchkey_core::Issuer {
    latchkey_testkit::issuer()
}

#[tokio::test]
async fn a_member_sees_the_teams_applications_that_have_a_login_uri() {
    let f = Fixture::new().await;
    let notes = f
        .client(|c| {
            c.team_id = Some(f.team.id.clone());
            c.initiate_login_uri = Some(LOGIN_URI.into());
        })
        .await;
    // The team's, but with no login URI: it cannot be started from Latchkey.
    f.client(|c| {
        c.name = "Billing".into();
        c.team_id = Some(f.team.id.clone());
    })
    .await;
    // A login URI, but of no team: the launcher lists team applications only.
    f.client(|c| {
        c.name = "Everyone's wiki".into();
        c.initiate_login_uri = Some("https://wiki.example.test/login".into());
    })
    .await;

    let openable = f
        .provider
        .clients()
        .openable_by(&f.team.id, &f.bo.user_id, Some(&f.bo.email), &issuer())
        .await
        .unwrap();

    assert_eq!(openable.len(), 1, "{openable:?}");
    assert_eq!(openable[0].client_id, notes.client.id);
    assert_eq!(openable[0].name, "Notes");
    let url = url::Url::parse(&openable[0].launch_url).unwrap();
    assert_eq!(
        url.origin().ascii_serialization(),
        "https://notes.example.test"
    );
    assert_eq!(url.path(), "/login");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        vec![
            ("iss".to_owned(), issuer().as_str().to_owned()),
            ("login_hint".to_owned(), "bo@acme.test".to_owned()),
        ]
    );
}

#[tokio::test]
async fn another_teams_applications_are_never_listed_nor_is_a_team_to_an_outsider() {
    let f = Fixture::new().await;
    f.client(|c| {
        c.team_id = Some(f.team.id.clone());
        c.initiate_login_uri = Some(LOGIN_URI.into());
    })
    .await;
    let globex = Team::found(&f.db, "Globex", "gil@globex.test", f.now).await;
    let hank = globex.add("hank@globex.test", Role::Member, f.now).await;
    f.client(|c| {
        c.name = "Globex notes".into();
        c.team_id = Some(globex.id.clone());
        c.initiate_login_uri = Some("https://globex.example.test/login".into());
    })
    .await;
    let clients = f.provider.clients();

    let hanks = clients
        .openable_by(&globex.id, &hank.user_id, None, &issuer())
        .await
        .unwrap();
    assert_eq!(
        hanks.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        vec!["Globex notes"]
    );
    for (team, outsider) in [(&f.team.id, &hank.user_id), (&f.team.id, &f.cy.user_id)] {
        let refused = clients.openable_by(team, outsider, None, &issuer()).await;
        assert!(
            matches!(refused, Err(LauncherError::NotMember)),
            "{refused:?}"
        );
    }
    let unknown = clients
        .openable_by(
            &TeamId::from("no-such-team"),
            &f.bo.user_id,
            None,
            &issuer(),
        )
        .await;
    assert!(
        matches!(unknown, Err(LauncherError::NotMember)),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_login_uri_with_a_fragment_over_http_or_10_kb_long_is_refused() {
    let f = Fixture::new().await;
    let huge = format!("https://notes.example.test/{}", "a".repeat(10 * 1024));
    for (uri, expected) in [
        (
            "https://notes.example.test/login#go",
            InitiateLoginUriError::Fragment("https://notes.example.test/login#go".into()),
        ),
        (
            "http://notes.example.test/login",
            InitiateLoginUriError::Insecure("http://notes.example.test/login".into()),
        ),
        (huge.as_str(), InitiateLoginUriError::TooLong),
    ] {
        let refused = f
            .provider
            .clients()
            .create(
                NewClient {
                    name: "Notes".into(),
                    team_id: Some(f.team.id.clone()),
                    redirect_uris: vec![super::fixture::REDIRECT_URI.into()],
                    initiate_login_uri: Some(uri.to_owned()),
                    ..NewClient::default()
                },
                f.now,
            )
            .await;
        match refused {
            Err(ClientError::InitiateLoginUri(error)) => {
                assert_eq!(error, expected);
                assert!(error.to_string().contains("--initiate-login-uri"));
            }
            other => panic!("{uri:.60}: expected a refusal, got {other:?}"),
        }
    }
    assert!(f.provider.clients().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_machine_client_cannot_have_a_login_uri() {
    let f = Fixture::new().await;
    let refused = f
        .provider
        .clients()
        .create(
            NewClient {
                name: "Robot".into(),
                team_id: Some(f.team.id.clone()),
                grant_types: vec![crate::GrantType::ClientCredentials],
                initiate_login_uri: Some(LOGIN_URI.into()),
                ..NewClient::default()
            },
            f.now,
        )
        .await;
    assert!(
        matches!(refused, Err(ClientError::InitiateLoginWithoutCode)),
        "{refused:?}"
    );
}
