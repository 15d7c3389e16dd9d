//! Moving steps forward: record what their Jobs did (succeeded, failed, timed out, vanished),
//! start the steps whose dependencies all succeeded, and skip what can no longer run once the
//! workflow has failed. One pass over the steps plus one over the topological order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::job::{JobInputs, build_job};
use kwf_api::{Dag, Step, StepPhase, StepStatus, Workflow, job_name};

use super::claims::{Claims, Gate};
use super::decide::Plan;
use super::observed::{JobState, ObservedJob};
use super::run_control::RunControl;
use super::{messages, timeouts};

/// What every step decision needs to know.
pub(super) struct StepInputs<'a> {
    pub wf: &'a Workflow,
    pub wf_name: &'a str,
    pub dag: &'a Dag,
    pub generation: i64,
    pub run: u32,
    /// The exact current time, for deadlines.
    pub now: jiff::Timestamp,
    /// The current time in whole seconds, for status fields (the API keeps seconds only, so a
    /// status written with these reads back equal and the next decision changes nothing).
    pub stamp: jiff::Timestamp,
    pub jobs: &'a HashMap<&'a str, &'a ObservedJob>,
    /// Jobs of this generation and run by step name (their names are `job_name(..)` of it).
    pub jobs_of_run: &'a HashMap<&'a str, &'a ObservedJob>,
    /// The JobTemplates the steps refer to that exist, by name.
    pub job_templates: &'a BTreeMap<String, JobTemplateSpec>,
    /// The workflow volumes and claims each step's containers mount, by step name.
    pub mounts: &'a HashMap<String, BTreeSet<String>>,
    /// Stop and suspend requests (see `run_control`).
    pub control: &'a RunControl,
}

impl StepInputs<'_> {
    fn max_step_timeout(&self) -> i64 {
        self.wf.spec.max_step_timeout
    }

    /// The name the Job of step `k` gets in this generation and run.
    fn job_name(&self, k: usize) -> String {
        job_name(self.wf_name, self.dag.name(k), self.generation, self.run)
    }
}

/// `status.steps` with a lookup by step index (entries stay in the order steps left Pending).
struct Book {
    entries: Vec<StepStatus>,
    slot: Vec<Option<usize>>,
}

impl Book {
    fn new(dag: &Dag, entries: Vec<StepStatus>) -> Book {
        let mut slot = vec![None; dag.len()];
        for (i, entry) in entries.iter().enumerate() {
            if let Some(k) = dag.index_of(&entry.name) {
                slot[k] = Some(i);
            }
        }
        Book { entries, slot }
    }

    fn phase(&self, k: usize) -> StepPhase {
        self.slot[k].map_or(StepPhase::Pending, |i| self.entries[i].phase)
    }

    fn get_mut(&mut self, k: usize) -> Option<&mut StepStatus> {
        self.slot[k].map(|i| &mut self.entries[i])
    }

    /// The entry of step `k`, added (Pending) when the step has none yet.
    fn entry(&mut self, k: usize, name: &str) -> &mut StepStatus {
        let i = *self.slot[k].get_or_insert_with(|| {
            self.entries.push(StepStatus {
                name: name.to_owned(),
                ..StepStatus::default()
            });
            self.entries.len() - 1
        });
        &mut self.entries[i]
    }
}

/// Advances every step of `inputs.dag` in `steps` (the status entries) and returns the new entries.
pub(super) fn advance(
    inputs: &StepInputs,
    claims: &mut Claims,
    steps: Vec<StepStatus>,
    plan: &mut Plan,
) -> Vec<StepStatus> {
    let mut book = Book::new(inputs.dag, steps);
    for k in 0..inputs.dag.len() {
        update_step(inputs, &mut book, k, plan);
    }
    let failed = |book: &Book| book.entries.iter().any(|e| e.phase == StepPhase::Failed);
    // Suspended, being stopped or stopped: no new step starts.
    let held = inputs.control.holds_new_steps()
        || book.entries.iter().any(|e| e.phase == StepPhase::Stopped);
    if !failed(&book) && !held {
        start_ready(inputs, claims, &mut book, plan);
    }
    // Also when a step failed to start just now (a missing JobTemplate), so that the next
    // decision has nothing left to do.
    if failed(&book) {
        skip_pending(inputs, &mut book);
    }
    book.entries
}

