//! `validate -f FILE [--jobs]`: the offline checks of `create`, without a cluster or a
//! kubeconfig; with `--jobs`, the objects the first run would create.

use anyhow::bail;

use crate::cli::{ObjectOutput, ValidateArgs};
use crate::manifests::{check, read_source};
use crate::render::{ObjectFormat, first_run};
use crate::terminal::Terminal;

pub fn execute(args: &ValidateArgs, terminal: Terminal) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file.path)?;
    match check(&file, &text, terminal.stdout_style()) {
        Ok(manifests) if args.jobs => {
            let workflows: Vec<_> = manifests.into_iter().map(|m| m.workflow).collect();
            let format = match args.output {
                ObjectOutput::Yaml => ObjectFormat::Yaml,
                ObjectOutput::Json => ObjectFormat::Json,
            };
            let run = first_run(&workflows, format)?;
            for note in &run.notes {
                eprintln!("note: {note}");
            }
            terminal.print(&run.text)
        }
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
