//! `cctrack report` as a user runs it: this week's report of the city as XLSX (read back with
//! calamine) and as HTML, each flag refused by name when it is wrong, and the export audited.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use cctrack_tests::TestDb;
use chrono::{Datelike, Utc};

fn this_week() -> String {
    let week = tracker::time::local(Utc::now()).date_naive().iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

#[tokio::test]
async fn this_weeks_report_as_a_workbook_and_a_page_and_every_flag_checked() {
    let db = TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    common::add_person(&db, office, "张三");
    let dir = std::env::temp_dir().join(format!("cctrack-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let week = this_week();

    let xlsx = dir.join("week.xlsx");
    let out = common::cctrack(&db.url)
        .args(["report", "--period", &week, "--format", "xlsx", "--out", xlsx.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("社区矫正电子监管周报"));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(std::fs::read(&xlsx).unwrap())).unwrap();
    let persons: Vec<Vec<Data>> = book.worksheet_range("在册人员").unwrap().rows().map(|r| r.to_vec()).collect();
    assert_eq!(persons[0][3], Data::String("期末在册".into()));
    assert_eq!(persons[1][0], Data::String("合计".into()));
    assert_eq!(persons[1][3], Data::Float(1.0), "the one person, as a number");
    let requests: Vec<Vec<Data>> = book.worksheet_range("定位成功率").unwrap().rows().map(|r| r.to_vec()).collect();
    assert!(requests[0].contains(&Data::String("定位成功率".into())));
    let coverage: Vec<Vec<Data>> = book.worksheet_range("定位率").unwrap().rows().map(|r| r.to_vec()).collect();
    assert!(coverage[0].contains(&Data::String("定位率".into())));

    let html = dir.join("week.html");
    let out = common::cctrack(&db.url)
        .args(["report", "--period", &week, "--org", &office.to_string(), "--format", "html", "--out"])
        .arg(&html)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("《站前区跃进司法所社区矫正电子监管周报（"), "{}", &page[..400.min(page.len())]);
    assert!(!page.contains("http:") && !page.contains("https:"));
    // Rendered by headless Chromium, to PNG and PDF, without a console error or a request.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/tests/render-report.mjs");
    let shots = dir.join("rendered");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&html)
        .arg(&shots)
        .output()
        .expect("node runs (scripts/setup installs it)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "rendering the report failed: {log}");
    let rendered: serde_json::Value = serde_json::from_str(log.lines().next().unwrap_or("")).expect(&log);
    assert_eq!(rendered["charts"], 3, "{log}");
    assert!(rendered["png"].as_u64().unwrap() > 10_000 && rendered["pdf_pages"].as_u64().unwrap() >= 2, "{log}");

    // Printed by headless Chromium: a PDF of A4 pages.
    let pdf = dir.join("week.pdf");
    let out = common::cctrack(&db.url)
        .args(["report", "--period", &week, "--format", "pdf", "--out"])
        .arg(&pdf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
    let pages = count(b"/Type /Page") - count(b"/Type /Pages");
    assert!(pages >= 2, "a whole week's report fills more than one page: {pages}");

    let refused = |args: &[&str], flag: &str| {
        let out = common::cctrack(&db.url).arg("report").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    };
    let file = dir.join("x.html");
    let file = file.to_str().unwrap();
    refused(&["--period", "2026-W99", "--format", "html", "--out", file], "--period");
    refused(&["--period", "2026-13", "--format", "html", "--out", file], "--period");
    refused(&["--period", "2099-W01", "--format", "html", "--out", file], "--period");
    refused(&["--period", &week, "--format", "docx", "--out", file], "--format");
    refused(&["--period", &week, "--format", "pdf", "--out", file], "--out");
    refused(&["--period", &week, "--format", "html", "--out", file, "--org", "999999"], "--org");
    refused(&["--period", &week, "--format", "html", "--out", file, "--org", "0"], "--org");
    refused(&["--period", &week, "--format", "html", "--out", "/no/such/dir/x.html"], "--out");
    refused(&["--period", &week, "--format", "xlsx", "--out", file], "--out");
    refused(&["--period", &week, "--format", "html", "--out", dir.to_str().unwrap()], "--out");
    refused(&["--format", "html", "--out", file], "--period");
    assert!(!dir.join("x.html").exists());

    let exports: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'report.export'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(exports, 3);
    // The week's reports are kept, one per organisation and period (a run again replaces it),
    // for the console's list; a day's report is written but not kept.
    let day = dir.join("day.html");
    let today = tracker::time::local(Utc::now()).date_naive().to_string();
    let out = common::cctrack(&db.url)
        .args(["report", "--period", &today, "--format", "html", "--out"])
        .arg(&day)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kept as report"));
    let kept: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, period, title FROM reports ORDER BY organisation_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let kept: Vec<(&str, &str, bool)> =
        kept.iter().map(|(k, p, t)| (k.as_str(), p.as_str(), t.contains("周报"))).collect();
    assert_eq!(kept, [("weekly", week.as_str(), true), ("weekly", week.as_str(), true)], "the city's and the office's");
    let mailed: i64 = sqlx::query_scalar("SELECT count(*) FROM report_mails").fetch_one(&db.pool).await.unwrap();
    assert_eq!(mailed, 0, "by hand, nobody is mailed");
    // Last week's, made after its end, is final: a second run by hand does not replace it.
    let last = tracker::time::local(Utc::now() - chrono::Duration::days(7)).date_naive().iso_week();
    let last = format!("{}-W{:02}", last.year(), last.week());
    let said: Vec<String> = (0..2)
        .map(|_| {
            let out = common::cctrack(&db.url)
                .args(["report", "--period", &last, "--format", "html", "--out"])
                .arg(dir.join("last.html"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect();
    assert!(said[0].contains("kept as report"), "{}", said[0]);
    assert!(said[1].contains("not kept"), "{}", said[1]);
    let generated: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT generated_at FROM reports WHERE period = $1")
            .bind(&last)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(generated.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
