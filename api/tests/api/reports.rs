//! Stored reports over HTTP: listed within scope and by kind, each served as its page (under a
//! policy that lets it fetch and run nothing) and as its workbook (named by its title), every
//! download audited, and another county's report answering as a missing one.

use chrono::{Datelike, Utc};
use tracker::report::store::{store, NewReport};
use tracker::report::{build, Period};
use tracker::staff::Role;

use crate::helpers::{account, orgs, person, spawn_app, TestApp, PASSWORD};

/// The county's report of this week, kept as the Monday job keeps it; its id and title.
async fn county_week(app: &TestApp, county: i64) -> (i64, String) {
    let week = tracker::time::local(Utc::now()).date_naive().iso_week();
    let period = format!("{}-W{:02}", week.year(), week.week());
    let r = build(&app.db.pool, county, &Period::parse(&period).unwrap(), Utc::now()).await.unwrap();
    let new = NewReport::of(&r, &period).unwrap().expect("a week's report is kept");
    (store(&app.db.pool, &new, &[], Utc::now()).await.unwrap(), r.title())
}

async fn get(app: &TestApp, path: &str, user: &str) -> reqwest::Response {
    app.client.get(app.url(path)).basic_auth(user, Some(PASSWORD)).send().await.unwrap()
}

#[tokio::test]
async fn reports_are_listed_served_and_audited_within_scope() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    person(&app.db, o.office, "张三").await;
    for (user, org, role) in [
        ("li.office", o.office, Role::OfficeStaff),
        ("wang.county", o.county, Role::CountyAdmin),
        ("chen.city", o.city, Role::CityAdmin),
        ("zhao.county", o.other_county, Role::CountyAdmin),
    ] {
        account(&app.db, org, user, role).await;
    }
    let (id, title) = county_week(&app, o.county).await;

    // The county and the city see it; the office below and the other county do not.
    let titles = |user: &'static str, query: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app.staff("GET", &format!("/api/v1/reports{query}"), user, None).await;
            assert_eq!(status, 200, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["title"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(titles("wang.county", "").await, vec![title.as_str()]);
    assert_eq!(titles("chen.city", "?kind=weekly").await, vec![title.as_str()]);
    assert!(titles("chen.city", "?kind=monthly").await.is_empty());
    assert!(titles("li.office", "").await.is_empty());
    assert!(titles("zhao.county", "").await.is_empty());
    let (status, body) = app.staff("GET", "/api/v1/reports?kind=yearly", "chen.city", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("kind")), "{body}");

    // One report as listed, for the console's view of it.
    let (status, one) = app.staff("GET", &format!("/api/v1/reports/{id}"), "wang.county", None).await;
    assert_eq!((status, one["title"].as_str()), (200, Some(title.as_str())), "{one}");
    assert_eq!(app.staff("GET", &format!("/api/v1/reports/{id}"), "zhao.county", None).await.0, 404);

    // The page: self-contained, confined, not cached.
    let page = get(&app, &format!("/api/v1/reports/{id}/html"), "wang.county").await;
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, h: &str| r.headers().get(h).map(|v| v.to_str().unwrap().to_string());
    assert!(header(&page, "content-security-policy").unwrap().starts_with("default-src 'none'"));
    assert_eq!(header(&page, "cache-control").as_deref(), Some("private, no-store"));
    assert!(page.text().await.unwrap().contains(&title));

    // The workbook, named by its title.
    let book = get(&app, &format!("/api/v1/reports/{id}/xlsx"), "chen.city").await;
    assert_eq!(book.status(), 200);
    let disposition = header(&book, "content-disposition").unwrap();
    let week = title.trim_start_matches('《').trim_end_matches('》');
    let encoded: String = format!("{week}.xlsx")
        .bytes()
        .map(|b| match b {
            b'.' | b'-' => (b as char).to_string(),
            b if b.is_ascii_alphanumeric() => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect();
    assert_eq!(disposition, format!("attachment; filename=\"report-{id}.xlsx\"; filename*=UTF-8''{encoded}"));
    assert!(book.bytes().await.unwrap().starts_with(b"PK"), "a zip, as XLSX is");

    // Another county's report is missing, as is one that does not exist.
    for path in [format!("/api/v1/reports/{id}/html"), format!("/api/v1/reports/{}/xlsx", id + 1000)] {
        let r = get(&app, &path, "zhao.county").await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let downloads = app.count("SELECT count(*) FROM audit_log WHERE action = 'report.download'").await;
    assert_eq!(downloads, 2, "the page and the workbook; refusals download nothing");
    app.stop().await;
}
