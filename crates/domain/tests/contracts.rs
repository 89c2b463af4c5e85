//! The queue contracts: every schema in `proto-schemas/` accepts what the Rust types
//! serialize and refuses what they would refuse, and every Rust message type has a
//! schema. A change on either side without the other fails here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::path::PathBuf;

use nudge_domain::{
    ConversationId, DbChangeV1, Envelope, InboundMessageId, InboundSmsV1, LeadSearchId,
    LeadSearchV1, MessageId, MessageKind, OutboundSmsV1, PhoneNumber, ShopId, TenantId,
};
use serde_json::{json, Value};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-schemas")
}

fn validator(kind: &str) -> jsonschema::Validator {
    let path = schema_dir().join(format!("{kind}.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
}

fn outbound_sample() -> Value {
    let envelope = Envelope::new(
        TenantId::new(),
        OutboundSmsV1 {
            message_id: MessageId::new(),
            shop_id: ShopId::new(),
            to: PhoneNumber::parse("+14155550123").unwrap(),
        },
    );
    serde_json::to_value(envelope.to_raw().unwrap()).unwrap()
}

fn inbound_sample() -> Value {
    let envelope = Envelope::new(
        TenantId::new(),
        InboundSmsV1 {
            inbound_message_id: InboundMessageId::new(),
            conversation_id: ConversationId::new(),
            shop_id: ShopId::new(),
            from: PhoneNumber::parse("+14155550123").unwrap(),
        },
    );
    serde_json::to_value(envelope.to_raw().unwrap()).unwrap()
}

#[test]
fn inbound_sms_v1_schema_and_rust_agree() {
    let validator = validator(InboundSmsV1::TYPE);
    let sample = inbound_sample();
    let errors: Vec<String> = validator
        .iter_errors(&sample)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{sample}: {errors:?}");
    Envelope::<InboundSmsV1>::from_json(&sample.to_string()).unwrap();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "wrong type",
            Box::new(|v| v["type"] = json!("outbound_sms.v1")),
        ),
        (
            "bad phone",
            Box::new(|v| v["payload"]["from"] = json!("555-0123")),
        ),
        (
            "missing conversation",
            Box::new(|v| {
                v["payload"]
                    .as_object_mut()
                    .unwrap()
                    .remove("conversation_id");
            }),
        ),
        (
            "the text itself",
            Box::new(|v| v["payload"]["body"] = json!("hi")),
        ),
    ];
    for (what, mutate) in mutations {
        let mut sample = inbound_sample();
        mutate(&mut sample);
        assert!(!validator.is_valid(&sample), "schema accepted: {what}");
        assert!(
            Envelope::<InboundSmsV1>::from_json(&sample.to_string()).is_err(),
            "Rust accepted: {what}"
        );
    }
}

#[test]
fn outbound_sms_v1_schema_accepts_the_rust_serialization() {
    let validator = validator(OutboundSmsV1::TYPE);
    for _ in 0..50 {
        let sample = outbound_sample();
        let errors: Vec<String> = validator
            .iter_errors(&sample)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{sample}: {errors:?}");
        // And what the schema accepts, the Rust type parses.
        Envelope::<OutboundSmsV1>::from_json(&sample.to_string()).unwrap();
    }
}

#[test]
fn outbound_sms_v1_schema_and_rust_agree_on_what_is_invalid() {
    let validator = validator(OutboundSmsV1::TYPE);
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "wrong type",
            Box::new(|v| v["type"] = json!("outbound_sms.v2")),
        ),
        (
            "bad phone",
            Box::new(|v| v["payload"]["to"] = json!("4155550123")),
        ),
        (
            "missing payload field",
            Box::new(|v| {
                v["payload"].as_object_mut().unwrap().remove("shop_id");
            }),
        ),
        ("extra envelope field", Box::new(|v| v["extra"] = json!(1))),
        (
            "extra payload field",
            Box::new(|v| v["payload"]["body"] = json!("secret")),
        ),
        ("bad id", Box::new(|v| v["id"] = json!("not-a-uuid"))),
        (
            "bad time",
            Box::new(|v| v["created_at"] = json!("yesterday")),
        ),
    ];
    for (what, mutate) in mutations {
        let mut sample = outbound_sample();
        mutate(&mut sample);
        assert!(!validator.is_valid(&sample), "schema accepted: {what}");
        assert!(
            Envelope::<OutboundSmsV1>::from_json(&sample.to_string()).is_err(),
            "Rust accepted: {what}"
        );
    }
}

