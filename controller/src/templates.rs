//! The WorkflowTemplate reconciler: for each leadership term, a watch of the templates and of
//! their runs (Workflows labelled `kwf.dev/template`), and kube's Controller applying each
//! template's pure decisions in turn: the schedule (`core::schedule`: delete the runs `Replace`
//! replaces, create the due run), the item group (`core::item_group`: create the chosen items'
//! runs), the history (`core::history`: the runs beyond the limits or past their TTL). Creates
//! take AlreadyExists as success (runs are named from their cause); the status is written
//! before the history's deletes; the reconcile wakes at the earliest time any decision named.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{self, BoxFuture};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kwf_api::item_group::ANNOTATION_ITEM;
use kwf_api::workflow_template::{LABEL_TEMPLATE, WorkflowTemplateStatus};
use kwf_api::{Workflow, WorkflowSpec, WorkflowTemplate};
use serde_json::json;
use tokio::sync::watch;

use crate::config::MANAGER;
use crate::core::history::{
    HistoryPolicy, Outcome, TemplateRun, decide_history, last_run, wait_until,
};
use crate::core::item_group::{decide_item_group, unsettled_runs};
use crate::core::schedule::{ScheduledRunState, decide_schedule};
use crate::core::template_run::{is_active, scheduled_run, scheduled_time};
use crate::error::has_status;
use crate::term::Reconciler;

/// A failed reconcile is retried after this long.
const RETRY: Duration = Duration::from_secs(10);

/// What the WorkflowTemplate reconciler needs across terms.
pub struct TemplateReconciler {
    pub client: Client,
    /// Only templates (and runs) in this namespace (None: all).
    pub namespace: Option<String>,
}

struct TemplateContext {
    client: Client,
    runs: Store<Workflow>,
}

