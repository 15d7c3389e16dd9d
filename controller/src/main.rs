//! `workflow-controller`: parses flags, sets up logging and serves with the controller library.

use std::process::ExitCode;

use clap::Parser;
use workflow_controller::{Config, serve, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    match serve(config).await.map_err(anyhow::Error::from) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: every library error already names its cause.
            eprintln!("workflow-controller: {err}");
            ExitCode::FAILURE
        }
    }
}
