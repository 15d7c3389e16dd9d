//! Moving steps forward: record what their Jobs did (succeeded, failed, retrying, timed out,
//! vanished), start the work that may start, and skip what can no longer run once the
//! workflow has failed. One pass over the steps, then one over the topological order.
//!
//! # What starts, in which order
//!
//! Work is a step that does not fan out, one instance of a step that does (`withItems`), or
//! the next attempt of either once its backoff has passed. The start pass takes, first, work
//! that never ran, by the topological order of its step (a fanned-out step's instances in index
//! order), then retries, the one that has waited longest first (oaat's rule: never run before
//! failed). `spec.parallelism` bounds the Jobs of the workflow at work and a step's
//! `maxParallel` those of its instances; work waiting to retry holds no place.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::fan_out::{InstanceStatus, InstancesStatus};
use kwf_api::job::{Instance, JobInputs, build_job};
use kwf_api::retries::RetryPolicy;
use kwf_api::{Dag, Step, StepPhase, StepStatus, Workflow, attempt_job_name};

use super::attempts::{self, AttemptInputs, Unit};
use super::claims::{Claims, Gate};
use super::decide::Plan;
use super::nodes::{self, ObservedNode};
use super::observed::{JobState, ObservedJob};
use super::run_control::RunControl;
use super::{messages, timeouts};

/// The Jobs of this generation by (step, run, instance), each list in attempt order.
pub(super) type JobsByUnit<'a> = HashMap<(&'a str, u32, Option<u32>), Vec<&'a ObservedJob>>;

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
    /// Jobs of this generation by step, run and instance: what a unit may adopt.
    pub jobs_by_unit: &'a JobsByUnit<'a>,
    /// The (step, run) pairs with instance Jobs in `jobs_by_unit`: a fan-out a lost status
    /// write left Pending is found without a scan per step.
    pub fanned_out_jobs: &'a HashSet<(&'a str, u32)>,
    /// The JobTemplates the steps refer to that exist, by name.
    pub job_templates: &'a BTreeMap<String, JobTemplateSpec>,
    /// The workflow volumes and claims each step's containers mount, by step name.
    pub mounts: &'a HashMap<String, BTreeSet<String>>,
    /// Stop and suspend requests (see `run_control`).
    pub control: &'a RunControl,
    /// The cluster's nodes, when a step fanned out over nodes may start (see [`needs_nodes`]).
    pub nodes: &'a [ObservedNode],
}

