//! What vendors read beyond the NameID: fixed values, a NameFormat per attribute, an audience
//! other than the entity ID, the attributes an SP's metadata requests; rows written before
//! these existed; and what an administrator may not give.

use sea_orm::{ActiveModelTrait, ActiveValue};

use super::fixture::{Fixture, posted};
use super::messages::AuthnRequest;
use crate::entities::service_provider;
use crate::{
    Attribute, AttributeFormat, AttributeValue, Claim, SamlError, ServiceProvider,
    ServiceProviderChange, SpMetadata, split_attribute_list,
};

const URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";
const EMAIL_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

fn attributes(pairs: &[&str]) -> Vec<Attribute> {
    pairs
        .iter()
        .map(|pair| Attribute::parse(pair).unwrap())
        .collect()
}

/// The assertion Bo, signed in already, is sent by the SP registered.
async fn assertion_for_bo(f: &Fixture) -> String {
    let (_, bo) = f.signed_in(&f.bo).await;
    let reply = f
        .receive(AuthnRequest::new("_r1", f.now).post(None), Some(&bo), f.now)
        .await;
    posted(reply.unwrap()).response_xml()
}

/// The `<saml:Attribute>` element an assertion states, as written.
fn stated(name: &str, format: &str, value: &str) -> String {
    format!(
        "<saml:Attribute Name=\"{name}\" NameFormat=\"{format}\"><saml:AttributeValue xsi:type=\"xs:string\">{value}</saml:AttributeValue></saml:Attribute>"
    )
}

async fn refused_registration(
    f: &Fixture,
    adjust: impl FnOnce(&mut crate::NewServiceProvider),
) -> SamlError {
    let mut new = crate::NewServiceProvider {
        team_id: f.team.id.clone(),
        entity_id: "https://refused.example.test".to_owned(),
        acs_urls: vec!["https://refused.example.test/acs".to_owned()],
        ..Default::default()
    };
    adjust(&mut new);
    f.sps
        .add(new, &f.team.admin.actor, f.now)
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn a_fixed_value_arrives_as_given_beside_the_persons_claims() {
    let f = Fixture::new().await;
    f.sp(|sp| {
        sp.attributes = attributes(&[
            "email=email",
            "OrganizationName=literal:acme",
            "Company=literal: Smith & <Sons> ",
            "role=role",
        ])
    })
    .await;
    let xml = assertion_for_bo(&f).await;
    assert!(
        xml.contains(&stated("email", BASIC, "bo@acme.test")),
        "{xml}"
    );
    assert!(
        xml.contains(&stated("OrganizationName", BASIC, "acme")),
        "{xml}"
    );
    assert!(
        xml.contains(&stated("Company", BASIC, "Smith &amp; &lt;Sons&gt;")),
        "escaped, without the spaces around it: {xml}"
    );
    assert!(xml.contains(&stated("role", BASIC, "member")), "{xml}");
}

#[tokio::test]
async fn formats_are_written_as_asked_and_uri_names_are_uri_by_default() {
    let f = Fixture::new().await;
    f.sp(|sp| {
        sp.attributes = attributes(&[
            &format!("{EMAIL_CLAIM}=email"),
            "urn:oid:2.16.840.1.113730.3.1.3=sub",
            "team=team",
            "role=role",
            "OrganizationName=literal:acme",
        ]);
        sp.attribute_formats = vec![
            (
                "urn:oid:2.16.840.1.113730.3.1.3".to_owned(),
                AttributeFormat::Unspecified,
            ),
            ("role".to_owned(), AttributeFormat::Uri),
        ];
    })
    .await;
    let xml = assertion_for_bo(&f).await;
    assert!(
        xml.contains(&stated(EMAIL_CLAIM, URI, "bo@acme.test")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<saml:Attribute Name=\"urn:oid:2.16.840.1.113730.3.1.3\" NameFormat=\"{UNSPECIFIED}\">"
        )),
        "{xml}"
    );
    assert!(xml.contains(&stated("team", BASIC, "Acme")), "{xml}");
    assert!(xml.contains(&stated("role", URI, "member")), "{xml}");
    assert!(
        xml.contains(&stated("OrganizationName", BASIC, "acme")),
        "{xml}"
    );
}

#[tokio::test]
async fn an_audience_other_than_the_entity_id_is_named_and_requests_are_still_matched() {
    let f = Fixture::new().await;
    let sp = f
        .sp(|sp| sp.audience = Some(" sp.example.test ".to_owned()))
        .await;
    assert_eq!(sp.audience.as_deref(), Some("sp.example.test"));
    // The request names the entity ID as its Issuer, as before.
    let xml = assertion_for_bo(&f).await;
    assert!(
        xml.contains("<saml:Audience>sp.example.test</saml:Audience>"),
        "{xml}"
    );
    assert!(!xml.contains("<saml:Audience>https://"), "{xml}");

    // Cleared, the entity ID is the audience again.
    let (sp, changed) = f
        .sps
        .update(
            &sp.sp_id,
            ServiceProviderChange {
                audience: Some(None),
                ..Default::default()
            },
            &f.team.admin.actor,
            f.now,
        )
        .await
        .unwrap();
    assert_eq!(changed, vec!["audience"]);
    assert_eq!(sp.audience(), sp.entity_id);
}

