//! `completion bash|zsh|fish`: a script generated from the command definition.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::terminal::Terminal;

pub fn execute(shell: Shell, terminal: Terminal) -> anyhow::Result<()> {
    let mut script = Vec::new();
    // Completion scripts bind to an executable name; the plugin's file name is the one that exists.
    clap_complete::generate(shell, &mut Cli::command(), "kubectl-workflow", &mut script);
    terminal.print(&String::from_utf8_lossy(&script))
}
