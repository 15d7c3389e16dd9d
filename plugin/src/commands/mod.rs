//! One module per command. [`execute`] dispatches; commands that need no cluster (validate,
//! completion, version, convert, `create --dry-run=client`) never read a kubeconfig.

mod annotate;
mod completion;
mod convert;
mod create;
mod delete;
mod describe;
mod graph;
mod list;
mod log_units;
mod logs;
mod relabel;
mod restart;
mod resume;
mod stop;
mod submit;
mod suspend;
mod validate;
mod wait;

use crate::cli::{Cli, Command};
use crate::session::Session;
use crate::terminal::Terminal;

/// Executes the parsed command line. Errors are one line each; `main` prints them.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        connection,
        color,
        command,
    } = cli;
    let terminal = Terminal::new(color).with_ascii(command.ascii());
    match command {
        Command::Validate(args) => validate::execute(&args, terminal),
        Command::Convert(args) => convert::execute(&args, terminal),
        Command::Completion(args) => completion::execute(args.shell, terminal),
        Command::Version => {
            terminal.print(&format!("kubectl-workflow {}\n", env!("CARGO_PKG_VERSION")))
        }
        // Their offline checks come before the kubeconfig is read.
        Command::Create(args) => block_on(create::execute(&args, &connection, terminal)),
        Command::Relabel(args) => block_on(relabel::execute(&args, &connection, terminal)),
        Command::Submit(args) => block_on(submit::execute(&args, &connection, terminal)),
        online => block_on(async move {
            let session = Session::connect(&connection, terminal).await?;
            match online {
                Command::Graph(args) => graph::execute(&args, &session).await,
                Command::Describe(args) => describe::execute(&args.name, &session).await,
                Command::Restart(args) => restart::execute(&args, &session).await,
                Command::List(args) => list::execute(&args, &session).await,
                Command::Logs(args) => logs::execute(&args, &session).await,
                Command::Stop(args) => stop::execute(&args, &session).await,
                Command::Suspend(args) => suspend::execute(&args, &session).await,
                Command::Resume(args) => resume::execute(&args, &session).await,
                Command::Wait(args) => wait::execute(&args, &session).await,
                Command::Delete(args) => delete::execute(&args, &session).await,
                Command::Create(_)
                | Command::Submit(_)
                | Command::Relabel(_)
                | Command::Validate(_)
                | Command::Convert(_)
                | Command::Completion(_)
                | Command::Version => unreachable!("dispatched above"),
            }
        }),
    }
}

/// Runs a command's future to its end on a runtime made for it.
fn block_on(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    // A single-threaded runtime starts fastest, and a CLI waits on one thing at a time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(command)
}
