//! The `kubectl-workflow` executable: parse, run, print errors as one line.

use std::process::ExitCode;

use clap::Parser;
use kubectl_workflow::cli::Cli;
use kubectl_workflow::errors::{exit_code, one_line};

fn main() -> ExitCode {
    // No Rust panic report reaches the user: one line, and where to report it.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error: {}{place}; please report it at https://github.com/kwf-dev/kwf/issues",
            one_line(&message)
        );
    }));
    // Usage errors exit with clap's code 2; --help and --version exit 0.
    let cli = Cli::parse();
    match kubectl_workflow::commands::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&format!("{err:#}")));
            ExitCode::from(exit_code(&err))
        }
    }
}
