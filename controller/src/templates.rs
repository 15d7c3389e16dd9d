//! The WorkflowTemplate reconciler: for each leadership term, a watch of the templates and of
//! their runs (Workflows labelled `kwf.dev/template`), and kube's Controller applying each
//! template's schedule decision (`core::schedule`): create the due run (AlreadyExists is
//! success), delete the runs `Replace` replaces, write the template's status, wake up at the
//! next time due.

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
use kwf_api::workflow_template::{LABEL_TEMPLATE, WorkflowTemplateStatus};
use kwf_api::{Workflow, WorkflowSpec, WorkflowTemplate};
use serde_json::json;
use tokio::sync::watch;

use crate::config::MANAGER;
use crate::core::schedule::{ScheduleDecision, ScheduledRunState, decide_schedule};
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
    let Some(schedule) = &template.spec.schedule else {
        return Ok(Action::await_change());
    };
    let runs: Vec<ScheduledRunState> = ctx
        .runs
        .state()
        .iter()
        .filter(|r| {
            r.namespace().as_deref() == Some(namespace.as_str())
                && r.labels().get(LABEL_TEMPLATE) == Some(&name)
        })
        .map(|r| ScheduledRunState {
            name: r.name_any(),
            scheduled: scheduled_time(r),
            active: is_active(r),
        })
        .collect();
    let status = template.status.clone().unwrap_or_default();
    let created = template
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now);
    let now = Timestamp::now();
    let decision = decide_schedule(
        &name,
        schedule,
        created,
        status.last_schedule_time.as_ref().map(|t| t.0),
        &runs,
        now,
    );
    let workflows: Api<Workflow> = Api::namespaced(ctx.client.clone(), &namespace);
    for run in &decision.delete {
        tracing::info!(template = %name, run = %run, "Replace: deleting the active run");
        match workflows
            .delete(
                run,
                &DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..Default::default()
                },
            )
            .await
        {
            Ok(_) => {}
            Err(err) if has_status(&err, 404) => {}
            Err(source) => {
                return Err(TemplateReconcileError::DeleteRun {
                    name: run.clone(),
                    source,
                });
            }
        }
    }
    let mut problem = decision.problem.clone();
    let mut last_run = status.last_run.clone();
    if let Some((run_name, at)) = &decision.create {
        match scheduled_run(&template, run_name, *at) {
            Ok(run) => match workflows.create(&PostParams::default(), &run).await {
                Ok(_) => {
                    tracing::info!(template = %name, run = %run_name, scheduled = %at, "created a scheduled run");
                    last_run = Some(run_name.clone());
                }
                // The same time, created before: done.
                Err(err) if has_status(&err, 409) => last_run = Some(run_name.clone()),
                Err(source) => {
                    return Err(TemplateReconcileError::CreateRun {
                        name: run_name.clone(),
                        source,
                    });
                }
            },
            Err(err) => problem = Some(err.to_string()),
        }
    }
    write_status(&ctx.client, &template, &decision, last_run, problem).await?;
    Ok(match decision.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// The template's status from the decision, written only when it changed.
async fn write_status(
    client: &Client,
    template: &WorkflowTemplate,
    decision: &ScheduleDecision,
    last_run: Option<String>,
    problem: Option<String>,
) -> Result<(), TemplateReconcileError> {
    let status = WorkflowTemplateStatus {
        observed_generation: template.metadata.generation,
        last_schedule_time: decision.last_schedule_time.map(Time),
        next_schedule_time: decision.next_schedule_time.map(Time),
        last_run,
        message: problem,
        // Written by the resource trigger reconciler: kept as it is.
        resource_triggers: template
            .status
            .as_ref()
            .map(|s| s.resource_triggers.clone())
            .unwrap_or_default(),
    };
    if template.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let name = template.name_any();
    let api: Api<WorkflowTemplate> =
        Api::namespaced(client.clone(), &template.namespace().unwrap_or_default());
    // Every field, null where unset, so a cleared message goes away.
    let patch = json!({
        "status": {
            "observedGeneration": status.observed_generation,
            "lastScheduleTime": status.last_schedule_time,
            "nextScheduleTime": status.next_schedule_time,
            "lastRun": status.last_run,
            "message": status.message,
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
