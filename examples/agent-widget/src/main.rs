//! Runs the widget on http://127.0.0.1:3000.
//!
//! ```text
//! cargo run -p agent-widget-example            # makes widget-key.pem and widget-public.pem
//! latchkey issuer add --team TEAM --issuer https://helpdesk.example \
//!     --public-key-file widget-public.pem --frame-origin http://127.0.0.1:3000
//! ```
//! Then open http://127.0.0.1:3000: Latchkey's dashboard shows inside the helpdesk page.
//! Settings: LATCHKEY_URL (http://localhost:8080: a framed session needs a secure cookie,
//! which browsers keep over http only from localhost), WIDGET_ISSUER, AGENT_EMAIL, AGENT_NAME,
//! WIDGET_LISTEN.
//!
//! `cargo run -p agent-widget-example -- mint COUNT [new|same]` prints COUNT tokens, one a line,
//! for a new agent each or the same agent every time (the load test, `bench/sso_jwt.sh`).

use std::sync::Arc;

use agent_widget_example::{Agent, PemPair, Widget, router};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let private = std::path::Path::new("widget-key.pem");
    if !private.exists() {
        let pair = PemPair::generate()?;
        std::fs::write(private, &pair.private_pem).map_err(|e| e.to_string())?;
        std::fs::write("widget-public.pem", &pair.public_pem).map_err(|e| e.to_string())?;
        println!(
            "Made widget-key.pem; give Latchkey widget-public.pem:\n{}",
            pair.public_pem
        );
    }
    let private_pem = std::fs::read_to_string(private).map_err(|e| e.to_string())?;
    let widget = Widget::new(
        &private_pem,
        &setting("WIDGET_ISSUER", "https://helpdesk.example"),
        &setting("LATCHKEY_URL", "http://localhost:8080"),
        Agent {
            email: setting("AGENT_EMAIL", "agent@helpdesk.example"),
            name: setting("AGENT_NAME", "Ada Agent"),
        },
    )?;
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("mint") {
        let count: usize = args
            .get(2)
            .and_then(|n| n.parse().ok())
            .ok_or("mint COUNT [new|same]")?;
        let new_each = args.get(3).map(String::as_str) != Some("same");
        return mint(&widget, count, new_each);
    }
    let listen = setting("WIDGET_LISTEN", "127.0.0.1:3000");
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    println!("The helpdesk page: http://{listen}/");
    axum::serve(listener, router(Arc::new(widget)))
        .await
        .map_err(|e| e.to_string())
}

/// Prints `count` tokens: for agent-N@… each, or for the configured agent every time.
fn mint(widget: &Widget, count: usize, new_each: bool) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for n in 0..count {
        let token = if new_each {
            widget.token_for(&Agent {
                email: format!("agent-{n}@bench.example"),
                name: format!("Agent {n}"),
            })?
        } else {
            widget.token()?
        };
        writeln!(out, "{token}").map_err(|e| e.to_string())?;
    }
    Ok(())
}
