//! Behind a load balancer: per-client limits count the client the trusted balancer
//! reports, never a header anyone could write, IPv6 clients per /64; and strangers
//! failing at one account from many addresses slow it without locking its owner out.

use std::time::{Duration, Instant};

use super::browser::{account, Browser, PASSWORD};
use crate::helpers::{spawn_app, spawn_app_with, Overrides, TestApp};

/// The test reaches the app from 127.0.0.1: that is "the balancer".
async fn behind_balancer() -> TestApp {
    spawn_app_with(|_| Overrides {
        trusted_proxies: Some("127.0.0.1/32, ::1/128"),
        ..Overrides::default()
    })
    .await
}

/// A confirmed marketer's account (the operator's command) in the test's tenant.
async fn owner_of(app: &TestApp) -> String {
    account(app, &app.tenant_id, "marketer").await
}

/// Five wrong passwords from `attacker`, all answered 401.
async fn five_failures(app: &TestApp, email: &str, attacker: &str) {
    let mut browser = Browser::behind_balancer(app, attacker);
    for _ in 0..5 {
        assert_eq!(browser.sign_in(email, "not the password").await.status, 401);
    }
}

#[tokio::test]
async fn behind_a_trusted_balancer_each_client_has_its_own_limit() {
    let app = behind_balancer().await;
    let email = owner_of(&app).await;
    five_failures(&app, &email, "198.51.100.1").await;
    let mut attacker = Browser::behind_balancer(&app, "198.51.100.1");
    assert_eq!(attacker.sign_in(&email, PASSWORD).await.status, 429);
    // A client that writes its own header only adds to the left of the balancer's.
    let mut forger = Browser::behind_balancer(&app, "203.0.113.5, 198.51.100.1");
    assert_eq!(forger.sign_in(&email, PASSWORD).await.status, 429);

    let mut owner = Browser::behind_balancer(&app, "203.0.113.5");
    assert_eq!(owner.sign_in(&email, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let app = behind_balancer().await;
    let email = owner_of(&app).await;
    five_failures(&app, &email, "2001:db8:1:2::1").await;
    let mut same_64 = Browser::behind_balancer(&app, "2001:db8:1:2:ffff::beef");
    assert_eq!(same_64.sign_in(&email, PASSWORD).await.status, 429);
    let mut next_64 = Browser::behind_balancer(&app, "2001:db8:1:3::1");
    assert_eq!(next_64.sign_in(&email, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_header_changes_nothing() {
    let app = spawn_app().await;
    let email = owner_of(&app).await;
    five_failures(&app, &email, "198.51.100.1").await;
    let mut claims_another = Browser::behind_balancer(&app, "203.0.113.5");
    assert_eq!(claims_another.sign_in(&email, PASSWORD).await.status, 429);
}

#[tokio::test]
async fn strangers_failing_from_many_addresses_slow_the_account_but_never_lock_out_its_owner() {
    let app = behind_balancer().await;
    let email = owner_of(&app).await;
    for stranger in 1..=12 {
        let mut browser = Browser::behind_balancer(&app, &format!("198.51.100.{stranger}"));
        let page = browser.sign_in(&email, "a guess").await;
        assert_eq!(
            page.status, 401,
            "stranger {stranger} is answered, not locked out"
        );
    }
    let mut owner = Browser::behind_balancer(&app, "203.0.113.5");
    let started = Instant::now();
    assert_eq!(
        owner.sign_in(&email, PASSWORD).await.status,
        303,
        "the owner gets in"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "an account under attack answers slowly: {:?}",
        started.elapsed()
    );
}
