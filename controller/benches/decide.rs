//! decide() on a 2,000-step workflow (50 layers of 40 steps, 3 dependencies each) mid-run: 25
//! layers succeeded, the 26th running. `steady`: nothing changed since the last decision (the
//! common reconcile). `advancing`: half of the running Jobs just succeeded, so their steps are
//! recorded and the dependents whose dependencies are all done get Jobs.
//!
//! The same with every step fanned out over 20 items (`fan-out`): 20,800 Jobs mid-run; the
//! size of its status is printed.
//!
//! Run: `cargo bench -p workflow-controller --bench decide`. `Dag::build` alone is measured
//! too, since decide() validates and builds the graph on every call.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kwf_api::Workflow;
use kwf_api::fixtures::{WorkflowFixture, at, layered};
use workflow_controller::core::{Effect, JobState, Observed, ObservedJob, OwnedObject, decide};

/// decide() over these Jobs (the workflow has no claims and no JobTemplates).
fn decide_jobs(
    wf: &Workflow,
    jobs: &[ObservedJob],
    now: jiff::Timestamp,
) -> workflow_controller::core::Decision {
    let templates = std::collections::BTreeMap::new();
    decide(
        wf,
        &Observed {
            jobs,
            claims: &[],
            job_templates: &templates,
            nodes: &[],
        },
        now,
    )
}

const LAYERS: usize = 50;
const WIDTH: usize = 40;
const DONE_LAYERS: usize = 25;

/// 50 layers of 40 steps, step i of a layer after steps i, i+1 and i+7 of the one before.
fn big_workflow() -> Workflow {
    layered("big", LAYERS, WIDTH, &[0, 1, 7])
        .with_namespace("bench")
        .with_label("team", "data")
        .with_label("tier", "gold")
        .with_max_step_timeout(600)
}

/// [`big_workflow`] with every step fanned out over 20 items.
fn fanned_out_workflow() -> Workflow {
    let mut wf = big_workflow();
    for step in &mut wf.spec.containers {
        step.with_items = Some(
            (0..20)
                .map(|i| serde_json::json!(format!("item-{i}")))
                .collect(),
        );
    }
    wf
}

/// Runs the workflow through decide() until the first DONE_LAYERS layers succeeded and the
/// next one runs, applying effects as the API server would.
fn mid_run(mut wf: Workflow) -> (Workflow, Vec<ObservedJob>) {
    let mut jobs: Vec<ObservedJob> = Vec::new();
    for layer in 0..=DONE_LAYERS {
        let now = at(layer as i64);
        for effect in decide_jobs(&wf, &jobs, now).effects {
            match effect {
                Effect::Create(OwnedObject::Job(job)) => {
                    let mut observed = ObservedJob::from_job(&job).expect("one of ours");
                    observed.created = Some(now);
                    jobs.push(observed);
                }
                Effect::WriteStatus(status) => wf.status = Some(*status),
                _ => {}
            }
        }
        if layer < DONE_LAYERS {
            for job in &mut jobs {
                job.state = JobState::Succeeded {
                    finished: Some(now),
                };
            }
        }
    }
    (wf, jobs)
}

fn bench(c: &mut Criterion) {
    let (wf, jobs) = mid_run(big_workflow());
    assert_eq!(jobs.len(), (DONE_LAYERS + 1) * WIDTH);
    let now = at(DONE_LAYERS as i64 + 1);
    let steady = decide_jobs(&wf, &jobs, now);
    assert!(steady.effects.is_empty(), "mid-run and nothing changed");
    c.bench_function("decide 2000 steps mid-run, steady", |b| {
        b.iter(|| decide_jobs(black_box(&wf), black_box(&jobs), now))
    });

    // For reference: the part spent validating the spec and building its graph (kwf-api).
    c.bench_function("Dag::build 2000 steps (part of every decide)", |b| {
        b.iter(|| kwf_api::Dag::build(black_box(&wf.spec)))
    });

    let mut advanced = jobs.clone();
    for job in advanced.iter_mut().rev().take(WIDTH / 2) {
        job.state = JobState::Succeeded {
            finished: Some(now),
        };
    }
    let advancing = decide_jobs(&wf, &advanced, now);
    assert!(
        advancing
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Create(_))),
        "dependents start"
    );
    c.bench_function("decide 2000 steps mid-run, 20 Jobs just succeeded", |b| {
        b.iter(|| decide_jobs(black_box(&wf), black_box(&advanced), now))
    });
}

fn bench_fan_out(c: &mut Criterion) {
    let (wf, jobs) = mid_run(fanned_out_workflow());
    assert_eq!(jobs.len(), (DONE_LAYERS + 1) * WIDTH * 20);
    let now = at(DONE_LAYERS as i64 + 1);
    let status = serde_json::to_vec(&wf.status).expect("serialises").len();
    let whole = serde_json::to_vec(&wf).expect("serialises").len();
    println!(
        "fan-out 2000 steps x 20 items mid-run: status {status} bytes, Workflow {whole} bytes"
    );
    let steady = decide_jobs(&wf, &jobs, now);
    assert!(steady.effects.is_empty(), "mid-run and nothing changed");
    c.bench_function("decide 2000 steps x 20 items mid-run, steady", |b| {
        b.iter(|| decide_jobs(black_box(&wf), black_box(&jobs), now))
    });
    let mut advanced = jobs.clone();
    for job in advanced.iter_mut().rev().take(WIDTH * 10) {
        job.state = JobState::Succeeded {
            finished: Some(now),
        };
    }
    c.bench_function(
        "decide 2000 steps x 20 items mid-run, 400 Jobs just succeeded",
        |b| b.iter(|| decide_jobs(black_box(&wf), black_box(&advanced), now)),
    );
}

criterion_group!(benches, bench, bench_fan_out);
criterion_main!(benches);
