//! validate() + Dag::build + ready() on a 10,000-step DAG: 100 layers of 100 steps, each
//! depending on three steps of the layer before. Five times the steps the CRD admits, so
//! the limits are raised for the engine (the work per step is the same).
//!
//! Run: `cargo bench -p kwf-api --bench dag`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kwf_api::fixtures::layered;
use kwf_api::{Dag, Limits, StepPhase, validate_with};

const LAYERS: usize = 100;
const WIDTH: usize = 100;

fn bench(c: &mut Criterion) {
    let spec = layered("big", LAYERS, WIDTH, &[0, 7, 14]).spec;
    let limits = Limits {
        max_steps: LAYERS * WIDTH,
        ..Limits::default()
    };
    // Half-way through: the first 50 layers succeeded, so layer 50 is ready.
    let phase = |step: usize| {
        if step < LAYERS * WIDTH / 2 {
            StepPhase::Succeeded
        } else {
            StepPhase::Pending
        }
    };
    let dag = Dag::build_with(&spec, &limits).expect("the benchmark DAG is valid");
    assert_eq!(dag.ready(phase).len(), WIDTH);

    let mut group = c.benchmark_group("10k steps");
    group.bench_function("validate + build + ready", |b| {
        b.iter(|| {
            let spec = black_box(&spec);
            validate_with(spec, &limits).expect("valid");
            let dag = Dag::build_with(spec, &limits).expect("valid");
            black_box(dag.ready(phase))
        })
    });
    group.bench_function("validate", |b| {
        b.iter(|| validate_with(black_box(&spec), &limits))
    });
    group.bench_function("build", |b| {
        b.iter(|| Dag::build_with(black_box(&spec), &limits))
    });
    group.bench_function("ready", |b| b.iter(|| black_box(&dag).ready(phase)));
    group.bench_function("blocked", |b| b.iter(|| black_box(&dag).blocked(phase)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
