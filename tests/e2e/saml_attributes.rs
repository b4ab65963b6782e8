//! `latchkey saml-sp` for what vendors read beyond the NameID: an audience other than the
//! entity ID (Zendesk), fixed values (Genesys Cloud's `OrganizationName`), a NameFormat per
//! attribute, and the attributes an SP's metadata requests (the Shibboleth SP); each bad
//! value refused with what to fix, each change in the audit log.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::{TestDb, cli_json};
use crate::oidc::provider;

const GIVEN_NAME_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";

/// A command's arguments, then more.
fn joined(head: &[&str], tail: &[&str]) -> Vec<String> {
    head.iter()
        .chain(tail)
        .map(|arg| (*arg).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_sp_audience_and_attribute_flags_say_what_to_fix() {
    let db = TestDb::sqlite();
    let p = provider(&db, |_| {}).await;
    let cli = |args: &[&str]| cli_json(&db, &p.app, args);
    let cli_strings = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli_json(&db, &p.app, &args)
    };
    let team = cli(&[
        "team",
        "create",
        "--name",
        "Support",
        "--admin",
        "agent@example.com",
    ])["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    let env = crate::oidc::cli_env(&db, &p.app);
    let run = |args: &[&str]| crate::harness::latchkey(db.dir.path(), &env, args);
    let fails = |args: &[String], says: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = crate::harness::stderr(&output);
        assert!(stderr.contains(says), "{says:?} in {stderr}");
    };
    let add = [
        "saml-sp",
        "add",
        "--team",
        team.as_str(),
        "--entity-id",
        "https://acme.zendesk.example",
        "--acs-url",
        "https://acme.zendesk.example/access/saml",
    ];
    let adding = |flags: &[&str]| joined(&add, flags);

    let long = format!("OrganizationName=literal:{}", "a".repeat(2048));
    for (flags, says) in [
        (
            &["--attribute", "OrganizationName=literal:"][..],
            "the fixed value of \"OrganizationName\" must be 1 to 1024 characters",
        ),
        (&["--attribute", &long], "1 to 1024 characters"),
        (
            &["--attribute", "OrganizationName=literal:a\u{1b}[31m"],
            "on one line",
        ),
        (
            &[
                "--attribute",
                "email=email",
                "--attribute-format",
                "OrganizationName=uri",
            ],
            "a format is given for \"OrganizationName\", which is not an attribute sent",
        ),
        (
            &["--attribute-format", "email=ldap"],
            "is not NAME=FORMAT; the formats are uri, basic and unspecified",
        ),
        (&["--audience", "acme zendesk"], "the audience must be"),
    ] {
        fails(&adding(flags), says);
    }

    // Zendesk: its host as the audience, its URI-named names, a fixed value with a comma.
    let added = cli_strings(&adding(&[
        "--audience",
        "acme.zendesk.example",
        "--attribute",
        &format!("email=email,{GIVEN_NAME_CLAIM}=given_name"),
        "--attribute",
        "OrganizationName=literal:Acme, Inc.",
        "--attribute-format",
        "email=unspecified",
    ]));
    assert_eq!(added["audience"], "acme.zendesk.example", "{added}");
    assert_eq!(
        added["attributes"],
        json!([
            {"name": "email", "claim": "email", "format": "unspecified"},
            {"name": GIVEN_NAME_CLAIM, "claim": "given_name", "format": "uri"},
            {"name": "OrganizationName", "literal": "Acme, Inc.", "format": "basic"},
        ]),
        "{added}"
    );
    let listed = run(&["saml-sp", "list", "--team", &team]);
    assert!(
        crate::harness::stdout(&listed).contains("audience acme.zendesk.example"),
        "{}",
        crate::harness::stdout(&listed)
    );

    // Updated: a format alone changes the registered attributes; the audience is cleared.
    let sp_id = added["sp_id"].as_str().expect("sp_id");
    let update = ["saml-sp", "update", "--sp", sp_id];
    let updating = |flags: &[&str]| joined(&update, flags);
    let updated = cli_strings(&updating(&[
        "--attribute-format",
        "OrganizationName=unspecified",
    ]));
    assert_eq!(updated["changed"], json!(["attributes"]), "{updated}");
    assert_eq!(updated["attributes"][2]["format"], "unspecified");
    assert_eq!(updated["attributes"][2]["literal"], "Acme, Inc.");
    fails(
        &updating(&["--attribute-format", "lastName=uri"]),
        "which is not an attribute sent",
    );
    fails(
        &updating(&["--audience", "a", "--no-audience"]),
        "cannot be used with",
    );
    let cleared = cli_strings(&updating(&["--no-audience"]));
    assert_eq!(cleared["changed"], json!(["audience"]), "{cleared}");
    assert_eq!(cleared["audience"], Value::Null);

    // The Shibboleth SP's metadata asks for mail and givenName by OID: they are sent so, as
    // uri; what Latchkey does not have is left out.
    let metadata = concat!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://wiki.example/shibboleth\">",
        "<md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">",
        "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://wiki.example/Shibboleth.sso/SAML2/POST\" index=\"1\"/>",
        "<md:AttributeConsumingService index=\"1\"><md:ServiceName xml:lang=\"en\">Wiki</md:ServiceName>",
        "<md:RequestedAttribute FriendlyName=\"mail\" Name=\"urn:oid:0.9.2342.19200300.100.1.3\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\" isRequired=\"true\"/>",
        "<md:RequestedAttribute FriendlyName=\"givenName\" Name=\"urn:oid:2.5.4.42\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\"/>",
        "<md:RequestedAttribute FriendlyName=\"eduPersonPrincipalName\" Name=\"urn:oid:1.3.6.1.4.1.5923.1.1.1.6\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\"/>",
        "</md:AttributeConsumingService></md:SPSSODescriptor></md:EntityDescriptor>"
    );
    let file = crate::harness::write_file(db.dir.path(), "shibboleth.xml", metadata);
    let file = file.display().to_string();
    let shibboleth = cli(&["saml-sp", "add", "--team", &team, "--metadata-file", &file]);
    assert_eq!(
        shibboleth["attributes"],
        json!([
            {"name": "urn:oid:0.9.2342.19200300.100.1.3", "claim": "email", "format": "uri"},
            {"name": "urn:oid:2.5.4.42", "claim": "given_name", "format": "uri"},
        ]),
        "{shibboleth}"
    );

    // The audit log says what each SP is told of people.
    let audit = cli(&["audit", "--team", &team]);
    let events = audit.as_array().expect("audit");
    let zendesk_added = events
        .iter()
        .find(|e| {
            e["action"] == "saml_sp.added"
                && e["details"]["entity_id"] == "https://acme.zendesk.example"
        })
        .expect("added");
    assert_eq!(
        zendesk_added["details"]["audience"], "acme.zendesk.example",
        "{zendesk_added}"
    );
    assert_eq!(
        zendesk_added["details"]["attributes"][2]["literal"],
        "Acme, Inc."
    );
    let audience_cleared = events
        .iter()
        .find(|e| {
            e["action"] == "saml_sp.updated" && e["details"]["changed"] == json!(["audience"])
        })
        .expect("audience cleared");
    assert_eq!(audience_cleared["details"]["audience"], Value::Null);
    p.app.stop().await;
}

