//! The three runs: each makes a namespace, starts a controller on it, submits its workflows,
//! waits for their ends and reads the figures.

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, Resource};
use kwf_api::Workflow;

use crate::controller::Controller;
use crate::namespace;

use super::handoff::HandoffWatch;
use super::measured;
use super::report::{ApiCost, CpuShare, Huge, Latencies, LatencyRun, Render, Rest, Throughput};
use super::workloads::{self, EndWatch};
use super::{Scale, Setup, procfs};

/// How long the outside watch may wait for the last Jobs' Complete after the workflows ended.
const SETTLE: Duration = Duration::from_secs(15);

/// Threads of the process kubelet when the control plane runs in this process.
const KUBELET_THREADS: &str = "kwf-testenv";

pub async fn latency(setup: &Setup, scale: &Scale, client: &Client) -> anyhow::Result<LatencyRun> {
    let ns = namespace::fresh(client, "bench-latency").await?;
    let controller = measured::start(setup, &ns, "latency").await?;
    let api: Api<Workflow> = Api::namespaced(client.clone(), &ns);
    let ends = EndWatch::start(client, &ns).await?;
    let outside = HandoffWatch::start(client, &ns).await?;
    let cpu = CpuMeter::start(&controller);
    let started = Instant::now();
    let chains: Vec<Workflow> = (0..scale.chains)
        .map(|i| workloads::chain(&format!("chain-{i}"), scale.chain_length))
        .collect();
    workloads::submit(&api, chains.clone(), scale.chains).await?;
    let ended = ends.wait(scale.chains, started + scale.limit).await;
    let wall = started.elapsed();
    let cpu = cpu.stop(&controller);
    outside.settle(&chains, SETTLE).await;
    Ok(LatencyRun {
        chains: scale.chains,
        chain_length: scale.chain_length,
        completed: ended.completed.len(),
        failures: ended.failed.values().take(3).cloned().collect(),
        wall,
        latencies: Latencies::of(measured::logged_latencies_ms(&controller)),
        handoff: outside.figures(&chains),
        cpu,
    })
}

pub async fn huge(setup: &Setup, scale: &Scale, client: &Client) -> anyhow::Result<Huge> {
    let ns = namespace::fresh(client, "bench-huge").await?;
    let controller = measured::start(setup, &ns, "huge").await?;
    let api: Api<Workflow> = Api::namespaced(client.clone(), &ns);
    let ends = EndWatch::start(client, &ns).await?;
    let before = controller.metrics().await?;
    let cpu = CpuMeter::start(&controller);
    let started = Instant::now();
    let name = "huge";
    workloads::submit(
        &api,
        vec![workloads::layered(name, scale.huge_steps, scale.huge_width)],
        1,
    )
    .await?;
    let ended = ends.wait(1, started + scale.limit).await;
    let wall = started.elapsed();
    let cpu = cpu.stop(&controller);
    let metrics = controller.metrics().await?.since(&before);
    let reconciles = metrics.value("kwf_reconcile_duration_seconds_count");
    let reconcile_seconds = metrics.value("kwf_reconcile_duration_seconds_sum");

    // The stored object as the API server serves it, every field kept.
    let raw: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &ApiResource::erase::<Workflow>(&()));
    let object = raw.get(name).await?;
    let object_bytes = serde_json::to_vec(&object)?.len();
    let render = render_graph(setup, &ns, name)?;
    Ok(Huge {
        steps: scale.huge_steps,
        width: scale.huge_width,
        completed: !ended.completed.is_empty(),
        failure: ended.failed.values().next().cloned(),
        wall,
        object_bytes,
        reconciles,
        mean_reconcile: Duration::from_secs_f64(reconcile_seconds / reconciles.max(1.0)),
        cpu_per_reconcile: Duration::from_secs_f64(cpu.controller / reconciles.max(1.0)),
        latencies: Latencies::of(measured::logged_latencies_ms(&controller)),
        render,
        cpu,
    })
}

