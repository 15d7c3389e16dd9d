//! The Workflow reconciler: for each leadership term, its own watch of Workflows, the Job
//! triggers from the shared Job watch, and kube's Controller running [`reconcile`].

use std::sync::Arc;

use futures::future::{self, BoxFuture};
use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kwf_api::Workflow;
use tokio::sync::{mpsc, watch};

use crate::context::Context;
use crate::error::ReconcileError;
use crate::job_watch::TriggerSlot;
use crate::priority::{self, Gate};
use crate::reconcile::error_policy;
use crate::term::Reconciler;
use crate::volume_watch::ClaimTriggers;

/// What the Workflow reconciler needs across terms.
pub struct WorkflowReconciler {
    pub client: Client,
    /// Only Workflows in this namespace (None: all).
    pub namespace: Option<String>,
    /// Only Workflows matching this label selector.
    pub selector: Option<String>,
    /// Workflows reconciled at the same time.
    pub concurrency: u16,
    pub ctx: Arc<Context>,
    pub triggers: TriggerSlot,
    /// Reconcile triggers from the claim watch.
    pub claim_triggers: ClaimTriggers,
}

impl WorkflowReconciler {
    /// The Workflows API this reconciler watches.
    pub fn api(&self) -> Api<Workflow> {
        workflows_api(&self.client, self.namespace.as_deref())
    }
}

/// The Workflows API of one namespace, or of all.
pub fn workflows_api(client: &Client, namespace: Option<&str>) -> Api<Workflow> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

impl Reconciler for WorkflowReconciler {
    fn name(&self) -> &'static str {
        "workflows"
    }

    fn lead(&self, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
        let api = self.api();
        let selector = self.selector.clone();
        let concurrency = self.concurrency;
        let ctx = self.ctx.clone();
        let triggers = self.triggers.clone();
        let claim_triggers = self.claim_triggers.clone();
        Box::pin(async move {
            let mut waiting = stop.clone();
            // Decisions need every Job, claim and JobTemplate: wait for the caches' first lists.
            tokio::select! {
                biased;
                _ = waiting.wait_for(|stopped| *stopped) => return,
                _ = async { let _ = ctx.jobs.store().wait_until_ready().await; ctx.volumes.ready().await } => {}
            }
            let (trigger_tx, mut trigger_rx) = mpsc::unbounded_channel();
            triggers.set(Some(trigger_tx));
            let (claim_tx, mut claim_rx) = mpsc::unbounded_channel();
            claim_triggers.set(Some(claim_tx));
            // Empties the slots however the term ends (also when dropped at a lost leadership).
            let _slot = ClearOnDrop(triggers);
            let _claim_slot = ClearClaimsOnDrop(claim_triggers);
            let owned_jobs = futures::stream::poll_fn(move |cx| trigger_rx.poll_recv(cx));
            let owned_claims = futures::stream::poll_fn(move |cx| claim_rx.poll_recv(cx));

            let mut wf_watch = watcher::Config::default();
            if let Some(selector) = &selector {
                wf_watch = wf_watch.labels(selector);
            }
            // The Workflow cache is ours (not Controller::new's) so that what is never read is
            // dropped before it is stored: managed fields and kubectl's last-applied spec.
            let (wf_store, wf_writer) = reflector::store();
            let workflows = watcher(api, wf_watch)
                .default_backoff()
                .modify(strip_workflow)
                .reflect(wf_writer)
                .inspect_ok({
                    let ctx = ctx.clone();
                    let store = wf_store.clone();
                    move |event| follow_workflow(&ctx, &store, event)
                })
                .applied_objects();
            // The Controller itself is unlimited (0): the gate holds the --concurrency slots,
            // so that progress goes before starts (see priority).
            let controller = Controller::for_stream(workflows, wf_store)
                .owns_shared_stream(owned_jobs)
                .owns_shared_stream(owned_claims)
                .with_config(controller::Config::default().concurrency(0));
            let gate = Gate::new(usize::from(concurrency));
            // Every Workflow whose Job changed while we stood by is reconciled by the
            // Controller's initial list, which reconciles every Workflow once.
            ctx.metrics.set_workflow_store(Some(controller.store()));
            let _gauge = ForgetStoreOnDrop(ctx.clone());
            let mut graceful = stop;
            tracing::info!("reconciling Workflows");
            controller
                .graceful_shutdown_on(async move {
                    let _ = graceful.wait_for(|stopped| *stopped).await;
                })
                .run(
                    move |wf, ctx| {
                        let gate = gate.clone();
                        async move {
                            let _slot = gate.acquire(priority::class_of(&wf)).await;
                            // A run that names a template is resolved first, then reconciled.
                            crate::template_runs::reconcile(wf, ctx).await
                        }
                    },
                    error_policy,
                    ctx,
                )
                .for_each(|result| {
                    if let Err(err) = result {
                        log_controller_error(&err);
                    }
                    future::ready(())
                })
                .await;
        })
    }
}

struct ClearOnDrop(TriggerSlot);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

struct ClearClaimsOnDrop(ClaimTriggers);

impl Drop for ClearClaimsOnDrop {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

/// The by-phase gauge counts nothing while this replica stands by.
struct ForgetStoreOnDrop(Arc<Context>);

impl Drop for ForgetStoreOnDrop {
    fn drop(&mut self) {
        self.0.metrics.set_workflow_store(None);
    }
}

/// Keeps what the reconciler remembers per Workflow in step with the Workflow watch: a status
/// write seen back is dropped, and so is everything kept for a Workflow that is gone.
fn follow_workflow(
    ctx: &Context,
    store: &reflector::Store<Workflow>,
    event: &watcher::Event<Workflow>,
) {
    match event {
        watcher::Event::Apply(wf) | watcher::Event::InitApply(wf) => ctx.status_writes.seen(wf),
        watcher::Event::Delete(wf) => {
            if let Some(uid) = wf.metadata.uid.as_deref() {
                ctx.forget_workflow(uid);
            }
        }
        // The store has just swapped in the new list: what it lacks was deleted meanwhile.
        watcher::Event::InitDone => {
            let live = store
                .state()
                .iter()
                .filter_map(|wf| wf.metadata.uid.clone())
                .collect();
            ctx.retain_workflows(&live);
        }
        watcher::Event::Init => {}
    }
}

fn log_controller_error(err: &controller::Error<ReconcileError, watcher::Error>) {
    match err {
        // Already logged (with backoff) by error_policy.
        controller::Error::ReconcilerFailed(..) => {}
        controller::Error::ObjectNotFound(obj) => {
            tracing::debug!(object = %obj, "Workflow gone before its reconcile")
        }
        other => tracing::warn!(error = %other, "controller"),
    }
}

/// kubectl's copy of the applied manifest: as large as the spec, and never read here.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Keeps the Workflow cache small: managed fields and kubectl's last-applied annotation are
/// never read (for a 2,000-step Workflow they are larger than the spec and status together).
pub fn strip_workflow(wf: &mut Workflow) {
    wf.metadata.managed_fields = None;
    if let Some(annotations) = wf.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_a_workflow_keeps_our_annotations() {
        let mut wf = kwf_api::fixtures::workflow("wf", &[]);
        wf.metadata.managed_fields = Some(vec![Default::default()]);
        wf.metadata.annotations = Some(
            [(LAST_APPLIED, "{}"), ("kwf.dev/restartedAt", "now")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        strip_workflow(&mut wf);
        assert!(wf.metadata.managed_fields.is_none());
        let annotations = wf.metadata.annotations.unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["kwf.dev/restartedAt"]
        );
    }
}
