//! `cargo xtask`: the project's tasks (an alias in .cargo/config.toml). One module per subcommand.

mod bench;
mod cargo;
mod demo;
mod dist;
mod image;
mod test;
mod testenv;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tasks of the kwf project, run as `cargo xtask <task>`.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Start, stop or inspect the local Kubernetes control plane used by tests and the demo.
    Testenv(testenv::Args),
    /// Run the whole test suite against the local control plane (started and stopped around it).
    Test(test::Args),
    /// Measure the controller at scale on a control plane of its own; writes docs/benchmarks.md.
    Bench(bench::Args),
    /// Run kwf end to end on the embedded control plane: the first thing to try.
    Demo(demo::Args),
    /// Build the kubectl-workflow release archive for this host and render the krew manifest.
    Dist(dist::Args),
    /// Build the workflow-controller container image as an OCI archive (no container engine needed).
    Image(image::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Testenv(args) => testenv::run(args),
        Task::Test(args) => test::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Demo(args) => demo::run(args),
        Task::Dist(args) => dist::run(args),
        Task::Image(args) => image::run(args),
    };
    outcome.unwrap_or_else(|error| {
        // One line: the error and its causes, no backtrace noise.
        eprintln!("xtask: {error:#}");
        ExitCode::FAILURE
    })
}
