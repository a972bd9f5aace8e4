//! `cctrack`: the server and its command line. Thin: parsing lives in [`api::cli`], each
//! command in [`api::commands`].

// Ingest allocates many small, short-lived values per fix (JSON, rows); mimalloc serves them with
// less contention and less bookkeeping than glibc's malloc, which a profile showed at 8 % of the machine.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = api::cli::Cli::parse();
    api::telemetry::init(cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(api::commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
