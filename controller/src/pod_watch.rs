//! The watch of the steps' pods (label `kwf.dev/workflow`): it lets the controller see a
//! single-pod step's container exit as the kubelet reports it, about a second before the Job
//! controller (which batches pod updates) marks the Job Complete. Nothing of a pod is stored
//! but its [`crate::core::ObservedPod`] in the Job cache's bookkeeping; the core decides
//! whether that success stands for the Job's ([`crate::core::ObservedJob::settle_from_pod`]).

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kwf_api::LABEL_WORKFLOW;

use crate::job_cache::JobCache;
use crate::job_watch::TriggerSlot;

/// Runs for the life of the process, like the Job watch. A pod first seen succeeded triggers a
/// reconcile of its Job's Workflow (through the Job's own trigger, so kube's Controller maps it
/// to its owner as it does a Job event).
pub async fn watch_pods(
    client: Client,
    namespace: Option<String>,
    jobs: JobCache,
    triggers: TriggerSlot,
) {
    let api: Api<Pod> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    // build_job labels every step's pod with the workflow label; other pods are not ours.
    let config = watcher::Config::default().labels(LABEL_WORKFLOW);
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "watching pods failed; retrying");
                continue;
            }
        };
        let Some((namespace, name)) = jobs.on_pod_event(&event) else {
            continue;
        };
        let job: Option<std::sync::Arc<Job>> =
            jobs.store().get(&ObjectRef::new(&name).within(&namespace));
        if let Some(job) = job {
            tracing::debug!(job = %name, "pod succeeded");
            triggers.send(&job);
        }
    }
    tracing::error!("the pod watch ended");
}
