//! `rayan-ctl`: the rayan command line.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = rayan::cli::Cli::parse();
    match rayan::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", rayan::report::one_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
