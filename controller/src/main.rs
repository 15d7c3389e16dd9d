//! `workflow-controller`: parses flags, sets up logging and serves with the controller library.

use std::process::ExitCode;

use clap::Parser;
use workflow_controller::{Config, memory, serve, telemetry};

fn main() -> ExitCode {
    // Before the runtime starts its threads, each of which could get an arena (see memory).
    memory::limit_arenas();
    let config = Config::parse();
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("workflow-controller: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)).map_err(anyhow::Error::from) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: every library error already names its cause.
            eprintln!("workflow-controller: {err}");
            ExitCode::FAILURE
        }
    }
}
