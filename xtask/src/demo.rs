//! `cargo xtask demo`: kwf end to end on the embedded control plane, for someone without a
//! cluster. Starts the control plane (unless it runs), installs the CRD, empties the demo's
//! namespace, runs the controller (the e2e tests' runner), and drives `kubectl workflow` through
//! the real kubectl, echoing each command it types.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use kwf_e2e::{Controller, ControllerCommand};
use kwf_testenv::state::{self, State};

use crate::cargo;
use crate::testenv;

/// The namespace the demo's workflows live in; emptied at the start of each demo.
const NAMESPACE: &str = "kwf-demo";

#[derive(clap::Args)]
#[command(
    after_help = "The first run builds the control-plane binaries from the upstream Go modules \
(about 9 minutes on 2 cores, cached in ~/.cache/kwf) and the Rust workspace; later runs take seconds."
)]
pub struct Args {
    /// Leave the control plane running at the end (stop it with `cargo xtask testenv down`).
    #[arg(long)]
    keep: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let workspace = state::workspace_dir();
    step("building workflow-controller and kubectl-workflow");
    let target_bin = cargo::build(
        &workspace,
        cargo::Profile::Debug,
        &["workflow-controller", "kubectl-workflow"],
    )?;
    let dir = state::default_dir();
    let was_running = State::running(&dir).is_some();
    step("starting the control plane (the first run builds it from the upstream Go modules)");
    let plane = testenv::up(&dir)?;
    let mut demo = Demo::new(&workspace, &target_bin, &plane)?;
    let outcome = demo.play();
    let path_prefix = demo.path_prefix();
    demo.controller.stop();
    if args.keep || was_running {
        eprintln!(
            "\nThe control plane is still up. Try it yourself:\n  export KUBECONFIG={}\n  export PATH={}:$PATH\n  \
             {} --leader-elect=false &   # the controller\n  kubectl workflow list -A\n\
             Stop it with: cargo xtask testenv down",
            plane.kubeconfig.display(),
            path_prefix,
            target_bin.join("workflow-controller").display()
        );
    } else {
        testenv::down(&dir)?;
    }
    outcome
}

struct Demo {
    workspace: PathBuf,
    path: OsString,
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
    target_bin: PathBuf,
    controller: Controller,
}

impl Demo {
    /// Installs the CRD, makes the demo's namespace afresh and starts the controller on every
    /// namespace, through the e2e harness (one runner for tests, bench and demo).
    fn new(workspace: &Path, target_bin: &Path, plane: &State) -> anyhow::Result<Demo> {
        let mut paths = vec![target_bin.to_path_buf(), plane.bin_dir.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(paths).context("cannot build PATH for the demo")?;
        let log = plane.log_dir.join("demo-controller.log");
        let command = ControllerCommand::new(
            target_bin.join("workflow-controller"),
            &plane.kubeconfig,
            &log,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let controller = runtime.block_on(async {
            let client = kwf_e2e::client_for(&plane.kubeconfig).await?;
            step("installing the Workflow CRD");
            kwf_e2e::install_crd(&client)
                .await
                .context("cannot install the Workflow CRD")?;
            step(&format!("a fresh namespace {NAMESPACE}"));
            kwf_e2e::namespace::recreate(&client, NAMESPACE).await?;
            step(&format!(
                "starting workflow-controller (log: {})",
                log.display()
            ));
            command.start().await
        })?;
        Ok(Demo {
            workspace: workspace.to_path_buf(),
            path,
            kubeconfig: plane.kubeconfig.clone(),
            bin_dir: plane.bin_dir.clone(),
            target_bin: target_bin.to_path_buf(),
            controller,
        })
    }

    fn play(&self) -> anyhow::Result<ExitCode> {
        step("a diamond: fetch -> (build, test) -> package -> publish, followed live");
        self.workflow(&["create", "-f", "examples/diamond.yaml", "--watch"])?
            .expect_exit(0, "the diamond should complete")?;
        self.workflow(&["logs", "diamond"])?
            .expect_exit(0, "logs")?;

        step(
            "a failing step: its dependents are skipped, the exit code is reported, --watch exits 1",
        );
        self.workflow(&["create", "-f", "examples/failing.yaml", "--watch"])?
            .expect_exit(1, "the failing workflow should fail")?;
        self.workflow(&["describe", "failing"])?
            .expect_exit(0, "describe")?;

        step("everything at a glance");
        self.workflow(&["list"])?.expect_exit(0, "list")?;
        self.workflow(&["graph", "diamond", "-o", "mermaid"])?
            .expect_exit(0, "graph -o mermaid")?;
        step("done");
        Ok(ExitCode::SUCCESS)
    }

    /// `kubectl workflow ARGS -n kwf-demo`, typed as a user would.
    fn workflow(&self, args: &[&str]) -> anyhow::Result<i32> {
        let mut all = vec!["workflow"];
        all.extend_from_slice(args);
        all.extend(["-n", NAMESPACE]);
        self.typed(&all)
    }

    /// Runs `kubectl ARGS` as a user would type it, showing the command and its output.
    fn typed(&self, args: &[&str]) -> anyhow::Result<i32> {
        println!("\n$ kubectl {}", args.join(" "));
        let status = self.command(args).status().context("cannot run kubectl")?;
        Ok(status.code().unwrap_or(-1))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.bin_dir.join("kubectl"));
        command
            .args(args)
            .current_dir(&self.workspace)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path);
        command
    }

    fn path_prefix(&self) -> String {
        format!("{}:{}", self.target_bin.display(), self.bin_dir.display())
    }
}

trait ExpectExit {
    fn expect_exit(self, code: i32, what: &str) -> anyhow::Result<()>;
}

impl ExpectExit for i32 {
    fn expect_exit(self, code: i32, what: &str) -> anyhow::Result<()> {
        if self != code {
            bail!("demo stopped: {what} (kubectl exited {self}, expected {code})");
        }
        Ok(())
    }
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}