/// Records what step `k`'s Job did since the last decision.
fn update_step(inputs: &StepInputs, book: &mut Book, k: usize, plan: &mut Plan) {
    let name = inputs.dag.name(k);
    match book.phase(k) {
        StepPhase::Pending => {
            // A Job of this run for a step the status calls Pending: created by a decision
            // whose status write was lost (or is not visible yet). Adopt it, never create twice.
            let Some(&job) = inputs.jobs_of_run.get(name) else {
                return;
            };
            let entry = book.entry(k, name);
            entry.phase = StepPhase::Running;
            entry.started_at = Some(Time(job.created.unwrap_or(inputs.stamp)));
            plan.events.push(messages::step_started(name, &job.name));
            entry.job_name = Some(job.name.clone());
            track_running(inputs, entry, Some(job), plan);
        }
        StepPhase::Running => {
            let Some(entry) = book.get_mut(k) else {
                return;
            };
            let job_name = entry.job_name.get_or_insert_with(|| inputs.job_name(k));
            let job = inputs.jobs.get(job_name.as_str()).copied();
            track_running(inputs, entry, job, plan);
        }
        StepPhase::Failed | StepPhase::Stopped => {
            let Some(entry) = book.get_mut(k) else {
                return;
            };
            let Some(job) = entry.job_name.as_deref().and_then(|n| inputs.jobs.get(n)) else {
                return;
            };
            if job.state == JobState::Active && !job.deleting {
                // Timed out by our own deadline, or stopped: the Job must not run on (a
                // delete lost with the reconcile that wrote the status is sent again).
                plan.deletes.push(job.name.clone());
            }
        }
        StepPhase::Succeeded | StepPhase::Skipped => {}
    }
}

/// Updates a Running step from its Job (None: the Job is gone).
fn track_running(
    inputs: &StepInputs,
    entry: &mut StepStatus,
    job: Option<&ObservedJob>,
    plan: &mut Plan,
) {
    let job_name = entry.job_name.clone().unwrap_or_default();
    let step = entry.name.clone();
    if entry.node.is_none()
        && let Some(node) = job.and_then(|job| job.node.clone())
    {
        entry.node = Some(node);
    }
    let Some(job) = job.filter(|job| job.state.is_finished() || !job.deleting) else {
        // Deleted by hand (or its deletion is under way) before it finished: the shell passes
        // every Job it created, so absence is never a Job not yet seen. Unless a stop is
        // being acted on (from a status that does not show it yet): the stop records it.
        if inputs.control.stop.is_some() {
            return;
        }
        let message = messages::deleted(
            &step,
            &job_name,
            inputs.wf_name,
            inputs.wf.metadata.namespace.as_deref(),
        );
        fail(entry, inputs.stamp, message.clone(), None);
        plan.events.push(messages::step_failed(&job_name, &message));
        return;
    };
    match &job.state {
        JobState::Succeeded { finished } => {
            entry.phase = StepPhase::Succeeded;
            entry.finished_at = Some(Time(finished.unwrap_or(inputs.stamp)));
            plan.events.push(messages::step_succeeded(&step, &job_name));
        }
        JobState::Failed {
            finished,
            reason,
            message,
        } => {
            let finished = finished.unwrap_or(inputs.stamp);
            if reason == "DeadlineExceeded" && inputs.max_step_timeout() > 0 {
                let message = messages::timed_out(&step, inputs.max_step_timeout());
                fail(entry, finished, message.clone(), exit_code(job));
                plan.events
                    .push(messages::step_timed_out(&job_name, &message));
            } else {
                let message =
                    messages::failed(&step, &job_name, reason, message, job.exit.as_ref());
                fail(entry, finished, message.clone(), exit_code(job));
                plan.events.push(messages::step_failed(&job_name, &message));
            }
        }
        JobState::Active => {
            let started = entry.started_at.as_ref().map(|time| time.0);
            let deadline =
                timeouts::deadline(job.created, started, inputs.now, inputs.max_step_timeout());
            let Some(deadline) = deadline else {
                return;
            };
            match timeouts::remaining(deadline, inputs.now) {
                Some(left) => plan.requeue_after = timeouts::earliest(plan.requeue_after, left),
                None => {
                    let message = messages::timed_out(&step, inputs.max_step_timeout());
                    fail(entry, inputs.stamp, message.clone(), None);
                    plan.events
                        .push(messages::step_timed_out(&job_name, &message));
                    plan.deletes.push(job.name.clone());
                }
            }
        }
    }
}

