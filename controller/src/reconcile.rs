//! One reconcile: read a Workflow's Jobs from the cache, ask the pure core what to do, do it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use kwf_api::{LABEL_STEP, Workflow, WorkflowStatus};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::config::MANAGER;
use crate::context::Context;
use crate::core::{
    self, Effect, JobState, Observed, ObservedJob, OwnedKind, OwnedObject, WorkflowEvent,
};
use crate::error::{ReconcileError, has_status};
use crate::events::Pending;
use crate::node_list;
use crate::status_writes;
use kwf_api::job::ANNOTATION_INHERITED_LABELS;

/// Annotation on every Job this controller creates: which replica created it (pod name or
/// hostname-pid), so that two replicas acting at once would show.
pub const ANNOTATION_CREATED_BY: &str = "kwf.dev/created-by";

/// Creates at most this many Jobs at once (a wide fan-out still respects the client's QPS).
const CREATE_PARALLELISM: usize = 16;

/// Reconciles one Workflow: the whole behaviour lives in [`core::decide`]; this applies it.
/// Runs in a span naming the Workflow, and is timed in `kwf_reconcile_duration_seconds`
/// whether it succeeds or fails.
pub async fn reconcile(wf: Arc<Workflow>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let span = tracing::info_span!(
        "reconcile",
        workflow = %wf.name_any(),
        namespace = %wf.namespace().unwrap_or_default(),
    );
    let started = Instant::now();
    let result = reconcile_workflow(wf, &ctx).instrument(span).await;
    ctx.metrics.record_reconcile_duration(started.elapsed());
    result
}

