//! A team's SAML certificates: published ahead, switched to by the administrator, retired when
//! unused, warned about before they end, and never changed by the JWT key rotation. A year
//! passes with two rollovers and no SP ever refuses a response.

use chrono::{DateTime, TimeDelta, Utc};

use super::fixture::Fixture;
use super::identity::sign_on;
use crate::{Identity, SamlError};

/// What a service provider trusts of Latchkey: the certificates of the metadata it last read,
/// as an SP that verifies every response against them (its signature, and the certificate it
/// carries being one of them).
pub struct TrustingSp {
    certificates: Vec<String>,
}

impl TrustingSp {
    pub async fn reads_metadata(f: &Fixture, identity: &Identity) -> Self {
        let xml = f.sign_ons.metadata_xml(identity, f.now).await.unwrap();
        let document = roxmltree::Document::parse(&xml).unwrap();
        let certificates = document
            .descendants()
            .filter(|n| n.has_tag_name("X509Certificate"))
            .filter_map(|n| n.text())
            .map(crate::cert::pem_of_base64)
            .collect();
        Self { certificates }
    }

    pub fn accepts(&self, response: &str) -> bool {
        matches!(
            saml_rs::crypto::verify_signature(response, &self.certificates),
            Ok((true, Some(_)))
        )
    }
}

#[tokio::test]
async fn a_year_with_two_rollovers_and_monthly_key_rotations_never_breaks_an_sp() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let certificates = f.sps.certificates();
    let admin = &f.team.admin.actor;
    let (_, bo) = f.signed_in(&f.bo).await;
    // Like Zendesk or Salesforce: it holds the certificate it was given, read again only when
    // its administrator is told to.
    let mut pasted = TrustingSp::reads_metadata(&f, &f.identity).await;
    let first = sp.certificate_id.clone().unwrap();
    let mut current = first.clone();
    let mut next: Option<String> = None;
    let mut rollovers = 0;
    for day in 0..=365 {
        let at = f.now + TimeDelta::days(day);
        // The JWT keys rotate every 30 days; the SAML certificate does not follow them.
        if day % 30 == 0 {
            let keys = latchkey_testkit::memory_db().await;
            f.keys
                .store(latchkey_testkit::key_ring(&keys, at).await.load_full());
        }
        match day {
            // A rollover: published ahead, given to the SP, then signed with, then the old
            // one retired.
            100 | 250 => {
                let added = certificates.add(&f.team.id, admin, at).await.unwrap();
                assert_eq!(added.state, "next");
                next = Some(added.certificate_id);
            }
            110 | 260 => pasted = TrustingSp::reads_metadata(&f, &f.identity).await,
            120 | 270 => {
                let switch_to = next.take().unwrap();
                let (used, switched) = certificates
                    .use_for(&f.team.id, &switch_to, None, admin, at)
                    .await
                    .unwrap();
                assert_eq!((used.state, switched), ("signing", 1));
                let old = std::mem::replace(&mut current, switch_to);
                certificates.retire(None, &old, admin, at).await.unwrap();
                rollovers += 1;
            }
            _ => {}
        }
        if day % 7 == 0 || (118..=122).contains(&day) {
            let response = sign_on(&f, &bo, at).await;
            assert!(
                pasted.accepts(&response),
                "the SP refused the response of day {day}"
            );
        }
    }
    assert_eq!(rollovers, 2);
    assert_ne!(current, first);
    // The test can fail: an SP that kept the first certificate refuses today's response.
    let stale = TrustingSp {
        certificates: vec![
            certificates
                .list(&f.team.id, admin, f.now)
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.certificate_id == first)
                .unwrap()
                .cert_pem,
        ],
    };
    let response = sign_on(&f, &bo, f.now + TimeDelta::days(366)).await;
    assert!(!stale.accepts(&response));
}

#[tokio::test]
async fn one_sp_can_be_switched_alone_and_the_others_keep_their_certificate() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let other = f
        .sp(|new| new.entity_id = "https://other.example.test/sp".to_owned())
        .await;
    let certificates = f.sps.certificates();
    let admin = &f.team.admin.actor;
    let next = certificates.add(&f.team.id, admin, f.now).await.unwrap();
    let (_, switched) = certificates
        .use_for(
            &f.team.id,
            &next.certificate_id,
            Some(&sp.sp_id),
            admin,
            f.now,
        )
        .await
        .unwrap();
    assert_eq!(switched, 1);
    let listed = f.sps.list(Some(&f.team.id), admin).await.unwrap();
    let certificate_of = |id: &crate::ServiceProvider| {
        listed
            .iter()
            .find(|s| s.sp_id == id.sp_id)
            .and_then(|s| s.certificate_id.clone())
    };
    assert_eq!(certificate_of(&sp), Some(next.certificate_id.clone()));
    assert_eq!(certificate_of(&other), other.certificate_id);
    // The old one still signs for the other SP, and for the SPs the team adds next.
    let old = other.certificate_id.clone().unwrap();
    let refused = certificates.retire(None, &old, admin, f.now).await;
    assert!(
        matches!(refused, Err(SamlError::CertificateInUse(_, 1))),
        "{refused:?}"
    );
    let third = f
        .sp(|new| new.entity_id = "https://third.example.test/sp".to_owned())
        .await;
    assert_eq!(third.certificate_id, Some(old));
}

