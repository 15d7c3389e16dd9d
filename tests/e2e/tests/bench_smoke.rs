//! The benchmark harness of `cargo xtask bench` at a tiny scale (10 workflows, a 30-step
//! workflow, 2 short chains), so that it cannot rot: every scenario runs through the same code
//! and yields figures, and the report renders them. Not a timed test: no figure is judged here.

use kwf_e2e::bench::{self, Scale, Setup};
use kwf_testenv::{TestEnv, workspace_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_measures_every_scenario_at_a_small_scale() {
    let env = TestEnv::shared();
    let setup = Setup {
        kubeconfig: env.kubeconfig().to_path_buf(),
        controller: workspace_bin("workflow-controller"),
        plugin: workspace_bin("kubectl-workflow"),
        controller_args: Vec::new(),
        log_dir: std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke"),
    };
    let scale = Scale::smoke();
    let report = bench::run(&setup, &scale, &[])
        .await
        .expect("the harness runs");

    let throughput = report.throughput.as_ref().expect("throughput measured");
    assert_eq!(throughput.completed, scale.workflows, "{throughput:#?}");
    assert!(throughput.failures.is_empty(), "{:?}", throughput.failures);
    assert_eq!(
        throughput.steps,
        (scale.workflows * 5) as f64,
        "one Job per step"
    );
    assert!(throughput.per_minute() > 0.0);
    assert!(throughput.cpu.controller > 0.0 && throughput.peak_rss > 0);
    assert!(
        throughput.api.writes_per_step() >= 1.0,
        "at least the Job create per step: {:?}",
        throughput.api
    );
    // A diamond plus a tail has 4 dependent steps of 5 (b, c, d, e).
    assert_eq!(throughput.latencies.count, scale.workflows * 4);
    assert_eq!(throughput.rest.workflows, scale.workflows);
    assert_eq!(throughput.rest.jobs, scale.workflows * 5);
    assert!(throughput.rest.rss > 0);

    let huge = report.huge.as_ref().expect("huge measured");
    assert!(huge.completed, "{huge:#?}");
    assert!(huge.object_bytes > 1000 && huge.reconciles >= 1.0);
    assert!(
        huge.render.lines >= scale.huge_steps,
        "one line per step at least: {huge:#?}"
    );

    let latency = report.latency.as_ref().expect("latency measured");
    assert_eq!(latency.completed, scale.chains, "{latency:#?}");
    assert_eq!(
        latency.latencies.count,
        scale.chains * (scale.chain_length - 1)
    );

    let markdown = report.markdown("cargo test --test bench_smoke", "today");
    for section in [
        "## Issue 17: the hand-off as a user sees it",
        "## Summary",
        "## 1-3, 5. Throughput",
        "## 4. One huge workflow",
        "## Issue 4: step scheduling latency",
        "## Where the time goes",
    ] {
        assert!(
            markdown.contains(section),
            "missing {section} in\n{markdown}"
        );
    }
    // Issue 17: every pair seen from outside, both ways.
    let pairs = scale.chains * (scale.chain_length - 1);
    assert_eq!(latency.handoff.end_to_end.count, pairs, "{latency:#?}");
    assert_eq!(latency.handoff.outside.count, pairs, "{latency:#?}");
    assert_eq!(
        throughput.handoff.end_to_end.count,
        scale.workflows * 4,
        "{:#?}",
        throughput.handoff
    );
    assert_eq!(report.verdicts().len(), 12, "every target is judged");
}
