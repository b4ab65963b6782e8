//! A real browser for the tests: Debian's Chromium, headless, driven over WebDriver by
//! `fantoccini` through Debian's `chromedriver`.
//!
//! WebDriver rather than the DevTools protocol: chromedriver ships in the same Debian release
//! as the browser, so the two always match, and fantoccini is a small, long-kept client that
//! speaks the W3C standard over plain HTTP. A CDP client (chromiumoxide) compiles a generated
//! binding of the whole protocol and must follow the browser's protocol version.
//!
//! Each `Chromium` is a browser of its own: its own chromedriver and a fresh profile, so two
//! of them are two people (or two devices) with nothing shared. Every helper asserts what a
//! person sees, and a test that fails leaves a screenshot in `target/tmp/chromium/`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// axe-core, vendored (see `axe/README.md`).
const AXE: &str = include_str!("axe/axe.min.js");

/// How long a page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(10);

/// The window of a desktop browser.
const DESKTOP: (u32, u32) = (1280, 900);

/// What the browser's window is like.
#[derive(Clone, Copy)]
pub enum Screen {
    Desktop,
    /// A phone's screen, emulated (a desktop window cannot be narrower than 500 pixels): the
    /// CSS viewport of an iPhone 12–15, 390 × 844 at three device pixels per CSS pixel, with
    /// touch.
    Phone,
}

pub struct Chromium {
    client: Client,
    driver: Child,
    driver_url: String,
    session: String,
    name: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// A desktop browser; `name` names its screenshots.
    pub async fn launch(name: &str) -> Self {
        Self::with_screen(name, Screen::Desktop).await
    }

