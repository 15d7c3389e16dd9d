//! `cargo xtask testenv up|down|status`: a control plane that outlives the command, owned by a detached
//! `cargo xtask testenv serve` process whose pid and kubeconfig are recorded in `<dir>/state.json`.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kwf_testenv::ControlPlane;
use kwf_testenv::state::{self, State};

/// How long `up` waits for the detached supervisor (binaries are built before it starts).
const UP_TIMEOUT: Duration = Duration::from_secs(180);
/// How long `down` waits for the supervisor to stop its components before killing it.
const DOWN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
#[command(
    after_help = "The first `up` builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl from \
the upstream Go modules (several minutes on 2 cores); the binaries are cached (~/.cache/kwf) and later starts \
take seconds. Pods run as host processes of process kubelets (images ignored) unless they ask for the real \
node (containerd + kubelet, when the machine runs as root): see tests/testenv/README.md."
)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// State directory: kubeconfig, certificates, logs/*.log, state.json [default: <workspace>/target/kwf-testenv]
    #[arg(long, global = true, env = state::DIR_ENV)]
    dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Start the control plane in the background (no-op if it runs) and print its kubeconfig path.
    Up,
    /// Stop the control plane started by `up`.
    Down,
    /// Say whether the control plane runs, and where its kubeconfig and logs are.
    Status,
    /// Run the control plane in the foreground until SIGTERM or Ctrl-C (what `up` starts, detached).
    #[command(hide = true)]
    Serve,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(state::default_dir);
    match args.action {
        Action::Up => {
            let state = up(&dir)?;
            println!("{}", state.kubeconfig.display());
            eprintln!(
                "control plane ready at {}; use it with: export KUBECONFIG={}",
                state.apiserver_url,
                state.kubeconfig.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Down => {
            down(&dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Status => Ok(status(&dir)),
        Action::Serve => serve(&dir).map(|()| ExitCode::SUCCESS),
    }
}

/// Starts the control plane in `dir` unless it runs already; returns its state once it is ready.
pub fn up(dir: &Path) -> anyhow::Result<State> {
    if let Some(state) = State::running(dir) {
        eprintln!("control plane already running (pid {})", state.pid);
        return Ok(state);
    }
    // Build (or find) the binaries in the foreground, so a first build shows its progress here.
    kwf_testenv::ensure_binaries()?;
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    State::remove(dir)
        .with_context(|| format!("cannot remove the stale state in {}", dir.display()))?;
    let log_path = logs.join("serve.log");
    let log =
        File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    // /proc/self/exe, not current_exe(): it still runs this very program when cargo has since
    // rebuilt (replaced) target/debug/xtask, whose old path then reads "xtask (deleted)".
    let exe = PathBuf::from("/proc/self/exe");
    let mut command = Command::new(&exe);
    command
        .args(["testenv", "serve", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe. A new session detaches the supervisor from this terminal, so it
    // survives this command and a Ctrl-C meant for it.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {} testenv serve", exe.display()))?;
    let started = Instant::now();
    loop {
        if let Some(state) = State::running(dir).filter(|state| state.pid == child.id()) {
            eprintln!(
                "control plane started in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(state);
        }
        if let Some(status) = child.try_wait()? {
            let line = last_line(&log_path);
            // The supervisor's own one-line error already names the component, command and log.
            match line.strip_prefix("xtask: ") {
                Some(error) => bail!("{error}"),
                None => bail!(
                    "the control plane supervisor exited ({status}): {line} (log: {})",
                    log_path.display()
                ),
            }
        }
        if started.elapsed() > UP_TIMEOUT {
            let _ = child.kill();
            bail!(
                "the control plane was not ready after {} s (log: {})",
                UP_TIMEOUT.as_secs(),
                log_path.display()
            );
        }
        sleep(Duration::from_millis(50));
    }
}

/// Stops the control plane in `dir`, if one runs.
pub fn down(dir: &Path) -> anyhow::Result<()> {
    let Some(state) = State::read(dir) else {
        eprintln!(
            "no control plane is running (no state in {})",
            dir.display()
        );
        return Ok(());
    };
    if state.is_alive() {
        signal(state.pid, libc::SIGTERM);
        let deadline = Instant::now() + DOWN_TIMEOUT;
        while state.is_alive() && Instant::now() < deadline {
            sleep(Duration::from_millis(50));
        }
        if state.is_alive() {
            // Its components die with it (PR_SET_PDEATHSIG).
            signal(state.pid, libc::SIGKILL);
            eprintln!(
                "the supervisor (pid {}) did not stop in time and was killed",
                state.pid
            );
        }
        eprintln!("control plane stopped");
    } else {
        eprintln!(
            "control plane was not running (pid {} is gone); removed its state",
            state.pid
        );
    }
    State::remove(dir).with_context(|| format!("cannot remove the state in {}", dir.display()))
}

fn status(dir: &Path) -> ExitCode {
    match State::running(dir) {
        Some(state) => {
            println!("running (pid {})", state.pid);
            println!("apiserver:  {}", state.apiserver_url);
            println!("kubeconfig: {}", state.kubeconfig.display());
            println!("logs:       {}", state.log_dir.display());
            println!("binaries:   {}", state.bin_dir.display());
            let real_node = match kwf_testenv::node::availability(dir) {
                Some(Ok(ready)) => format!(
                    "{} ({ready}; logs: {}, {})",
                    kwf_testenv::node::REAL_NODE_NAME,
                    state.log_dir.join("kubelet.log").display(),
                    state.log_dir.join("containerd.log").display()
                ),
                Some(Err(reason)) => format!("not running: {reason}"),
                None => "starting (or this plane predates the real node)".into(),
            };
            println!("real node:  {real_node}");
            println!(
                "process nodes: {}, {} (log: {})",
                kwf_testenv::NODE_NAME,
                kwf_testenv::SECOND_NODE_NAME,
                state.log_dir.join("kwf-kubelet.log").display()
            );
            // The nodes as the apiserver sees them.
            let _ = Command::new(state.bin_dir.join("kubectl"))
                .arg("--kubeconfig")
                .arg(&state.kubeconfig)
                .args(["get", "nodes", "-L", kwf_testenv::node::RUNTIME_LABEL])
                .status();
            ExitCode::SUCCESS
        }
        None => {
            println!("not running (start it with `cargo xtask testenv up`)");
            ExitCode::FAILURE
        }
    }
}

/// The detached supervisor: owns the control plane until SIGTERM, SIGINT or SIGHUP.
fn serve(dir: &Path) -> anyhow::Result<()> {
    let plane = ControlPlane::start(dir)?;
    let state = State {
        pid: std::process::id(),
        kubeconfig: plane.kubeconfig().to_path_buf(),
        bin_dir: plane.bin_dir().to_path_buf(),
        apiserver_url: plane.apiserver_url().to_string(),
        log_dir: plane.log_dir(),
    };
    state
        .write(dir)
        .with_context(|| format!("cannot write the state to {}", dir.display()))?;
    eprintln!(
        "control plane ready in {:.1} s at {}",
        plane.ready_in().as_secs_f64(),
        state.apiserver_url
    );
    wait_for_stop_signal()?;
    eprintln!("stopping");
    // First retract the state, so nobody connects to a control plane that is going away.
    let removed = State::remove(dir);
    plane.stop()?;
    removed.with_context(|| format!("cannot remove the state in {}", dir.display()))
}

fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut hangup = signal(SignalKind::hangup())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
            _ = hangup.recv() => {}
        }
        Ok(())
    })
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

fn last_line(log: &Path) -> String {
    fs::read_to_string(log)
        .ok()
        .and_then(|text| {
            text.lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "(no output)".into())
}
