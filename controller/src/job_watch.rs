//! The one watch of Jobs: it keeps the stripped Job cache and its bookkeeping, and triggers a
//! reconcile of the owning Workflow when a Job event can change a decision.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kwf_api::LABEL_WORKFLOW;
use tokio::sync::mpsc;

use crate::job_cache::{self, JobCache};
use crate::server::Readiness;

/// Where the running Workflow reconciler takes its Job triggers; None while this replica
/// stands by (the events are then only cached).
#[derive(Clone, Default)]
pub struct TriggerSlot(Arc<Mutex<Option<mpsc::UnboundedSender<Arc<Job>>>>>);

impl TriggerSlot {
    /// Points the slot at a reconciler's channel (Some) or empties it (None).
    pub fn set(&self, sender: Option<mpsc::UnboundedSender<Arc<Job>>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = sender;
    }

    pub(crate) fn send(&self, job: &Job) {
        let sender = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(sender) = sender {
            // kube's Controller maps the Job to its owning Workflow.
            let _ = sender.send(Arc::new(job.clone()));
        }
    }
}

/// Runs for the life of the process, leader or not, so a standby takes over with a warm cache.
/// Marks the replica ready once the first list is in.
pub async fn watch_jobs(
    client: Client,
    namespace: Option<String>,
    writer: reflector::store::Writer<Job>,
    jobs: JobCache,
    triggers: TriggerSlot,
    readiness: Readiness,
) {
    let api: Api<Job> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    // Only Jobs carrying the workflow label are ours to look at.
    let config = watcher::Config::default().labels(LABEL_WORKFLOW);
    let mut events = std::pin::pin!(
        watcher(api, config)
            .default_backoff()
            .modify(job_cache::strip)
            .reflect(writer)
    );
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "watching Jobs failed; retrying");
                continue;
            }
        };
        let relevant = jobs.on_event(&event);
        match &event {
            watcher::Event::InitDone => readiness.set(true),
            watcher::Event::Apply(job)
            | watcher::Event::Delete(job)
            | watcher::Event::InitApply(job)
                if relevant =>
            {
                triggers.send(job);
            }
            _ => {}
        }
    }
    tracing::error!("the Job watch ended");
}
