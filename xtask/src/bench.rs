//! `cargo xtask bench`: the controller at scale on a control plane of its own, written to
//! docs/benchmarks.md. The measuring is `kwf_e2e::bench` (shared with the smoke test); this
//! builds the release binaries, starts and stops the control plane, and writes the report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use kwf_e2e::bench::{self, Scale, Scenario, Setup};
use kwf_testenv::ControlPlane;
use kwf_testenv::state::workspace_dir;

use crate::cargo;

#[derive(clap::Args)]
#[command(
    after_help = "Builds the release workflow-controller and kubectl-workflow, starts a control plane in a \
temporary directory, runs the scenarios in the order latency, huge, throughput (a fresh namespace and \
controller process each) and writes docs/benchmarks.md. The full run takes about 10 minutes on 2 cores; \
controller logs stay in target/kwf-bench/."
)]
pub struct Args {
    /// Smaller sizes (100 workflows, a 200-step workflow; the latency run in full): a few minutes.
    #[arg(long)]
    quick: bool,
    /// Run only this scenario (repeatable): latency, huge or throughput.
    #[arg(long, value_name = "NAME", value_parser = parse_scenario)]
    only: Vec<Scenario>,
    /// Throughput: workflows of 5 steps submitted at once [default: 1000, --quick 100].
    #[arg(long, value_name = "N")]
    workflows: Option<usize>,
    /// Huge: steps of the big workflow (layers of 50) [default: 2000, --quick 200].
    #[arg(long, value_name = "N")]
    huge_steps: Option<usize>,
    /// Latency: chains of 51 steps run at once [default: 10, i.e. 500 dependent pairs].
    #[arg(long, value_name = "N")]
    chains: Option<usize>,
    /// Seconds each scenario may take before it is reported unfinished [default: 600, --quick 300].
    #[arg(long, value_name = "SECONDS")]
    limit: Option<u64>,
    /// A flag for the controller, e.g. `--controller-arg=--qps=200` (repeatable).
    #[arg(
        long = "controller-arg",
        value_name = "FLAG",
        allow_hyphen_values = true
    )]
    controller_args: Vec<String>,
    /// Measure this program instead of the release build, e.g. an older build to compare, or a
    /// script that execs the build under a heap profiler.
    #[arg(long, value_name = "PATH")]
    controller_binary: Option<PathBuf>,
    /// Where to write the report [default: docs/benchmarks.md]; `-` prints it only.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_scenario(name: &str) -> Result<Scenario, String> {
    name.parse()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let scale = scale(&args);
    let workspace = workspace_dir();
    eprintln!("bench: building the release workflow-controller and kubectl-workflow");
    let release = cargo::build(
        &workspace,
        cargo::Profile::Release,
        &["workflow-controller", "kubectl-workflow"],
    )?;
    let log_dir = workspace.join("target").join("kwf-bench");
    let setup = Setup {
        kubeconfig: PathBuf::new(),
        controller: args
            .controller_binary
            .clone()
            .unwrap_or_else(|| release.join("workflow-controller")),
        plugin: release.join("kubectl-workflow"),
        controller_args: args.controller_args.clone(),
        log_dir: log_dir.clone(),
    };

    let state = tempfile::Builder::new()
        .prefix("kwf-bench-")
        .tempdir()
        .context("cannot create a temporary directory for the control plane")?;
    eprintln!(
        "bench: starting a control plane in {}",
        state.path().display()
    );
    let plane = ControlPlane::start(state.path())?;
    eprintln!(
        "bench: control plane ready in {:.1} s",
        plane.ready_in().as_secs_f64()
    );
    let setup = Setup {
        kubeconfig: plane.kubeconfig().to_path_buf(),
        ..setup
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(bench::run(&setup, &scale, &args.only));
    // Keep the control plane's logs beside the controllers' for a look after the run.
    let _ = copy_logs(&plane.log_dir(), &log_dir.join("control-plane"));
    drop(runtime);
    plane.stop()?;
    let report = outcome?;

    let date = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M %Z").to_string();
    let markdown = report.markdown(&command, &date);
    match args.output.as_deref() {
        Some(path) if path == Path::new("-") => print!("{markdown}"),
        output => {
            let path = output
                .map(Path::to_path_buf)
                .unwrap_or_else(|| workspace.join("docs").join("benchmarks.md"));
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, &markdown));
            if let Err(error) = written {
                // The run took minutes: never lose its figures.
                print!("{markdown}");
                bail!(
                    "cannot write {}: {error} (the report is printed above)",
                    path.display()
                );
            }
            eprintln!("bench: wrote {}", path.display());
        }
    }
    for (target, met) in report.verdicts() {
        eprintln!(
            "bench: {} {target}",
            if met { "met    " } else { "NOT MET" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn scale(args: &Args) -> Scale {
    let mut scale = if args.quick {
        Scale::quick()
    } else {
        Scale::full()
    };
    if let Some(workflows) = args.workflows {
        scale.workflows = workflows;
    }
    if let Some(steps) = args.huge_steps {
        scale.huge_steps = steps;
    }
    if let Some(chains) = args.chains {
        scale.chains = chains;
    }
    if let Some(limit) = args.limit {
        scale.limit = Duration::from_secs(limit);
    }
    scale
}

fn copy_logs(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}