pub async fn throughput(
    setup: &Setup,
    scale: &Scale,
    client: &Client,
) -> anyhow::Result<Throughput> {
    let ns = namespace::fresh(client, "bench-throughput").await?;
    let mut controller = measured::start(setup, &ns, "throughput").await?;
    let api: Api<Workflow> = Api::namespaced(client.clone(), &ns);
    let ends = EndWatch::start(client, &ns).await?;
    let outside = HandoffWatch::start(client, &ns).await?;
    let before = controller.metrics().await?;
    let cpu = CpuMeter::start(&controller);
    let started = Instant::now();
    let workflows: Vec<Workflow> = (0..scale.workflows)
        .map(|i| workloads::diamond_with_tail(&format!("wf-{i:04}")))
        .collect();
    workloads::submit(&api, workflows.clone(), scale.submit_parallel).await?;
    let submitted_in = started.elapsed();
    let ended = ends.wait(scale.workflows, started + scale.limit).await;
    let wall = ended
        .last_completion()
        .map_or(started.elapsed(), |last| last.duration_since(started));
    let timed_out = ended.count() < scale.workflows;
    let cpu = cpu.stop(&controller);
    let peak_rss = measured::memory(&controller).peak_rss;
    let metrics = controller.metrics().await?.since(&before);
    let steps = metrics.value("kwf_jobs_created_total");
    let latencies = Latencies::of(measured::logged_latencies_ms(&controller));
    outside.settle(&workflows, SETTLE).await;
    let handoff = outside.figures(&workflows);
    drop(outside);

    // At rest: the watches have settled; what stays is the cost of the cached objects.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let heap = controller.metrics().await?;
    let rest = Rest {
        rss: measured::memory(&controller).rss,
        heap_in_use: heap.value("kwf_heap_in_use_bytes"),
        heap_free: heap.value("kwf_heap_free_bytes"),
        workflows: count::<Workflow>(client, &ns).await?,
        jobs: count::<Job>(client, &ns).await?,
        pods: count::<Pod>(client, &ns).await?,
    };
    controller.stop();
    Ok(Throughput {
        workflows: scale.workflows,
        submitted_in,
        completed: ended.completed.len(),
        failures: ended.failed.values().take(3).cloned().collect(),
        timed_out,
        wall,
        steps,
        peak_rss,
        api: ApiCost::from_metrics(&metrics, steps),
        latencies,
        handoff,
        rest,
        cpu,
    })
}

/// The plugin's `graph` of the finished workflow, run 5 times: the median wall time of the
/// whole command (connect, GET, render), and the lines it printed.
fn render_graph(setup: &Setup, ns: &str, name: &str) -> anyhow::Result<Render> {
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let output = Command::new(&setup.plugin)
            .args([
                "graph",
                name,
                "--namespace",
                ns,
                "--color",
                "never",
                "--kubeconfig",
            ])
            .arg(&setup.kubeconfig)
            .output()?;
        times.push(started.elapsed());
        anyhow::ensure!(
            output.status.success(),
            "kubectl-workflow graph failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        lines = output.stdout.iter().filter(|b| **b == b'\n').count();
    }
    times.sort();
    Ok(Render {
        median: times[times.len() / 2],
        lines,
    })
}

async fn count<K>(client: &Client, ns: &str) -> anyhow::Result<usize>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api.list_metadata(&ListParams::default()).await?.items.len())
}

/// CPU seconds of every part, between start and stop.
struct CpuMeter {
    before: [f64; 7],
    started: Instant,
}

impl CpuMeter {
    fn start(controller: &Controller) -> CpuMeter {
        CpuMeter {
            before: sample(controller),
            started: Instant::now(),
        }
    }

    fn stop(self, controller: &Controller) -> CpuShare {
        let after = sample(controller);
        let d = |i: usize| (after[i] - self.before[i]).max(0.0);
        CpuShare {
            wall: self.started.elapsed(),
            controller: d(0),
            apiserver: d(1),
            etcd: d(2),
            controller_manager: d(3),
            kubelet: d(4),
            pods: d(5),
            harness: d(6),
            components_found: !procfs::children_named("kube-apiserver").is_empty(),
        }
    }
}

fn sample(controller: &Controller) -> [f64; 7] {
    let sum = |name: &str| -> f64 {
        procfs::children_named(name)
            .into_iter()
            .filter_map(procfs::cpu_seconds)
            .sum()
    };
    let kubelet = procfs::threads_cpu_seconds(KUBELET_THREADS);
    let me = procfs::cpu_seconds(std::process::id()).unwrap_or(0.0);
    [
        measured::cpu_seconds(controller),
        sum("kube-apiserver"),
        sum("etcd"),
        sum("kube-controller-manager"),
        kubelet,
        procfs::reaped_children_cpu_seconds(),
        me - kubelet,
    ]
}
