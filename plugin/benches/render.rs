//! The graph tree of a 2,000-step workflow (50 layers of 40 steps, each depending on two
//! steps of the layer before), halfway through its run. Target: under 50 ms.
//!
//! Run: `cargo bench -p kubectl-workflow --bench render`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kubectl_workflow::render::{GraphFormat, Style, graph};
use kwf_api::fixtures::{StepStatusFixture, WorkflowFixture, at, layered, step_status};
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
}

criterion_group!(benches, bench_graph_tree);
criterion_main!(benches);