#[tokio::test]
async fn rollovers_to_certificates_not_published_are_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let certificates = f.sps.certificates();
    let admin = &f.team.admin.actor;
    let unknown = certificates
        .use_for(&f.team.id, "no-such-certificate", None, admin, f.now)
        .await;
    assert!(
        matches!(unknown, Err(SamlError::CertificateNotPublished(_))),
        "{unknown:?}"
    );
    // Another team's certificate is not this team's to use.
    let globex = latchkey_testkit::Team::found(&f.db, "Globex", "gus@globex.test", f.now).await;
    let theirs = certificates
        .add(&globex.id, &globex.admin.actor, f.now)
        .await;
    let theirs = theirs.expect("a team may publish before its first SP");
    let crossed = certificates
        .use_for(&f.team.id, &theirs.certificate_id, None, admin, f.now)
        .await;
    assert!(
        matches!(crossed, Err(SamlError::CertificateNotPublished(_))),
        "{crossed:?}"
    );
    // Nor retired through Acme's page.
    let elsewhere = certificates
        .retire(Some(&f.team.id), &theirs.certificate_id, admin, f.now)
        .await;
    assert!(
        matches!(elsewhere, Err(SamlError::CertificateNotPublished(_))),
        "{elsewhere:?}"
    );
    // Nor may Acme's administrator publish for Globex.
    let forbidden = certificates.add(&globex.id, admin, f.now).await;
    assert!(
        matches!(forbidden, Err(SamlError::Team(_))),
        "{forbidden:?}"
    );
    // A retired one is published no more.
    let next = certificates.add(&f.team.id, admin, f.now).await.unwrap();
    certificates
        .retire(None, &next.certificate_id, admin, f.now)
        .await
        .unwrap();
    let retired = certificates
        .use_for(&f.team.id, &next.certificate_id, None, admin, f.now)
        .await;
    assert!(
        matches!(retired, Err(SamlError::CertificateNotPublished(_))),
        "{retired:?}"
    );
    // At most four published at once.
    for _ in 0..3 {
        certificates.add(&f.team.id, admin, f.now).await.unwrap();
    }
    let fifth = certificates.add(&f.team.id, admin, f.now).await;
    assert!(
        matches!(fifth, Err(SamlError::TooManyCertificates(4))),
        "{fifth:?}"
    );
}

#[tokio::test]
async fn a_certificate_ending_soon_is_warned_about_and_an_ended_one_is_not_switched_to() {
    let f = Fixture::with_lifetime(TimeDelta::days(90)).await;
    let sp = f.sp(|_| {}).await;
    let certificates = f.sps.certificates();
    let admin = &f.team.admin.actor;
    let team = &f.team.id;
    let soon = |at: DateTime<Utc>| async move {
        certificates.list(team, admin, at).await.unwrap()[0].expires_soon
    };
    assert!(!soon(f.now).await);
    assert!(certificates.expiring(f.now).await.unwrap().is_empty());
    let later = f.now + TimeDelta::days(40);
    assert!(soon(later).await, "warned 60 days before its end");
    let expiring = certificates.expiring(later).await.unwrap();
    assert_eq!(expiring.len(), 1);
    assert_eq!(Some(expiring[0].1.clone()), sp.certificate_id);
    let ended = certificates
        .use_for(
            &f.team.id,
            sp.certificate_id.as_deref().unwrap(),
            None,
            admin,
            f.now + TimeDelta::days(100),
        )
        .await;
    assert!(
        matches!(ended, Err(SamlError::CertificateExpired(_))),
        "{ended:?}"
    );
}

#[tokio::test]
async fn a_certificate_published_before_the_first_sp_signs_for_it() {
    let f = Fixture::new().await;
    let certificates = f.sps.certificates();
    let admin = &f.team.admin.actor;
    // As for Salesforce, whose form wants the certificate before the SP can be registered.
    let first = certificates.add(&f.team.id, admin, f.now).await.unwrap();
    let metadata = TrustingSp::reads_metadata(&f, &f.identity).await;
    let sp = f.sp(|_| {}).await;
    assert_eq!(
        sp.certificate_id.as_deref(),
        Some(first.certificate_id.as_str())
    );
    let listed = certificates.list(&f.team.id, admin, f.now).await.unwrap();
    assert_eq!(listed.len(), 1, "no second certificate was made");
    let (_, bo) = f.signed_in(&f.bo).await;
    assert!(metadata.accepts(&sign_on(&f, &bo, f.now).await));
}
