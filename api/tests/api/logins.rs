//! Staff logins are limited per account and per client address (等保 2.0 login-failure
//! handling), in the database so every process agrees, and every refusal is audited.

use tracker::staff::Role;

use crate::helpers::{account, orgs, person, spawn_app, spawn_app_with, PASSWORD};

async fn enrol_as(app: &crate::helpers::TestApp, user: &str, password: &str, person: i64) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/persons/{person}/devices")))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_passwords_lock_the_account_whatever_comes_next() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.office, "chen.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "吴十").await;
    for i in 0..10 {
        let r = enrol_as(&app, "li.office", "wrong", someone).await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    // The right password no longer works, for the lockout period.
    let r = enrol_as(&app, "li.office", PASSWORD, someone).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((14 * 60..=15 * 60).contains(&retry), "Retry-After {retry}");
    // Another account is not affected.
    assert_eq!(enrol_as(&app, "chen.office", PASSWORD, someone).await.status(), 201);
    // An unknown account locks alike (a lockout does not tell which accounts exist).
    for _ in 0..10 {
        assert_eq!(enrol_as(&app, "ghost.office", "x", someone).await.status(), 401);
    }
    assert_eq!(enrol_as(&app, "ghost.office", "x", someone).await.status(), 429);
    // Every refusal is in the audit log, with where it came from.
    let failed =
        app.count("SELECT count(*) FROM audit_log WHERE action = 'login.failed' AND address = '127.0.0.1'").await;
    let locked =
        app.count("SELECT count(*) FROM audit_log WHERE action = 'login.locked' AND subject = 'li.office'").await;
    assert_eq!((failed, locked), (20, 1));
    let staff_id = app
        .count("SELECT count(*) FROM audit_log a JOIN staff s ON s.id = a.staff_id WHERE s.username = 'li.office'")
        .await;
    assert_eq!(staff_id, 11, "refusals of a real account name it");

    // When the lock runs out the right password works again, and success resets the count.
    sqlx::query("UPDATE login_failures SET locked_until = now() - interval '1 second' WHERE key = 'account:li.office'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(enrol_as(&app, "li.office", PASSWORD, someone).await.status(), 201);
    for _ in 0..9 {
        assert_eq!(enrol_as(&app, "li.office", "wrong", someone).await.status(), 401);
    }
    assert_eq!(enrol_as(&app, "li.office", PASSWORD, someone).await.status(), 201, "nine failures do not lock");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_trying_many_accounts_is_locked() {
    let app = spawn_app_with(|c| {
        c.login.max_failures_per_address = 5;
        c.login.lockout = std::time::Duration::from_secs(120);
    })
    .await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "郑一").await;
    for i in 0..5 {
        assert_eq!(enrol_as(&app, &format!("guess{i}.office"), "x", someone).await.status(), 401);
    }
    let r = enrol_as(&app, "li.office", PASSWORD, someone).await;
    assert_eq!(r.status(), 429, "the address is locked for every account");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((110..=120).contains(&retry), "{retry}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_is_answered_without_errors_and_counted() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "王二").await;
    let app = std::sync::Arc::new(app);
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { enrol_as(&app, "li.office", "wrong", someone).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    // The checks run a few at a time: at most that many pass a limit just reached.
    let passed = statuses.iter().filter(|s| **s == 401).count();
    assert!((10..10 + tracker::login::VERIFY_SLOTS).contains(&passed), "{passed} wrong passwords were checked");
    let r = enrol_as(&app, "li.office", PASSWORD, someone).await;
    assert_eq!(r.status(), 429, "and the right one is refused straight after");
    let app = std::sync::Arc::try_unwrap(app).ok().unwrap();
    app.stop().await;
}
