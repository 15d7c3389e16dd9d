//! The Job cache: what the controller knows of the Jobs. The reflector store (stripped Jobs)
//! plus what the store has not caught up with yet (Jobs this process just created), and the
//! bookkeeping fed by the Job watch (an owner index, when each Job was first seen finished,
//! failed Jobs' exit codes) and by the pod watch (what each Job's pod showed last).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::core::observed::ObservedPod;
use crate::core::{ContainerExit, JobState, ObservedJob};
use crate::error::ReconcileError;
use kwf_api::job::ANNOTATION_INHERITED_LABELS;

/// How long a created Job stays expected when the watch never shows it (e.g. it was created and
/// deleted while the watch was re-listing); after that its absence counts.
const EXPECTATION_TTL: Duration = Duration::from_secs(120);

/// The Job cache and the bookkeeping around it; cheap to clone (shared).
#[derive(Clone)]
pub struct JobCache {
    store: Store<Job>,
    inner: Arc<Mutex<Bookkeeping>>,
}

#[derive(Default)]
struct Bookkeeping {
    /// The names of the cached Jobs each Workflow (by uid) controls, so a reconcile reads its
    /// own Jobs without scanning the whole cache.
    owned: HashMap<String, BTreeSet<String>>,
    /// Jobs created by this process and not yet seen by the watch, by Workflow uid. An entry
    /// goes when the watch shows the Job, after EXPECTATION_TTL, or with its Workflow.
    expected: HashMap<String, Vec<Expected>>,
    /// When expired expectations were last swept out of every Workflow's list.
    swept: Option<Instant>,
    /// When the watch first showed each finished Job (by Job uid): the start of the step
    /// scheduling latency, more precise than the second-granular condition timestamps.
    finished_seen: HashMap<String, Instant>,
    /// How failed Jobs' containers exited, once looked up (by Job uid), so pods are listed once.
    exits: HashMap<String, Option<ContainerExit>>,
    /// What the pod watch showed last of each Job's pod (by Job uid).
    pods: HashMap<String, PodRecord>,
    /// The Jobs (uids) whose pods a pod re-list under way has shown so far.
    pods_relisting: Option<HashSet<String>>,
}

/// What is kept of a Job's pod: the pod's uid (a second uid means a replacement pod), what the
/// core reads, and when the watch first showed it succeeded.
struct PodRecord {
    pod_uid: String,
    observed: ObservedPod,
    succeeded_seen: Option<Instant>,
}

impl Bookkeeping {
    /// Drops the expectations older than EXPECTATION_TTL of every Workflow, at most once per
    /// EXPECTATION_TTL: those of a Workflow never reconciled again would stay otherwise.
    fn sweep_expired(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|swept| now.saturating_duration_since(swept) < EXPECTATION_TTL)
        {
            return;
        }
        self.swept = Some(now);
        self.expected.retain(|_, expected| {
            expected.retain(|e| now.saturating_duration_since(e.since) < EXPECTATION_TTL);
            !expected.is_empty()
        });
    }
}

struct Expected {
    name: String,
    job: ObservedJob,
    since: Instant,
}

impl JobCache {
    /// Wraps the reflector store of Jobs.
    pub fn new(store: Store<Job>) -> Self {
        let cache = Self {
            store,
            inner: Arc::default(),
        };
        cache.relisted();
        cache
    }

    /// Follows the store after a (re)list, when Jobs deleted meanwhile left it without a
    /// Delete event: rebuilds the owner index, and forgets the finish times and exit codes of
    /// Jobs no longer listed.
    fn relisted(&self) {
        let jobs = self.store.state();
        let listed: HashSet<&str> = jobs
            .iter()
            .filter_map(|job| job.metadata.uid.as_deref())
            .collect();
        let mut book = self.book();
        book.owned.clear();
        for job in &jobs {
            index(&mut book, job);
        }
        book.finished_seen
            .retain(|uid, _| listed.contains(uid.as_str()));
        book.exits.retain(|uid, _| listed.contains(uid.as_str()));
        book.pods.retain(|uid, _| listed.contains(uid.as_str()));
    }

