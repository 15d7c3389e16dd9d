//! The graph tree of a 2,000-step workflow (50 layers of 40 steps, each depending on two
//! steps of the layer before), halfway through its run. Target: under 50 ms.
//!
//! Run: `cargo bench -p kubectl-workflow --bench render`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kubectl_workflow::render::{GraphFormat, Style, graph};
use kwf_api::{Step, StepPhase, StepStatus, Workflow, WorkflowPhase, WorkflowSpec, WorkflowStatus};

const LAYERS: usize = 50;
const WIDTH: usize = 40;
const CREATED: i64 = 1_772_359_200;

fn name(layer: usize, i: usize) -> String {
    format!("l{layer:02}-s{i:02}")
}

fn time(seconds: i64) -> Time {
    Time(Timestamp::from_second(CREATED + seconds).expect("time in range"))
}

/// Layers before 25 succeeded, layer 25 running, the rest pending.
fn mid_run_workflow() -> Workflow {
    let mut containers = Vec::with_capacity(LAYERS * WIDTH);
    let mut steps = Vec::new();
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let depends_on = if layer == 0 {
                vec![]
            } else {
                vec![name(layer - 1, i), name(layer - 1, (i + 1) % WIDTH)]
            };
            containers.push(Step {
                step_name: name(layer, i),
                image: Some("busybox:1.37".into()),
                depends_on,
                ..Step::default()
            });
            let started = 10 * layer as i64;
            let phase = match layer {
                l if l < 25 => StepPhase::Succeeded,
                25 => StepPhase::Running,
                _ => continue,
            };
            steps.push(StepStatus {
                name: name(layer, i),
                phase,
                job_name: Some(kwf_api::job_name("big", &name(layer, i), 1, 0)),
                started_at: Some(time(started)),
                finished_at: (phase == StepPhase::Succeeded).then(|| time(started + 8)),
                exit_code: (phase == StepPhase::Succeeded).then_some(0),
                message: None,
            });
        }
    }
    let mut wf = Workflow::new(
        "big",
        WorkflowSpec {
            max_step_timeout: 60,
            containers,
        },
    );
    wf.metadata = ObjectMeta {
        name: Some("big".into()),
        namespace: Some("default".into()),
        creation_timestamp: Some(time(0)),
        ..ObjectMeta::default()
    };
    wf.status = Some(WorkflowStatus {
        phase: Some(WorkflowPhase::Started),
        started_at: Some(time(0)),
        steps,
        ..WorkflowStatus::default()
    });
    wf
}

fn bench_graph_tree(c: &mut Criterion) {
    let wf = mid_run_workflow();
    let now = Timestamp::from_second(CREATED + 300).expect("time in range");
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
