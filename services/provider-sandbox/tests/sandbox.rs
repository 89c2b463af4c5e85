//! The sandbox behaves like Twilio's Messages API as its official OpenAPI spec
//! (`reference/twilio/twilio_api_v2010.json`) describes it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeSet;

use serde_json::Value;

const SID: &str = "AC00000000000000000000000000000000";
const TOKEN: &str = "sandbox-auth-token";

struct Sandbox {
    base: String,
    client: reqwest::Client,
}

async fn start() -> Sandbox {
    start_posting_inbound_to(None).await
}

async fn start_posting_inbound_to(inbound_url: Option<String>) -> Sandbox {
    let config = provider_sandbox::Config {
        sandbox_http_host: "127.0.0.1".into(),
        sandbox_http_port: 0,
        sandbox_account_sid: SID.into(),
        sandbox_auth_token: TOKEN.into(),
        sandbox_subaccounts: None,
        sandbox_inbound_url: inbound_url,
        sandbox_final_status_after_ms: 300,
        sandbox_oidc_client_id: "nudge-console".into(),
        sandbox_oidc_client_secret: "sandbox-oidc-secret".into(),
    };
    let sandbox = provider_sandbox::build(&config).unwrap();
    let base = format!("http://127.0.0.1:{}", sandbox.port);
    tokio::spawn(sandbox.server);
    Sandbox {
        base,
        client: reqwest::Client::new(),
    }
}

