//! Helpers of the controller end-to-end tests (tests/controller.rs, tests/controller_faults.rs):
//! step phases, and a recorder of a Workflow's Job and pod events that checks the dependency order.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::watcher;
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, StepPhase, Workflow, label_value};
use kwf_e2e::Scene;
use kwf_e2e::watch::{self, Change, revision};

/// A cheap pseudo-random number in `0..n` (tests need variety, not cryptography).
pub fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut x = nanos as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % n.max(1)
}

/// Phase of every step, by name.
pub fn step_phases(wf: &Workflow) -> BTreeMap<String, StepPhase> {
    let status = wf.status.clone().unwrap_or_default();
    wf.spec
        .containers
        .iter()
        .map(|s| (s.step_name.clone(), status.step_phase(&s.step_name)))
        .collect()
}

/// What the Job and pod watches showed, in order.
#[derive(Clone, Debug)]
pub enum Seen {
    /// The Job appeared.
    Added {
        job: String,
        step: String,
        created_by: Option<String>,
    },
    /// The Job was first seen succeeded (SuccessCriteriaMet/Complete or a succeeded pod).
    Succeeded {
        job: String,
        step: String,
    },
    Deleted {
        job: String,
        step: String,
    },
}

/// Records the watch events of one Workflow's Jobs and of their pods, in one order: etcd's
/// revision (the resourceVersion, global to the plane). The pods matter because the controller
/// starts a dependent when its dependency's pod terminates (issue 17's hand-off), which can be
/// before the Job watch shows that Job Complete; a pod that succeeded is its Job succeeding.
pub struct JobRecorder {
    raw: Arc<Mutex<Vec<(u64, Seen)>>>,
    _follow: [watch::Follow; 2],
}

impl Seen {
    fn rank(&self) -> u8 {
        match self {
            Seen::Added { .. } => 0,
            Seen::Succeeded { .. } => 1,
            Seen::Deleted { .. } => 2,
        }
    }
}

impl JobRecorder {
    /// Records every event of the Workflow's Jobs and pods from now on (returns once both
    /// watches are live).
    pub async fn start(scene: &Scene, workflow: &str) -> JobRecorder {
        let raw: Arc<Mutex<Vec<(u64, Seen)>>> = Arc::default();
        let selector = format!("{LABEL_WORKFLOW}={}", label_value(workflow));
        let record = raw.clone();
        let jobs = watch::follow(
            scene.jobs(),
            watcher::Config::default().labels(&selector),
            move |change| {
                let mut raw = record.lock().unwrap_or_else(|p| p.into_inner());
                match change {
                    Change::Applied(job) => {
                        let rv = revision(&job);
                        let (name, step) = (job.name_any(), step_of(&job));
                        raw.push((
                            rv,
                            Seen::Added {
                                job: name.clone(),
                                step: step.clone(),
                                created_by: job.annotations().get("kwf.dev/created-by").cloned(),
                            },
                        ));
                        if job_succeeded(&job) {
                            raw.push((rv, Seen::Succeeded { job: name, step }));
                        }
                    }
                    Change::Deleted(job) => raw.push((
                        revision(&job),
                        Seen::Deleted {
                            job: job.name_any(),
                            step: step_of(&job),
                        },
                    )),
                }
            },
        )
        .await
        .expect("the Job watch starts");
        let record = raw.clone();
        let pods = watch::follow(
            scene.api::<Pod>(),
            watcher::Config::default().labels(&selector),
            move |change| {
                let Change::Applied(pod) = change else {
                    return;
                };
                let succeeded =
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded");
                let job = pod.labels().get("batch.kubernetes.io/job-name").cloned();
                if let (true, Some(job)) = (succeeded, job) {
                    let step = pod.labels().get(LABEL_STEP).cloned().unwrap_or_default();
                    let mut raw = record.lock().unwrap_or_else(|p| p.into_inner());
                    raw.push((revision(&pod), Seen::Succeeded { job, step }));
                }
            },
        )
        .await
        .expect("the pod watch starts");
        JobRecorder {
            raw,
            _follow: [jobs, pods],
        }
    }

    /// What was seen, in revision order: each Job's first appearance, its first success (from
    /// the Job or its pod, whichever came first), and its deletion.
    pub fn seen(&self) -> Vec<Seen> {
        let mut raw = self.raw.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // At one revision a Job appears before it succeeds, and succeeds before it is deleted.
        raw.sort_by_key(|(rv, seen)| (*rv, seen.rank()));
        let mut added = std::collections::HashSet::new();
        let mut succeeded = std::collections::HashSet::new();
        raw.into_iter()
            .filter_map(|(_, seen)| {
                let first = match &seen {
                    Seen::Added { job, .. } => added.insert(job.clone()),
                    // A success before the Job's own first event is still its success.
                    Seen::Succeeded { job, .. } => succeeded.insert(job.clone()),
                    Seen::Deleted { .. } => true,
                };
                first.then_some(seen)
            })
            .collect()
    }

    /// Asserts that no Job of a step appeared before every dependency's Job had succeeded, and
    /// that each step got exactly one Job.
    pub fn assert_dependency_order(&self, wf: &Workflow) {
        let seen = self.seen();
        let mut succeeded_at: HashMap<String, usize> = HashMap::new();
        let mut added: HashMap<String, usize> = HashMap::new();
        for (at, event) in seen.iter().enumerate() {
            match event {
                Seen::Succeeded { step, .. } => {
                    succeeded_at.entry(step.clone()).or_insert(at);
                }
                Seen::Added { step, job, .. } => {
                    assert!(
                        added.insert(step.clone(), at).is_none(),
                        "step {step} got a second Job {job}: {seen:#?}"
                    );
                }
                Seen::Deleted { .. } => {}
            }
        }
        for step in &wf.spec.containers {
            let created = *added
                .get(&step.step_name)
                .unwrap_or_else(|| panic!("step {} got no Job: {seen:#?}", step.step_name));
            for dep in &step.depends_on {
                let done = succeeded_at
                    .get(dep)
                    .unwrap_or_else(|| panic!("dependency {dep} never succeeded: {seen:#?}"));
                assert!(
                    *done < created,
                    "step {} got its Job (event {created}) before dependency {dep} succeeded (event {done}): {seen:#?}",
                    step.step_name
                );
            }
        }
    }
}

fn step_of(job: &Job) -> String {
    job.labels().get(LABEL_STEP).cloned().unwrap_or_default()
}

/// The Job has succeeded: a success condition, or a succeeded pod.
pub fn job_succeeded(job: &Job) -> bool {
    let Some(status) = job.status.as_ref() else {
        return false;
    };
    status.succeeded.unwrap_or(0) > 0
        || status.conditions.iter().flatten().any(|c| {
            (c.type_ == "Complete" || c.type_ == "SuccessCriteriaMet") && c.status == "True"
        })
}