    /// Forgets the Jobs expected for the Workflow with uid `owner`, which was deleted.
    pub fn forget_owner(&self, owner: &str) {
        self.book().expected.remove(owner);
    }

    /// Forgets the Jobs expected for every Workflow whose uid is not in `live`.
    pub fn retain_owners(&self, live: &HashSet<String>) {
        self.book().expected.retain(|owner, _| live.contains(owner));
    }

    /// The reflector store.
    pub fn store(&self) -> &Store<Job> {
        &self.store
    }

    fn book(&self) -> MutexGuard<'_, Bookkeeping> {
        // The bookkeeping is plain maps: a panic elsewhere cannot leave them inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Feeds one event of the Job watch (after the store applied it). True when the event can
    /// change a decision, so the owning Workflow needs a reconcile: a Job first seen finished,
    /// being deleted or gone, one this process did not create, or any Job of a (re)list.
    /// A Job's other updates (pod created, ready counts, a finished Job's later status) are
    /// left out: they were half of all reconciles at scale and never change what decide() does.
    pub fn on_event(&self, event: &watcher::Event<Job>) -> bool {
        self.book().sweep_expired(Instant::now());
        match event {
            watcher::Event::Apply(job) => self.on_seen(job),
            watcher::Event::InitApply(job) => {
                self.on_seen(job);
                true
            }
            watcher::Event::Delete(job) => {
                let mut book = self.book();
                forget_expected(&mut book, job);
                unindex(&mut book, job);
                if let Some(uid) = job.metadata.uid.as_deref() {
                    book.finished_seen.remove(uid);
                    book.exits.remove(uid);
                    book.pods.remove(uid);
                }
                true
            }
            // The store has just swapped in the new list.
            watcher::Event::InitDone => {
                self.relisted();
                false
            }
            watcher::Event::Init => false,
        }
    }

    fn on_seen(&self, job: &Job) -> bool {
        let finished =
            ObservedJob::from_job(job).is_some_and(|observed| observed.state.is_finished());
        let deleting = job.metadata.deletion_timestamp.is_some();
        let mut book = self.book();
        let was_expected = forget_expected(&mut book, job);
        let newly_indexed = index(&mut book, job);
        let mut newly_finished = false;
        if finished && let Some(uid) = job.metadata.uid.as_deref() {
            book.finished_seen.entry(uid.to_owned()).or_insert_with(|| {
                newly_finished = true;
                Instant::now()
            });
        }
        newly_finished || deleting || (newly_indexed && !was_expected)
    }

    /// Remembers a Job this process created for the Workflow with uid `owner`, until the watch
    /// shows it, so that a cache lag is never taken for a deletion.
    pub fn expect(&self, owner: &str, job: ObservedJob) {
        let mut book = self.book();
        let expected = book.expected.entry(owner.to_owned()).or_default();
        expected.retain(|e| e.name != job.name);
        expected.push(Expected {
            name: job.name.clone(),
            job,
            since: Instant::now(),
        });
    }