    /// A browser on the given screen.
    pub async fn with_screen(name: &str, screen: Screen) -> Self {
        let (driver, port) = start_driver();
        let driver_url = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("profile folder");
        let (width, height) = DESKTOP;
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--password-store=basic",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={width},{height}"),
            ],
        });
        if let Screen::Phone = screen {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true },
            });
        }
        let Value::Object(capabilities) = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }) else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| panic!("Chromium does not start under chromedriver: {e}"));
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session");
        Self {
            client,
            driver,
            driver_url,
            session,
            name: name.to_owned(),
            _profile: profile,
        }
    }

    /// Looks inside the page's first frame from now on.
    pub async fn enter_frame(&self) {
        self.client.enter_frame(0).await.expect("enter the frame");
    }

    /// Looks at the whole page again.
    pub async fn leave_frame(&self) {
        self.client
            .enter_parent_frame()
            .await
            .expect("leave the frame");
    }

    /// Opens an absolute URL, as a person pasting it from a mail.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Where the browser is now.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// The page's main heading.
    pub async fn heading(&self) -> String {
        match self.client.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Everything the page shows, as text.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The links of the page's navigation landmark, each with whether it is marked as the
    /// current page (`aria-current="page"`); empty when the page has no navigation.
    pub async fn navigation(&self) -> Vec<(String, bool)> {
        let script = r#"
            const nav = document.querySelector("nav[aria-label]");
            if (!nav) return [];
            return [...nav.querySelectorAll("a")].map(a =>
                [a.innerText.trim(), a.getAttribute("aria-current") === "page"]);
        "#;
        let links = self
            .client
            .execute(script, vec![])
            .await
            .expect("navigation");
        serde_json::from_value(links).expect("navigation links")
    }

    /// Waits until the main heading reads `expected`, and fails with what the page shows
    /// instead.
    pub async fn sees_heading(&self, expected: &str) {
        self.waits_for(&format!("the heading {expected:?}"), async || {
            self.heading().await == expected
        })
        .await;
    }

    /// Waits until the page shows `words` somewhere (a click may still be loading the page).
    pub async fn sees(&self, words: &str) {
        self.waits_for(&format!("{words:?}"), async || {
            self.text().await.contains(words)
        })
        .await;
    }

    async fn waits_for(&self, what: &str, shown: impl AsyncFn() -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !shown().await {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "expected {what} at {}, the page shows:\n{}",
                    self.url().await,
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails if the page shows `words`.
    pub async fn does_not_see(&self, words: &str) {
        let text = self.text().await;
        assert!(
            !text.contains(words),
            "did not expect {words:?} at {}, the page shows:\n{text}",
            self.url().await
        );
    }

    /// Types `value` into the field labelled `label`, replacing what it held.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear the field");
        field.send_keys(value).await.expect("type");
    }

    /// The value of the field labelled `label`.
    pub async fn value_of(&self, label: &str) -> String {
        self.field(label)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// The value of the page's first hidden field called `name`.
    pub async fn hidden(&self, name: &str) -> String {
        let css = format!("input[type=hidden][name={name}]");
        self.client
            .find(Locator::Css(&css))
            .await
            .unwrap_or_else(|_| panic!("no hidden field {name} at {}", self.url_now()))
            .attr("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    async fn field(&self, label: &str) -> fantoccini::elements::Element {
        let label_xpath = format!("//label[normalize-space()={}]", xpath_literal(label));
        let id = self
            .client
            .find(Locator::XPath(&label_xpath))
            .await
            .unwrap_or_else(|_| panic!("no field labelled {label:?} at {}", self.url_now()))
            .attr("for")
            .await
            .expect("label attribute")
            .unwrap_or_else(|| panic!("the label {label:?} names no field"));
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|_| panic!("the label {label:?} points at no field #{id}"))
    }

    /// Opens the `<details>` whose summary reads `summary`.
    pub async fn expand(&self, summary: &str) {
        self.click_reading("summary", summary).await;
    }

    /// Clicks the label that reads `text`: it ticks, or unticks, the box inside it.
    pub async fn toggle(&self, text: &str) {
        self.click_reading("label", text).await;
    }

    async fn click_reading(&self, element: &str, text: &str) {
        let xpath = format!("//{element}[normalize-space()={}]", xpath_literal(text));
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("no {element} {text:?} at {}", self.url_now()))
            .click()
            .await
            .expect("click");
    }

    /// Clicks the button that reads `text`.
    pub async fn press(&self, text: &str) {
        self.press_at("", text).await;
    }

    /// Clicks the button that reads `text` in the table row that mentions `row`.
    pub async fn press_in_row(&self, row: &str, text: &str) {
        let scope = format!("//tr[contains(., {})]", xpath_literal(row));
        self.press_at(&scope, text).await;
    }

    async fn press_at(&self, scope: &str, text: &str) {
        self.button(scope, text).await.click().await.expect("click");
    }

    /// Waits for the button that reads `text` (a click may still be loading the page).
    async fn button(&self, scope: &str, text: &str) -> fantoccini::elements::Element {
        let xpath = format!("{scope}//button[normalize-space()={}]", xpath_literal(text));
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(button) = self.client.find(Locator::XPath(&xpath)).await {
                return button;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "no button {text:?} at {}; the page shows:\n{}",
                    self.url().await,
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the table row that mentions `row` has a button that reads `text`: the
    /// sign that an action on that row has gone through.
    pub async fn sees_button_in_row(&self, row: &str, text: &str) {
        let scope = format!("//tr[contains(., {})]", xpath_literal(row));
        self.button(&scope, text).await;
    }

    /// Waits until what matches `css` no longer shows `words`.
    pub async fn sees_gone_from(&self, css: &str, words: &str) {
        // While the next page loads, `css` may match nothing yet: that is not the answer.
        self.waits_for(&format!("{words:?} gone from {css}"), async || {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => !element.text().await.unwrap_or_default().contains(words),
                Err(_) => false,
            }
        })
        .await;
    }

    /// Follows the link that reads `text`.
    pub async fn follow(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|_| panic!("no link {text:?} at {}", self.url_now()))
            .click()
            .await
            .expect("click");
    }

    /// Presses a key on the keyboard, wherever the focus is.
    pub async fn key(&self, key: Key) {
        let key: char = key.into();
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(actions)
            .await
            .expect("key press");
    }

    /// Types text wherever the focus is.
    pub async fn type_text(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for c in text.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(actions).await.expect("typing");
    }

    /// The accessible text of what has the focus: a button's label, or a field's label.
    pub async fn focused(&self) -> String {
        let script = r#"
            const el = document.activeElement;
            if (!el) return "";
            if (el.labels && el.labels.length) return el.labels[0].innerText.trim();
            return (el.innerText || el.value || "").trim();
        "#;
        match self.client.execute(script, vec![]).await {
            Ok(Value::String(s)) => s,
            _ => String::new(),
        }
    }

    /// Presses Tab until `target` (a button or a field's label) has the focus, as a person
    /// without a mouse would; fails if it cannot be reached within 30 presses.
    pub async fn tab_to(&self, target: &str) {
        let mut seen = Vec::new();
        for _ in 0..30 {
            self.key(Key::Tab).await;
            let now = self.focused().await;
            if now == target {
                return;
            }
            seen.push(now);
        }
        panic!(
            "{target:?} cannot be reached with Tab at {}; the focus went through {seen:?}",
            self.url().await
        );
    }

    /// The width of the page's viewport, in CSS pixels.
    pub async fn viewport_width(&self) -> u64 {
        let width = self
            .client
            .execute("return window.innerWidth;", vec![])
            .await;
        width.ok().and_then(|w| w.as_u64()).unwrap_or_default()
    }

    /// Whether the page fits its viewport's width, with nothing to scroll sideways.
    pub async fn fits_the_width(&self) -> bool {
        let script = "return document.documentElement.scrollWidth <= window.innerWidth;";
        matches!(
            self.client.execute(script, vec![]).await,
            Ok(Value::Bool(true))
        )
    }

    /// Runs axe-core on the page and fails on any serious or critical violation.
    pub async fn check_accessibility(&self) {
        let loaded = self
            .client
            .execute(&format!("{AXE}\nreturn typeof axe;"), vec![])
            .await
            .expect("inject axe-core");
        assert_eq!(loaded, json!("object"), "axe-core did not load");
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] })
              .then(r => done(r.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.map(n => n.html) }))))
              .catch(e => done([{ id: "axe-error", help: String(e) }]));
        "#;
        let violations = self
            .client
            .execute_async(script, vec![])
            .await
            .expect("run axe-core");
        assert_eq!(
            violations,
            json!([]),
            "accessibility violations at {}",
            self.url().await
        );
    }

    /// Saves a screenshot as `target/tmp/chromium/<name>-<suffix>.png` and returns its path.
    pub async fn screenshot(&self, suffix: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_path(&self.name, suffix);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the browser.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    fn url_now(&self) -> String {
        format!("session {}", self.session)
    }
}

