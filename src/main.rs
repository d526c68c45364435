//! The `clank` binary: parse the command line and hand over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = clank::cli::Cli::parse();
    let config = match clank::cli::load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("clank: {e:#}");
            return ExitCode::from(2);
        }
    };
    // The console owns the screen, so its logs go to a file in the state dir.
    let console = !cli.auto && matches!(cli.command, None | Some(clank::cli::Command::Demo { .. }));
    let log_file = cli
        .global
        .log_file
        .clone()
        .or_else(|| config.logging.file.clone())
        .or_else(|| {
            console.then(|| {
                clank::config::Dirs::standard()
                    .unwrap_or_else(clank::config::Dirs::current)
                    .state_dir
                    .join("clank.log")
            })
        });
    let _guard = match clank::logging::init(&config.logging.level, log_file.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("clank: cannot open the log file: {e}");
            return ExitCode::from(2);
        }
    };
    match clank::cli::run(cli, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once on stderr; into the log file too when logs go elsewhere.
            if log_file.is_some() {
                tracing::error!("{e:#}");
            }
            eprintln!("clank: {e:#}");
            ExitCode::FAILURE
        }
    }
}
