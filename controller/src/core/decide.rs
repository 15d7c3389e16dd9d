//! The whole behaviour of the controller as one pure function: [`decide`] takes a Workflow, the
//! Jobs observed for it and the time, and returns what to do. No I/O: the shell observes and
//! applies. Level-triggered: the answer depends only on the current state, so a missed event, a
//! restart of the controller or a repeated call changes nothing; calling decide() again with the
//! status and Jobs its actions produce yields no action.
//!
//! One job per module: `reset` (new generation, restart requests), `steps` (Jobs -> step
//! phases, starting and skipping steps), `timeouts` (step deadlines), `labels` (relabel
//! cascade), `status` (phase, conditions, progress), `messages` (what people read).

mod labels;
mod messages;
mod reset;
mod status;
mod steps;
mod timeouts;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kwf_api::{Dag, Workflow, WorkflowStatus};

pub use types::{Action, Decision, JobState, ObservedJob};

use crate::jobs::inherited_labels;

/// What one decision collects before it is ordered into actions.
#[derive(Default)]
struct Plan {
    creates: Vec<Job>,
    deletes: Vec<String>,
    events: Vec<Action>,
    requeue_after: Option<Duration>,
}

/// The whole behaviour of the controller: (workflow, its observed Jobs, now) -> actions.
///
/// Actions come in the order the shell must apply them: CreateJob first (a Job exists before
/// the status names it), then PatchStatus (a step is marked failed or reset before its Job is
/// deleted, so the deletion is not taken for a Job deleted by hand), then DeleteJob,
/// PatchJobLabels and Events. Linear in steps + Jobs.
pub fn decide(wf: &Workflow, jobs: &[ObservedJob], now: jiff::Timestamp) -> Decision {
    let stamp = whole_seconds(now);
    let generation = wf.metadata.generation.unwrap_or(0);
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let no_status = WorkflowStatus::default();
    let before = wf.status.as_ref().unwrap_or(&no_status);
    let mut status = before.clone();
    let mut plan = Plan::default();

    reset::apply(wf, generation, &mut status, stamp, &mut plan);

    let verdict = match Dag::build(&wf.spec) {
        Ok(dag) => {
            let jobs_by_name: HashMap<&str, &ObservedJob> =
                jobs.iter().map(|job| (job.name.as_str(), job)).collect();
            // Jobs of the current generation and run, by step: what a Pending step may adopt.
            let jobs_of_run: HashMap<&str, &ObservedJob> = jobs
                .iter()
                .filter(|job| job.generation == generation && job.run == status.run)
                .map(|job| (job.step.as_str(), job))
                .collect();
            let ctx = steps::Context {
                wf,
                wf_name,
                dag: &dag,
                generation,
                run: status.run,
                now,
                stamp,
                jobs: &jobs_by_name,
                jobs_of_run: &jobs_of_run,
            };
            status.steps = steps::advance(&ctx, std::mem::take(&mut status.steps), &mut plan);
            status::Verdict::Valid
        }
        Err(errors) => status::Verdict::Invalid(messages::invalid(&errors)),
    };
    status::conclude(
        &mut status,
        before,
        verdict,
        wf.spec.containers.len(),
        generation,
        stamp,
        &mut plan,
    );

    cleanup(&status, jobs, generation, &mut plan);
    let leaving: HashSet<&str> = plan.deletes.iter().map(String::as_str).collect();
    let label_patches = labels::drift(&inherited_labels(wf), jobs, &leaving);

    let mut actions = Vec::with_capacity(
        plan.creates.len() + 1 + plan.deletes.len() + label_patches.len() + plan.events.len(),
    );
    actions.extend(
        plan.creates
            .into_iter()
            .map(|job| Action::CreateJob(Box::new(job))),
    );
    if status != *before {
        actions.push(Action::PatchStatus(Box::new(status)));
    }
    actions.extend(
        plan.deletes
            .into_iter()
            .map(|name| Action::DeleteJob { name }),
    );
    actions.extend(label_patches);
    actions.extend(plan.events);
    Decision {
        actions,
        requeue_after: plan.requeue_after,
    }
}

/// Deletes every live Job no step refers to: Jobs of older generations, of steps reset by a
/// restart, of steps no longer in the spec. A Job of a newer generation than the Workflow seen
/// here is left alone: this Workflow object is the stale one.
fn cleanup(status: &WorkflowStatus, jobs: &[ObservedJob], generation: i64, plan: &mut Plan) {
    let referenced: HashSet<&str> = status
        .steps
        .iter()
        .filter_map(|step| step.job_name.as_deref())
        .collect();
    let already: HashSet<String> = plan.deletes.iter().cloned().collect();
    for job in jobs {
        let unwanted = !referenced.contains(job.name.as_str()) && job.generation <= generation;
        if unwanted && !job.deleting && !already.contains(&job.name) {
            plan.deletes.push(job.name.clone());
        }
    }
}

/// `now` without its fraction of a second: status times are stored with second precision.
fn whole_seconds(now: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}