async fn reconcile_workflow(wf: Arc<Workflow>, ctx: &Context) -> Result<Action, ReconcileError> {
    // Our own last status write, if the watch has not delivered it yet.
    let wf = ctx.status_writes.current(wf);
    let namespace = wf
        .namespace()
        .ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let uid = wf.uid().ok_or(ReconcileError::MissingMetadata("uid"))?;

    let mut observed = ctx.jobs.jobs_of(&namespace, &uid);
    let status = wf.status.clone().unwrap_or_default();
    // Only a Job whose exit code the status does not record needs its pods listed.
    ctx.jobs
        .fill_exits(&ctx.client, &namespace, &mut observed, |job| {
            core::needs_exit_code(&status, job)
        })
        .await?;

    let claims = ctx.volumes.claims_of(&uid);
    let job_templates = ctx.volumes.templates_of(&wf, &namespace);
    if !wf.spec.volume_claim_templates.is_empty() {
        // The node of a step on a single-node claim, until its status records it.
        let placed = core::steps_on_single_node_claims(&wf, &job_templates);
        ctx.jobs
            .fill_nodes(&ctx.client, &namespace, &mut observed, |job| {
                placed.contains(job.step.as_str())
                    && status.step(&job.step).is_some_and(|s| s.node.is_none())
            })
            .await?;
    }

    // The nodes only while a step fanned out over nodes is about to take them.
    let nodes = if core::needs_nodes(&wf) {
        node_list::list(&ctx.client).await?
    } else {
        Vec::new()
    };

    let now = jiff::Timestamp::now();
    // A single-pod step whose pod succeeded is done, by the core's rule, before its Job says so.
    let settled = core::observed::settle_from_pods(&mut observed, now);
    if settled > 0 {
        ctx.metrics.count_settled_from_pod(settled);
    }
    let decision = core::decide(
        &wf,
        &Observed {
            jobs: &observed,
            claims: &claims,
            job_templates: &job_templates,
            nodes: &nodes,
        },
        now,
    );
    let steps = wf.spec.containers.len();
    let hold = decision.effects.iter().find_map(|effect| match effect {
        Effect::WriteStatus(status) => {
            let phase_changes = wf.status.as_ref().and_then(|s| s.phase) != status.phase;
            status_writes::hold_for(steps, phase_changes, ctx.status_writes.since_written(&uid))
        }
        _ => None,
    });
    apply(
        &wf,
        &namespace,
        &uid,
        &observed,
        decision.effects,
        hold.is_some(),
        ctx,
    )
    .await?;

    ctx.backoff.forget(&uid);
    let requeue_after = match (decision.requeue_after, hold) {
        (Some(after), Some(held)) => Some(after.min(held)),
        (after, held) => after.or(held),
    };
    Ok(match requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// Retries a failed reconcile: soon after a write conflict (our cache was behind; the newer
/// version's own event usually re-triggers first), else with exponential backoff.
pub fn error_policy(wf: Arc<Workflow>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.metrics.count_error(err.metric_label());
    if err.is_conflict() {
        tracing::debug!(workflow = %wf.name_any(), "status write conflicted with a newer version; retrying");
        return Action::requeue(Duration::from_millis(100));
    }
    let delay = ctx.backoff.failed(&wf.uid().unwrap_or_default());
    tracing::warn!(workflow = %wf.name_any(), namespace = ?wf.namespace(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Applies the effects in the order the core lists them (see [`crate::core`]), stopping at the
/// first error. Consecutive creates run in parallel; Events are queued once everything else
/// succeeded. With `hold_status`, the creates are made and everything from the status write
/// on is left for a later reconcile (which decides it again): what follows the status in the
/// contract order must not come before it.
async fn apply(
    wf: &Workflow,
    namespace: &str,
    uid: &str,
    observed: &[ObservedJob],
    effects: Vec<Effect>,
    hold_status: bool,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let mut creates = Vec::new();
    let mut events = Vec::new();
    for effect in effects {
        if let Effect::Create(OwnedObject::Job(job)) = effect {
            creates.push(*job);
            continue;
        }
        create_all(wf, uid, observed, &jobs, std::mem::take(&mut creates), ctx).await?;
        if hold_status && matches!(effect, Effect::WriteStatus(_)) {
            tracing::debug!("status write held back (big workflow)");
            ctx.metrics.count_status_write_held();
            return Ok(());
        }
        match effect {
            Effect::Create(OwnedObject::Job(_)) => unreachable!("handled above"),
            Effect::Create(OwnedObject::Claim(claim)) => create_claim(&claims, *claim).await?,
            Effect::Delete(target) => match target.kind {
                OwnedKind::Job => delete_job(&jobs, &target.name).await?,
                OwnedKind::PersistentVolumeClaim => delete_claim(&claims, &target.name).await?,
            },
            Effect::Relabel {
                target,
                labels,
                inherited,
            } => match target.kind {
                OwnedKind::Job => patch_labels(&jobs, &target.name, &labels, &inherited).await?,
                // The relabel cascade covers Jobs only; the core asks for nothing else.
                OwnedKind::PersistentVolumeClaim => {}
            },
            Effect::WriteStatus(status) => patch_status(wf, namespace, uid, *status, ctx).await?,
            // Events describe what the status records: publish them once it is written.
            Effect::Event(event) => events.push(event),
        }
    }
    create_all(wf, uid, observed, &jobs, creates, ctx).await?;
    for event in events {
        publish(wf, namespace, event, ctx);
    }
    Ok(())
}

async fn create_all(
    wf: &Workflow,
    uid: &str,
    observed: &[ObservedJob],
    api: &Api<Job>,
    creates: Vec<Job>,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    for chunk in creates.chunks(CREATE_PARALLELISM) {
        try_join_all(
            chunk
                .iter()
                .map(|job| create_job(wf, uid, observed, api, job.clone(), ctx)),
        )
        .await?;
    }
    Ok(())
}

async fn create_job(
    wf: &Workflow,
    uid: &str,
    observed: &[ObservedJob],
    api: &Api<Job>,
    mut job: Job,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    job.annotations_mut()
        .insert(ANNOTATION_CREATED_BY.to_owned(), ctx.identity.clone());
    let name = job.name_any();
    let params = PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..Default::default()
    };
    let seen = match api.create(&params, &job).await {
        Ok(created) => {
            ctx.metrics.count_job_created();
            record_scheduling_latency(wf, observed, &created, ctx);
            tracing::debug!(job = %name, "created Job");
            created
        }
        // The name is deterministic: the Job exists, created by us before (or by a former leader).
        Err(err) if has_status(&err, 409) => job,
        Err(source) => return Err(ReconcileError::CreateJob { name, source }),
    };
    if let Some(observed) = ObservedJob::from_job(&seen) {
        ctx.jobs.expect(uid, observed);
    }
    Ok(())
}

/// Time from the last of the step's dependencies seen finished to its Job created.
fn record_scheduling_latency(
    wf: &Workflow,
    observed: &[ObservedJob],
    created: &Job,
    ctx: &Context,
) {
    let Some(step) = created.labels().get(LABEL_STEP) else {
        return;
    };
    let Some(spec) = wf.spec.containers.iter().find(|s| &s.step_name == step) else {
        return;
    };
    // The most recently finished dependency is the one that let the step start.
    let latency = spec
        .depends_on
        .iter()
        .filter_map(|dep| {
            observed
                .iter()
                .filter(|job| &job.step == dep && matches!(job.state, JobState::Succeeded { .. }))
                .filter_map(|job| ctx.jobs.since_finished(job))
                .min()
        })
        .min();
    if let Some(latency) = latency {
        ctx.metrics.record_scheduling_latency(latency);
        tracing::debug!(step = %step, latency_ms = latency.as_secs_f64() * 1000.0, "step scheduled");
    }
}

/// Creates a claim; AlreadyExists is success (the name is deterministic). The claim watch
/// brings it back and reconciles the Workflow, whose step then starts.
async fn create_claim(
    api: &Api<PersistentVolumeClaim>,
    claim: PersistentVolumeClaim,
) -> Result<(), ReconcileError> {
    let params = PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..Default::default()
    };
    match api.create(&params, &claim).await {
        Ok(_) => {
            tracing::debug!(claim = %claim.name_any(), "created PersistentVolumeClaim");
            Ok(())
        }
        Err(err) if has_status(&err, 409) => Ok(()),
        Err(source) => Err(ReconcileError::CreateClaim {
            name: claim.name_any(),
            source,
        }),
    }
}

async fn delete_claim(api: &Api<PersistentVolumeClaim>, name: &str) -> Result<(), ReconcileError> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Ok(()),
        Err(source) => Err(ReconcileError::DeleteClaim {
            name: name.to_owned(),
            source,
        }),
    }
}

async fn delete_job(api: &Api<Job>, name: &str) -> Result<(), ReconcileError> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Ok(()),
        Err(source) => Err(ReconcileError::DeleteJob {
            name: name.to_owned(),
            source,
        }),
    }
}