    /// The Jobs of the Workflow with uid `owner`: those in the cache (controlled by it) plus
    /// those created and not yet seen back.
    /// Linear in that Workflow's Jobs, not in the cache's.
    pub fn jobs_of(&self, namespace: &str, owner: &str) -> Vec<ObservedJob> {
        let mut book = self.book();
        let mut observed: Vec<ObservedJob> = book
            .owned
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|name| self.store.get(&ObjectRef::new(name).within(namespace)))
            .filter(|job| controlled_by(job, owner))
            .filter_map(|job| ObservedJob::from_job(&job))
            .map(|mut job| {
                job.pod = book.pods.get(&job.uid).map(|pod| pod.observed.clone());
                job
            })
            .collect();
        if let Some(expected) = book.expected.get_mut(owner) {
            expected.retain(|e| e.since.elapsed() < EXPECTATION_TTL);
            for e in expected.iter() {
                if !observed.iter().any(|job| job.name == e.name) {
                    observed.push(e.job.clone());
                }
            }
            if expected.is_empty() {
                book.expected.remove(owner);
            }
        }
        observed
    }

    /// How long ago the Job was first seen finished: from the watch when this process saw it
    /// happen, else from the Job's own finish time.
    pub fn since_finished(&self, job: &ObservedJob) -> Option<Duration> {
        let book = self.book();
        let pod_seen = book.pods.get(&job.uid).and_then(|pod| pod.succeeded_seen);
        let job_seen = book.finished_seen.get(&job.uid).copied();
        // The earlier sighting: the pod's success, when the core went by it.
        if let Some(seen) = pod_seen.into_iter().chain(job_seen).min() {
            return Some(seen.elapsed());
        }
        drop(book);
        let finished = match &job.state {
            JobState::Succeeded { finished } | JobState::Failed { finished, .. } => (*finished)?,
            JobState::Active => return None,
        };
        let elapsed = jiff::Timestamp::now().duration_since(finished);
        Duration::try_from(elapsed).ok()
    }

    /// Fills how the container of each failed Job that `needs_exit` exited, listing its pods
    /// once per Job.
    pub async fn fill_exits(
        &self,
        client: &Client,
        namespace: &str,
        jobs: &mut [ObservedJob],
        needs_exit: impl Fn(&ObservedJob) -> bool,
    ) -> Result<(), ReconcileError> {
        for job in jobs.iter_mut() {
            if !matches!(job.state, JobState::Failed { .. })
                || job.exit.is_some()
                || !needs_exit(job)
            {
                continue;
            }
            if let Some(known) = self.book().exits.get(&job.uid) {
                job.exit = known.clone();
                continue;
            }
            // The pod watch already showed how its one pod exited: no list needed.
            if let Some(pod) = job.pod.as_ref().filter(|pod| !pod.several)
                && let Some(exit) = pod.exit.clone()
            {
                job.exit = Some(exit);
                continue;
            }
            let exit = container_exit(client, namespace, &job.name).await?;
            job.exit = exit.clone();
            if !job.uid.is_empty() {
                self.book().exits.insert(job.uid.clone(), exit);
            }
        }
        Ok(())
    }
}

impl JobCache {
    /// Fills the node the pod of each Job that `needs_node` was placed on, listing its pods
    /// (until the pod is placed, the node stays unknown and the core looks again).
    pub async fn fill_nodes(
        &self,
        client: &Client,
        namespace: &str,
        jobs: &mut [ObservedJob],
        needs_node: impl Fn(&ObservedJob) -> bool,
    ) -> Result<(), ReconcileError> {
        for job in jobs.iter_mut().filter(|job| job.node.is_none()) {
            if !needs_node(job) {
                continue;
            }
            if let Some(node) = job.pod.as_ref().and_then(|pod| pod.node.clone()) {
                job.node = Some(node);
                continue;
            }
            let pods = list_pods(client, namespace, &job.name).await?;
            job.node = pods
                .iter()
                .filter_map(|pod| pod.spec.as_ref()?.node_name.clone())
                .next();
        }
        Ok(())
    }
}

