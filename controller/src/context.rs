//! What every reconcile shares: the client, the event queue, metrics, the Job cache, the status
//! writes not seen back yet and the retry backoff per Workflow.

use std::collections::HashSet;

use kube::Client;

use crate::backoff::RetryBackoff;
use crate::events::Events;
use crate::job_cache::JobCache;
use crate::metrics::Metrics;
use crate::status_writes::StatusWrites;
use crate::volume_watch::VolumeCaches;

/// Shared state of the Workflow reconciler. Built once per process; everything in it is
/// injectable so tests can run reconcile() against any client and cache.
pub struct Context {
    pub client: Client,
    pub events: Events,
    pub metrics: Metrics,
    pub jobs: JobCache,
    /// The claims the Workflows control and the JobTemplates their steps name.
    pub volumes: VolumeCaches,
    /// Status writes the Workflow watch has not shown back yet.
    pub status_writes: StatusWrites,
    /// Consecutive failed reconciles per Workflow.
    pub backoff: RetryBackoff,
    /// This process's identity: written on every Job it creates (`kwf.dev/created-by`).
    pub identity: String,
}

impl Context {
    pub fn new(
        client: Client,
        events: Events,
        metrics: Metrics,
        jobs: JobCache,
        volumes: VolumeCaches,
        identity: String,
    ) -> Self {
        Self {
            client,
            events,
            metrics,
            jobs,
            volumes,
            status_writes: StatusWrites::default(),
            backoff: RetryBackoff::default(),
            identity,
        }
    }

    /// Forgets everything kept for the Workflow with this uid, which was deleted: its retry
    /// backoff, its status write not seen back, and the Jobs expected for it.
    pub fn forget_workflow(&self, uid: &str) {
        self.backoff.forget(uid);
        self.status_writes.forget(uid);
        self.jobs.forget_owner(uid);
    }

    /// After a (re)list of the Workflows: forgets everything kept for a Workflow not in `live`
    /// (uids), i.e. deleted while the watch was down, so that no Delete event came.
    pub fn retain_workflows(&self, live: &HashSet<String>) {
        self.backoff.retain(live);
        self.status_writes.retain(live);
        self.jobs.retain_owners(live);
    }
}
