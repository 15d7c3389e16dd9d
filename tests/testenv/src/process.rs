//! One control-plane component as a child process: its log file, its death with its owner, its stop.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::Error;

/// A running component. Dropping it does not stop it: call [`Component::signal_terminate`] and
/// [`Component::wait_or_kill`].
pub struct Component {
    pub name: &'static str,
    /// The command line, for error messages.
    pub command: String,
    pub log: PathBuf,
    child: Child,
}

impl Component {
    /// Starts `program args` with stdout and stderr appended to `log` (which starts with the command line).
    ///
    /// The child gets `PR_SET_PDEATHSIG = SIGKILL`: it dies when the thread that spawned it ends, so nothing
    /// outlives its owner even if the owner is killed. Spawn from a thread that lives as long as the child.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Component, Error> {
        Component::spawn_with_env(name, program, args, &[], log)
    }

    /// [`Component::spawn`] with extra environment variables.
    pub fn spawn_with_env(
        name: &'static str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: &Path,
    ) -> Result<Component, Error> {
        let command = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut file = File::create(log).map_err(|e| Error::io("cannot create log", log, e))?;
        writeln!(file, "# {command}").map_err(|e| Error::io("cannot write log", log, e))?;
        let stderr = file
            .try_clone()
            .map_err(|e| Error::io("cannot open log", log, e))?;
        let parent = std::process::id() as libc::pid_t;
        let mut builder = Command::new(program);
        builder
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr);
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) run between fork and exec.
        unsafe {
            builder.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The owner died before prctl took effect: nobody would ever stop this child.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = builder.spawn().map_err(|source| Error::Spawn {
            component: name,
            command: command.clone(),
            log: log.to_path_buf(),
            source,
        })?;
        Ok(Component {
            name,
            command,
            log: log.to_path_buf(),
            child,
        })
    }

    /// The exit status if the process has ended.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The error to report when the component ended while it should be running.
    pub fn died(&self, status: ExitStatus) -> Error {
        Error::Died {
            component: self.name,
            status: status.to_string(),
            last_line: log_summary(&self.log),
            command: self.command.clone(),
            log: self.log.clone(),
        }
    }

    /// Fails with [`Error::Died`] if the component has ended.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        match self.exit_status() {
            Some(status) => Err(self.died(status)),
            None => Ok(()),
        }
    }

    /// Asks the component to stop (SIGTERM) without waiting.
    pub fn signal_terminate(&mut self) {
        if self.exit_status().is_none() {
            // SAFETY: kill(2) on our own child's pid, which is not reaped yet (try_wait said it runs).
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }

    /// Waits up to `grace` for the component to end after [`Component::signal_terminate`], then kills it.
    pub fn wait_or_kill(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            component = self.name,
            "did not stop within {grace:?}; killing it"
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The most telling line of a component's log: the last one that reports an error, else the last line.
pub fn log_summary(log: &Path) -> String {
    let text = read_tail(log, 64 * 1024).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("# "))
        .collect();
    let telling = lines.iter().rev().find(|line| is_error_line(line));
    let line = telling
        .or(lines.last())
        .copied()
        .unwrap_or("(its log is empty)");
    shorten(line, 400)
}

fn is_error_line(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    // klog prefixes fatal and error lines with F and E followed by the date (e.g. "E1121 19:43:00.1").
    let klog_severity = matches!(line.as_bytes(), [b'E' | b'F', d, ..] if d.is_ascii_digit());
    klog_severity
        || ["error", "fatal", "failed", "already in use", "panic"]
            .iter()
            .any(|word| lower.contains(word))
}

fn read_tail(path: &Path, bytes: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = fs::metadata(path)?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(bytes)))?;
    let mut buffer = Vec::new();
    file.read_to_end(&mut buffer)?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

fn shorten(line: &str, max_chars: usize) -> String {
    if line.chars().count() <= max_chars {
        line.to_string()
    } else {
        let cut: String = line.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_prefers_the_last_error_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("x.log");
        fs::write(
            &log,
            "# /bin/x --flag\nI1121 starting\nE1121 19:43:00 listen tcp 127.0.0.1:6443: bind: address already in use\nI1121 shutting down\n",
        )
        .expect("write");
        assert_eq!(
            log_summary(&log),
            "E1121 19:43:00 listen tcp 127.0.0.1:6443: bind: address already in use"
        );
    }

    #[test]
    fn summary_falls_back_to_the_last_line_or_says_the_log_is_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("x.log");
        fs::write(&log, "# /bin/x\nI1121 one\nI1121 two\n").expect("write");
        assert_eq!(log_summary(&log), "I1121 two");
        fs::write(&log, "# /bin/x\n").expect("write");
        assert_eq!(log_summary(&log), "(its log is empty)");
    }

    #[test]
    fn a_component_that_exits_is_reported_with_its_log_and_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("sh.log");
        let args = [
            "-c".to_string(),
            "echo 'fatal: no luck' >&2; exit 4".to_string(),
        ];
        let mut component =
            Component::spawn("demo", Path::new("/bin/sh"), &args, &log).expect("spawned");
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            if let Err(error) = component.check_alive() {
                break error;
            }
            assert!(Instant::now() < deadline, "sh did not exit");
            sleep(Duration::from_millis(10));
        };
        let message = error.to_string();
        assert!(
            message.starts_with("demo exited during start (exit status: 4): fatal: no luck"),
            "{message}"
        );
        assert!(message.contains("command: /bin/sh -c echo"), "{message}");
        assert!(message.contains(&log.display().to_string()), "{message}");
    }

    #[test]
    fn terminate_stops_a_running_component() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("sleep.log");
        let mut component =
            Component::spawn("sleeper", Path::new("/bin/sleep"), &["60".into()], &log)
                .expect("spawned");
        assert!(component.exit_status().is_none());
        component.signal_terminate();
        component.wait_or_kill(Duration::from_secs(5));
        assert!(component.exit_status().is_some());
    }
}