impl JobCache {
    /// Feeds one event of the pod watch. Returns the Job (namespace, name) to reconcile the
    /// owner of when the event shows its pod succeeded for the first time: the core may take
    /// that for the Job's success before the Job controller marks the Job Complete.
    pub fn on_pod_event(&self, event: &watcher::Event<Pod>) -> Option<(String, String)> {
        let mut book = self.book();
        match event {
            watcher::Event::Init => {
                book.pods_relisting = Some(HashSet::new());
                None
            }
            watcher::Event::InitApply(pod) => {
                if let Some(owner) = pod_owner(pod)
                    && let Some(listed) = book.pods_relisting.as_mut()
                {
                    listed.insert(owner.uid.clone());
                }
                record_pod(&mut book, pod)
            }
            watcher::Event::Apply(pod) => record_pod(&mut book, pod),
            watcher::Event::InitDone => {
                if let Some(listed) = book.pods_relisting.take() {
                    book.pods.retain(|uid, _| listed.contains(uid));
                }
                None
            }
            watcher::Event::Delete(pod) => {
                let owner = pod_owner(pod)?;
                let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
                // A replacement's record stays: it says "several pods", which only the Job settles.
                if book
                    .pods
                    .get(&owner.uid)
                    .is_some_and(|record| record.pod_uid == pod_uid && !record.observed.several)
                {
                    book.pods.remove(&owner.uid);
                }
                None
            }
        }
    }
}

/// Records what a pod shows for its Job; Some(the Job) when it is first seen succeeded.
fn record_pod(book: &mut Bookkeeping, pod: &Pod) -> Option<(String, String)> {
    let owner = pod_owner(pod)?;
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut observed = observe_pod(pod);
    let record = book
        .pods
        .entry(owner.uid.clone())
        .or_insert_with(|| PodRecord {
            pod_uid: pod_uid.clone(),
            observed: ObservedPod::default(),
            succeeded_seen: None,
        });
    observed.several = record.observed.several || record.pod_uid != pod_uid;
    record.pod_uid = pod_uid;
    let first_success = observed.succeeded && record.succeeded_seen.is_none();
    if first_success {
        record.succeeded_seen = Some(Instant::now());
    }
    record.observed = observed;
    let namespace = pod.metadata.namespace.clone()?;
    first_success.then(|| (namespace, owner.name.clone()))
}

/// The Job that controls the pod.
fn pod_owner(pod: &Pod) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|owner| owner.controller == Some(true) && owner.kind == "Job")
}

/// What the core reads of a pod ([`ObservedPod`]); `several` is the cache's to set.
pub fn observe_pod(pod: &Pod) -> ObservedPod {
    let status = pod.status.as_ref();
    let finished = status
        .into_iter()
        .flat_map(|status| status.container_statuses.iter().flatten())
        .filter_map(|container| {
            let terminated = container.state.as_ref()?.terminated.as_ref()?;
            terminated.finished_at.as_ref().map(|time| time.0)
        })
        .max();
    let exit = pick_exit(std::slice::from_ref(pod)).filter(|exit| exit.code != 0);
    ObservedPod {
        succeeded: status.and_then(|status| status.phase.as_deref()) == Some("Succeeded"),
        finished,
        deleting: pod.metadata.deletion_timestamp.is_some(),
        several: false,
        exit,
        node: pod.spec.as_ref().and_then(|spec| spec.node_name.clone()),
    }
}

/// Adds the Job to its owners' index; true when it was not there yet.
fn index(book: &mut Bookkeeping, job: &Job) -> bool {
    let Some(name) = job.metadata.name.as_deref() else {
        return false;
    };
    let mut added = false;
    for owner in owners(job) {
        added |= book
            .owned
            .entry(owner.to_owned())
            .or_default()
            .insert(name.to_owned());
    }
    added
}

fn unindex(book: &mut Bookkeeping, job: &Job) {
    let Some(name) = job.metadata.name.as_deref() else {
        return;
    };
    for owner in owners(job) {
        if let Some(names) = book.owned.get_mut(owner) {
            names.remove(name);
            if names.is_empty() {
                book.owned.remove(owner);
            }
        }
    }
}

/// Forgets the Job as expected (the watch has shown it); true when it was.
fn forget_expected(book: &mut Bookkeeping, job: &Job) -> bool {
    let Some(name) = job.metadata.name.as_deref() else {
        return false;
    };
    let mut was_expected = false;
    for owner in owners(job) {
        if let Some(expected) = book.expected.get_mut(owner) {
            let before = expected.len();
            expected.retain(|e| e.name != name);
            was_expected |= expected.len() < before;
            if expected.is_empty() {
                book.expected.remove(owner);
            }
        }
    }
    was_expected
}

