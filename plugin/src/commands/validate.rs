//! `validate -f FILE [--jobs]`: the offline checks of `create`, without a cluster or a
//! kubeconfig; with `--jobs`, the objects the first run would create. Documents of the systems
//! kwf grows from are converted first, as `create` does.

use anyhow::bail;

use crate::cli::{ObjectOutput, ValidateArgs};
use crate::manifests::{check, read_source};
use crate::render::{ObjectFormat, first_run};
use crate::terminal::Terminal;

pub fn execute(args: &ValidateArgs, terminal: Terminal) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file.path)?;
    let checked = match check(&file, &text, terminal.stdout_style(), args.allow_lossy) {
        Ok(checked) => checked,
        Err(invalid) if invalid.one_line => {
            let (_, error) = invalid.explain(&file, "it is invalid");
            bail!(error)
        }
        Err(invalid) => {
            terminal.print_block(&invalid.report)?;
            let plural = if invalid.problems == 1 {
                "problem"
            } else {
                "problems"
            };
            let hint = if invalid.lossy > 0 {
                " (--allow-lossy converts without the fields it names)"
            } else {
                ""
            };
            bail!("{file} is invalid: {} {plural}{hint}", invalid.problems)
        }
    };
    for note in &checked.notes {
        terminal.note(note);
    }
    let manifests = checked.manifests;
    if args.jobs {
        let workflows: Vec<_> = manifests
            .iter()
            .filter_map(|m| m.workflow().cloned())
            .collect();
        for other in manifests.iter().filter(|m| m.workflow().is_none()) {
            eprintln!(
                "note: {} {:?} runs nothing by itself: its Jobs are those of the Workflows that use it",
                other.object.kind(),
                other.display_name()
            );
        }
        let format = match args.output {
            ObjectOutput::Yaml => ObjectFormat::Yaml,
            ObjectOutput::Json => ObjectFormat::Json,
        };
        let run = first_run(&workflows, format)?;
        for note in &run.notes {
            eprintln!("note: {note}");
        }
        return terminal.print(&run.text);
    }
    let all_workflows = manifests.iter().all(|m| m.workflow().is_some());
    let names: Vec<String> = manifests
        .iter()
        .map(|m| {
            if all_workflows {
                format!("\"{}\"", m.display_name())
            } else {
                format!("{} \"{}\"", m.object.kind(), m.display_name())
            }
        })
        .collect();
    let noun = match (all_workflows, names.len()) {
        (true, 1) => "workflow",
        (true, _) => "workflows",
        (false, 1) => "object",
        (false, _) => "objects",
    };
    terminal.print(&format!(
        "{file}: {} {noun} valid: {}\n",
        names.len(),
        names.join(", ")
    ))
}