impl Sandbox {
    async fn create(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .client
            .post(format!(
                "{}/2010-04-01/Accounts/{SID}/Messages.json",
                self.base
            ))
            .basic_auth(SID, Some(TOKEN))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../reference/twilio/twilio_api_v2010.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Every property of the spec's Message schema is present, with its type or enum.
fn assert_is_a_message_resource(message: &Value) {
    let spec = spec();
    let schema = &spec["components"]["schemas"]["api.v2010.account.message"];
    let expected: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let actual: BTreeSet<&str> = message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(actual, expected);
    for (name, property) in schema["properties"].as_object().unwrap() {
        let property = resolve(&spec, property);
        let value = &message[name];
        if value.is_null() {
            assert_eq!(
                property["nullable"], true,
                "{name} is null but not nullable"
            );
            continue;
        }
        if let Some(allowed) = property["enum"].as_array() {
            assert!(
                allowed.contains(value),
                "{name}={value} not in the spec's enum"
            );
        }
        match property["type"].as_str() {
            Some("string") => assert!(value.is_string(), "{name} should be a string: {value}"),
            Some("integer") => assert!(value.is_i64(), "{name} should be an integer"),
            Some("object") => assert!(value.is_object(), "{name} should be an object"),
            _ => {}
        }
        if property["format"] == "date-time-rfc-2822" {
            chrono::DateTime::parse_from_rfc2822(value.as_str().unwrap())
                .unwrap_or_else(|e| panic!("{name} is not RFC 2822: {value} ({e})"));
        }
    }
    let sid = message["sid"].as_str().unwrap();
    assert!(
        sid.len() == 34 && sid.starts_with("SM") && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
    );
}

#[tokio::test]
async fn create_and_fetch_answer_with_twilios_message_resource() {
    let sandbox = start().await;
    let (status, created) = sandbox
        .create(&[
            ("To", "+14155550100"),
            ("From", "+15017122661"),
            ("Body", "Hi Asha 😀"),
            ("StatusCallback", "http://127.0.0.1:9/twilio/status"),
        ])
        .await;
    assert_eq!(status, 201);
    assert_is_a_message_resource(&created);
    assert_eq!(created["status"], "queued");
    assert_eq!(created["num_segments"], "1");
    assert_eq!(created["direction"], "outbound-api");

    let fetched: Value = sandbox
        .client
        .get(format!(
            "{}{}",
            sandbox.base,
            created["uri"].as_str().unwrap()
        ))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The same resource; its status may have moved on (the callbacks run meanwhile).
    let without_status = |mut resource: Value| {
        resource.as_object_mut().unwrap().remove("status");
        resource
    };
    assert_eq!(without_status(fetched), without_status(created.clone()));

    let recorded: Value = sandbox
        .client
        .get(format!("{}/sandbox/messages", sandbox.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = recorded["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "Hi Asha 😀");
    assert_eq!(
        messages[0]["status_callback"],
        "http://127.0.0.1:9/twilio/status"
    );
}

#[tokio::test]
async fn errors_have_twilios_codes_and_body_shape_and_record_nothing() {
    let sandbox = start().await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, u16, i64); 10] = [
        (&[("From", "+15017122661"), ("Body", "x")], 400, 21604),
        (
            &[("To", "+14155550100"), ("From", "+15017122661")],
            400,
            21602,
        ),
        (&[("To", "+14155550100"), ("Body", "x")], 400, 21603),
        (
            &[("To", "555-0100"), ("From", "+15017122661"), ("Body", "x")],
            400,
            21211,
        ),
        (
            &[
                ("To", "+15005550001"),
                ("From", "+15017122661"),
                ("Body", "x"),
            ],
            400,
            21211,
        ),
        (
            &[
                ("To", "+15005550004"),
                ("From", "+15017122661"),
                ("Body", "x"),
            ],
            400,
            21610,
        ),
        (
            &[
                ("To", "+15005550009"),
                ("From", "+15017122661"),
                ("Body", "x"),
            ],
            400,
            21614,
        ),
        (
            &[
                ("To", "+14155550100"),
                ("From", "+15005550007"),
                ("Body", "x"),
            ],
            400,
            21606,
        ),
        (
            &[
                ("To", "+15005559429"),
                ("From", "+15017122661"),
                ("Body", "x"),
            ],
            429,
            20429,
        ),
        (
            &[
                ("To", "+15005559500"),
                ("From", "+15017122661"),
                ("Body", "x"),
            ],
            500,
            20500,
        ),
    ];
    for (form, status, code) in cases {
        let (actual_status, body) = sandbox.create(form).await;
        assert_eq!(
            (actual_status, body["code"].as_i64()),
            (status, Some(code)),
            "{form:?}"
        );
        let keys: BTreeSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["code", "message", "more_info", "status"])
        );
        assert_eq!(body["status"], status);
        assert_eq!(
            body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
    }
    let wrong_token = sandbox
        .client
        .post(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages.json",
            sandbox.base
        ))
        .basic_auth(SID, Some("wrong"))
        .form(&[
            ("To", "+14155550100"),
            ("From", "+15017122661"),
            ("Body", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    assert_eq!(wrong_token.json::<Value>().await.unwrap()["code"], 20003);

    let recorded: Value = sandbox
        .client
        .get(format!("{}/sandbox/messages", sandbox.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded["messages"], Value::Array(vec![]));
}

#[tokio::test]
async fn the_message_list_filters_by_to_and_from_newest_first_in_linked_pages() {
    let sandbox = start().await;
    for (to, body) in [
        ("+14155550100", "first"),
        ("+14155550199", "someone else"),
        ("+14155550100", "second"),
        ("+14155550100", "third"),
    ] {
        let (status, _) = sandbox
            .create(&[("To", to), ("From", "+15017122661"), ("Body", body)])
            .await;
        assert_eq!(status, 201);
    }
    let get = |uri: String| {
        let client = sandbox.client.clone();
        let url = format!("{}{uri}", sandbox.base);
        async move {
            let response = client
                .get(url)
                .basic_auth(SID, Some(TOKEN))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let first = get(format!(
        "/2010-04-01/Accounts/{SID}/Messages.json?To=%2B14155550100&From=%2B15017122661&PageSize=2"
    ))
    .await;
    // The page has every property of the spec's ListMessageResponse.
    let spec = spec();
    let list_schema = resolve(
        &spec,
        &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["get"]["responses"]
            ["200"]["content"]["application/json"]["schema"],
    );
    let expected: BTreeSet<&str> = list_schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let actual: BTreeSet<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(actual, expected);
    let bodies = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_is_a_message_resource(m);
                m["body"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(bodies(&first), vec!["third", "second"]);
    let next = first["next_page_uri"].as_str().unwrap().to_owned();
    let second = get(next).await;
    assert_eq!(bodies(&second), vec!["first"]);
    assert!(second["next_page_uri"].is_null());
    // Wrong credentials: Twilio's 401 / 20003.
    let response = sandbox
        .client
        .get(format!(
            "{}/2010-04-01/Accounts/{SID}/Messages.json",
            sandbox.base
        ))
        .basic_auth(SID, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// What a status-callback endpoint received: (status, error code, signature valid,
/// idempotency token).
async fn callbacks_received(
    server: &wiremock::MockServer,
    url: &str,
) -> Vec<(String, Option<String>, bool, String)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|request| {
            let params: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&request.body).unwrap();
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let header = |name: &str| {
                request
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            let valid = nudge_domain::twilio_signature::verify(
                TOKEN,
                url,
                &params,
                &header("x-twilio-signature"),
            );
            (
                get("MessageStatus").unwrap(),
                get("ErrorCode"),
                valid,
                header("i-twilio-idempotency-token"),
            )
        })
        .collect()
}

#[tokio::test]
async fn accepted_messages_are_reported_sent_then_delivered_with_signed_callbacks() {
    let sandbox = start().await;
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let url = format!("{}/twilio/status", receiver.uri());
    let (status, created) = sandbox
        .create(&[
            ("To", "+14155550100"),
            ("From", "+15017122661"),
            ("Body", "Hi"),
            ("StatusCallback", &url),
        ])
        .await;
    assert_eq!(status, 201);
    let (_, undelivered) = sandbox
        .create(&[
            ("To", "+15005559003"),
            ("From", "+15017122661"),
            ("Body", "Hi"),
            ("StatusCallback", &url),
        ])
        .await;
    let mut received = Vec::new();
    for _ in 0..50 {
        received = callbacks_received(&receiver, &url).await;
        if received.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), 4, "{received:?}");
    assert!(
        received.iter().all(|(_, _, valid, _)| *valid),
        "every callback signed: {received:?}"
    );
    let tokens: BTreeSet<_> = received
        .iter()
        .map(|(_, _, _, token)| token.clone())
        .collect();
    assert_eq!(tokens.len(), 4, "one idempotency token per callback");
    let statuses: BTreeSet<_> = received
        .iter()
        .map(|(s, code, _, _)| (s.clone(), code.clone()))
        .collect();
    let expected: BTreeSet<_> = [
        ("sent".to_owned(), None),
        ("delivered".to_owned(), None),
        ("undelivered".to_owned(), Some("30003".to_owned())),
    ]
    .into_iter()
    .collect();
    assert_eq!(statuses, expected);
    // The resource follows.
    let fetch = |uri: &str| {
        let request = sandbox
            .client
            .get(format!("{}{uri}", sandbox.base))
            .basic_auth(SID, Some(TOKEN));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(
        fetch(created["uri"].as_str().unwrap()).await["status"],
        "delivered"
    );
    assert_eq!(
        fetch(undelivered["uri"].as_str().unwrap()).await["status"],
        "undelivered"
    );
}

#[tokio::test]
async fn an_injected_sms_reaches_the_inbound_webhook_signed_as_twilio_signs() {
    let listener = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&listener)
        .await;
    let url = format!("{}/twilio/inbound", listener.uri());
    let sandbox = start_posting_inbound_to(Some(url.clone())).await;
    let response = sandbox
        .client
        .post(format!("{}/sandbox/inbound", sandbox.base))
        .json(&serde_json::json!({"from": "+14155550100", "to": "+15017122661", "body": "where is my order?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["webhook_status"], 200);
    let sid = answer["message_sid"].as_str().unwrap();

    let received = listener.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&received[0].body).unwrap();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("MessageSid"), Some(sid));
    assert_eq!(get("From"), Some("+14155550100"));
    assert_eq!(get("To"), Some("+15017122661"));
    assert_eq!(get("Body"), Some("where is my order?"));
    assert_eq!(get("AccountSid"), Some(SID));
    let signature = received[0]
        .headers
        .get("x-twilio-signature")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(nudge_domain::twilio_signature::verify(
        TOKEN, &url, &params, signature
    ));

    // Bad numbers are refused; without a configured webhook there is nowhere to post.
    let bad = sandbox
        .client
        .post(format!("{}/sandbox/inbound", sandbox.base))
        .json(&serde_json::json!({"from": "555", "to": "+15017122661", "body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unconfigured = start().await;
    let nowhere = unconfigured
        .client
        .post(format!("{}/sandbox/inbound", unconfigured.base))
        .json(&serde_json::json!({"from": "+14155550100", "to": "+15017122661", "body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 400);
    assert_eq!(listener.received_requests().await.unwrap().len(), 1);
}

/// A subaccount the sandbox knows beside the platform's account.
const SUB_SID: &str = "AC99999999999999999999999999999999";
const SUB_TOKEN: &str = "subaccount-token";

#[tokio::test]
async fn each_account_authenticates_alone_and_sees_only_its_own_messages() {
    let config = provider_sandbox::Config {
        sandbox_http_host: "127.0.0.1".into(),
        sandbox_http_port: 0,
        sandbox_account_sid: SID.into(),
        sandbox_auth_token: TOKEN.into(),
        sandbox_subaccounts: Some(format!("{SUB_SID}:{SUB_TOKEN}")),
        sandbox_inbound_url: None,
        sandbox_final_status_after_ms: 300,
        sandbox_oidc_client_id: "nudge-console".into(),
        sandbox_oidc_client_secret: "sandbox-oidc-secret".into(),
    };
    let sandbox = provider_sandbox::build(&config).unwrap();
    let base = format!("http://127.0.0.1:{}", sandbox.port);
    tokio::spawn(sandbox.server);
    let client = reqwest::Client::new();
    let messages = |account: &str| format!("{base}/2010-04-01/Accounts/{account}/Messages.json");
    let form = [
        ("To", "+14155550100"),
        ("From", "+15017122661"),
        ("Body", "hi"),
    ];

    let in_sub = client
        .post(messages(SUB_SID))
        .basic_auth(SUB_SID, Some(SUB_TOKEN))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(in_sub.status(), 201);
    let in_sub: Value = in_sub.json().await.unwrap();
    assert_eq!(in_sub["account_sid"], SUB_SID);
    let in_platform = client
        .post(messages(SID))
        .basic_auth(SID, Some(TOKEN))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(in_platform.status(), 201);
    let in_platform: Value = in_platform.json().await.unwrap();

    // The subaccount's token does not open the platform's account, nor a wrong one its own.
    let wrong = client
        .post(messages(SUB_SID))
        .basic_auth(SUB_SID, Some(TOKEN))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let listed: Value = client
        .get(messages(SUB_SID))
        .basic_auth(SUB_SID, Some(SUB_TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sids: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, [in_sub["sid"].as_str().unwrap()]);
    let other = client
        .get(format!(
            "{base}/2010-04-01/Accounts/{SUB_SID}/Messages/{}.json",
            in_platform["sid"].as_str().unwrap()
        ))
        .basic_auth(SUB_SID, Some(SUB_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