/// Why one reconcile of a template failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateReconcileError {
    #[error("creating run {name}: {source}")]
    CreateRun {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting run {name}: {source}")]
    DeleteRun {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the status of WorkflowTemplate {name}: {source}")]
    PatchStatus {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl TemplateReconciler {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }
}

impl Reconciler for TemplateReconciler {
    fn name(&self) -> &'static str {
        "workflowtemplates"
    }

    fn lead(&self, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
        let templates: Api<WorkflowTemplate> = self.api();
        let runs_api: Api<Workflow> = self.api();
        let client = self.client.clone();
        Box::pin(async move {
            let (runs, writer) = reflector::store();
            let run_events = watcher(runs_api, watcher::Config::default().labels(LABEL_TEMPLATE))
                .default_backoff()
                .modify(strip_run)
                .reflect(writer)
                .touched_objects();
            let ctx = Arc::new(TemplateContext { client, runs });
            let mut graceful = stop;
            tracing::info!("reconciling WorkflowTemplates");
            Controller::new(templates, watcher::Config::default())
                .watches_stream(run_events, |run: Workflow| {
                    let template = run.labels().get(LABEL_TEMPLATE).cloned();
                    let namespace = run.namespace();
                    template.map(|t| match namespace {
                        Some(ns) => ObjectRef::new(&t).within(&ns),
                        None => ObjectRef::new(&t),
                    })
                })
                .graceful_shutdown_on(async move {
                    let _ = graceful.wait_for(|stopped| *stopped).await;
                })
                .run(reconcile, error_policy, ctx)
                .for_each(|result| {
                    match result {
                        Err(controller::Error::ReconcilerFailed(..)) | Ok(_) => {}
                        Err(controller::Error::ObjectNotFound(obj)) => {
                            tracing::debug!(object = %obj, "WorkflowTemplate gone before its reconcile")
                        }
                        Err(other) => tracing::warn!(error = %other, "template controller"),
                    }
                    future::ready(())
                })
                .await;
        })
    }
}

/// A run is read for its name, labels, annotations and phase only: its spec is dropped.
fn strip_run(run: &mut Workflow) {
    run.metadata.managed_fields = None;
    run.spec = WorkflowSpec::default();
    if let Some(status) = run.status.as_mut() {
        status.steps.clear();
        status.conditions.clear();
    }
}

async fn reconcile(
    template: Arc<WorkflowTemplate>,
    ctx: Arc<TemplateContext>,
) -> Result<Action, TemplateReconcileError> {
    // Until the run watch has listed once, "no active run" could be false.
    if tokio::time::timeout(Duration::ZERO, ctx.runs.wait_until_ready())
        .await
        .is_err()
    {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let name = template.name_any();
    let namespace = template.namespace().unwrap_or_default();
    let observed: Vec<Arc<Workflow>> = ctx
        .runs
        .state()
        .into_iter()
        .filter(|r| {
            r.namespace().as_deref() == Some(namespace.as_str())
                && r.labels().get(LABEL_TEMPLATE) == Some(&name)
        })
        .collect();
    let mut runs: Vec<TemplateRun> = observed.iter().map(|r| TemplateRun::of(r)).collect();
    let previous = template.status.clone().unwrap_or_default();
    let now = Timestamp::now();
    let workflows: Api<Workflow> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut problems: Vec<String> = Vec::new();
    let mut wake: Vec<Duration> = Vec::new();
    let mut status = WorkflowTemplateStatus {
        observed_generation: template.metadata.generation,
        ..previous.clone()
    };

    if let Some(schedule) = &template.spec.schedule {
        let scheduled: Vec<ScheduledRunState> = observed
            .iter()
            .map(|r| ScheduledRunState {
                name: r.name_any(),
                scheduled: scheduled_time(r),
                active: is_active(r),
            })
            .collect();
        let created = template
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(now);
        let decision = decide_schedule(
            &name,
            schedule,
            created,
            previous.last_schedule_time.as_ref().map(|t| t.0),
            &scheduled,
            now,
        );
        for run in &decision.delete {
            tracing::info!(template = %name, run = %run, "Replace: deleting the active run");
            delete_run(&workflows, run).await?;
        }
        problems.extend(decision.problem.clone());
        if let Some((run_name, at)) = &decision.create {
            match scheduled_run(&template, run_name, *at) {
                Ok(run) => {
                    if create_run(&workflows, &run).await? {
                        tracing::info!(template = %name, run = %run_name, scheduled = %at, "created a scheduled run");
                    }
                    status.last_run = Some(run_name.clone());
                    runs.push(just_created(run_name, None, now));
                }
                Err(err) => problems.push(err.to_string()),
            }
        }
        status.last_schedule_time = decision.last_schedule_time.map(Time);
        status.next_schedule_time = decision.next_schedule_time.map(Time);
        wake.extend(decision.requeue_after);
    } else {
        status.last_schedule_time = None;
        status.next_schedule_time = None;
    }

    if let Some(group) = &template.spec.item_group {
        let decision = decide_item_group(&template, group, &previous.items, &runs, now);
        for run in &decision.create {
            let run_name = run.name_any();
            if create_run(&workflows, run).await? {
                let item = run
                    .annotations()
                    .get(ANNOTATION_ITEM)
                    .cloned()
                    .unwrap_or_default();
                tracing::info!(template = %name, run = %run_name, item = %item, "created an item group run");
            }
            status.last_run = Some(run_name.clone());
            runs.push(just_created(
                &run_name,
                run.annotations().get(ANNOTATION_ITEM).cloned(),
                now,
            ));
        }
        problems.extend(decision.problem.clone());
        status.items = decision.items;
        if let Some(next) = decision.next_due {
            let sooner = status
                .next_schedule_time
                .as_ref()
                .is_none_or(|t| next < t.0);
            if sooner {
                status.next_schedule_time = Some(Time(next));
            }
        }
        wake.extend(decision.requeue_after);
    } else {
        status.items.clear();
    }

    let protected = template
        .spec
        .item_group
        .as_ref()
        .map(|_| unsettled_runs(&name, &previous.items))
        .unwrap_or_default();
    let history = decide_history(HistoryPolicy::of(&template.spec), &runs, &protected, now);
    status.recent_runs = history.recent_runs;
    status.last_run = last_run(status.last_run.as_deref(), &runs);
    wake.extend(history.next_expiry.map(|at| wait_until(now, at)));
    status.message = (!problems.is_empty()).then(|| problems.join("; "));

    // The status (with the outcomes of finished runs folded in) before the deletes; the runs
    // whose outcome the status as read had not folded in wait for a later reconcile.
    write_status(&ctx.client, &template, &status).await?;
    for run in &history.delete {
        tracing::info!(template = %name, run = %run, "history: deleting a finished run");
        delete_run(&workflows, run).await?;
    }
    Ok(match wake.into_iter().min() {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// A run this reconcile created (or found created), as the history sees it until the watch
/// shows it.
fn just_created(name: &str, item: Option<String>, now: Timestamp) -> TemplateRun {
    TemplateRun {
        name: name.to_owned(),
        item,
        outcome: Outcome::Active,
        created: Some(now),
        finished: None,
    }
}

/// Creates a run; true if this call created it, false if it existed (a run is named from its
/// cause, so AlreadyExists means it was created before: success).
async fn create_run(
    workflows: &Api<Workflow>,
    run: &Workflow,
) -> Result<bool, TemplateReconcileError> {
    match workflows.create(&PostParams::default(), run).await {
        Ok(_) => Ok(true),
        Err(err) if has_status(&err, 409) => Ok(false),
        Err(source) => Err(TemplateReconcileError::CreateRun {
            name: run.name_any(),
            source,
        }),
    }
}

/// Deletes a run (and, in the background, its Jobs); one already gone is fine.
async fn delete_run(workflows: &Api<Workflow>, run: &str) -> Result<(), TemplateReconcileError> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match workflows.delete(run, &params).await {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Ok(()),
        Err(source) => Err(TemplateReconcileError::DeleteRun {
            name: run.to_owned(),
            source,
        }),
    }
}

/// The template's status, written only when it changed.
async fn write_status(
    client: &Client,
    template: &WorkflowTemplate,
    status: &WorkflowTemplateStatus,
) -> Result<(), TemplateReconcileError> {
    if template.status.as_ref() == Some(status) {
        return Ok(());
    }
    let name = template.name_any();
    let api: Api<WorkflowTemplate> =
        Api::namespaced(client.clone(), &template.namespace().unwrap_or_default());
    // Every field this reconciler owns, null where unset, so a cleared value goes away.
    let empty_as_null = |v: serde_json::Value| match &v {
        serde_json::Value::Array(a) if a.is_empty() => serde_json::Value::Null,
        _ => v,
    };
    let patch = json!({
        "status": {
            "observedGeneration": status.observed_generation,
            "lastScheduleTime": status.last_schedule_time,
            "nextScheduleTime": status.next_schedule_time,
            "lastRun": status.last_run,
            "message": status.message,
            "items": empty_as_null(json!(status.items)),
            "recentRuns": empty_as_null(json!(status.recent_runs)),
        }
    });
    let params = PatchParams {
        field_manager: Some(MANAGER.to_owned()),
        ..Default::default()
    };
    match api
        .patch_status(&name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Ok(()),
        Err(source) => Err(TemplateReconcileError::PatchStatus { name, source }),
    }
}

fn error_policy(
    template: Arc<WorkflowTemplate>,
    err: &TemplateReconcileError,
    _ctx: Arc<TemplateContext>,
) -> Action {
    tracing::warn!(template = %template.name_any(), error = %err, "reconcile failed; retrying");
    Action::requeue(RETRY)
}
