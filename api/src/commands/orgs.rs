//! `cctrack orgs`: the organisation tree.

use std::fmt::Write;

use tracker::org::OrgKind;

pub async fn run(pool: sqlx::PgPool, json: bool) -> anyhow::Result<()> {
    let orgs = tracker::org::list(&pool).await?;
    if json {
        return super::emit(&(serde_json::to_string_pretty(&orgs)? + "\n"));
    }
    let mut text = String::new();
    if orgs.is_empty() {
        text.push_str("no organisations yet: run `cctrack boundaries import --adcode 210800` or `cctrack demo`\n");
    }
    for o in &orgs {
        let indent = match o.kind {
            OrgKind::City => "",
            OrgKind::County => "  ",
            OrgKind::Office => "    ",
        };
        let area = o.area_km2.map(|a| format!("  {a:.1} km²")).unwrap_or_default();
        let adcode = o.adcode.as_deref().map(|a| format!(" ({a})")).unwrap_or_default();
        writeln!(text, "{indent}{:>4}  {}{adcode}{area}", o.id, o.name)?;
    }
    super::emit(&text)
}
