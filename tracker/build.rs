// sqlx::migrate! embeds sql/migrations at compile time, but cargo does not know that the
// directory is an input: without this, adding a migration leaves a stale binary that never
// applies it.
fn main() {
    println!("cargo:rerun-if-changed=../sql/migrations");
}
