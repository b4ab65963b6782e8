//! A browser for the tests: a cookie jar, no redirects followed, and form helpers that read
//! the CSRF token from the page the way a person's browser would submit it.

use reqwest::StatusCode;

#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The value of a hidden form field.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in: {}", self.body))
            + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self::with_headers(base, reqwest::header::HeaderMap::new())
    }

    /// A browser whose every request carries these headers, as a proxy in front would add.
    pub fn with_headers(base: &str, headers: reqwest::header::HeaderMap) -> Self {
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("LatchkeyTest/1.0")
            .build()
            .expect("client");
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(
            self.client
                .post(self.url(path))
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// Opens `page_path`, then submits its form to `action` with `fields` and the page's CSRF token.
    pub async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, StatusCode::OK, "{page_path}: {}", page.body);
        let csrf = page.field("csrf");
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &csrf));
        self.post(action, &all).await
    }

    /// Asks for a sign-up link.
    pub async fn register(&self, email: &str) -> Page {
        self.submit("/register", "/register", &[("email", email)])
            .await
    }

    /// Asks for a sign-in link.
    pub async fn request_login(&self, email: &str) -> Page {
        self.submit("/login", "/login", &[("email", email)]).await
    }

    /// Opens the link (the confirm page) and presses its button.
    pub async fn follow_link(&self, link: &str) -> Page {
        let confirm = self.get(link).await;
        if confirm.status != StatusCode::OK {
            return confirm;
        }
        let token = confirm.field("token");
        let csrf = confirm.field("csrf");
        self.post("/login/verify", &[("token", &token), ("csrf", &csrf)])
            .await
    }

    /// Types the code on the "check your email" page.
    pub async fn type_code(&self, code: &str) -> Page {
        self.submit("/login/sent", "/login/code", &[("code", code)])
            .await
    }

    /// The address the dashboard says is signed in, or None when it sends to /login.
    pub async fn signed_in_as(&self) -> Option<String> {
        let page = self.get("/dashboard").await;
        if page.status == StatusCode::SEE_OTHER {
            return None;
        }
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let start = page.body.find("Signed in as <strong>").expect("greeting")
            + "Signed in as <strong>".len();
        Some(
            page.body[start..]
                .split('<')
                .next()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}
