//! Bundles the console (`console/`, npm + esbuild) so that the binary can embed it: the three
//! files of `console/dist/` are `include_bytes!`-ed by `src/console.rs`. `scripts/setup` installs
//! Node, npm and the pinned packages; without them the build stops and says so.

use std::path::Path;
use std::process::Command;

fn main() {
    let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("../console");
    for watched in ["src", "build.mjs", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", console.join(watched).display());
    }
    if !console.join("node_modules/.package-lock.json").exists() {
        panic!(
            "the console's npm packages are not installed: run scripts/setup (it runs `npm ci` in {})",
            console.display()
        );
    }
    let status = Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(&console)
        .status()
        .unwrap_or_else(|e| panic!("cannot run npm to bundle the console ({e}): run scripts/setup"));
    assert!(status.success(), "bundling the console failed (npm run build in {})", console.display());
}
