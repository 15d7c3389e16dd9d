//! Tests of the core: small builders and a simulated world (`World`) that applies a Decision's
//! effects the way the shell and the API server would, so each scenario runs through several
//! reconciles and checks idempotence after every one.

mod claims;
mod failure;
mod fan_out;
mod jobs;
mod progress;
mod property;
mod relabel;
mod restart;
mod retries;
mod run_control;
mod start;
mod timeouts;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kwf_api::fixtures::{self, WorkflowFixture};
pub(super) use kwf_api::fixtures::{at, step};
use kwf_api::{Step, StepPhase, StepStatus, Workflow, WorkflowPhase, WorkflowStatus};

use super::decide::whole_seconds;
use super::{
    ContainerExit, Decision, Effect, JobState, Observed, ObservedClaim, ObservedJob, OwnedKind,
    OwnedObject, OwnedRef, decide,
};

/// decide() over these Jobs, with no claims and no JobTemplates.
pub(super) fn decide_jobs(wf: &Workflow, jobs: &[ObservedJob], now: jiff::Timestamp) -> Decision {
    decide(
        wf,
        &Observed {
            jobs,
            claims: &[],
            job_templates: &BTreeMap::new(),
            nodes: &[],
        },
        now,
    )
}

/// The fixture workflow `wf` with these steps, in namespace `ns` (so a message naming the
/// namespace shows it).
pub(super) fn workflow(steps: Vec<Step>) -> Workflow {
    fixtures::workflow_of("wf", steps).with_namespace("ns")
}

/// The fixture diamond (a -> {b, c} -> d) as workflow `wf`.
pub(super) fn diamond() -> Workflow {
    workflow(fixtures::diamond().spec.containers)
}

/// The Workflow and its Jobs as the API server would hold them after applying decisions.
pub(super) struct World {
    pub wf: Workflow,
    pub jobs: Vec<ObservedJob>,
    /// The claims the Workflow controls.
    pub claims: Vec<ObservedClaim>,
    /// The JobTemplates that exist, by name.
    pub job_templates: BTreeMap<String, k8s_openapi::api::batch::v1::JobTemplateSpec>,
    /// The cluster's nodes.
    pub nodes: Vec<super::ObservedNode>,
    /// Every Job name ever created, in order.
    pub created: Vec<String>,
    uid: u32,
}

impl World {
    pub fn new(wf: Workflow) -> World {
        World {
            wf,
            jobs: Vec::new(),
            claims: Vec::new(),
            job_templates: BTreeMap::new(),
            nodes: Vec::new(),
            created: Vec::new(),
            uid: 0,
        }
    }

    pub fn status(&self) -> &WorkflowStatus {
        self.wf.status.as_ref().expect("a status was written")
    }

    pub fn phase(&self) -> WorkflowPhase {
        self.status().phase.expect("a phase was written")
    }

    pub fn step(&self, name: &str) -> &StepStatus {
        self.status()
            .step(name)
            .unwrap_or_else(|| panic!("step {name} has a status"))
    }

    pub fn step_phase(&self, name: &str) -> StepPhase {
        self.status().step_phase(name)
    }

    pub fn job(&self, step: &str) -> &ObservedJob {
        self.jobs
            .iter()
            .rev()
            .find(|job| job.step == step)
            .unwrap_or_else(|| panic!("a Job of step {step} exists"))
    }

    pub fn job_mut(&mut self, step: &str) -> &mut ObservedJob {
        self.jobs
            .iter_mut()
            .rev()
            .find(|job| job.step == step)
            .unwrap_or_else(|| panic!("a Job of step {step} exists"))
    }

    /// decide() at `now` over everything in this world, nothing applied.
    pub fn decide(&self, now: jiff::Timestamp) -> Decision {
        decide(
            &self.wf,
            &Observed {
                jobs: &self.jobs,
                claims: &self.claims,
                job_templates: &self.job_templates,
                nodes: &self.nodes,
            },
            now,
        )
    }

    /// decide() at `now`, its effects applied; then asserts that deciding again changes nothing.
    pub fn reconcile(&mut self, now: jiff::Timestamp) -> Decision {
        let decision = self.reconcile_once(now);
        let again = self.decide(now);
        assert_eq!(
            again.effects,
            Vec::new(),
            "deciding again over the result is not a no-op"
        );
        assert_eq!(again.requeue_after, decision.requeue_after);
        decision
    }

    /// decide() at `now` with its effects applied, without the idempotence check.
    pub fn reconcile_once(&mut self, now: jiff::Timestamp) -> Decision {
        let decision = self.decide(now);
        for effect in &decision.effects {
            self.apply(effect, now);
        }
        decision
    }