fn owners(job: &Job) -> impl Iterator<Item = &str> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// True when the Workflow with uid `owner` is the Job's controller.
pub fn controlled_by(job: &Job, owner: &str) -> bool {
    owners(job).any(|uid| uid == owner)
}

/// How a failed Job's container exited: the first terminated container with a non-zero exit
/// code its pods show, else the first terminated one; None when no pod shows one (e.g. the pod
/// was never started).
async fn container_exit(
    client: &Client,
    namespace: &str,
    job: &str,
) -> Result<Option<ContainerExit>, ReconcileError> {
    Ok(pick_exit(&list_pods(client, namespace, job).await?))
}

/// The pods of the Job named `job`.
async fn list_pods(
    client: &Client,
    namespace: &str,
    job: &str,
) -> Result<Vec<Pod>, ReconcileError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let list = pods
        .list(&params)
        .await
        .map_err(|source| ReconcileError::ListPods {
            name: job.to_owned(),
            source,
        })?;
    Ok(list.items)
}

fn pick_exit(pods: &[Pod]) -> Option<ContainerExit> {
    let exits: Vec<ContainerExit> = pods
        .iter()
        .filter_map(|pod| pod.status.as_ref())
        .flat_map(|status| status.container_statuses.iter().flatten())
        .filter_map(|container| {
            let terminated = container.state.as_ref()?.terminated.as_ref()?;
            Some(ContainerExit {
                code: terminated.exit_code,
                reason: terminated.reason.clone(),
            })
        })
        .collect();
    exits
        .iter()
        .find(|exit| exit.code != 0)
        .or_else(|| exits.first())
        .cloned()
}