#[tokio::test]
async fn a_row_written_before_fixed_values_and_formats_reads_as_it_was_sent() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    // As the table held it: `[name, claim]` pairs, sent with the basic format.
    service_provider::ActiveModel {
        id: ActiveValue::Unchanged(sp.sp_id.to_string()),
        attributes: ActiveValue::Set(format!(
            "[[\"email\",\"email\"],[\"{EMAIL_CLAIM}\",\"email\"],[\"team\",\"team\"]]"
        )),
        ..Default::default()
    }
    .update(&*f.db.write().await)
    .await
    .unwrap();
    let read = f.sps.by_id(sp.sp_id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        read.attributes,
        vec![
            Attribute {
                name: "email".to_owned(),
                value: AttributeValue::Claim(Claim::Email),
                format: AttributeFormat::Basic,
            },
            Attribute {
                name: EMAIL_CLAIM.to_owned(),
                value: AttributeValue::Claim(Claim::Email),
                format: AttributeFormat::Basic,
            },
            Attribute {
                name: "team".to_owned(),
                value: AttributeValue::Claim(Claim::Team),
                format: AttributeFormat::Basic,
            },
        ]
    );
    let xml = assertion_for_bo(&f).await;
    assert!(
        xml.contains(&stated(EMAIL_CLAIM, BASIC, "bo@acme.test")),
        "{xml}"
    );

    // Changing something else leaves them as they are; a format alone changes one.
    let change = |c: ServiceProviderChange| f.sps.update(&sp.sp_id, c, &f.team.admin.actor, f.now);
    let (_, changed) = change(ServiceProviderChange {
        name: Some("Helpdesk (renamed)".to_owned()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(changed, vec!["name"]);
    let (updated, changed) = change(ServiceProviderChange {
        attribute_formats: vec![(EMAIL_CLAIM.to_owned(), AttributeFormat::Uri)],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(changed, vec!["attributes"]);
    assert_eq!(updated.attributes[1].format, AttributeFormat::Uri);
    assert_eq!(updated.attributes[0].format, AttributeFormat::Basic);
}

#[tokio::test]
async fn a_fixed_value_and_a_format_are_kept_and_listed_as_json() {
    let f = Fixture::new().await;
    let sp = f
        .sp(|sp| {
            sp.attributes = attributes(&["OrganizationName=literal:acme", "email=email"]);
            sp.attribute_formats = vec![("email".to_owned(), AttributeFormat::Unspecified)];
            sp.audience = Some("sp.example.test".to_owned());
        })
        .await;
    let listed: Vec<ServiceProvider> = f
        .sps
        .list(Some(&f.team.id), &f.team.admin.actor)
        .await
        .unwrap();
    assert_eq!(listed[0].attributes, sp.attributes);
    let json = serde_json::to_value(&listed[0]).unwrap();
    assert_eq!(json["audience"], "sp.example.test");
    assert_eq!(
        json["attributes"],
        serde_json::json!([
            {"name": "OrganizationName", "literal": "acme", "format": "basic"},
            {"name": "email", "claim": "email", "format": "unspecified"},
        ])
    );
}

#[tokio::test]
async fn what_an_administrator_may_not_give_is_refused_with_what_to_fix() {
    let f = Fixture::new().await;
    let with = |pairs: &'static [&'static str]| {
        move |sp: &mut crate::NewServiceProvider| sp.attributes = attributes(pairs)
    };
    for pairs in [
        &["OrganizationName=literal:"][..],
        &["OrganizationName=literal:ac\u{7}me"],
        &["OrganizationName=literal:line\none"],
    ] {
        let error = refused_registration(&f, with(pairs)).await;
        assert!(
            matches!(&error, SamlError::Literal(name, 1024) if name == "OrganizationName"),
            "{pairs:?}: {error:?}"
        );
    }
    let long = format!("OrganizationName=literal:{}", "a".repeat(2048));
    let error = refused_registration(&f, |sp| sp.attributes = attributes(&[&long])).await;
    assert!(matches!(error, SamlError::Literal(..)), "{error:?}");
    assert!(
        error.to_string().contains("1 to 1024 characters"),
        "{error}"
    );
    let just_enough = format!("OrganizationName=literal:{}", "é".repeat(1024));
    f.sp(|sp| sp.attributes = attributes(&[&just_enough])).await;

    let error = refused_registration(&f, |sp| {
        sp.attributes = attributes(&["email=email"]);
        sp.attribute_formats = vec![("OrganizationName".to_owned(), AttributeFormat::Basic)];
    })
    .await;
    assert!(
        matches!(&error, SamlError::FormatOfUnsent(name) if name == "OrganizationName"),
        "{error:?}"
    );
    // The defaults are sent when none are named: a format may name one of them only.
    let error = refused_registration(&f, |sp| {
        sp.attribute_formats = vec![("mail".to_owned(), AttributeFormat::Uri)];
    })
    .await;
    assert!(matches!(error, SamlError::FormatOfUnsent(_)), "{error:?}");
    let defaults = f
        .sp(|sp| {
            sp.entity_id = "https://defaults.example.test".to_owned();
            sp.attribute_formats = vec![("email".to_owned(), AttributeFormat::Uri)];
        })
        .await;
    assert_eq!(defaults.attributes[0].name, "email");
    assert_eq!(defaults.attributes[0].format, AttributeFormat::Uri);

    for audience in ["", "acme zendesk.com", "acme\tzendesk", &"a".repeat(513)] {
        let error = refused_registration(&f, |sp| sp.audience = Some(audience.to_owned())).await;
        assert!(
            matches!(error, SamlError::Audience),
            "{audience:?}: {error:?}"
        );
    }

    assert!(matches!(
        Attribute::parse("x=password"),
        Err(SamlError::Attribute(_))
    ));
    assert!(matches!(
        Attribute::parse("OrganizationName"),
        Err(SamlError::Attribute(_))
    ));
    assert!(matches!(
        crate::parse_attribute_format("email=ldap"),
        Err(SamlError::AttributeFormat(_))
    ));
}

#[test]
fn a_fixed_value_takes_the_rest_of_a_comma_list() {
    assert_eq!(
        split_attribute_list("email=email,OrganizationName=literal:Acme, Inc.,x"),
        vec!["email=email", "OrganizationName=literal:Acme, Inc.,x"]
    );
    assert_eq!(
        split_attribute_list("email=email,team=team,"),
        vec!["email=email", "team=team"]
    );
    assert_eq!(
        Attribute::parse("OrganizationName=literal:Acme, Inc.").unwrap(),
        Attribute {
            name: "OrganizationName".to_owned(),
            value: AttributeValue::Literal("Acme, Inc.".to_owned()),
            format: AttributeFormat::Basic,
        }
    );
}

#[test]
fn the_attributes_an_sps_metadata_requests_are_filled_where_latchkey_can() {
    let requested =
        |name: &str, extra: &str| format!("<md:RequestedAttribute Name=\"{name}\"{extra}/>");
    let metadata = format!(
        concat!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://shib.example.test/shibboleth\">",
            "<md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">",
            "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://shib.example.test/Shibboleth.sso/SAML2/POST\" index=\"1\"/>",
            "<md:AttributeConsumingService index=\"1\"><md:ServiceName xml:lang=\"en\">Other</md:ServiceName>{other}</md:AttributeConsumingService>",
            "<md:AttributeConsumingService index=\"2\" isDefault=\"true\"><md:ServiceName xml:lang=\"en\">Wiki</md:ServiceName>{wanted}</md:AttributeConsumingService>",
            "</md:SPSSODescriptor></md:EntityDescriptor>"
        ),
        other = requested("urn:oid:2.5.4.3", ""),
        wanted = [
            requested(
                "urn:oid:0.9.2342.19200300.100.1.3",
                &format!(" NameFormat=\"{URI}\" FriendlyName=\"mail\" isRequired=\"true\"")
            ),
            requested("urn:oid:2.5.4.42", &format!(" NameFormat=\"{URI}\"")),
            requested("urn:oid:2.5.4.4", ""),
            requested(
                "urn:oid:2.16.840.1.113730.3.1.241",
                &format!(" NameFormat=\"{URI}\"")
            ),
            // eduPersonPrincipalName: nothing Latchkey has.
            requested(
                "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
                &format!(" NameFormat=\"{URI}\"")
            ),
            requested(
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                ""
            ),
            requested("Email", &format!(" NameFormat=\"{UNSPECIFIED}\"")),
            requested("userMail", " FriendlyName=\"mail\""),
            requested("urn:oid:2.5.4.42", &format!(" NameFormat=\"{BASIC}\"")),
            requested("employeeNumber", ""),
        ]
        .concat(),
    );
    let parsed = SpMetadata::parse(&metadata).unwrap();
    let sent: Vec<(&str, &AttributeValue, AttributeFormat)> = parsed
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), &a.value, a.format))
        .collect();
    let claim = AttributeValue::Claim;
    assert_eq!(
        sent,
        vec![
            (
                "urn:oid:0.9.2342.19200300.100.1.3",
                &claim(Claim::Email),
                AttributeFormat::Uri
            ),
            (
                "urn:oid:2.5.4.42",
                &claim(Claim::GivenName),
                AttributeFormat::Uri
            ),
            (
                "urn:oid:2.5.4.4",
                &claim(Claim::FamilyName),
                AttributeFormat::Uri
            ),
            (
                "urn:oid:2.16.840.1.113730.3.1.241",
                &claim(Claim::Name),
                AttributeFormat::Uri
            ),
            (
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                &claim(Claim::FamilyName),
                AttributeFormat::Uri
            ),
            ("Email", &claim(Claim::Email), AttributeFormat::Unspecified),
            ("userMail", &claim(Claim::Email), AttributeFormat::Basic),
        ]
    );

    let without =
        SpMetadata::parse(&metadata.replace("AttributeConsumingService", "Extensions")).unwrap();
    assert!(without.attributes.is_empty());
}
