//! `validate -f FILE`: the offline checks of `create`, without a cluster or a kubeconfig.

use anyhow::bail;

use crate::cli::ValidateArgs;
use crate::manifests::{check, read_source};
use crate::terminal::Terminal;

pub fn execute(args: &ValidateArgs, terminal: Terminal) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file.path)?;
    match check(&file, &text, terminal.stdout_style()) {
        Ok(manifests) => {
            let names: Vec<String> = manifests
                .iter()
                .map(|m| format!("\"{}\"", m.display_name()))
                .collect();
            let noun = if names.len() == 1 {
                "workflow"
            } else {
                "workflows"
            };
            terminal.print(&format!(
                "{file}: {} {noun} valid: {}\n",
                names.len(),
                names.join(", ")
            ))
        }
        Err(invalid) => {
            terminal.print_block(&invalid.report)?;
            let plural = if invalid.problems == 1 {
                "problem"
            } else {
                "problems"
            };
            bail!("{file} is invalid: {} {plural}", invalid.problems)
        }
    }
}