/// The integrations page sets the same without JavaScript, and shows what each SP is sent,
/// escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrations_page_sets_an_audience_fixed_values_and_formats() {
    let db = TestDb::sqlite();
    let p = provider(&db, |_| {}).await;
    let email = "agent@example.com";
    let team = cli_json(
        &db,
        &p.app,
        &["team", "create", "--name", "Support", "--admin", email],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    let browser = Browser::new(&p.app.base_url);
    let before = p.smtp.mails_to(email).len();
    browser.request_login(email).await;
    let mail = p
        .smtp
        .nth_mail_to(email, before + 1, Duration::from_secs(10))
        .await;
    browser.follow_link(&mail.link()).await;
    let page_path = format!("/dashboard/integrations/saml?team={team}");
    let registration = |entity_id: &'static str, attributes: &'static str| {
        [
            ("team", team.clone()),
            ("entity_id", entity_id.to_owned()),
            ("acs_urls", format!("{entity_id}/access/saml")),
            ("audience", "acme.zendesk.example".to_owned()),
            ("attributes", attributes.to_owned()),
            ("attribute_formats", "email=unspecified\r\n".to_owned()),
            ("name_id_format", "email".to_owned()),
            ("sign", "assertion".to_owned()),
            ("encryption", "aes256-gcm".to_owned()),
            ("idp_initiated", "on".to_owned()),
        ]
    };
    let submit = |action: &'static str, owned: Vec<(&'static str, String)>| {
        let browser = &browser;
        let page_path = page_path.clone();
        async move {
            let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.submit(&page_path, action, &borrowed).await
        }
    };

    let refused = submit(
        "/dashboard/integrations/saml",
        registration(
            "https://refused.example",
            "email=email\r\nOrganizationName=literal:\r\n",
        )
        .to_vec(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("must be 1 to 1024 characters"),
        "{}",
        refused.body
    );

    let added = submit(
        "/dashboard/integrations/saml",
        registration(
            "https://acme.zendesk.example",
            "email=email\r\nOrganizationName=literal:<b>Acme</b>, Inc.\r\n",
        )
        .to_vec(),
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = browser.get(&page_path).await;
    assert!(
        page.body
            .contains("name the audience <code>acme.zendesk.example</code>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<code>email</code> = email (unspecified)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("&lt;b&gt;Acme&lt;"), "{}", page.body);
    assert!(!page.body.contains("<b>Acme"), "escaped: {}", page.body);

    // Changed: the entity ID is the audience again, a format changes a registered attribute.
    let listed = cli_json(&db, &p.app, &["saml-sp", "list", "--team", &team]);
    let id = listed[0]["sp_id"].as_str().expect("sp_id").to_owned();
    let updated = submit(
        "/dashboard/integrations/saml/update",
        vec![
            ("team", team.clone()),
            ("id", id),
            ("no_audience", "on".to_owned()),
            ("attribute_formats", "OrganizationName=uri".to_owned()),
            ("idp_initiated", "on".to_owned()),
        ],
    )
    .await;
    assert_eq!(updated.status, StatusCode::SEE_OTHER, "{}", updated.body);
    let listed = cli_json(&db, &p.app, &["saml-sp", "list", "--team", &team]);
    assert_eq!(listed[0]["audience"], Value::Null, "{listed}");
    assert_eq!(
        listed[0]["attributes"][1],
        json!({"name": "OrganizationName", "literal": "<b>Acme</b>, Inc.", "format": "uri"})
    );
    p.app.stop().await;
}