#[test]
fn lead_search_v1_schema_and_rust_agree() {
    let validator = validator(LeadSearchV1::TYPE);
    let sample = || {
        let envelope = Envelope::new(
            TenantId::new(),
            LeadSearchV1 {
                lead_search_id: LeadSearchId::new(),
            },
        );
        serde_json::to_value(envelope.to_raw().unwrap()).unwrap()
    };
    let valid = sample();
    assert!(validator.is_valid(&valid), "{valid}");
    Envelope::<LeadSearchV1>::from_json(&valid.to_string()).unwrap();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "wrong type",
            Box::new(|v| v["type"] = json!("lead_search.v2")),
        ),
        (
            "not an id",
            Box::new(|v| v["payload"]["lead_search_id"] = json!("42")),
        ),
        (
            "the query itself",
            Box::new(|v| v["payload"]["query"] = json!({})),
        ),
    ];
    for (what, mutate) in mutations {
        let mut invalid = sample();
        mutate(&mut invalid);
        assert!(!validator.is_valid(&invalid), "schema accepted: {what}");
        assert!(
            Envelope::<LeadSearchV1>::from_json(&invalid.to_string()).is_err(),
            "Rust accepted: {what}"
        );
    }
}

#[test]
fn every_schema_file_is_a_known_message_type() {
    let known = [
        OutboundSmsV1::TYPE,
        InboundSmsV1::TYPE,
        LeadSearchV1::TYPE,
        DbChangeV1::TYPE,
    ];
    for entry in std::fs::read_dir(schema_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(kind) = name.strip_suffix(".json") {
            assert!(
                known.contains(&kind),
                "{name} has no Rust type in nudge-domain"
            );
            validator(kind);
        }
    }
}

fn db_change_sample() -> Value {
    json!({
        "type": "db_change.v1",
        "op": "u",
        "key": {"id": "0192f0c4-7b1e-7cc2-9a51-3f0d3c2b1a00"},
        "before": null,
        "after": {"id": "0192f0c4-7b1e-7cc2-9a51-3f0d3c2b1a00", "status": "sent", "segments": 1,
                  "price": "0.0079", "sent_at": "2026-11-30T22:27:02.123456Z", "detail": {"a": [1]}},
        "source": {"database": "nudge", "schema": "public", "table": "messages",
                   "lsn": "0/16B3748", "commit_lsn": "0/16B3800", "seq": 0, "txid": 750,
                   "commit_time": "2026-11-30T22:27:02.2Z", "snapshot": false}
    })
}

#[test]
fn db_change_v1_schema_and_rust_agree() {
    let validator = validator(DbChangeV1::TYPE);
    let sample = db_change_sample();
    let parsed: DbChangeV1 = serde_json::from_value(sample.clone()).unwrap();
    let back = serde_json::to_value(&parsed).unwrap();
    assert!(
        validator.is_valid(&back),
        "{:?}",
        validator
            .iter_errors(&back)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    // What either side refuses, the other refuses too.
    for (field, bad) in [
        ("op", json!("x")),
        ("type", json!("db_change.v2")),
        ("source", json!({"database": "nudge"})),
        ("after", json!([1, 2])),
    ] {
        let mut wrong = sample.clone();
        wrong[field] = bad;
        assert!(
            !validator.is_valid(&wrong),
            "the schema accepts a bad {field}"
        );
        let rust = serde_json::from_value::<DbChangeV1>(wrong);
        assert!(
            rust.is_err() || field == "type",
            "Rust accepts a bad {field}"
        );
    }
    let mut extra = sample.clone();
    extra["surprise"] = json!(1);
    assert!(!validator.is_valid(&extra));
    assert!(serde_json::from_value::<DbChangeV1>(extra).is_err());
}
