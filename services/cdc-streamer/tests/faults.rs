//! Kinesis refusing part of each `PutRecords` request (as it does when a shard is over
//! its throughput), and sometimes a whole request: every change still arrives, each
//! row's changes in order.
//!
//! The streamer talks to LocalStack through a fault proxy: for `PutRecords` it forwards
//! only a random part of the records and answers the rest with
//! `ProvisionedThroughputExceededException`, in Kinesis's own response shape; every
//! fifth request it fails whole.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rand::Rng;
use serde_json::{json, Value};
use support::Setup;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    refused: Arc<AtomicU64>,
    failed_requests: Arc<AtomicU64>,
    put_requests: Arc<AtomicU64>,
}

async fn forward(proxy: web::Data<Proxy>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !target.ends_with(".PutRecords") {
        return pass_through(&proxy, &request, body.to_vec()).await;
    }
    // Every fifth request fails as a whole (counted, not drawn: it always happens).
    if proxy.put_requests.fetch_add(1, Ordering::Relaxed) % 5 == 2 {
        proxy.failed_requests.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::BadRequest()
            .content_type("application/x-amz-json-1.1")
            .json(json!({"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded for stream"}));
    }
    let mut request_body: Value =
        serde_json::from_slice(&body).expect("PutRecords is JSON (awsJson1.1)");
    let records = request_body["Records"].as_array().unwrap().clone();
    let refuse: Vec<bool> = records
        .iter()
        .map(|_| rand::rng().random_bool(0.3))
        .collect();
    let kept: Vec<Value> = records
        .iter()
        .zip(&refuse)
        .filter(|(_, r)| !**r)
        .map(|(v, _)| v.clone())
        .collect();
    let mut upstream_results: Vec<Value> = Vec::new();
    if !kept.is_empty() {
        request_body["Records"] = Value::from(kept);
        let answer =
            pass_through(&proxy, &request, serde_json::to_vec(&request_body).unwrap()).await;
        if !answer.status().is_success() {
            return answer;
        }
        let bytes = actix_web::body::to_bytes(answer.into_body()).await.unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        upstream_results = answer["Records"].as_array().unwrap().clone();
    }
    let mut upstream_results = upstream_results.into_iter();
    let mut failed = 0;
    let results: Vec<Value> = refuse
        .iter()
        .map(|refused| {
            if *refused {
                failed += 1;
                json!({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard shardId-000000000000"})
            } else {
                upstream_results.next().unwrap()
            }
        })
        .collect();
    proxy.refused.fetch_add(failed, Ordering::Relaxed);
    HttpResponse::Ok()
        .content_type("application/x-amz-json-1.1")
        .json(json!({"FailedRecordCount": failed, "Records": results}))
}

async fn pass_through(proxy: &Proxy, request: &HttpRequest, body: Vec<u8>) -> HttpResponse {
    let mut upstream = proxy.http.request(
        reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap(),
        format!("{}{}", proxy.upstream, request.uri()),
    );
    for (name, value) in request.headers() {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = upstream.body(body).send().await.unwrap();
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(answer.status().as_u16()).unwrap(),
    );
    if let Some(content_type) = answer.headers().get("content-type") {
        response.content_type(content_type.to_str().unwrap());
    }
    response.body(answer.bytes().await.unwrap())
}

#[tokio::test]
async fn records_kinesis_refuses_are_retried_until_all_arrive_in_order_per_row() {
    let setup = Setup::new("faults", 2).await;
    setup
        .execute("CREATE TABLE workload (id integer PRIMARY KEY, n integer NOT NULL);")
        .await;

    let proxy = Proxy {
        upstream: std::env::var("AWS_ENDPOINT_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
        http: reqwest::Client::new(),
        refused: Arc::default(),
        failed_requests: Arc::default(),
        put_requests: Arc::default(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let state = proxy.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .default_service(web::to(forward))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let server = tokio::spawn(server);

    let streamer = setup
        .start(&[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("CDC_SNAPSHOT", "never"),
            ("CDC_MAX_BACKOFF_MS", "200"),
        ])
        .await;
    // 600 changes over 40 rows, in transactions of 10.
    for batch in 0..60 {
        let mut statements = String::from("BEGIN;");
        for i in 0..10 {
            let id = (batch * 10 + i) % 40;
            statements.push_str(&format!(
                "INSERT INTO workload (id, n) VALUES ({id}, 1) ON CONFLICT (id) DO UPDATE SET n = workload.n + 1;"
            ));
        }
        statements.push_str("COMMIT;");
        setup.execute(&statements).await;
    }
    let stream = setup.wait_for_distinct(600, Duration::from_secs(120)).await;
    let refused = streamer
        .metric("nudge_cdc_records_refused_total")
        .await
        .unwrap_or(0.0);
    drop(streamer);
    server.abort();

    assert!(
        proxy.refused.load(Ordering::Relaxed) > 0 && refused > 0.0,
        "the proxy refused nothing: no fault was tested"
    );
    assert!(
        proxy.failed_requests.load(Ordering::Relaxed) > 0,
        "no whole request failed"
    );
    let mut seen = HashSet::new();
    let mut versions: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for change in &stream {
        if seen.insert(change.identity()) {
            let id = change.record.key.as_ref().unwrap()["id"].as_i64().unwrap();
            versions
                .entry(id)
                .or_default()
                .push(change.after_field("n").and_then(Value::as_i64).unwrap());
        }
    }
    assert_eq!(versions.len(), 40);
    for (id, history) in versions {
        assert_eq!(
            history,
            (1..=15).collect::<Vec<i64>>(),
            "row {id}: every version, in order"
        );
    }
}

#[tokio::test]
async fn with_kinesis_unreachable_a_stop_is_bounded_and_nothing_is_lost() {
    let setup = Setup::new("outage", 1).await;
    setup
        .execute("CREATE TABLE workload (id integer PRIMARY KEY, n integer NOT NULL);")
        .await;
    let nowhere = format!("http://127.0.0.1:{}", support::free_port());
    let mut streamer = setup
        .start(&[("AWS_ENDPOINT_URL", &nowhere), ("CDC_SNAPSHOT", "never")])
        .await;
    setup
        .execute("INSERT INTO workload (id, n) SELECT g, 0 FROM generate_series(1, 20) g;")
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = std::time::Instant::now();
    assert!(
        streamer.terminate(Duration::from_secs(40)),
        "SIGTERM with Kinesis away: a clean exit\n{}",
        streamer.log()
    );
    assert!(
        asked.elapsed() < Duration::from_secs(35),
        "the stop took {:?}",
        asked.elapsed()
    );

    // Kinesis back: what was never confirmed comes now.
    let _streamer = setup.start(&[("CDC_SNAPSHOT", "never")]).await;
    setup.wait_for_distinct(20, Duration::from_secs(60)).await;
}
