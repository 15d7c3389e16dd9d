//! Helpers of the controller end-to-end tests (tests/controller.rs, tests/controller_faults.rs):
//! step phases, and a recorder of a Workflow's Job events that checks the dependency order.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::watcher;
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, StepPhase, Workflow, label_value};
use kwf_e2e::Scene;
use kwf_e2e::watch::{self, Change};

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

/// What the Job watch showed, in order.
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

/// Records the watch events of one Workflow's Jobs, in the API server's order.
pub struct JobRecorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    _follow: watch::Follow,
}

impl JobRecorder {
    /// Records every event of the Workflow's Jobs from now on (returns once the watch is live).
    pub async fn start(scene: &Scene, workflow: &str) -> JobRecorder {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let mut succeeded_already: HashMap<String, bool> = HashMap::new();
        let config = watcher::Config::default()
            .labels(&format!("{LABEL_WORKFLOW}={}", label_value(workflow)));
        let follow = watch::follow(scene.jobs(), config, move |change| {
            let mut seen = record.lock().unwrap();
            match change {
                Change::Applied(job) => {
                    let name = job.name_any();
                    let step = step_of(&job);
                    let succeeded = succeeded_already.entry(name.clone()).or_insert_with(|| {
                        seen.push(Seen::Added {
                            job: name.clone(),
                            step: step.clone(),
                            created_by: job.annotations().get("kwf.dev/created-by").cloned(),
                        });
                        false
                    });
                    if !*succeeded && job_succeeded(&job) {
                        *succeeded = true;
                        seen.push(Seen::Succeeded { job: name, step });
                    }
                }
                Change::Deleted(job) => seen.push(Seen::Deleted {
                    job: job.name_any(),
                    step: step_of(&job),
                }),
            }
        })
        .await
        .expect("the Job watch starts");
        JobRecorder {
            seen,
            _follow: follow,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
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