    pub fn apply(&mut self, effect: &Effect, now: jiff::Timestamp) {
        match effect {
            Effect::Create(OwnedObject::Job(job)) => {
                let mut observed =
                    ObservedJob::from_job(job).expect("a created Job carries kwf.dev labels");
                if self.jobs.iter().any(|j| j.name == observed.name) {
                    return; // AlreadyExists
                }
                self.uid += 1;
                observed.uid = format!("job-uid-{}", self.uid);
                // The API server stamps creation in whole seconds.
                observed.created = Some(whole_seconds(now));
                self.created.push(observed.name.clone());
                self.jobs.push(observed);
            }
            Effect::Create(OwnedObject::Claim(claim)) => {
                let observed = ObservedClaim::from_claim(claim)
                    .expect("a created claim carries kwf.dev labels");
                if !self.claims.iter().any(|c| c.name == observed.name) {
                    self.claims.push(observed);
                }
            }
            Effect::Delete(target) => match target.kind {
                OwnedKind::Job => self.jobs.retain(|job| job.name != target.name),
                OwnedKind::PersistentVolumeClaim => {
                    self.claims.retain(|claim| claim.name != target.name)
                }
            },
            Effect::Relabel {
                target,
                labels,
                inherited,
            } => {
                assert_eq!(target.kind, OwnedKind::Job);
                let job = self
                    .jobs
                    .iter_mut()
                    .find(|job| job.name == target.name)
                    .expect("a patched Job exists");
                for (key, value) in labels {
                    match value {
                        Some(value) => job.labels.insert(key.clone(), value.clone()),
                        None => job.labels.remove(key),
                    };
                }
                job.inherited_labels = inherited
                    .split(',')
                    .filter(|key| !key.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Effect::WriteStatus(status) => self.wf.status = Some((**status).clone()),
            Effect::Event(_) => {}
        }
    }

    /// The latest Job of `step` completes at `when`.
    pub fn succeed(&mut self, step: &str, when: jiff::Timestamp) {
        self.job_mut(step).state = JobState::Succeeded {
            finished: Some(when),
        };
    }

    /// The latest Job of `step` fails at `when` with the Job controller's reason, and the
    /// shell found its container ended with `exit_code` (the kubelet's reason `Error`).
    pub fn fail(
        &mut self,
        step: &str,
        when: jiff::Timestamp,
        reason: &str,
        exit_code: Option<i32>,
    ) {
        let exit = exit_code.map(|code| ContainerExit {
            code,
            reason: Some("Error".to_owned()),
        });
        self.fail_with(step, when, reason, exit);
    }

    /// The latest Job of `step` fails at `when` with the Job controller's reason, and the
    /// shell found its container ended so.
    pub fn fail_with(
        &mut self,
        step: &str,
        when: jiff::Timestamp,
        reason: &str,
        exit: Option<ContainerExit>,
    ) {
        let job = self.job_mut(step);
        job.state = JobState::Failed {
            finished: Some(when),
            reason: reason.to_owned(),
            message: "Job has reached the specified backoff limit".to_owned(),
        };
        job.exit = exit;
    }

    /// Bumps `metadata.generation` with a new spec.
    pub fn change_spec(&mut self, steps: Vec<Step>) {
        self.wf.spec.containers = steps;
        let generation = self.wf.metadata.generation.unwrap_or(0);
        self.wf.metadata.generation = Some(generation + 1);
    }

    pub fn annotate(&mut self, key: &str, value: &str) {
        self.wf
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
    }
}

/// The kind of each effect of a decision, in order.
pub(super) fn kinds(decision: &Decision) -> Vec<&'static str> {
    decision
        .effects
        .iter()
        .map(|effect| match effect {
            Effect::Create(_) => "create",
            Effect::WriteStatus(_) => "status",
            Effect::Delete(_) => "delete",
            Effect::Relabel { .. } => "relabel",
            Effect::Event(_) => "event",
        })
        .collect()
}

/// Names of the Jobs a decision creates, in order.
pub(super) fn created(decision: &Decision) -> Vec<String> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Create(OwnedObject::Job(job)) => job.metadata.name.clone(),
            _ => None,
        })
        .collect()
}

/// Names of the Jobs a decision deletes, in order.
pub(super) fn deleted(decision: &Decision) -> Vec<String> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Delete(target) if target.kind == OwnedKind::Job => Some(target.name.clone()),
            _ => None,
        })
        .collect()
}

/// Reasons of the Events a decision records, in order.
pub(super) fn events(decision: &Decision) -> Vec<String> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Event(event) => Some(event.reason.clone()),
            _ => None,
        })
        .collect()
}

/// Notes of the Events with `reason`.
pub(super) fn notes(decision: &Decision, reason: &str) -> Vec<String> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Event(event) if event.reason == reason => Some(event.note.clone()),
            _ => None,
        })
        .collect()
}

/// The condition of this type; panics when the status has none.
pub(super) fn condition<'a>(status: &'a WorkflowStatus, type_: &str) -> &'a Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("a {type_} condition"))
}

pub(super) fn secs(seconds: u64) -> Option<Duration> {
    Some(Duration::from_secs(seconds))
}