async fn patch_labels(
    api: &Api<Job>,
    name: &str,
    labels: &BTreeMap<String, Option<String>>,
    inherited: &str,
) -> Result<(), ReconcileError> {
    let patch = json!({
        "metadata": {
            "labels": labels,
            "annotations": { ANNOTATION_INHERITED_LABELS: inherited },
        }
    });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        // Deleted meanwhile: nothing left to relabel.
        Err(err) if has_status(&err, 404) => Ok(()),
        Err(source) => Err(ReconcileError::PatchJob {
            name: name.to_owned(),
            source,
        }),
    }
}

/// Writes the status through the status subresource: a merge patch of only the top-level
/// fields that changed (null removes one), conditional on the resourceVersion we decided from,
/// so a decision made on a stale view is never written (409, then retried on the new one).
async fn patch_status(
    wf: &Workflow,
    namespace: &str,
    uid: &str,
    status: WorkflowStatus,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let current = wf.status.clone().unwrap_or_default();
    let Some(changes) = status_changes(current, status.clone())? else {
        return Ok(());
    };
    let name = wf.name_any();
    let patch = json!({
        "metadata": { "resourceVersion": wf.resource_version() },
        "status": changes,
    });
    let params = PatchParams {
        field_manager: Some(MANAGER.to_owned()),
        ..Default::default()
    };
    // Built by hand rather than with Api::patch_status so that the response (the whole
    // Workflow, 660 KiB for 2,000 steps) is not parsed: the watch brings the new version anyway.
    let request = kube::core::Request::new(Workflow::url_path(&(), Some(namespace)))
        .patch_subresource("status", &name, &params, &Patch::Merge(&patch))
        .map_err(|err| ReconcileError::PatchStatus {
            name: name.clone(),
            source: kube::Error::BuildRequest(err),
        })?;
    let response = ctx
        .client
        .request_text(request)
        .await
        .map_err(|source| ReconcileError::PatchStatus { name, source })?;
    // Only the new version is read from the response (serde skips the rest without building it).
    if let (Some(from), Ok(written)) = (
        wf.resource_version(),
        serde_json::from_str::<Versioned>(&response),
    ) && let Some(to) = written.metadata.resource_version
    {
        ctx.status_writes.wrote(uid, &from, to, status);
    }
    if status_writes::write_interval(wf.spec.containers.len()).is_some() {
        ctx.status_writes.wrote_big(uid);
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct Versioned {
    metadata: VersionedMeta,
}

#[derive(serde::Deserialize)]
struct VersionedMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// The top-level status fields that differ, as a JSON merge patch; None when nothing does.
/// The steps list is nearly all of a big Workflow's status: it is compared as typed values and
/// serialised only when it changed (keeps a 2,000-step reconcile from building JSON twice).
fn status_changes(
    mut current: WorkflowStatus,
    mut desired: WorkflowStatus,
) -> Result<Option<Map<String, Value>>, ReconcileError> {
    let current_steps = std::mem::take(&mut current.steps);
    let desired_steps = std::mem::take(&mut desired.steps);
    let as_map = |status: &WorkflowStatus| -> Result<Map<String, Value>, ReconcileError> {
        match serde_json::to_value(status)? {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        }
    };
    let (current, desired) = (as_map(&current)?, as_map(&desired)?);
    let mut changes = Map::new();
    for (key, value) in &desired {
        if current.get(key) != Some(value) {
            changes.insert(key.clone(), value.clone());
        }
    }
    for key in current.keys() {
        if !desired.contains_key(key) {
            changes.insert(key.clone(), Value::Null);
        }
    }
    if current_steps != desired_steps {
        let steps = if desired_steps.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(&desired_steps)?
        };
        changes.insert("steps".to_owned(), steps);
    }
    Ok((!changes.is_empty()).then_some(changes))
}

/// Queues the Event for the background publisher (see [`crate::events`]).
fn publish(wf: &Workflow, namespace: &str, event: WorkflowEvent, ctx: &Context) {
    let WorkflowEvent {
        reason,
        note,
        warning,
        related,
    } = event;
    // The step's Job as related object: `kubectl describe job` shows it too.
    let related = related.map(|target| ObjectReference {
        api_version: Some(target.kind.api_version().into()),
        kind: Some(target.kind.kind().into()),
        name: Some(target.name),
        namespace: Some(namespace.to_owned()),
        ..ObjectReference::default()
    });
    ctx.events.record(Pending {
        regarding: wf.object_ref(&()),
        related,
        reason,
        note,
        warning,
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use kube::Client;
    use kube::runtime::reflector;
    use kwf_api::fixtures::{WorkflowFixture, b_after_a};
    use kwf_api::{StepPhase, StepStatus, WorkflowPhase};

    use super::*;
    use crate::events::Events;
    use crate::job_cache::JobCache;
    use crate::metrics::Metrics;

    /// A client whose API server answers every request with 500 Internal Server Error.
    fn failing_client() -> Client {
        let service = tower::service_fn(|_request: http::Request<kube::client::Body>| async {
            let status = json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "injected", "reason": "InternalError", "code": 500,
            });
            http::Response::builder()
                .status(500)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(status.to_string().into_bytes()))
        });
        Client::new(service, "default")
    }

    fn context_on(client: Client, metrics: &Metrics) -> Arc<Context> {
        let events = Events::start(client.clone(), "test".into(), true, metrics.clone());
        let (store, _writer) = reflector::store();
        Arc::new(Context::new(
            client,
            events,
            metrics.clone(),
            JobCache::new(store),
            crate::volume_watch::VolumeCaches::unwatched(),
            "test".into(),
        ))
    }

    /// Log lines written while it runs, for a test on the current thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failing_reconcile_is_timed_in_its_span() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let captured = captured.clone();
                move || captured.clone()
            })
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let metrics = Metrics::new();
        let ctx = context_on(failing_client(), &metrics);
        let wf = Arc::new(b_after_a().with_namespace("team-a"));

        let err = reconcile(wf, ctx).await.expect_err("the API server fails");
        assert!(
            matches!(err, ReconcileError::CreateJob { .. }),
            "the first Job's create fails: {err}"
        );
        let text = metrics.encode();
        assert!(
            text.contains("kwf_reconcile_duration_seconds_count 1"),
            "the failed reconcile is timed:\n{text}"
        );
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("reconcile{workflow=ab namespace=team-a}"),
            "a span names the Workflow: {log}"
        );
    }

    #[test]
    fn an_unchanged_status_needs_no_patch() {
        let status = WorkflowStatus {
            phase: Some(WorkflowPhase::Started),
            ..Default::default()
        };
        assert_eq!(status_changes(status.clone(), status).unwrap(), None);
    }

    #[test]
    fn only_changed_fields_are_sent_and_cleared_ones_are_nulled() {
        let current = WorkflowStatus {
            phase: Some(WorkflowPhase::Failed),
            message: Some("step b failed".into()),
            progress: Some("1/3".into()),
            ..Default::default()
        };
        let desired = WorkflowStatus {
            phase: Some(WorkflowPhase::Started),
            progress: Some("1/3".into()),
            steps: vec![StepStatus {
                name: "a".into(),
                phase: StepPhase::Running,
                ..Default::default()
            }],
            ..Default::default()
        };
        let changes = status_changes(current, desired).unwrap().unwrap();
        assert_eq!(changes.get("phase"), Some(&json!("Started")));
        assert_eq!(changes.get("message"), Some(&Value::Null));
        assert!(
            !changes.contains_key("progress"),
            "unchanged fields are not sent"
        );
        assert_eq!(
            changes
                .get("steps")
                .and_then(|s| s.as_array())
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn steps_are_sent_only_when_they_changed_and_nulled_when_cleared() {
        let step = |phase| StepStatus {
            name: "a".into(),
            phase,
            ..Default::default()
        };
        let running = WorkflowStatus {
            phase: Some(WorkflowPhase::Started),
            steps: vec![step(StepPhase::Running)],
            ..Default::default()
        };
        let succeeded = WorkflowStatus {
            steps: vec![step(StepPhase::Succeeded)],
            ..running.clone()
        };
        let changes = status_changes(running.clone(), succeeded).unwrap().unwrap();
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["steps"]);
        assert_eq!(changes["steps"][0]["phase"], json!("Succeeded"));

        let cleared = WorkflowStatus {
            steps: Vec::new(),
            ..running.clone()
        };
        let changes = status_changes(running, cleared).unwrap().unwrap();
        assert_eq!(changes.get("steps"), Some(&Value::Null));
    }
}