fn exit_code(job: &ObservedJob) -> Option<i32> {
    job.exit.as_ref().map(|exit| exit.code)
}

fn fail(entry: &mut StepStatus, finished: jiff::Timestamp, message: String, exit: Option<i32>) {
    entry.phase = StepPhase::Failed;
    entry.finished_at = Some(Time(finished));
    entry.message = Some(message);
    entry.exit_code = exit;
}

/// Creates the Job of every step whose dependencies all succeeded, once the claims it mounts
/// exist and its node is known (see `claims`); fails a step whose JobTemplate is missing.
fn start_ready(inputs: &StepInputs, claims: &mut Claims, book: &mut Book, plan: &mut Plan) {
    let ready = inputs.dag.ready(|k| book.phase(k));
    for k in ready {
        let step = &inputs.wf.spec.containers[k];
        let referenced = match &step.job_template_ref {
            Some(reference) => match inputs.job_templates.get(&reference.name) {
                Some(template) => Some(template),
                None => {
                    let message = messages::missing_template(
                        &step.step_name,
                        &reference.name,
                        inputs.wf.metadata.namespace.as_deref(),
                    );
                    let entry = book.entry(k, &step.step_name);
                    fail(entry, inputs.stamp, message.clone(), None);
                    plan.events.push(messages::step_not_started(&message));
                    continue;
                }
            },
            None => None,
        };
        let no_mounts = BTreeSet::new();
        let mounts = inputs.mounts.get(&step.step_name).unwrap_or(&no_mounts);
        let node = if mounts.is_empty() {
            None
        } else {
            let pinned = names_its_node(inputs.wf, step, referenced);
            match claims.gate(
                &step.step_name,
                mounts,
                pinned,
                &book.entries,
                inputs.mounts,
                plan,
            ) {
                Gate::Open { node } => node,
                Gate::Closed => continue,
            }
        };
        let job = build_job(
            inputs.wf,
            step,
            inputs.generation,
            inputs.run,
            JobInputs {
                referenced_template: referenced,
                node: node.as_deref(),
            },
        );
        let job_name = inputs.job_name(k);
        plan.events
            .push(messages::step_started(&step.step_name, &job_name));
        *book.entry(k, &step.step_name) = StepStatus {
            name: step.step_name.clone(),
            phase: StepPhase::Running,
            job_name: Some(job_name),
            started_at: Some(Time(inputs.stamp)),
            node,
            ..StepStatus::default()
        };
        if let Some(deadline) = timeouts::deadline(
            None,
            Some(inputs.stamp),
            inputs.now,
            inputs.max_step_timeout(),
        ) && let Some(left) = timeouts::remaining(deadline, inputs.now)
        {
            plan.requeue_after = timeouts::earliest(plan.requeue_after, left);
        }
        plan.creates.push(job);
    }
}

/// Whether the step's pod names its node itself (its template's or the workflow's
/// `nodeName`), so no claim needs to pin it.
fn names_its_node(wf: &Workflow, step: &Step, referenced: Option<&JobTemplateSpec>) -> bool {
    let template = step.job_template.as_ref().or(referenced);
    let own = template
        .and_then(|t| t.spec.as_ref())
        .and_then(|spec| spec.template.spec.as_ref())
        .is_some_and(|pod| pod.node_name.is_some());
    let default = wf
        .spec
        .pod_defaults
        .as_ref()
        .is_some_and(|d| d.node_name.is_some());
    own || default
}

/// Once a step failed no new step starts: every Pending step is Skipped, naming the failed step
/// it (transitively) depends on when there is one.
fn skip_pending(inputs: &StepInputs, book: &mut Book) {
    // cause[k]: the failed step that keeps step k from running, if any.
    let mut cause: Vec<Option<usize>> = vec![None; inputs.dag.len()];
    for &k in inputs.dag.topological_order() {
        match book.phase(k) {
            StepPhase::Failed => cause[k] = Some(k),
            StepPhase::Pending => {
                cause[k] = inputs.dag.dependencies(k).iter().find_map(|&d| cause[d]);
                let message = match cause[k] {
                    Some(failed) => messages::skipped_after(inputs.dag.name(failed)),
                    None => messages::skipped_workflow_failed(),
                };
                let entry = book.entry(k, inputs.dag.name(k));
                entry.phase = StepPhase::Skipped;
                entry.message = Some(message);
            }
            StepPhase::Running | StepPhase::Succeeded | StepPhase::Skipped | StepPhase::Stopped => {
            }
        }
    }
}
