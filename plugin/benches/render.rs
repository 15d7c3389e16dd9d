//! The graph tree of a 2,000-step workflow (50 layers of 40 steps, each depending on two
//! steps of the layer before), halfway through its run. Target: under 50 ms. The same with
//! every step fanned out over 20 items with retries (issue 14's workflow), counted and with
//! `--instances`.
//!
//! Run: `cargo bench -p kubectl-workflow --bench render`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kubectl_workflow::render::{GraphFormat, Style, graph};
use kwf_api::fan_out::{InstanceStatus, InstancesStatus};
use kwf_api::fixtures::{StepStatusFixture, WorkflowFixture, at, layered, step_status};
use kwf_api::retries::{FailedAttempt, RetryPolicy};
use kwf_api::{StepPhase, Workflow, WorkflowPhase};

const LAYERS: usize = 50;
const WIDTH: usize = 40;
/// The layer that runs; the layers before it succeeded, the ones after it wait.
const RUNNING: usize = 25;

/// Layers before 25 succeeded (each 8 s, ten seconds apart), layer 25 running, the rest pending.
fn mid_run_workflow() -> Workflow {
    let wf = layered("big", LAYERS, WIDTH, &[0, 1]);
    let steps = wf
        .spec
        .containers
        .iter()
        .enumerate()
        .take_while(|(i, _)| i / WIDTH <= RUNNING)
        .map(|(i, step)| {
            let layer = i / WIDTH;
            let started = 10 * layer as i64;
            if layer < RUNNING {
                step_status(&wf, &step.step_name, StepPhase::Succeeded)
                    .with_started(started)
                    .with_finished(started + 8)
            } else {
                step_status(&wf, &step.step_name, StepPhase::Running).with_started(started)
            }
        })
        .collect();
    wf.with_status(WorkflowPhase::Started, None, steps)
}

/// Instances per fanned-out step.
const ITEMS: usize = 20;

/// [`mid_run_workflow`] with every step fanned out over 20 items and 2 retries: the layers
/// before the running one all succeeded, the running layer has 5 done, 5 running (one of
/// them on its second attempt) and 10 waiting.
fn fanned_out_mid_run_workflow() -> Workflow {
    let mut wf = mid_run_workflow();
    wf.spec.retries = Some(RetryPolicy {
        limit: 2,
        ..RetryPolicy::default()
    });
    for step in &mut wf.spec.containers {
        step.with_items = Some(
            (0..ITEMS)
                .map(|i| serde_json::json!({"shard": i, "region": "eu-west-1"}))
                .collect(),
        );
    }
    let total = ITEMS as u32;
    for status in wf
        .status
        .as_mut()
        .into_iter()
        .flat_map(|s| s.steps.iter_mut())
    {
        status.job_name = None;
        status.instances = Some(match status.phase {
            StepPhase::Succeeded => InstancesStatus {
                total,
                started: total,
                succeeded: total,
                ..InstancesStatus::default()
            },
            _ => InstancesStatus {
                total,
                started: 10,
                succeeded: 5,
                active: (5..10)
                    .map(|index| InstanceStatus {
                        index,
                        phase: StepPhase::Running,
                        job_name: Some(format!("{}-i{index}", status.name)),
                        started_at: status.started_at.clone(),
                        retries: if index == 5 {
                            vec![FailedAttempt {
                                job_name: format!("{}-i5", status.name),
                                exit_code: Some(1),
                                reason: "exit code 1".into(),
                                ..FailedAttempt::default()
                            }]
                        } else {
                            Vec::new()
                        },
                        ..InstanceStatus::default()
                    })
                    .collect(),
                ..InstancesStatus::default()
            },
        });
    }
    wf
}

fn bench_graph_tree(c: &mut Criterion) {
    let wf = mid_run_workflow();
    let now = at(300);
    let style = Style {
        color: true,
        ascii: false,
    };
    c.bench_function("graph tree, 2000 steps, color", |b| {
        b.iter(|| graph(black_box(&wf), GraphFormat::Tree, style, now))
    });
    c.bench_function("graph json, 2000 steps", |b| {
        b.iter(|| graph(black_box(&wf), GraphFormat::Json, style, now))
    });
    let fanned = fanned_out_mid_run_workflow();
    c.bench_function("graph tree, 2000 steps x 20 instances, color", |b| {
        b.iter(|| graph(black_box(&fanned), GraphFormat::Tree, style, now))
    });
    c.bench_function(
        "graph tree --instances, 2000 steps x 20 instances, color",
        |b| {
            b.iter(|| {
                graph(
                    black_box(&fanned),
                    GraphFormat::TreeWithInstances,
                    style,
                    now,
                )
            })
        },
    );
}

criterion_group!(benches, bench_graph_tree);
criterion_main!(benches);
