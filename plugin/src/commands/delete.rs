//! `delete NAME... | -l SELECTOR | --all`: delete workflows as `kubectl delete` does. Without
//! names, `--all` must be explicit; `-i` lists what would go and asks; `--dry-run` deletes
//! nothing. A Workflow's Jobs and pods are deleted with it (owner references, Background
//! propagation). Every workflow is tried; a missing one is reported and fails the command
//! at the end unless `--ignore-not-found`.

use std::io::BufRead;

use kube::api::{DeleteParams, PropagationPolicy};
use kwf_api::Workflow;

use crate::cli::{DeleteArgs, DryRun};
use crate::errors::{Op, WORKFLOWS};
use crate::session::Session;

use super::annotate::dry_run_suffix;

pub async fn execute(args: &DeleteArgs, session: &Session) -> anyhow::Result<()> {
    let namespace = session.namespace();
    let dry_run = args.dry_run.dry_run;
    let mut problems = Vec::new();
    let names: Vec<String> = if args.names.is_empty() {
        let found = session
            .list_workflows(Some(namespace), args.selector.as_deref())
            .await?;
        found
            .iter()
            .filter_map(|wf: &Workflow| wf.metadata.name.clone())
            .collect()
    } else {
        let mut present = Vec::new();
        let api = session.api::<Workflow>(Some(namespace));
        for name in &args.names {
            let op = Op::new("get", WORKFLOWS, Some(namespace)).named(name);
            match session.send(op, api.get_opt(name)).await? {
                Some(_) => present.push(name.clone()),
                None if args.ignore_not_found => {}
                None => problems.push(not_found(name, namespace)),
            }
        }
        present
    };
    if names.is_empty() && problems.is_empty() {
        session
            .terminal
            .note(&format!("No resources found in {namespace} namespace."));
        return Ok(());
    }
    if args.interactive && !names.is_empty() && !confirm(session, &names)? {
        session.terminal.print("deletion is cancelled\n")?;
        return finish(problems);
    }
    for name in &names {
        if dry_run != DryRun::Client {
            let op = Op::new("delete", WORKFLOWS, Some(namespace)).named(name);
            let params = DeleteParams {
                dry_run: dry_run == DryRun::Server,
                propagation_policy: Some(PropagationPolicy::Background),
                ..DeleteParams::default()
            };
            let api = session.api::<Workflow>(Some(namespace));
            match api.delete(name, &params).await {
                Ok(_) => {}
                // Deleted by someone else since it was listed.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    if !args.ignore_not_found {
                        problems.push(not_found(name, namespace));
                    }
                    continue;
                }
                Err(err) => {
                    problems.push(session.explain(op, &err));
                    continue;
                }
            }
        }
        session.terminal.print(&deleted_line(name, dry_run))?;
    }
    finish(problems)
}

/// kubectl's `workflow.kwf.dev "x" deleted`, marked for dry runs.
fn deleted_line(name: &str, dry_run: DryRun) -> String {
    format!(
        "workflow.kwf.dev \"{name}\" deleted{}\n",
        dry_run_suffix(dry_run)
    )
}

/// kubectl's question for `-i`: the objects, then y/n on standard input.
fn confirm(session: &Session, names: &[String]) -> anyhow::Result<bool> {
    session.terminal.print(&question(names))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| anyhow::anyhow!("cannot read the answer from standard input: {e}"))?;
    Ok(is_yes(&answer))
}

fn question(names: &[String]) -> String {
    let mut text = format!(
        "You are about to delete the following {} resource(s):\n",
        names.len()
    );
    for name in names {
        text.push_str(&crate::render::object_ref(name));
        text.push('\n');
    }
    text.push_str("Do you want to continue? (y/n): ");
    text
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The one-line errors of the workflows that could not be deleted, joined.
fn finish(problems: Vec<String>) -> anyhow::Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}", problems.join("; ")))
    }
}

/// kubectl's not-found line, with where to look.
fn not_found(name: &str, namespace: &str) -> String {
    format!(
        "workflow \"{name}\" not found in namespace \"{namespace}\"; list them with `kubectl workflow list -n {namespace}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_lines_read_as_kubectl_s() {
        assert_eq!(
            deleted_line("nightly", DryRun::None),
            "workflow.kwf.dev \"nightly\" deleted\n"
        );
        assert_eq!(
            deleted_line("nightly", DryRun::Server),
            "workflow.kwf.dev \"nightly\" deleted (server dry run)\n"
        );
    }

    #[test]
    fn interactive_asks_once_for_the_list() {
        assert_eq!(
            question(&["a".into(), "b".into()]),
            "You are about to delete the following 2 resource(s):\n\
             workflow.kwf.dev/a\nworkflow.kwf.dev/b\nDo you want to continue? (y/n): "
        );
        assert!(is_yes("y\n"));
        assert!(is_yes(" YES "));
        assert!(!is_yes("n\n"));
        assert!(!is_yes(""), "end of input is no");
    }
}
