//! `create -f FILE|-`: validate every document first (nothing is sent if one is invalid), then
//! create them; `--dry-run=client` stops after the checks, `--dry-run=server` asks the API
//! server; `--watch` follows the created workflows to their end.

use anyhow::{anyhow, bail};
use kube::Api;
use kube::api::PostParams;
use kwf_api::Workflow;

use super::object_ref;
use crate::cli::{ColorChoice, ConnectionFlags, CreateArgs, DryRun};
use crate::connect::{Cluster, connect};
use crate::errors::{Op, WORKFLOWS};
use crate::manifests::{Manifest, check, read_source};
use crate::output;
use crate::render::GraphFormat;
use crate::style::{stderr_style, stdout_style};
use crate::watch::{Display, Outcome, follow};

pub async fn run(
    args: &CreateArgs,
    flags: &ConnectionFlags,
    color: ColorChoice,
) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file)?;
    let manifests = match check(&file, &text, stderr_style(color)) {
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
            output::print(&format!(
                "{} created (dry run)\n",
                object_ref(&manifest.display_name())
            ))?;
        }
        return Ok(());
    }

    let cluster = connect(flags).await?;
    let mut created = Vec::new();
    let mut failures = Vec::new();
    for manifest in &manifests {
        match create_one(&cluster, flags, manifest, args.dry_run).await {
            Ok((namespace, name)) => {
                let suffix = if args.dry_run == DryRun::Server {
                    " (server dry run)"
                } else {
                    ""
                };
                output::print(&format!("{} created{suffix}\n", object_ref(&name)))?;
                created.push((namespace, name));
            }
            Err(err) if manifests.len() == 1 => return Err(err),
            Err(err) => {
                output::note(&format!("error: {}: {err:#}", manifest.source));
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
    if args.watch {
        return watch_all(&cluster, &created, color, args.ascii).await;
    }
    Ok(())
}

/// Creates one workflow in its namespace; returns where it landed and its final name.
async fn create_one(
    cluster: &Cluster,
    flags: &ConnectionFlags,
    manifest: &Manifest,
    dry_run: DryRun,
) -> anyhow::Result<(String, String)> {
    let namespace = target_namespace(
        &manifest.workflow,
        flags.namespace.as_deref(),
        &cluster.namespace,
    )?;
    let api: Api<Workflow> = Api::namespaced(cluster.client.clone(), &namespace);
    let params = PostParams {
        dry_run: dry_run == DryRun::Server,
        field_manager: Some("kubectl-workflow".to_string()),
    };
    let display = manifest.display_name();
    let op = Op::new("create", WORKFLOWS, Some(&namespace)).named(&display);
    let object = api
        .create(&params, &manifest.workflow)
        .await
        .map_err(cluster.fail(op))?;
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
async fn watch_all(
    cluster: &Cluster,
    created: &[(String, String)],
    color: ColorChoice,
    ascii: bool,
) -> anyhow::Result<()> {
    let display = Display {
        format: GraphFormat::Tree,
        style: stdout_style(color, ascii),
    };
    let mut failed = Vec::new();
    for (namespace, name) in created {
        match follow(cluster, namespace, name, &|_| true, display).await? {
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
    use kwf_api::WorkflowSpec;

    fn wf(namespace: Option<&str>) -> Workflow {
        let mut wf = Workflow::new(
            "wf",
            WorkflowSpec {
                max_step_timeout: 60,
                containers: vec![],
            },
        );
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
