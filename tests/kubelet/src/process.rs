//! Host processes for containers: each in its own process group (so signals reach `sh -c` children), killed
//! when the kubelet's process dies (`PR_SET_PDEATHSIG`), and killed as a group when its guard is dropped.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use crate::spec::LaunchPlan;

/// A running container process. Dropping it SIGKILLs the whole process group, so an aborted pod task or a
/// kubelet shutdown leaves nothing behind.
pub struct ContainerProcess {
    child: Child,
    pgid: Option<libc::pid_t>,
}

/// Starts `plan` with stdout and stderr appended to `log_file`.
pub fn spawn(
    plan: &LaunchPlan,
    log_file: &Path,
    default_dir: &Path,
) -> io::Result<ContainerProcess> {
    if let Some(parent) = log_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)?;
    let log_for_stderr = log.try_clone()?;
    let dir = match &plan.working_dir {
        Some(dir) => Path::new(dir).to_path_buf(),
        None => default_dir.to_path_buf(),
    };
    // A container's working directory exists inside its image; on the host, make it.
    std::fs::create_dir_all(&dir)?;

    let (program, args) = plan
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("HOME", &dir)
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        .process_group(0)
        .kill_on_drop(true);
    let kubelet_pid = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe functions
    // (prctl, getppid, _exit) without allocating.
    unsafe {
        command.pre_exec(move || {
            // Dies with the thread that forked it: tokio worker threads live as long as the runtime, and the
            // runtime lives as long as the kubelet.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != kubelet_pid {
                libc::_exit(137);
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    let pgid = child.id().map(|pid| pid as libc::pid_t);
    Ok(ContainerProcess { child, pgid })
}

impl ContainerProcess {
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        // The main process is gone: like a container runtime, end what it left behind in its group.
        self.kill_group(libc::SIGKILL);
        self.pgid = None;
        Ok(status)
    }

    /// Sends `signal` to every process of the container's group (no-op once it was reaped).
    pub fn signal(&self, signal: libc::c_int) {
        self.kill_group(signal);
    }

    fn kill_group(&self, signal: libc::c_int) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg has no memory-safety preconditions; ESRCH (group gone) is fine to ignore.
            unsafe {
                libc::killpg(pgid, signal);
            }
        }
    }
}

impl Drop for ContainerProcess {
    fn drop(&mut self) {
        self.kill_group(libc::SIGKILL);
    }
}

/// The exit code Kubernetes reports: the process's code, or 128 + signal number when killed by a signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_code_of_normal_exit_and_signal() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGTERM)), 143);
    }

    fn plan(script: &str) -> LaunchPlan {
        LaunchPlan {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("WHO".into(), "kwf".into())],
            working_dir: None,
        }
    }

    #[tokio::test]
    async fn runs_command_with_env_and_logs_both_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("logs/c.log");
        let mut process = spawn(
            &plan("echo out $WHO; echo err >&2; exit 4"),
            &log,
            dir.path(),
        )
        .expect("spawn");
        let status = process.wait().await.expect("wait");
        assert_eq!(exit_code(status), 4);
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(text.contains("out kwf"), "{text}");
        assert!(text.contains("err"), "{text}");
    }

    #[tokio::test]
    async fn sigterm_reaches_the_children_of_sh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("child.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", marker.display());
        let mut process =
            spawn(&plan(&script), &dir.path().join("c.log"), dir.path()).expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let child_pid: i32 = loop {
            if let Ok(text) = std::fs::read_to_string(&marker)
                && let Ok(pid) = text.trim().parse()
            {
                break pid;
            }
            assert!(std::time::Instant::now() < deadline, "child never started");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        process.signal(libc::SIGTERM);
        let status = process.wait().await.expect("wait");
        assert_eq!(exit_code(status), 143);
        // A killed child may linger briefly as a zombie until its new parent reaps it: that counts as gone.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{child_pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        };
        while alive() {
            assert!(
                std::time::Instant::now() < deadline,
                "the sleep child survived the group kill"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
