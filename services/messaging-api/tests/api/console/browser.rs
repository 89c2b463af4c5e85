use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::Response;
use serde_json::Value;

use crate::helpers::TestApp;

/// One browser: its cookies for the console, no automatic redirects.
pub struct Browser {
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    /// Each Set-Cookie header seen, whole, for checking attributes.
    pub set_cookies: Vec<String>,
    client: reqwest::Client,
}

/// A page: status, body and where it redirects.
pub struct Page {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the form's CSRF field.
    pub fn csrf(&self) -> String {
        hidden_field(&self.body, "csrf")
    }
}

pub fn hidden_field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self::with_headers(app, reqwest::header::HeaderMap::new())
    }

    /// A browser whose requests reach the app through a load balancer that reports
    /// `client` in `X-Forwarded-For` (the test's own address is the balancer's).
    pub fn behind_balancer(app: &TestApp, client: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", client.parse().unwrap());
        Self::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: reqwest::header::HeaderMap) -> Self {
        Self {
            base: app.address.clone(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .default_headers(headers)
                .build()
                .unwrap(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: Response) -> Page {
        for header in response.headers().get_all(SET_COOKIE) {
            let raw = header.to_str().unwrap().to_owned();
            let pair = raw.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let removed = raw.contains("Max-Age=0") || value.is_empty();
            if removed {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.push(raw);
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = response.headers().clone();
        Page {
            status,
            body: response.text().await.unwrap(),
            location,
            headers,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// A `multipart/form-data` post of text fields and one file, as a browser sends
    /// an upload form.
    pub async fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &str, &[u8]),
    ) -> Page {
        let boundary = format!("nudge{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, file_name, content_type, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// The raw bytes and content type at `path` (an image).
    pub async fn get_bytes(&mut self, path: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            status,
            content_type,
            response.bytes().await.unwrap().to_vec(),
        )
    }

    /// Fills in the sign-up form as a person would.
    pub async fn sign_up(&mut self, business: &str, email: &str, password: &str) -> Page {
        let csrf = self.get("/console/sign-up").await.csrf();
        self.post(
            "/console/sign-up",
            &[
                ("csrf", &csrf),
                ("business_name", business),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let csrf = self.get("/console/sign-in").await.csrf();
        self.post(
            "/console/sign-in",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// Opens a confirmation link and presses its button.
    pub async fn confirm(&mut self, link: &str) -> Page {
        let path = link
            .strip_prefix("http://localhost:8080")
            .expect("a console link");
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = hidden_field(&page.body, "token");
        let csrf = page.csrf();
        self.post(
            "/console/verify-email",
            &[("csrf", &csrf), ("token", &token)],
        )
        .await
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A new confirmed account with `role` in `tenant` (as an operator creates one), with
/// `PASSWORD`; its address.
pub async fn account(app: &TestApp, tenant: &str, role: &'static str) -> String {
    let email = new_address(role);
    let mut conn = app.db.connect().await;
    messaging_api::admin::create_console_user(
        &mut conn,
        tenant.parse().unwrap(),
        &email,
        role,
        PASSWORD.into(),
    )
    .await
    .unwrap();
    email
}

/// Another tenant in the same database, as `admin create-tenant` prints it
/// (`tenant_id`, `api_key`...): the stranger of the isolation tests.
pub async fn another_tenant(app: &TestApp) -> Value {
    let mut conn = app.db.connect().await;
    serde_json::from_str(
        &messaging_api::admin::create_tenant(
            &mut conn,
            "Other Shop",
            &["+15017122669".into()],
            true,
        )
        .await
        .unwrap(),
    )
    .unwrap()
}

/// A signed-in browser for a new account with `role` in `tenant`.
pub async fn signed_in(app: &TestApp, tenant: &str, role: &'static str) -> Browser {
    let email = account(app, tenant, role).await;
    let mut browser = Browser::new(app);
    assert_eq!(browser.sign_in(&email, PASSWORD).await.status, 303);
    browser
}

/// A fresh address, so that tests sharing LocalStack's mailbox read only their own.
pub fn new_address(who: &str) -> String {
    format!("{who}-{}@shop.example", uuid::Uuid::new_v4().simple())
}

/// The emails LocalStack's SES has accepted for `to`, oldest first, once there are at
/// least `count`.
pub async fn emails_to(to: &str, count: usize) -> Vec<Value> {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    nudge_testkit::eventually("the emails at SES", Duration::from_secs(30), || async {
        let all: Value = reqwest::get(format!("{endpoint}/_aws/ses"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let mine: Vec<Value> = all["messages"]
            .as_array()?
            .iter()
            .filter(|m| {
                m["Destination"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|to_list| to_list.iter().any(|a| a == to))
            })
            .cloned()
            .collect();
        (mine.len() >= count).then_some(mine)
    })
    .await
}

/// The console link in an email's text.
pub fn link_in(email: &Value) -> String {
    let text = email["Body"]["text_part"].as_str().unwrap();
    text.split_whitespace()
        .find(|word| word.starts_with("http://localhost:8080/console/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned()
}