impl StepInputs<'_> {
    fn attempt_inputs(&self) -> AttemptInputs<'_> {
        AttemptInputs {
            wf: self.wf,
            now: self.now,
            stamp: self.stamp,
            max_step_timeout: self.wf.spec.max_step_timeout,
            stopping: self.control.stop.is_some(),
        }
    }

    fn step(&self, k: usize) -> &Step {
        &self.wf.spec.containers[k]
    }

    fn fans_out(&self, k: usize) -> bool {
        let step = self.step(k);
        step.with_items.is_some() || step.with_nodes.is_some()
    }

    /// The instances step `k` fans out to now: how many, and for a fan-out over nodes, the
    /// nodes. Err: the message of a fan-out over nodes that matches no node.
    fn instances_of(&self, k: usize) -> Result<(u32, Vec<String>), String> {
        let step = self.step(k);
        if let Some(items) = &step.with_items {
            return Ok((u32::try_from(items.len()).unwrap_or(u32::MAX), Vec::new()));
        }
        let Some(fan_out) = &step.with_nodes else {
            return Ok((0, Vec::new()));
        };
        let referenced = step
            .job_template_ref
            .as_ref()
            .and_then(|r| self.job_templates.get(&r.name));
        let job = build_job(
            self.wf,
            step,
            self.generation,
            self.run,
            JobInputs {
                referenced_template: referenced,
                ..JobInputs::default()
            },
        );
        let pod = job
            .spec
            .and_then(|spec| spec.template.spec)
            .unwrap_or_default();
        let eligible = nodes::eligible(fan_out, &pod, self.nodes);
        if eligible.is_empty() {
            return Err(messages::no_eligible_node(
                &step.step_name,
                self.nodes.len(),
                fan_out,
            ));
        }
        Ok((u32::try_from(eligible.len()).unwrap_or(u32::MAX), eligible))
    }

    /// The retries of step `k`: its own, else the workflow's.
    fn policy(&self, k: usize) -> Option<&RetryPolicy> {
        self.step(k)
            .retries
            .as_ref()
            .or(self.wf.spec.retries.as_ref())
    }

    /// The Jobs of one unit in attempt order (none: an empty list).
    fn unit_jobs(&self, k: usize, run: u32, instance: Option<u32>) -> &[&ObservedJob] {
        self.jobs_by_unit
            .get(&(self.dag.name(k), run, instance))
            .map_or(&[], Vec::as_slice)
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

    fn get(&self, k: usize) -> Option<&StepStatus> {
        self.slot[k].map(|i| &self.entries[i])
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
    // Suspended, being stopped or stopped: no new work starts.
    let held = inputs.control.holds_new_steps()
        || book.entries.iter().any(|e| e.phase == StepPhase::Stopped);
    if !failed(&book) && !held {
        start_work(inputs, claims, &mut book, plan);
    }
    // Also when a step failed to start just now (a missing JobTemplate), so that the next
    // decision has nothing left to do.
    if failed(&book) {
        skip_pending(inputs, &mut book);
        give_up_waiting(inputs, &mut book);
    }
    book.entries
}

/// Records what step `k`'s Jobs did since the last decision.
fn update_step(inputs: &StepInputs, book: &mut Book, k: usize, plan: &mut Plan) {
    let name = inputs.dag.name(k);
    let fans_out = inputs.fans_out(k);
    let attempt_inputs = inputs.attempt_inputs();
    let policy = inputs.policy(k);
    match book.phase(k) {
        StepPhase::Pending if fans_out => {
            // Instances' Jobs of this run while the status says Pending: a lost status write.
            let any = inputs.fanned_out_jobs.contains(&(name, inputs.run));
            if any && let Ok((total, nodes)) = inputs.instances_of(k) {
                let entry = book.entry(k, name);
                open_fan_out(entry, total, nodes, inputs.run, inputs.stamp);
                track_instances(inputs, k, entry, plan);
            }
        }
        StepPhase::Pending => {
            // A Job of this run for a step the status calls Pending: created by a decision
            // whose status write was lost (or is not visible yet). Adopt it, never create twice.
            let jobs = inputs.unit_jobs(k, inputs.run, None);
            if jobs.is_empty() {
                return;
            }
            let entry = book.entry(k, name);
            attempts::adopt(
                &attempt_inputs,
                &mut Unit::of_step(entry),
                jobs,
                policy,
                plan,
            );
        }
        StepPhase::Running | StepPhase::Failed if fans_out => {
            let Some(entry) = book.get_mut(k) else {
                return;
            };
            track_instances(inputs, k, entry, plan);
        }
        StepPhase::Running => {
            let Some(entry) = book.get_mut(k) else {
                return;
            };
            let job_name = entry
                .job_name
                .get_or_insert_with(|| {
                    attempt_job_name(inputs.wf_name, name, inputs.generation, inputs.run, None, 0)
                })
                .clone();
            let unit = &mut Unit::of_step(entry);
            if unit.next_retry_at.is_none() {
                let job = inputs.jobs.get(job_name.as_str()).copied();
                attempts::track(&attempt_inputs, unit, job, policy, plan);
            }
            // Just failed or waiting: its next attempt may exist already (a lost write).
            if unit.next_retry_at.is_some() {
                wait_for_retry(
                    inputs,
                    unit,
                    inputs.unit_jobs(k, inputs.run, None),
                    policy,
                    plan,
                );
            }
        }
        StepPhase::Failed | StepPhase::Stopped => {
            let Some(entry) = book.get(k) else {
                return;
            };
            stop_active(inputs, entry.job_name.as_deref(), plan);
        }
        StepPhase::Succeeded | StepPhase::Skipped => {}
    }
}

/// A unit waiting to retry: adopts its next attempts' Jobs where earlier decisions created
/// them (lost status writes), each tracked in turn; else it waits, its time kept by the start
/// pass (which runs only while new work may start).
fn wait_for_retry(
    inputs: &StepInputs,
    unit: &mut Unit,
    jobs: &[&ObservedJob],
    policy: Option<&RetryPolicy>,
    plan: &mut Plan,
) {
    let attempt_inputs = inputs.attempt_inputs();
    while unit.next_retry_at.is_some() {
        let next = attempts::next_attempt(unit.retries);
        let Some(job) = jobs.iter().find(|job| job.attempt == next) else {
            return;
        };
        attempts::begin(unit, job.name.clone(), job.created.unwrap_or(inputs.stamp));
        plan.events
            .push(messages::step_started(&unit.label, &job.name));
        attempts::track(&attempt_inputs, unit, Some(job), policy, plan);
    }
}

/// A Job that must not run on (timed out by our own deadline, or stopped): deleted again if
/// the delete was lost with the reconcile that wrote the status.
fn stop_active(inputs: &StepInputs, job_name: Option<&str>, plan: &mut Plan) {
    let Some(job) = job_name.and_then(|n| inputs.jobs.get(n)) else {
        return;
    };
    if job.state == JobState::Active && !job.deleting {
        plan.deletes.push(job.name.clone());
    }
}

/// Marks a fanned-out step Running with none of its instances started yet.
fn open_fan_out(
    entry: &mut StepStatus,
    total: u32,
    nodes: Vec<String>,
    run: u32,
    stamp: jiff::Timestamp,
) {
    *entry = StepStatus {
        name: entry.name.clone(),
        phase: StepPhase::Running,
        started_at: Some(Time(stamp)),
        instances: Some(InstancesStatus {
            total,
            run,
            nodes,
            ..InstancesStatus::default()
        }),
        ..StepStatus::default()
    };
}

/// Tracks every listed instance of a fanned-out step, adopts instances whose Jobs exist but
/// that the status does not list (a lost write), counts the succeeded ones out of the list,
/// and settles the step once every instance succeeded or one failed for good.
fn track_instances(inputs: &StepInputs, k: usize, entry: &mut StepStatus, plan: &mut Plan) {
    let name = inputs.dag.name(k);
    let policy = inputs.policy(k);
    let attempt_inputs = inputs.attempt_inputs();
    let step_failed = entry.phase == StepPhase::Failed;
    let Some(instances) = entry.instances.as_mut() else {
        return;
    };
    let run = instances.run;

    // Jobs at or after `started`: instances an earlier decision started in a lost write.
    let adopted_up_to = (instances.started..instances.total)
        .rev()
        .find(|&i| !inputs.unit_jobs(k, run, Some(i)).is_empty());
    if let Some(last) = adopted_up_to {
        for index in instances.started..=last {
            let mut instance = InstanceStatus {
                index,
                ..InstanceStatus::default()
            };
            let jobs = inputs.unit_jobs(k, run, Some(index));
            if !jobs.is_empty() {
                let unit = &mut Unit::of_instance(name, &mut instance);
                attempts::adopt(&attempt_inputs, unit, jobs, policy, plan);
            }
            // An instance in the gap without a Job stays Pending: the start pass creates it.
            instances.active.push(instance);
        }
        instances.started = last + 1;
    }

    for instance in &mut instances.active {
        let jobs = inputs.unit_jobs(k, run, Some(instance.index));
        let job_name = instance.job_name.clone();
        let unit = &mut Unit::of_instance(name, instance);
        match *unit.phase {
            StepPhase::Running => {
                if unit.next_retry_at.is_none() {
                    let job = job_name
                        .as_deref()
                        .and_then(|n| inputs.jobs.get(n))
                        .copied();
                    attempts::track(&attempt_inputs, unit, job, policy, plan);
                }
                if unit.next_retry_at.is_some() {
                    wait_for_retry(inputs, unit, jobs, policy, plan);
                }
            }
            StepPhase::Failed | StepPhase::Stopped => {
                stop_active(inputs, job_name.as_deref(), plan);
            }
            StepPhase::Pending | StepPhase::Succeeded | StepPhase::Skipped => {}
        }
    }

    let listed = instances.active.len();
    instances
        .active
        .retain(|instance| instance.phase != StepPhase::Succeeded);
    let newly_succeeded = u32::try_from(listed - instances.active.len()).unwrap_or(0);
    instances.succeeded = instances.succeeded.saturating_add(newly_succeeded);
    let failed: Vec<&InstanceStatus> = instances
        .active
        .iter()
        .filter(|instance| instance.phase == StepPhase::Failed)
        .collect();
    instances.failed = u32::try_from(failed.len()).unwrap_or(u32::MAX);
    if step_failed {
        return;
    }
    if let Some(first) = failed
        .iter()
        .min_by_key(|instance| (instance.finished_at.clone(), instance.index))
    {
        let message = first.message.clone().unwrap_or_else(|| {
            format!(
                "step \"{}\" failed",
                attempts::instance_label(name, first.index)
            )
        });
        let finished = first.finished_at.clone();
        let exit = first.exit_code;
        entry.phase = StepPhase::Failed;
        entry.finished_at = finished.or(Some(Time(inputs.stamp)));
        entry.message = Some(message);
        entry.exit_code = exit;
    } else if instances.succeeded >= instances.total {
        entry.phase = StepPhase::Succeeded;
        entry.finished_at = Some(Time(inputs.stamp));
        plan.events
            .push(messages::fan_out_succeeded(name, instances.total));
    }
}

/// One piece of work the start pass may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A step that does not fan out, for its first attempt.
    Step(usize),
    /// Instance `index` of fanned-out step `k`, for its first attempt.
    Instance(usize, u32),
    /// The next attempt of step `k` (of its instance, if any).
    Retry(usize, Option<u32>),
}

