//! `create -f FILE|-`: validate every document first (nothing is sent if one is invalid), then
//! create them; `--dry-run=client` stops after the checks, `--dry-run=server` asks the API
//! server; `--watch` follows the created workflows to their end.

use anyhow::{anyhow, bail};
use kube::api::PostParams;
use kwf_api::Workflow;

use crate::cli::{ConnectionFlags, CreateArgs, DryRun};
use crate::errors::{Op, WORKFLOWS};
use crate::manifests::{Manifest, check, read_source};
use crate::render::{GraphFormat, object_ref};
use crate::session::Session;
use crate::terminal::Terminal;
use crate::watch::{Outcome, follow};

pub async fn execute(
    args: &CreateArgs,
    flags: &ConnectionFlags,
    terminal: Terminal,
) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file.path)?;
    let manifests = match check(&file, &text, terminal.stderr_style()) {
        Ok(manifests) => manifests,
        Err(invalid) => {
            eprint!("{}", invalid.report);
            let plural = if invalid.problems == 1 {
                "problem"
            } else {
                "problems"
            };
            bail!(
                "{file} is invalid ({} {plural}); nothing was created",
                invalid.problems
            );
        }
    };
    if args.dry_run == DryRun::Client {
        for manifest in &manifests {
            terminal.print(&format!(
                "{} created (dry run)\n",
                object_ref(&manifest.display_name())
            ))?;
        }
        return Ok(());
    }

    let session = Session::connect(flags, terminal).await?;
    let mut created = Vec::new();
    let mut failures = Vec::new();
    for manifest in &manifests {
        match create_one(&session, flags, manifest, args.dry_run).await {
            Ok((namespace, name)) => {
                let suffix = if args.dry_run == DryRun::Server {
                    " (server dry run)"
                } else {
                    ""
                };
                terminal.print(&format!("{} created{suffix}\n", object_ref(&name)))?;
                created.push((namespace, name));
            }
            Err(err) if manifests.len() == 1 => return Err(err),
            Err(err) => {
                terminal.note(&format!("error: {}: {err:#}", manifest.source));
                failures.push(manifest.display_name());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} workflows were not created: {}",
            failures.len(),
            manifests.len(),
            failures.join(", ")
        );
    }
    if args.follow.watch {
        return watch_all(&session, &created).await;
    }
    Ok(())
}

/// Creates one workflow in its namespace; returns where it landed and its final name.
async fn create_one(
    session: &Session,
    flags: &ConnectionFlags,
    manifest: &Manifest,
    dry_run: DryRun,
) -> anyhow::Result<(String, String)> {
    let namespace = target_namespace(
        &manifest.workflow,
        flags.namespace.as_deref(),
        session.namespace(),
    )?;
    let params = PostParams {
        dry_run: dry_run == DryRun::Server,
        field_manager: Some("kubectl-workflow".to_string()),
    };
    let display = manifest.display_name();
    let op = Op::new("create", WORKFLOWS, Some(&namespace)).named(&display);
    let api = session.api::<Workflow>(Some(&namespace));
    let object = session
        .send(op, api.create(&params, &manifest.workflow))
        .await?;
    let name = object.metadata.name.unwrap_or(display);
    Ok((namespace, name))
}

/// The document's namespace unless `-n` says otherwise (then they must agree, as in kubectl).
fn target_namespace(wf: &Workflow, flag: Option<&str>, default: &str) -> anyhow::Result<String> {
    match (wf.metadata.namespace.as_deref(), flag) {
        (Some(own), Some(flag)) if own != flag => Err(anyhow!(
            "the namespace of workflow \"{}\" ({own}) does not match -n {flag}; remove one of them",
            wf.metadata
                .name
                .as_deref()
                .or(wf.metadata.generate_name.as_deref())
                .unwrap_or_default()
        )),
        (Some(own), _) => Ok(own.to_string()),
        (None, _) => Ok(default.to_string()),
    }
}

/// Follows each created workflow in turn; fails if any of them failed.
async fn watch_all(session: &Session, created: &[(String, String)]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for (namespace, name) in created {
        match follow(session, namespace, name, &|_| true, GraphFormat::Tree).await? {
            Outcome::Completed => {}
            outcome @ Outcome::Failed { .. } if created.len() == 1 => {
                return outcome.into_result(name);
            }
            Outcome::Failed { .. } => failed.push(name.clone()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} of {} workflows failed: {}",
            failed.len(),
            created.len(),
            failed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fixtures::workflow;

    fn wf(namespace: Option<&str>) -> Workflow {
        let mut wf = workflow("wf", &[]);
        wf.metadata.namespace = namespace.map(str::to_string);
        wf
    }

    #[test]
    fn the_documents_namespace_wins_over_the_context_default() {
        assert_eq!(
            target_namespace(&wf(Some("a")), None, "default").unwrap(),
            "a"
        );
        assert_eq!(
            target_namespace(&wf(None), None, "default").unwrap(),
            "default"
        );
        assert_eq!(target_namespace(&wf(None), Some("b"), "b").unwrap(), "b");
        assert_eq!(
            target_namespace(&wf(Some("b")), Some("b"), "b").unwrap(),
            "b"
        );
    }

    #[test]
    fn a_namespace_conflicting_with_the_flag_is_an_error() {
        let err = target_namespace(&wf(Some("a")), Some("b"), "b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the namespace of workflow \"wf\" (a) does not match -n b; remove one of them"
        );
    }
}
