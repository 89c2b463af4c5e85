//! Campaign segments in SQL (`jsonb @>` and the consent filter) select exactly the
//! customers the domain's rule (`Segment::matches`) says, page by page in id order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use chrono::Utc;
use nudge_db::models::{Campaign, Customer, Shop};
use nudge_domain::{Consent, Segment, ShopId, TenantId};
use nudge_testkit::TestDb;
use serde_json::{json, Value};
use uuid::Uuid;

fn customer(shop: &Shop, n: usize, consent: Consent, attributes: Value) -> Customer {
    Customer {
        id: Uuid::now_v7(),
        tenant_id: shop.tenant_id,
        shop_id: shop.id,
        phone: format!("+1415555{:04}", n),
        name: None,
        attributes,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        consent: consent.as_str().into(),
        time_zone: None,
    }
}

/// A claimed-campaign stand-in: `next_recipients` only reads its tenant, shop and cursor.
fn campaign(shop: &Shop, cursor: Option<Uuid>) -> Campaign {
    Campaign {
        id: Uuid::now_v7(),
        tenant_id: shop.tenant_id,
        shop_id: shop.id,
        template_id: Uuid::now_v7(),
        name: "c".into(),
        category: "marketing".into(),
        segment: json!({}),
        data: json!({}),
        send_at: None,
        status: "expanding".into(),
        cursor,
        available_at: Utc::now(),
        waiting_reason: None,
        audience_estimate: 0,
        recipients: 0,
        queued: 0,
        scheduled: 0,
        skipped: json!({}),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        expanded_at: None,
        cancelled_at: None,
    }
}

#[tokio::test]
async fn sql_segments_select_what_the_domain_rule_selects() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let tenant = TenantId::from_uuid(
        nudge_db::tenants::create_with_key(&mut conn, "A")
            .await
            .unwrap()
            .tenant
            .id,
    );
    let other = TenantId::from_uuid(
        nudge_db::tenants::create_with_key(&mut conn, "B")
            .await
            .unwrap()
            .tenant
            .id,
    );
    let shop = nudge_testkit::insert_shop(&mut conn, tenant).await;
    let other_shop = nudge_testkit::insert_shop(&mut conn, other).await;
    let attribute_sets = [
        json!({}),
        json!({"tier": "gold"}),
        json!({"tier": "gold", "tags": ["vip", "new"]}),
        json!({"tier": "silver", "tags": ["vip"]}),
        json!({"tier": "gold", "address": {"country": "FR", "city": "Lyon"}}),
        json!({"tier": 1}),
    ];
    let consents = [Consent::OptedIn, Consent::OptedOut, Consent::Unknown];
    let mut customers = Vec::new();
    for (i, attributes) in attribute_sets.iter().enumerate() {
        for (j, consent) in consents.iter().enumerate() {
            let n = i * 10 + j;
            customers.push(
                nudge_db::customers::insert(
                    &mut conn,
                    &customer(&shop, n, *consent, attributes.clone()),
                )
                .await
                .unwrap(),
            );
            // The same customer in another tenant's shop: never selected.
            nudge_db::customers::insert(
                &mut conn,
                &customer(&other_shop, n, *consent, attributes.clone()),
            )
            .await
            .unwrap();
        }
    }
    let segments = [
        json!({}),
        json!({"attributes": {"tier": "gold"}}),
        json!({"attributes": {"tags": ["vip"]}}),
        json!({"attributes": {"tier": "gold", "tags": ["new"]}}),
        json!({"attributes": {"address": {"country": "FR"}}}),
        json!({"attributes": {"tier": "1"}}),
        json!({"consent": ["opted_in"]}),
        json!({"attributes": {"tier": "gold"}, "consent": ["opted_in", "unknown"]}),
    ];
    for raw in segments {
        let segment: Segment = serde_json::from_value(raw.clone()).unwrap();
        let mut expected: Vec<Uuid> = customers
            .iter()
            .filter(|c| segment.matches(Consent::parse(&c.consent).unwrap(), &c.attributes))
            .map(|c| c.id)
            .collect();
        expected.sort_unstable();
        let count = nudge_db::campaigns::count_audience(
            &mut conn,
            tenant,
            ShopId::from_uuid(shop.id),
            &segment,
        )
        .await
        .unwrap();
        assert_eq!(count as usize, expected.len(), "{raw}");
        // Paged two at a time, as the expander does, after a cursor.
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let page = nudge_db::campaigns::next_recipients(
                &mut conn,
                &campaign(&shop, cursor),
                &segment,
                2,
            )
            .await
            .unwrap();
            paged.extend(page.iter().map(|c| c.id));
            match page.last() {
                Some(last) if page.len() == 2 => cursor = Some(last.id),
                _ => break,
            }
        }
        assert_eq!(paged, expected, "{raw}");
    }
}