impl Work {
    fn step(self) -> usize {
        match self {
            Work::Step(k) | Work::Instance(k, _) | Work::Retry(k, _) => k,
        }
    }
}

/// How many Jobs are at work: in all, and per step.
struct Places {
    total: usize,
    per_step: Vec<usize>,
}

impl Places {
    fn count(dag: &Dag, book: &Book) -> Places {
        let mut per_step = vec![0; dag.len()];
        for (k, count) in per_step.iter_mut().enumerate() {
            let Some(entry) = book.get(k) else {
                continue;
            };
            *count = match &entry.instances {
                Some(instances) => instances
                    .active
                    .iter()
                    .filter(|i| attempts::holds_place(i.phase, i.next_retry_at.as_ref()))
                    .count(),
                None => usize::from(attempts::holds_place(
                    entry.phase,
                    entry.next_retry_at.as_ref(),
                )),
            };
        }
        Places {
            total: per_step.iter().sum(),
            per_step,
        }
    }
}

/// Starts the work that may start now, in the order the module's documentation states, within
/// `parallelism` and each step's `maxParallel`.
fn start_work(inputs: &StepInputs, claims: &mut Claims, book: &mut Book, plan: &mut Plan) {
    for k in inputs.dag.ready(|k| book.phase(k)) {
        if !inputs.fans_out(k) {
            continue;
        }
        let name = inputs.dag.name(k);
        match inputs.instances_of(k) {
            Ok((total, nodes)) => {
                open_fan_out(book.entry(k, name), total, nodes, inputs.run, inputs.stamp);
                plan.events.push(messages::fan_out_started(name, total));
            }
            Err(message) => {
                fail_unstarted(inputs, book, k, message, plan);
            }
        }
    }
    if book.entries.iter().any(|e| e.phase == StepPhase::Failed) {
        return;
    }
    let work = queue(inputs, book, plan);
    let mut places = Places::count(inputs.dag, book);
    let parallelism = inputs
        .wf
        .spec
        .parallelism
        .and_then(|p| usize::try_from(p).ok());
    for piece in work {
        if parallelism.is_some_and(|limit| places.total >= limit) {
            break;
        }
        let k = piece.step();
        let max_parallel = inputs
            .step(k)
            .max_parallel
            .and_then(|p| usize::try_from(p).ok());
        if max_parallel.is_some_and(|limit| places.per_step[k] >= limit) {
            continue;
        }
        if start(inputs, claims, book, piece, plan) {
            places.total += 1;
            places.per_step[k] += 1;
        }
    }
}

