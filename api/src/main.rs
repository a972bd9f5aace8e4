//! `cctrack`: the server and its command line. Thin: parsing lives in [`api::cli`], each
//! command in [`api::commands`].

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
