//! `relabel NAME key=value ... key- [--overwrite] [--wait]`: kubectl label semantics on the
//! Workflow; the controller copies the change onto its Jobs, which `--wait` waits for.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;
use kwf_api::{LABEL_WORKFLOW, label_value};
use serde_json::{Value, json};

use crate::cli::{ConnectionFlags, RelabelArgs};
use crate::errors::{Op, WORKFLOWS};
use crate::labels::{self, LabelChange};
use crate::render::object_ref;
use crate::session::Session;
use crate::terminal::Terminal;

/// Optimistic concurrency: a concurrent writer makes us re-read and re-check, a few times.
const ATTEMPTS: usize = 3;

pub async fn execute(
    args: &RelabelArgs,
    flags: &ConnectionFlags,
    terminal: Terminal,
) -> anyhow::Result<()> {
    // Syntax errors need no cluster.
    let changes = labels::parse_changes(&args.changes)?;
    let session = &Session::connect(flags, terminal).await?;
    let name = &args.workflow.name;
    let namespace = session.namespace();

    let mut attempt = 0;
    let wf = loop {
        attempt += 1;
        let wf = session.get_workflow(namespace, name).await?;
        let current = wf.metadata.labels.clone().unwrap_or_default();
        let plan = labels::plan(&current, &changes, args.overwrite)?;
        for warning in &plan.warnings {
            terminal.note(&format!("warning: {warning}"));
        }
        if plan.patch.is_empty() {
            terminal.print(&format!("{} not labeled\n", object_ref(name)))?;
            break wf;
        }
        let version = wf.metadata.resource_version.clone().unwrap_or_default();
        let patch = labels_patch(&plan.patch, &version);
        match session.merge_patch_workflow(name, &patch).await {
            Ok(updated) => {
                terminal.print(&format!("{} labeled\n", object_ref(name)))?;
                break updated;
            }
            Err(kube::Error::Api(status)) if status.is_conflict() && attempt < ATTEMPTS => continue,
            Err(err) => {
                let op = Op::new("patch", WORKFLOWS, Some(namespace)).named(name);
                return Err(session.fail(op, &err));
            }
        }
    };

    if args.wait {
        let uid = wf.metadata.uid.clone().unwrap_or_default();
        wait_for_jobs(
            session,
            name,
            &uid,
            &changes,
            Duration::from_secs(args.timeout),
        )
        .await?;
    }
    Ok(())
}

/// A merge patch of the labels, conditional on the version we checked (409 if it moved on).
fn labels_patch(changes: &BTreeMap<String, Option<String>>, resource_version: &str) -> Value {
    let labels: serde_json::Map<String, Value> = changes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::from)))
        .collect();
    json!({ "metadata": { "resourceVersion": resource_version, "labels": labels } })
}

/// Polls the workflow's Jobs until each carries the change, or the timeout passes.
async fn wait_for_jobs(
    session: &Session,
    name: &str,
    uid: &str,
    changes: &[LabelChange],
    timeout: Duration,
) -> anyhow::Result<()> {
    let wanted = labels::wanted(changes);
    let params = ListParams::default().labels(&format!("{LABEL_WORKFLOW}={}", label_value(name)));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let jobs: Vec<Job> = session
            .list(session.namespace(), &params, "jobs.batch")
            .await?;
        let (total, carrying) = count_carrying(&jobs, uid, &wanted);
        if carrying == total {
            let noun = if total == 1 {
                "Job carries"
            } else {
                "Jobs carry"
            };
            session.terminal.note(&format!("{total} {noun} the change"));
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "timed out after {}s: {carrying} of {total} Jobs of workflow \"{name}\" carry the change; \
                 is workflow-controller running?",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Jobs of this workflow (by owner uid; ones being deleted don't count) and how many carry
/// the wanted labels.
fn count_carrying(
    jobs: &[Job],
    owner_uid: &str,
    wanted: &BTreeMap<String, Option<String>>,
) -> (usize, usize) {
    let ours = jobs.iter().filter(|job| {
        job.metadata.deletion_timestamp.is_none()
            && job
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == owner_uid)
    });
    let mut total = 0;
    let mut carrying = 0;
    for job in ours {
        total += 1;
        if labels::carries(
            job.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()),
            wanted,
        ) {
            carrying += 1;
        }
    }
    (total, carrying)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};

    fn job(owner: &str, labels: &[(&str, &str)], deleting: bool) -> Job {
        let mut job = Job::default();
        job.metadata.owner_references = Some(vec![OwnerReference {
            uid: owner.into(),
            name: "wf".into(),
            ..Default::default()
        }]);
        job.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        if deleting {
            job.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }
        job
    }

    #[test]
    fn the_patch_sets_removes_and_pins_the_version() {
        let changes = BTreeMap::from([
            ("a".to_string(), Some("1".to_string())),
            ("b".to_string(), None),
        ]);
        assert_eq!(
            labels_patch(&changes, "42"),
            json!({"metadata": {"resourceVersion": "42", "labels": {"a": "1", "b": null}}})
        );
    }

    #[test]
    fn only_live_jobs_of_this_workflow_count() {
        let wanted = BTreeMap::from([("team".to_string(), Some("web".to_string()))]);
        let jobs = vec![
            job("uid-1", &[("team", "web")], false),
            job("uid-1", &[("team", "data")], false),
            job("uid-1", &[("team", "data")], true),
            job("uid-2", &[("team", "data")], false),
        ];
        assert_eq!(count_carrying(&jobs, "uid-1", &wanted), (2, 1));
        assert_eq!(count_carrying(&[], "uid-1", &wanted), (0, 0));
    }
}