/// The work that may start, in order: never-run work by the topological order of its step,
/// then due retries by how long they have waited. Wakes the controller for the retries not due.
fn queue(inputs: &StepInputs, book: &Book, plan: &mut Plan) -> Vec<Work> {
    let mut fresh = Vec::new();
    let mut retries: Vec<(jiff::Timestamp, Work)> = Vec::new();
    let mut due = |at: Option<&Time>| match at {
        Some(at) => match timeouts::remaining(at.0, inputs.now) {
            Some(left) => {
                plan.requeue_after = timeouts::earliest(plan.requeue_after, left);
                false
            }
            None => true,
        },
        None => false,
    };
    for &k in inputs.dag.topological_order() {
        match (book.phase(k), book.get(k)) {
            (StepPhase::Pending, _) if !inputs.fans_out(k) => {
                let ready = inputs
                    .dag
                    .dependencies(k)
                    .iter()
                    .all(|&d| book.phase(d) == StepPhase::Succeeded);
                if ready {
                    fresh.push(Work::Step(k));
                }
            }
            (StepPhase::Running, Some(entry)) => match &entry.instances {
                Some(instances) => {
                    fresh.extend(
                        instances
                            .active
                            .iter()
                            .filter(|i| i.phase == StepPhase::Pending)
                            .map(|i| Work::Instance(k, i.index)),
                    );
                    fresh
                        .extend((instances.started..instances.total).map(|i| Work::Instance(k, i)));
                    for instance in &instances.active {
                        if instance.phase == StepPhase::Running
                            && due(instance.next_retry_at.as_ref())
                            && let Some(at) = &instance.next_retry_at
                        {
                            retries.push((at.0, Work::Retry(k, Some(instance.index))));
                        }
                    }
                }
                None => {
                    if entry.phase == StepPhase::Running
                        && due(entry.next_retry_at.as_ref())
                        && let Some(at) = &entry.next_retry_at
                    {
                        retries.push((at.0, Work::Retry(k, None)));
                    }
                }
            },
            _ => {}
        }
    }
    retries.sort_by_key(|(at, _)| *at);
    fresh.extend(retries.into_iter().map(|(_, work)| work));
    fresh
}