/// Keeps the cache small: only what [`ObservedJob::from_job`] reads stays (names, labels, owners, the
/// inherited-labels annotation, timestamps, the finish conditions, and the few spec and status
/// fields of its shape: completions, parallelism, suspend, deadline, start time, failed pods);
/// the pod template, managed fields and the rest of the status are never read.
pub fn strip(job: &mut Job) {
    let meta = &mut job.metadata;
    meta.managed_fields = None;
    meta.finalizers = None;
    meta.generate_name = None;
    meta.generation = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key == ANNOTATION_INHERITED_LABELS);
    }
    // Only what JobShape reads of the spec: whether the Job runs one pod, and its deadline.
    job.spec = job.spec.take().map(|spec| JobSpec {
        completions: spec.completions,
        parallelism: spec.parallelism,
        suspend: spec.suspend,
        completion_mode: spec.completion_mode,
        active_deadline_seconds: spec.active_deadline_seconds,
        ..JobSpec::default()
    });
    if let Some(status) = job.status.as_mut() {
        let conditions = status.conditions.take().map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.status == "True")
                .map(|c| JobCondition {
                    last_probe_time: None,
                    ..c
                })
                .collect()
        });
        *status = JobStatus {
            conditions,
            completion_time: status.completion_time.take(),
            start_time: status.start_time.take(),
            failed: status.failed.filter(|failed| *failed > 0),
            ..JobStatus::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
    use kube::runtime::reflector;

    fn job(name: &str, owner: &str, complete: bool) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some(
                    [
                        ("kwf.dev/step", name),
                        ("kwf.dev/generation", "1"),
                        ("kwf.dev/workflow", "wf"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                ),
                owner_references: Some(vec![OwnerReference {
                    api_version: "kwf.dev/v1alpha1".into(),
                    kind: "Workflow".into(),
                    name: "wf".into(),
                    uid: owner.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            spec: Some(JobSpec::default()),
            status: complete.then(|| JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: "Complete".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn cache_with(jobs: &[Job]) -> JobCache {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for job in jobs {
            writer.apply_watcher_event(&watcher::Event::InitApply(job.clone()));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        JobCache::new(store)
    }

    #[test]
    fn only_jobs_controlled_by_the_workflow_are_observed() {
        let cache = cache_with(&[job("a", "wf-1", false), job("b", "wf-2", false)]);
        let names: Vec<String> = cache
            .jobs_of("ns", "wf-1")
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert_eq!(names, ["a"]);
        assert!(cache.jobs_of("other-ns", "wf-1").is_empty());
    }

    #[test]
    fn a_created_job_counts_until_the_watch_shows_it() {
        let cache = cache_with(&[]);
        let created = ObservedJob::from_job(&job("a", "wf-1", false)).unwrap();
        cache.expect("wf-1", created);
        assert_eq!(
            cache.jobs_of("ns", "wf-1").len(),
            1,
            "expected while the cache lags"
        );
        cache.on_event(&watcher::Event::Apply(job("a", "wf-1", false)));
        assert_eq!(
            cache.jobs_of("ns", "wf-1").len(),
            0,
            "seen: the cache (empty here) decides"
        );
    }

    #[test]
    fn a_deleted_job_is_no_longer_expected() {
        let cache = cache_with(&[]);
        cache.expect(
            "wf-1",
            ObservedJob::from_job(&job("a", "wf-1", false)).unwrap(),
        );
        cache.on_event(&watcher::Event::Delete(job("a", "wf-1", false)));
        assert!(cache.jobs_of("ns", "wf-1").is_empty());
    }

    #[test]
    fn finish_is_timed_from_the_first_sighting() {
        let cache = cache_with(&[]);
        let done = job("a", "wf-1", true);
        cache.on_event(&watcher::Event::Apply(done.clone()));
        let observed = ObservedJob::from_job(&done).unwrap();
        let since = cache.since_finished(&observed).expect("seen finished");
        assert!(since < Duration::from_secs(5));
        let running = ObservedJob::from_job(&job("b", "wf-1", false)).unwrap();
        assert_eq!(cache.since_finished(&running), None);
    }

    #[test]
    fn the_first_non_zero_exit_wins_with_its_reason() {
        let pod = |exits: &[(i32, &str)]| Pod {
            status: Some(PodStatus {
                container_statuses: Some(
                    exits
                        .iter()
                        .map(|(code, reason)| ContainerStatus {
                            state: Some(ContainerState {
                                terminated: Some(ContainerStateTerminated {
                                    exit_code: *code,
                                    reason: Some((*reason).to_owned()),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            }),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let exit = |code, reason: &str| {
            Some(ContainerExit {
                code,
                reason: Some(reason.to_owned()),
            })
        };
        assert_eq!(
            pick_exit(&[pod(&[(0, "Completed"), (137, "OOMKilled")])]),
            exit(137, "OOMKilled")
        );
        assert_eq!(pick_exit(&[pod(&[(0, "Completed")])]), exit(0, "Completed"));
        assert_eq!(pick_exit(&[Pod::default()]), None);
    }

    #[test]
    fn stripping_keeps_exactly_what_from_job_reads() {
        let mut job = job("a", "wf-1", true);
        job.metadata.managed_fields = Some(vec![Default::default()]);
        job.metadata.annotations = Some(
            [
                (ANNOTATION_INHERITED_LABELS, "team"),
                ("kwf.dev/created-by", "replica-a"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        job.spec.as_mut().unwrap().template.metadata = Some(ObjectMeta::default());
        let status = job.status.as_mut().unwrap();
        status.succeeded = Some(1);
        status.conditions.as_mut().unwrap().push(JobCondition {
            type_: "SuccessCriteriaMet".into(),
            status: "False".into(),
            ..Default::default()
        });
        let before = ObservedJob::from_job(&job).unwrap();

        strip(&mut job);
        assert_eq!(
            ObservedJob::from_job(&job).unwrap(),
            before,
            "from_job reads the same Job"
        );
        assert!(job.metadata.managed_fields.is_none());
        assert_eq!(
            job.spec,
            Some(JobSpec::default()),
            "the pod template is gone"
        );
        assert_eq!(job.metadata.annotations.as_ref().unwrap().len(), 1);
        let status = job.status.unwrap();
        assert_eq!(status.succeeded, None);
        assert_eq!(
            status.conditions.unwrap().len(),
            1,
            "only holding conditions stay"
        );
    }

    #[test]
    fn only_events_that_can_change_a_decision_trigger_a_reconcile() {
        let cache = cache_with(&[]);
        let running = job("a", "wf-1", false);
        cache.expect("wf-1", ObservedJob::from_job(&running).unwrap());
        assert!(
            !cache.on_event(&watcher::Event::Apply(running.clone())),
            "our own create coming back"
        );
        assert!(
            !cache.on_event(&watcher::Event::Apply(running.clone())),
            "a running Job's update"
        );
        let done = job("a", "wf-1", true);
        assert!(
            cache.on_event(&watcher::Event::Apply(done.clone())),
            "first seen finished"
        );
        assert!(
            !cache.on_event(&watcher::Event::Apply(done.clone())),
            "a finished Job's later update"
        );
        let mut deleting = done.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert!(
            cache.on_event(&watcher::Event::Apply(deleting)),
            "being deleted"
        );
        assert!(cache.on_event(&watcher::Event::Delete(done)), "gone");
        assert!(
            cache.on_event(&watcher::Event::Apply(job("b", "wf-1", false))),
            "a Job this process did not create"
        );
        assert!(
            cache.on_event(&watcher::Event::InitApply(job("b", "wf-1", false))),
            "a re-list"
        );
        assert!(!cache.on_event(&watcher::Event::InitDone));
    }

    #[test]
    fn a_workflows_jobs_are_found_through_the_index_and_deletes_leave_it() {
        let (store, mut writer) = reflector::store();
        let cache = JobCache::new(store);
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(job("a", "wf-1", false)),
            watcher::Event::InitApply(job("b", "wf-1", false)),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            cache.on_event(&event);
        }
        assert_eq!(cache.jobs_of("ns", "wf-1").len(), 2);
        let gone = watcher::Event::Delete(job("a", "wf-1", false));
        writer.apply_watcher_event(&gone);
        cache.on_event(&gone);
        let names: Vec<String> = cache
            .jobs_of("ns", "wf-1")
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert_eq!(names, ["b"]);
        // A re-list that no longer holds b (deleted while the watch was down): the index follows.
        for event in [watcher::Event::Init, watcher::Event::InitDone] {
            writer.apply_watcher_event(&event);
            cache.on_event(&event);
        }
        assert!(cache.jobs_of("ns", "wf-1").is_empty());
        assert!(cache.book().owned.is_empty());
    }

    #[test]
    fn expectations_of_a_workflow_never_reconciled_again_expire() {
        let cache = cache_with(&[]);
        let a = ObservedJob::from_job(&job("a", "wf-1", false)).unwrap();
        cache.expect("wf-1", a);
        let mut book = cache.book();
        book.sweep_expired(Instant::now());
        assert_eq!(book.expected.len(), 1, "still young");
        book.sweep_expired(Instant::now() + EXPECTATION_TTL + Duration::from_secs(1));
        assert!(book.expected.is_empty());
    }

    #[test]
    fn a_deleted_workflows_expectations_are_forgotten() {
        let cache = cache_with(&[]);
        for owner in ["wf-1", "wf-2", "wf-3"] {
            cache.expect(
                owner,
                ObservedJob::from_job(&job("a", owner, false)).unwrap(),
            );
        }
        cache.forget_owner("wf-1");
        cache.retain_owners(&HashSet::from(["wf-3".to_owned()]));
        let owners: Vec<String> = cache.book().expected.keys().cloned().collect();
        assert_eq!(owners, ["wf-3"]);
    }

    fn pod_of(job: &str, pod_uid: &str, phase: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("{job}-{pod_uid}")),
                namespace: Some("ns".into()),
                uid: Some(pod_uid.into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "batch/v1".into(),
                    kind: "Job".into(),
                    name: job.into(),
                    uid: format!("uid-{job}"),
                    controller: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_pod_first_seen_succeeded_triggers_its_job_once_and_reaches_jobs_of() {
        let cache = cache_with(&[job("a", "wf-1", false)]);
        assert_eq!(
            cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Running"))),
            None
        );
        assert_eq!(
            cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Succeeded"))),
            Some(("ns".into(), "a".into()))
        );
        assert_eq!(
            cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Succeeded"))),
            None,
            "only the first sighting"
        );
        let observed = cache.jobs_of("ns", "wf-1");
        let pod = observed[0].pod.as_ref().expect("the pod is observed");
        assert!(pod.succeeded && !pod.several);
        assert!(
            cache.since_finished(&observed[0]).is_some(),
            "the pod's success starts the scheduling latency"
        );
    }

    #[test]
    fn a_replacement_pod_marks_the_job_as_several_for_good() {
        let cache = cache_with(&[job("a", "wf-1", false)]);
        cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Running")));
        cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p2", "Succeeded")));
        cache.on_pod_event(&watcher::Event::Delete(pod_of("a", "p1", "Failed")));
        let observed = cache.jobs_of("ns", "wf-1");
        assert!(observed[0].pod.as_ref().unwrap().several);
    }

    #[test]
    fn pods_are_forgotten_with_the_pod_the_job_or_a_relist_without_them() {
        let cache = cache_with(&[job("a", "wf-1", false), job("b", "wf-1", false)]);
        cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Running")));
        cache.on_pod_event(&watcher::Event::Delete(pod_of("a", "p1", "Running")));
        assert!(cache.book().pods.is_empty(), "the pod's Delete");
        cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Running")));
        cache.on_event(&watcher::Event::Delete(job("a", "wf-1", false)));
        assert!(cache.book().pods.is_empty(), "the Job's Delete");
        cache.on_pod_event(&watcher::Event::Apply(pod_of("a", "p1", "Running")));
        cache.on_pod_event(&watcher::Event::Apply(pod_of("b", "p2", "Running")));
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(pod_of("b", "p2", "Running")),
            watcher::Event::InitDone,
        ] {
            cache.on_pod_event(&event);
        }
        let kept: Vec<String> = cache.book().pods.keys().cloned().collect();
        assert_eq!(kept, ["uid-b"], "a pod re-list without a's pod");
    }

    #[test]
    fn a_failed_pods_exit_and_node_are_read_from_the_watch() {
        let mut pod = pod_of("a", "p1", "Failed");
        pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            node_name: Some("node-1".into()),
            ..Default::default()
        });
        pod.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 3,
                    reason: Some("Error".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        let observed = observe_pod(&pod);
        assert!(!observed.succeeded);
        assert_eq!(observed.exit.map(|e| e.code), Some(3));
        assert_eq!(observed.node.as_deref(), Some("node-1"));
    }

    #[test]
    fn a_relist_forgets_what_was_kept_of_jobs_deleted_meanwhile() {
        let (store, mut writer) = reflector::store();
        let cache = JobCache::new(store);
        let done = job("a", "wf-1", true);
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(done.clone()),
            watcher::Event::InitApply(job("b", "wf-1", true)),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            cache.on_event(&event);
        }
        cache.book().exits.insert("uid-a".into(), None);
        assert!(cache.book().finished_seen.contains_key("uid-a"));
        // The watch was down while a was deleted: the re-list no longer holds it.
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(job("b", "wf-1", true)),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            cache.on_event(&event);
        }
        let book = cache.book();
        assert!(!book.finished_seen.contains_key("uid-a"));
        assert!(!book.exits.contains_key("uid-a"));
        assert!(
            book.finished_seen.contains_key("uid-b"),
            "b is still listed"
        );
    }
}
