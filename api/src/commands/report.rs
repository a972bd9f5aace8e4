//! `cctrack report`: a report of the city, a county or an office for a period, written as HTML,
//! XLSX or PDF. Every flag is checked, and an error names the flag; the export is audited. A
//! week's or a month's report is also kept, so the console lists it: mailing nobody, keeping no
//! ranking, and never replacing the period's report made after its end (what was published).

use std::path::Path;

use anyhow::{bail, Context};
use chrono::Utc;
use tracker::report::{self, store, ReportError};

use crate::cli::{ReportArgs, ReportFormat};

/// `--out` before any database work: a file in an existing directory.
pub fn check_out(a: &ReportArgs) -> anyhow::Result<()> {
    let out = &a.out;
    if out.as_os_str().is_empty() {
        bail!("--out: a file name is needed");
    }
    if out.is_dir() {
        bail!("--out: {} is a directory; name the file to write", out.display());
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!("--out: the directory {} does not exist", parent.display());
    }
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let expected = match a.format {
        ReportFormat::Html => ["html", "htm"].as_slice(),
        ReportFormat::Xlsx => ["xlsx"].as_slice(),
        ReportFormat::Pdf => ["pdf"].as_slice(),
    };
    if let Some(ext) = ext.filter(|e| !expected.contains(&e.as_str())) {
        bail!("--out: {} ends in .{ext}, but --format is {}", out.display(), expected[0]);
    }
    Ok(())
}

pub async fn run(pool: sqlx::PgPool, a: ReportArgs) -> anyhow::Result<()> {
    let scope = match a.org {
        Some(id) => id,
        None => report::scope::default_scope(&pool).await.map_err(|e| anyhow::anyhow!("--org not given, and {e}"))?,
    };
    let built = report::build(&pool, scope, &a.period, Utc::now()).await;
    let r = match built {
        Ok(r) => r,
        Err(e @ ReportError::NoSuchOrganisation(_)) => bail!("--org: {e}"),
        Err(e @ ReportError::NotBegun { .. }) => bail!("--period: {e}"),
        Err(e) => return Err(e).context("computing the report"),
    };
    let (bytes, format) = match a.format {
        ReportFormat::Html => (report::render::html(&r).into_bytes(), "html"),
        ReportFormat::Xlsx => (report::render::xlsx(&r).context("writing the workbook")?, "xlsx"),
        ReportFormat::Pdf => (super::pdf::print(&report::render::html(&r)).await.context("printing the PDF")?, "pdf"),
    };
    // Written beside the target and renamed: a reader never sees half a report.
    let tmp = a.out.with_extension(format!("{format}.partial"));
    std::fs::write(&tmp, &bytes).with_context(|| format!("--out: writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("--out: writing {}", a.out.display()))?;
    // An export of personal data (the shortfall list names persons): audited.
    let entry = tracker::audit::Entry {
        staff_id: None,
        action: "report.export",
        subject: format!("organisation {scope}"),
        person_id: None,
        details: serde_json::json!({"period": a.period.to_string(), "format": format, "out": a.out.display().to_string(),
                                    "via": "cli", "os_user": std::env::var("USER").unwrap_or_default()}),
        address: None,
    };
    tracker::audit::record(&pool, &entry).await.context("recording the export in the audit log")?;
    let mut said = format!("{}: {} ({} bytes)\n", a.out.display(), r.title(), bytes.len());
    let period = a.period.to_string();
    if let Some(new) = store::NewReport::of(&r, &period).context("writing the kept copy")? {
        match store::keep_by_hand(&pool, &new, Utc::now()).await.context("keeping the report")? {
            Some(id) => said.push_str(&format!(
                "kept as report {id}: listed in the console (报表) and at /api/v1/reports/{id}/html\n"
            )),
            None => said.push_str("not kept: the report of this period made after its end stays as it was\n"),
        }
    }
    super::emit(&said)
}
