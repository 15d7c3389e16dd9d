//! `create -f FILE|-`: validate every document first (nothing is sent if one is invalid), then
//! create them; `--dry-run=client` stops after the checks, `--dry-run=server` asks the API
//! server; `--watch` follows the created workflows to their end. Documents of the systems kwf
//! grows from are converted first (`kubectl workflow convert` shows the result), each
//! conversion said on stderr.

use anyhow::{anyhow, bail};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kwf_api::{JobTemplate, Workflow, WorkflowTemplate};

use crate::cli::{ConnectionFlags, CreateArgs, DryRun};
use crate::convert::KwfObject;
use crate::errors::{Op, WORKFLOWS};
use crate::manifests::{Manifest, check, read_source};
use crate::render::GraphFormat;
use crate::session::Session;
use crate::terminal::Terminal;
use crate::watch::{Outcome, follow};

/// The resources of the other kwf kinds, for messages.
const WORKFLOW_TEMPLATES: &str = "workflowtemplates.kwf.dev";
const JOB_TEMPLATES: &str = "jobtemplates.kwf.dev";

pub async fn execute(
    args: &CreateArgs,
    flags: &ConnectionFlags,
    terminal: Terminal,
) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file.path)?;
    let checked = match check(&file, &text, terminal.stderr_style(), args.allow_lossy) {
        Ok(checked) => checked,
        Err(invalid) => {
            let (report, error) = invalid.explain(&file, "nothing was created");
            eprint!("{report}");
            bail!(error);
        }
    };
    for note in &checked.notes {
        terminal.note(note);
    }
    let manifests = checked.manifests;
    if args.dry_run == DryRun::Client {
        for manifest in &manifests {
            terminal.print(&format!(
                "{} created (dry run)\n",
                manifest.object.reference(&manifest.display_name())
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
                terminal.print(&format!(
                    "{} created{suffix}\n",
                    manifest.object.reference(&name)
                ))?;
                if manifest.workflow().is_some() {
                    created.push((namespace, name));
                }
            }
            Err(err) if manifests.len() == 1 => return Err(err),
            Err(err) => {
                terminal.note(&format!("error: {}: {err:#}", manifest.source));
                failures.push(manifest.display_name());
            }
        }
    }
    if !failures.is_empty() {
        let noun = if manifests.iter().all(|m| m.workflow().is_some()) {
            "workflows"
        } else {
            "objects"
        };
        bail!(
            "{} of {} {noun} were not created: {}",
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

/// Creates one object in its namespace; returns where it landed and its final name.
async fn create_one(
    session: &Session,
    flags: &ConnectionFlags,
    manifest: &Manifest,
    dry_run: DryRun,
) -> anyhow::Result<(String, String)> {
    let object = &manifest.object;
    let namespace = target_namespace(
        object.metadata(),
        &object.kind().to_lowercase(),
        flags.namespace.as_deref(),
        session.namespace(),
    )?;
    let params = PostParams {
        dry_run: dry_run == DryRun::Server,
        field_manager: Some("kubectl-workflow".to_string()),
    };
    let display = manifest.display_name();
    let ns = Some(namespace.as_str());
    let created = match object {
        KwfObject::Workflow(wf) => {
            let op = Op::new("create", WORKFLOWS, ns).named(&display);
            let api = session.api::<Workflow>(ns);
            session.send(op, api.create(&params, wf)).await?.metadata
        }
        KwfObject::WorkflowTemplate(template) => {
            let op = Op::new("create", WORKFLOW_TEMPLATES, ns).named(&display);
            let api = session.api::<WorkflowTemplate>(ns);
            session
                .send(op, api.create(&params, template))
                .await?
                .metadata
        }
        KwfObject::JobTemplate(template) => {
            let op = Op::new("create", JOB_TEMPLATES, ns).named(&display);
            let api = session.api::<JobTemplate>(ns);
            session
                .send(op, api.create(&params, template))
                .await?
                .metadata
        }
    };
    let name = created.name.unwrap_or(display);
    Ok((namespace, name))
}

/// The document's namespace unless `-n` says otherwise (then they must agree, as in kubectl).
fn target_namespace(
    meta: &ObjectMeta,
    kind: &str,
    flag: Option<&str>,
    default: &str,
) -> anyhow::Result<String> {
    match (meta.namespace.as_deref(), flag) {
        (Some(own), Some(flag)) if own != flag => Err(anyhow!(
            "the namespace of {kind} \"{}\" ({own}) does not match -n {flag}; remove one of them",
            meta.name
                .as_deref()
                .or(meta.generate_name.as_deref())
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
            target_namespace(&wf(Some("a")).metadata, "workflow", None, "default").unwrap(),
            "a"
        );
        assert_eq!(
            target_namespace(&wf(None).metadata, "workflow", None, "default").unwrap(),
            "default"
        );
        assert_eq!(
            target_namespace(&wf(None).metadata, "workflow", Some("b"), "b").unwrap(),
            "b"
        );
        assert_eq!(
            target_namespace(&wf(Some("b")).metadata, "workflow", Some("b"), "b").unwrap(),
            "b"
        );
    }

    #[test]
    fn a_namespace_conflicting_with_the_flag_is_an_error() {
        let err =
            target_namespace(&wf(Some("a")).metadata, "workflow", Some("b"), "b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the namespace of workflow \"wf\" (a) does not match -n b; remove one of them"
        );
    }
}
