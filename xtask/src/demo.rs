//! `cargo xtask demo`: kwf end to end on the embedded control plane, for someone without a
//! cluster. Starts the control plane (unless it runs), installs the CRD, runs the controller,
//! and drives `kubectl workflow` through the real kubectl, echoing each command it types.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};

use anyhow::{Context, bail};
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
    let plane = testenv::up(&dir)?;
    let demo = Demo::new(&workspace, &target_bin, &plane)?;
    let outcome = demo.play();
    let path_prefix = demo.path_prefix();
    demo.stop_controller();
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
    controller: Option<Child>,
}

impl Demo {
    fn new(workspace: &Path, target_bin: &Path, plane: &State) -> anyhow::Result<Demo> {
        let target_bin = target_bin.to_path_buf();
        let mut paths = vec![target_bin.clone(), plane.bin_dir.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(paths).context("cannot build PATH for the demo")?;
        let log_path = plane.log_dir.join("demo-controller.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let controller_bin = target_bin.join("workflow-controller");
        let mut demo = Demo {
            workspace: workspace.to_path_buf(),
            path,
            kubeconfig: plane.kubeconfig.clone(),
            bin_dir: plane.bin_dir.clone(),
            target_bin,
            controller: None,
        };
        step("installing the Workflow CRD");
        demo.kubectl(&["apply", "--server-side", "-f", "crd/workflow.yaml"])?;
        demo.wait_for_crd()?;
        step(&format!(
            "starting workflow-controller (log: {})",
            log_path.display()
        ));
        let controller = Command::new(&controller_bin)
            .args(["--leader-elect=false", "--metrics-addr=127.0.0.1:0"])
            .env("KUBECONFIG", &demo.kubeconfig)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", controller_bin.display()))?;
        demo.controller = Some(controller);
        Ok(demo)
    }

    fn play(&self) -> anyhow::Result<ExitCode> {
        step(&format!("a fresh namespace {NAMESPACE}"));
        let _ = self.quiet_kubectl(&[
            "delete",
            "namespace",
            NAMESPACE,
            "--wait=true",
            "--ignore-not-found",
        ]);
        self.kubectl(&["create", "namespace", NAMESPACE])?;

        step("a diamond: fetch -> (build, test) -> package -> publish, followed live");
        self.typed(&[
            "workflow",
            "create",
            "-f",
            "examples/diamond.yaml",
            "-n",
            NAMESPACE,
            "--watch",
        ])?
        .expect_exit(0, "the diamond should complete")?;
        self.typed(&["workflow", "logs", "diamond", "-n", NAMESPACE])?
            .expect_exit(0, "logs")?;

        step(
            "a failing step: its dependents are skipped, the exit code is reported, --watch exits 1",
        );
        self.typed(&[
            "workflow",
            "create",
            "-f",
            "examples/failing.yaml",
            "-n",
            NAMESPACE,
            "--watch",
        ])?
        .expect_exit(1, "the failing workflow should fail")?;
        self.typed(&["workflow", "describe", "failing", "-n", NAMESPACE])?
            .expect_exit(0, "describe")?;

        step("everything at a glance");
        self.typed(&["workflow", "list", "-n", NAMESPACE])?
            .expect_exit(0, "list")?;
        self.typed(&[
            "workflow", "graph", "diamond", "-n", NAMESPACE, "-o", "mermaid",
        ])?
        .expect_exit(0, "graph -o mermaid")?;
        step("done");
        Ok(ExitCode::SUCCESS)
    }

    /// Waits until the API server serves the CRD (`kubectl wait` errors while it has no conditions yet).
    fn wait_for_crd(&self) -> anyhow::Result<()> {
        let established = r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#;
        for _ in 0..150 {
            let output =
                self.quiet_kubectl(&["get", "crd", "workflows.kwf.dev", "-o", established])?;
            if output.stdout == b"True" {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        bail!("the Workflow CRD was not established after 30 s")
    }

    /// Runs `kubectl ARGS` as a user would type it, showing the command and its output.
    fn typed(&self, args: &[&str]) -> anyhow::Result<i32> {
        println!("\n$ kubectl {}", args.join(" "));
        let status = self.command(args).status().context("cannot run kubectl")?;
        Ok(status.code().unwrap_or(-1))
    }

    /// Runs a set-up kubectl command; its output is shown only if it fails.
    fn kubectl(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = self.quiet_kubectl(args)?;
        if !output.status.success() {
            bail!(
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn quiet_kubectl(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        self.command(args).output().context("cannot run kubectl")
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

    fn stop_controller(mut self) {
        if let Some(mut controller) = self.controller.take() {
            // SAFETY: kill(2) has no memory-safety preconditions; SIGTERM lets it shut down cleanly.
            unsafe {
                libc::kill(controller.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = controller.wait();
        }
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
