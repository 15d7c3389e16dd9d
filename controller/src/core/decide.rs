//! [`decide`]: (workflow, its observed Jobs, now) -> effects, in the contract order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kwf_api::job::inherited_labels;
use kwf_api::{Dag, Workflow, WorkflowStatus};

use super::claims::{self, Claims};
use super::effect::{Decision, Effect, OwnedObject, OwnedRef, WorkflowEvent};
use super::messages;
use super::observed::{Observed, ObservedJob};
use super::{relabel, reset, run_control, status, steps};

/// What one decision collects before it is ordered into effects.
#[derive(Default)]
pub(super) struct Plan {
    pub creates: Vec<Job>,
    /// Names of the Jobs to delete.
    pub deletes: Vec<String>,
    pub claim_creates: Vec<PersistentVolumeClaim>,
    /// Names of the claims to delete.
    pub claim_deletes: Vec<String>,
    pub events: Vec<WorkflowEvent>,
    pub requeue_after: Option<Duration>,
}

/// The whole behaviour of the controller: (workflow, what the shell observed of its Jobs,
/// claims and JobTemplates, now) -> effects, in the order the [core's documentation](super)
/// states. Linear in steps + Jobs.
pub fn decide(wf: &Workflow, observed: &Observed<'_>, now: jiff::Timestamp) -> Decision {
    let jobs = observed.jobs;
    let stamp = whole_seconds(now);
    let generation = wf.metadata.generation.unwrap_or(0);
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let no_status = WorkflowStatus::default();
    let before = wf.status.as_ref().unwrap_or(&no_status);
    let mut status = before.clone();
    let mut plan = Plan::default();

    reset::apply(wf, generation, &mut status, stamp, &mut plan);
    let control = run_control::read(wf, &status);

    let verdict = match Dag::build(&wf.spec) {
        Ok(dag) => {
            let jobs_by_name: HashMap<&str, &ObservedJob> =
                jobs.iter().map(|job| (job.name.as_str(), job)).collect();
            // Jobs of the current generation by step, run and instance, in attempt order:
            // what a unit whose status does not show them may adopt.
            let mut jobs_by_unit: steps::JobsByUnit = HashMap::new();
            for job in jobs.iter().filter(|job| job.generation == generation) {
                jobs_by_unit
                    .entry((job.step.as_str(), job.run, job.instance))
                    .or_default()
                    .push(job);
            }
            for unit_jobs in jobs_by_unit.values_mut() {
                unit_jobs.sort_by_key(|job| job.attempt);
            }
            let fanned_out_jobs: HashSet<(&str, u32)> = jobs_by_unit
                .keys()
                .filter(|(_, _, instance)| instance.is_some())
                .map(|&(step, run, _)| (step, run))
                .collect();
            let mut volume_claims = Claims::new(wf, wf_name, generation, observed.claims);
            let inputs = steps::StepInputs {
                wf,
                wf_name,
                dag: &dag,
                generation,
                run: status.run,
                now,
                stamp,
                jobs: &jobs_by_name,
                jobs_by_unit: &jobs_by_unit,
                fanned_out_jobs: &fanned_out_jobs,
                job_templates: observed.job_templates,
                mounts: &claims::mounts_by_step(wf, observed.job_templates),
                control: &control,
                nodes: observed.nodes,
            };
            status.steps = steps::advance(
                &inputs,
                &mut volume_claims,
                std::mem::take(&mut status.steps),
                &mut plan,
            );
            run_control::stop(
                &control,
                &dag,
                wf,
                &jobs_by_name,
                &mut status,
                stamp,
                &mut plan,
            );
            status::Verdict::Valid
        }
        Err(errors) => status::Verdict::Invalid(messages::invalid(&errors)),
    };
    status::conclude(&mut status, before, verdict, wf, &control, stamp, &mut plan);

    cleanup(&status, jobs, generation, &mut plan);
    claims::collect(wf, status.phase, observed.claims, generation, &mut plan);
    let leaving: HashSet<&str> = plan.deletes.iter().map(String::as_str).collect();
    let relabels = relabel::drift(&inherited_labels(wf), jobs, &leaving);

    let mut effects = Vec::with_capacity(
        plan.claim_creates.len()
            + plan.creates.len()
            + 1
            + plan.deletes.len()
            + plan.claim_deletes.len()
            + relabels.len()
            + plan.events.len(),
    );
    effects.extend(
        plan.claim_creates
            .into_iter()
            .map(|claim| Effect::Create(OwnedObject::Claim(Box::new(claim)))),
    );
    effects.extend(
        plan.creates
            .into_iter()
            .map(|job| Effect::Create(OwnedObject::Job(Box::new(job)))),
    );
    if status != *before {
        effects.push(Effect::WriteStatus(Box::new(status)));
    }
    effects.extend(
        plan.deletes
            .into_iter()
            .map(|name| Effect::Delete(OwnedRef::job(name))),
    );
    effects.extend(
        plan.claim_deletes
            .into_iter()
            .map(|name| Effect::Delete(OwnedRef::claim(name))),
    );
    effects.extend(relabels);
    effects.extend(plan.events.into_iter().map(Effect::Event));
    Decision {
        effects,
        requeue_after: plan.requeue_after,
    }
}

/// Deletes every live Job no step refers to: Jobs of older generations, of steps reset by a
/// restart, of steps no longer in the spec. A Job of a newer generation than the Workflow seen
/// here is left alone: this Workflow object is the stale one. A step refers to the Jobs of its
/// attempts (current and retried), and a fanned-out step to every Job of its instances' run
/// (succeeded instances are counted, not listed).
fn cleanup(status: &WorkflowStatus, jobs: &[ObservedJob], generation: i64, plan: &mut Plan) {
    let mut referenced: HashSet<&str> = HashSet::new();
    let mut fan_out_runs: HashMap<&str, u32> = HashMap::new();
    for step in &status.steps {
        referenced.extend(step.job_name.as_deref());
        referenced.extend(step.retries.iter().map(|r| r.job_name.as_str()));
        if let Some(instances) = &step.instances {
            fan_out_runs.insert(step.name.as_str(), instances.run);
            for instance in &instances.active {
                referenced.extend(instance.job_name.as_deref());
                referenced.extend(instance.retries.iter().map(|r| r.job_name.as_str()));
            }
        }
    }
    let of_fan_out = |job: &ObservedJob| {
        job.instance.is_some()
            && job.generation == generation
            && fan_out_runs.get(job.step.as_str()) == Some(&job.run)
    };
    let already: HashSet<String> = plan.deletes.iter().cloned().collect();
    for job in jobs {
        let unwanted = !referenced.contains(job.name.as_str())
            && !of_fan_out(job)
            && job.generation <= generation;
        if unwanted && !job.deleting && !already.contains(&job.name) {
            plan.deletes.push(job.name.clone());
        }
    }
}

/// `now` without its fraction of a second: status times are stored with second precision.
pub(super) fn whole_seconds(now: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}