impl Drop for Chromium {
    /// A failing test leaves a screenshot of what the browser showed. The test's runtime is
    /// unwinding, so the screenshot is asked for from a thread of its own, straight from
    /// chromedriver. Then chromedriver and the browser it started are stopped.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let url = format!("{}/session/{}/screenshot", self.driver_url, self.session);
            let path = screenshot_path(&self.name, "failure");
            let saved = std::thread::spawn(move || save_screenshot(&url, &path).map(|()| path))
                .join()
                .ok()
                .flatten();
            match saved {
                Some(path) => eprintln!("screenshot of the failure: {}", path.display()),
                None => eprintln!("no screenshot could be taken of the failure"),
            }
        }
        // chromedriver leads a process group of its own with the browser in it.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a port of its choosing, and reads which.
fn start_driver() -> (Child, u16) {
    let mut driver = Command::new("chromedriver")
        .args(["--port=0", "--allowed-ips=127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("chromedriver cannot start ({e}): install Debian's chromium and chromium-driver")
        });
    let stdout = driver.stdout.take().expect("chromedriver's output");
    let mut lines = BufReader::new(stdout).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
        })
        .expect("chromedriver says which port it listens on");
    // Keep reading, so chromedriver never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (driver, port)
}

fn screenshot_path(name: &str, suffix: &str) -> PathBuf {
    let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chromium");
    std::fs::create_dir_all(&folder).expect("screenshot folder");
    folder.join(format!("{name}-{suffix}.png"))
}

/// Asks chromedriver for a screenshot of its session and writes it to `path`.
fn save_screenshot(url: &str, path: &std::path::Path) -> Option<()> {
    use base64::Engine;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let answer: Value = runtime.block_on(async {
        reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    })?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(answer["value"].as_str()?)
        .ok()?;
    std::fs::write(path, png).ok()
}

/// `text` as an XPath 1.0 string literal (which has no escapes: quotes are joined by concat).
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        return format!("\"{text}\"");
    }
    let parts: Vec<String> = text.split('"').map(|p| format!("\"{p}\"")).collect();
    format!("concat({})", parts.join(", '\"', "))
}
