//! `validate -f FILE`: the offline checks of `create`, without a cluster or a kubeconfig.

use anyhow::bail;

use crate::cli::{ColorChoice, ValidateArgs};
use crate::manifests::{check, read_source};
use crate::output;
use crate::style::stdout_style;

pub fn run(args: &ValidateArgs, color: ColorChoice) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file)?;
    match check(&file, &text, stdout_style(color, false)) {
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
            output::print(&format!(
                "{file}: {} {noun} valid: {}\n",
                names.len(),
                names.join(", ")
            ))
        }
        Err(invalid) => {
            output::print_block(&invalid.report)?;
            let plural = if invalid.problems == 1 {
                "problem"
            } else {
                "problems"
            };
            bail!("{file} is invalid: {} {plural}", invalid.problems)
        }
    }
}