/// Starts one piece of work: its Job is created, its status records the attempt. False when
/// it cannot start yet (a claim it mounts is not ready) or failed to (a missing JobTemplate).
fn start(
    inputs: &StepInputs,
    claims: &mut Claims,
    book: &mut Book,
    work: Work,
    plan: &mut Plan,
) -> bool {
    let k = work.step();
    let step = inputs.step(k);
    let name = step.step_name.as_str();
    let referenced = match &step.job_template_ref {
        Some(reference) => match inputs.job_templates.get(&reference.name) {
            Some(template) => Some(template),
            None => {
                let message = messages::missing_template(
                    name,
                    &reference.name,
                    inputs.wf.metadata.namespace.as_deref(),
                );
                fail_unstarted(inputs, book, k, message, plan);
                return false;
            }
        },
        None => None,
    };
    let no_mounts = BTreeSet::new();
    let mounts = inputs.mounts.get(name).unwrap_or(&no_mounts);
    let node = if mounts.is_empty() {
        None
    } else {
        let pinned = names_its_node(inputs.wf, step, referenced);
        match claims.gate(name, mounts, pinned, &book.entries, inputs.mounts, plan) {
            Gate::Open { node } => node,
            Gate::Closed => return false,
        }
    };

    let (instance, attempt, run) = match work {
        Work::Step(_) => (None, 0, inputs.run),
        Work::Retry(_, None) => {
            let entry = book.entry(k, name);
            (None, attempts::next_attempt(&entry.retries), inputs.run)
        }
        Work::Instance(_, index) | Work::Retry(_, Some(index)) => {
            let Some(instances) = book.get(k).and_then(|e| e.instances.as_ref()) else {
                return false;
            };
            let attempt = instances
                .active
                .iter()
                .find(|i| i.index == index)
                .map_or(0, |i| attempts::next_attempt(&i.retries));
            (Some(index), attempt, instances.run)
        }
    };
    let pinned_node = instance.and_then(|index| {
        book.get(k)
            .and_then(|e| e.instances.as_ref())
            .and_then(|i| i.nodes.get(index as usize))
            .cloned()
    });
    let node_item = pinned_node.clone().map(serde_json::Value::String);
    let item = instance.and_then(|index| {
        step.with_items
            .as_ref()
            .and_then(|items| items.get(index as usize))
            .or(node_item.as_ref())
    });
    let node = node.or(pinned_node);
    let job = build_job(
        inputs.wf,
        step,
        inputs.generation,
        run,
        JobInputs {
            referenced_template: referenced,
            node: node.as_deref(),
            instance: instance
                .zip(item)
                .map(|(index, item)| Instance { index, item }),
            attempt,
        },
    );
    let job_name = attempt_job_name(
        inputs.wf_name,
        name,
        inputs.generation,
        run,
        instance,
        attempt,
    );

    let entry = book.entry(k, name);
    let label = match instance {
        Some(index) => attempts::instance_label(name, index),
        None => name.to_owned(),
    };
    plan.events.push(messages::step_started(&label, &job_name));
    match instance {
        None => {
            if work == Work::Step(k) {
                *entry = StepStatus {
                    name: name.to_owned(),
                    node: node.clone(),
                    ..StepStatus::default()
                };
            }
            attempts::begin(&mut Unit::of_step(entry), job_name, inputs.stamp);
            if entry.node.is_none() {
                entry.node = node;
            }
        }
        Some(index) => {
            let Some(instances) = entry.instances.as_mut() else {
                return false;
            };
            let position = match instances.active.iter().position(|i| i.index == index) {
                Some(position) => position,
                None => {
                    instances.active.push(InstanceStatus {
                        index,
                        ..InstanceStatus::default()
                    });
                    instances.active.len() - 1
                }
            };
            instances.started = instances.started.max(index + 1);
            let unit = &mut Unit::of_instance(name, &mut instances.active[position]);
            attempts::begin(unit, job_name, inputs.stamp);
        }
    }
    if let Some(deadline) = timeouts::deadline(
        None,
        Some(inputs.stamp),
        inputs.now,
        inputs.wf.spec.max_step_timeout,
    ) && let Some(left) = timeouts::remaining(deadline, inputs.now)
    {
        plan.requeue_after = timeouts::earliest(plan.requeue_after, left);
    }
    plan.creates.push(job);
    true
}

