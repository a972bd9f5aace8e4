//! A report page printed to PDF by headless Chromium, as a browser prints it (A4, the page's own
//! print styles, no header or footer). The page is written to a private temporary directory
//! that also holds Chromium's profile, so nothing of the user's browser is read or changed.

use std::time::Duration;

use anyhow::{bail, Context};

/// How long Chromium may take to print a report.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The Chromium to run: `CHROMIUM`, else Debian's.
fn chromium() -> String {
    std::env::var("CHROMIUM").ok().filter(|c| !c.is_empty()).unwrap_or_else(|| "/usr/bin/chromium".to_string())
}

pub async fn print(html: &str) -> anyhow::Result<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("cctrack-pdf-{}", tracker::secret::random_token(16)));
    // Private: the page names persons.
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let outcome = print_in(&dir, html).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn print_in(dir: &std::path::Path, html: &str) -> anyhow::Result<Vec<u8>> {
    let page = dir.join("report.html");
    let pdf = dir.join("report.pdf");
    std::fs::write(&page, html).with_context(|| format!("writing {}", page.display()))?;
    let bin = chromium();
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pdf-header-footer",
    ])
    .arg(format!("--user-data-dir={}", dir.join("profile").display()))
    .arg(format!("--print-to-pdf={}", pdf.display()))
    .arg(format!("file://{}", page.display()))
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    let child = cmd.spawn().with_context(|| format!("starting {bin} (set CHROMIUM to a Chromium to print with)"))?;
    let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("{bin} did not print within {} s", TIMEOUT.as_secs()))??;
    let bytes = std::fs::read(&pdf).ok().filter(|b| b.starts_with(b"%PDF-"));
    match bytes {
        Some(b) if out.status.success() => Ok(b),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.contains("dbus")).unwrap_or("");
            bail!("{bin} did not print the page ({}): {last}", out.status)
        }
    }
}
