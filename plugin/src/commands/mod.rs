//! One module per command. [`run`] dispatches; commands that need no cluster (validate,
//! completion, version, `create --dry-run=client`) never read a kubeconfig.

mod completion;
mod create;
mod describe;
mod graph;
mod list;
mod logs;
mod relabel;
mod restart;
mod validate;

use crate::cli::{Cli, Command};

/// Runs the parsed command line. Errors are one line each; `main` prints them.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        connection,
        color,
        command,
    } = cli;
    match command {
        Command::Validate(args) => validate::run(&args, color),
        Command::Completion(args) => completion::run(args.shell),
        Command::Version => {
            crate::output::print(&format!("kubectl-workflow {}\n", env!("CARGO_PKG_VERSION")))
        }
        online => {
            // A single-threaded runtime starts fastest, and a CLI waits on one thing at a time.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
            runtime.block_on(async move {
                match online {
                    Command::Create(args) => create::run(&args, &connection, color).await,
                    Command::Graph(args) => graph::run(&args, &connection, color).await,
                    Command::Describe(args) => describe::run(&args.name, &connection, color).await,
                    Command::Restart(args) => restart::run(&args, &connection, color).await,
                    Command::Relabel(args) => relabel::run(&args, &connection).await,
                    Command::List(args) => list::run(&args, &connection, color).await,
                    Command::Logs(args) => logs::run(&args, &connection, color).await,
                    Command::Validate(_) | Command::Completion(_) | Command::Version => {
                        unreachable!("offline commands are dispatched above")
                    }
                }
            })
        }
    }
}

/// `workflow.kwf.dev/NAME`, as kubectl names objects in its messages.
pub(crate) fn object_ref(name: &str) -> String {
    format!("workflow.kwf.dev/{name}")
}