/// Fails step `k` before any Job of it exists (a missing JobTemplate, no node to fan out over).
fn fail_unstarted(
    inputs: &StepInputs,
    book: &mut Book,
    k: usize,
    message: String,
    plan: &mut Plan,
) {
    let entry = book.entry(k, inputs.dag.name(k));
    plan.events.push(messages::step_not_started(&message));
    attempts::fail(&mut Unit::of_step(entry), inputs.stamp, message, None);
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

/// Once the workflow failed nothing new starts, retries included: work waiting to retry fails,
/// and a fanned-out step with no instance left at work is settled as cut short.
fn give_up_waiting(inputs: &StepInputs, book: &mut Book) {
    for entry in &mut book.entries {
        let name = entry.name.clone();
        match entry.instances.as_mut() {
            None => {
                if entry.phase == StepPhase::Running && entry.next_retry_at.is_some() {
                    let failure = entry.message.clone().unwrap_or_default();
                    let unit = &mut Unit::of_step(entry);
                    attempts::fail(
                        unit,
                        inputs.stamp,
                        messages::retry_abandoned(&failure),
                        None,
                    );
                }
            }
            Some(instances) => {
                instances
                    .active
                    .retain(|instance| instance.phase != StepPhase::Pending);
                for instance in &mut instances.active {
                    if instance.phase == StepPhase::Running && instance.next_retry_at.is_some() {
                        let failure = instance.message.clone().unwrap_or_default();
                        let unit = &mut Unit::of_instance(&name, instance);
                        let message = messages::retry_abandoned(&failure);
                        attempts::fail(unit, inputs.stamp, message, None);
                    }
                }
                let at_work = instances
                    .active
                    .iter()
                    .any(|i| attempts::holds_place(i.phase, i.next_retry_at.as_ref()));
                if entry.phase == StepPhase::Running && !at_work {
                    let message =
                        messages::instances_cut_short(instances.succeeded, instances.total);
                    entry.phase = StepPhase::Failed;
                    entry.finished_at = Some(Time(inputs.stamp));
                    entry.message = Some(message);
                }
            }
        }
    }
}

/// Whether deciding about `wf` needs the cluster's nodes: a step fanned out over nodes has not
/// started yet (its nodes are taken when it does). The shell lists nodes only then.
pub fn needs_nodes(wf: &Workflow) -> bool {
    let status = wf.status.as_ref();
    wf.spec.containers.iter().any(|step| {
        step.with_nodes.is_some()
            && status
                .and_then(|s| s.step(&step.step_name))
                .is_none_or(|entry| entry.instances.is_none())
    })
}
