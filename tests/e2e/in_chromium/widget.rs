//! The agent widget (`examples/agent-widget`) in Chromium: a helpdesk page on another origin
//! frames `/sso/jwt?token=…`, and the agent sees the signed-in dashboard inside it, carried by
//! a partitioned `SameSite=None` cookie. A page on an origin the issuer did not name cannot
//! frame it.

use std::sync::Arc;
use std::time::Duration;

use agent_widget_example::{Agent, PemPair, Widget, router};

use crate::browser_sign_on::{HELPDESK, create_team};
use crate::chromium::Chromium;
use crate::harness::{
    LOCALHOST_ANY_PORT, TestApp, TestDb, config, eventually, master_key, write_file,
};
use crate::on_both_databases;

/// Serves the widget on a port of its own on 127.0.0.1: another site than `localhost`.
async fn serve_widget(widget: Widget) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(Arc::new(widget))).await;
    });
    format!("http://{addr}")
}

fn sign_ins(db: &TestDb, app: &TestApp, team: &str) -> usize {
    crate::harness::cli_json(
        db,
        app,
        &["audit", "--team", team, "--action", "member.signed_in"],
    )
    .as_array()
    .map_or(0, Vec::len)
}

on_both_databases!(a_helpdesk_frames_the_dashboard_its_token_signs_in_to);
async fn a_helpdesk_frames_the_dashboard_its_token_signs_in_to(db: TestDb) {
    let mut settings = config(&db, &master_key());
    settings.issuer = LOCALHOST_ANY_PORT.to_owned();
    let app = TestApp::spawn(settings).await;
    let latchkey = format!("http://localhost:{}", app.addr.port());
    let team = create_team(&db, &app, "admin@customer.example");
    let pair = PemPair::generate().expect("key");
    let agent = Agent {
        email: "ada@customer.example".into(),
        name: "Ada Agent".into(),
    };
    let widget = |agent: &Agent| {
        Widget::new(&pair.private_pem, HELPDESK, &latchkey, agent.clone()).expect("widget")
    };
    let allowed = serve_widget(widget(&agent)).await;
    let elsewhere = serve_widget(widget(&agent)).await;
    let public = write_file(db.dir.path(), "widget.pem", &pair.public_pem);
    crate::harness::cli_json(
        &db,
        &app,
        &[
            "issuer",
            "add",
            "--team",
            &team,
            "--issuer",
            HELPDESK,
            "--public-key-file",
            public.to_str().expect("path"),
            "--frame-origin",
            &allowed,
        ],
    );

    // The helpdesk the issuer named: the dashboard, signed in, inside its frame.
    let browser = Chromium::launch("widget-framed").await;
    browser.open(&format!("{allowed}/")).await;
    browser.sees_heading("Helpdesk").await;
    browser.enter_frame().await;
    browser.sees_heading("You are signed in").await;
    browser.sees("Ada Agent").await;
    browser
        .sees("You are working in the team Customer as member")
        .await;
    browser.leave_frame().await;
    browser.close().await;

    // Another origin: the sign-on happens, but the page refuses to show inside its frame.
    let before = sign_ins(&db, &app, &team);
    let browser = Chromium::launch("widget-elsewhere").await;
    browser.open(&format!("{elsewhere}/")).await;
    browser.sees_heading("Helpdesk").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            sign_ins(&db, &app, &team) > before
        })
        .await,
        "the framed sign-on reached Latchkey"
    );
    // Time for the redirect to the dashboard to load, or be refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    browser.enter_frame().await;
    browser.does_not_see("You are signed in").await;
    browser.leave_frame().await;
    browser.close().await;
}
