//! The state directory of a control plane started by `cargo xtask testenv up`, and how tests find it.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Overrides the state directory of `cargo xtask testenv up` and of [`crate::TestEnv::shared`].
pub const DIR_ENV: &str = "KWF_TESTENV_DIR";
const STATE_FILE: &str = "state.json";

/// What `cargo xtask testenv serve` records once its control plane is ready.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    /// The supervising process; the control plane lives exactly as long as it.
    pub pid: u32,
    pub kubeconfig: PathBuf,
    pub bin_dir: PathBuf,
    pub apiserver_url: String,
    pub log_dir: PathBuf,
}

/// The workspace this crate was built in.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `$KWF_TESTENV_DIR`, else `<workspace>/target/kwf-testenv`.
pub fn default_dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target").join("kwf-testenv"))
}

impl State {
    /// The recorded state in `dir`, if any (whether or not its process still runs).
    pub fn read(dir: &Path) -> Option<State> {
        let text = fs::read_to_string(dir.join(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The recorded state in `dir` if its supervisor is alive and its apiserver accepts connections.
    pub fn running(dir: &Path) -> Option<State> {
        State::read(dir).filter(|state| state.is_alive() && state.apiserver_reachable())
    }

    /// Writes `state.json` atomically, so a reader never sees half a file.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let partial = dir.join(format!("{STATE_FILE}.partial"));
        fs::write(
            &partial,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        fs::rename(partial, dir.join(STATE_FILE))
    }

    /// Removes `state.json` from `dir` (nothing to do if it is absent).
    pub fn remove(dir: &Path) -> std::io::Result<()> {
        match fs::remove_file(dir.join(STATE_FILE)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Whether the supervisor process still runs (a zombie does not count).
    pub fn is_alive(&self) -> bool {
        process_is_alive(self.pid)
    }

    fn apiserver_reachable(&self) -> bool {
        let address = self
            .apiserver_url
            .strip_prefix("https://")
            .and_then(|rest| rest.trim_end_matches('/').parse::<SocketAddr>().ok());
        address.is_some_and(|address| {
            TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
        })
    }
}

/// Whether `pid` names a running process: it exists and is not a zombie waiting to be reaped.
pub fn process_is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the command name in parentheses, which may itself contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pid: u32) -> State {
        State {
            pid,
            kubeconfig: "/s/kubeconfig".into(),
            bin_dir: "/bin".into(),
            apiserver_url: "https://127.0.0.1:1".into(),
            log_dir: "/s/logs".into(),
        }
    }

    #[test]
    fn round_trips_through_the_state_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(State::read(dir.path()), None);
        state(42).write(dir.path()).expect("written");
        assert_eq!(State::read(dir.path()), Some(state(42)));
        State::remove(dir.path()).expect("removed");
        State::remove(dir.path()).expect("removing twice is fine");
        assert_eq!(State::read(dir.path()), None);
    }

    #[test]
    fn a_running_process_is_alive_and_a_reaped_or_zombie_one_is_not() {
        assert!(process_is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("spawned");
        let pid = child.id();
        // Not reaped yet: a zombie once it exits, which must not count as alive.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while process_is_alive(pid) {
            assert!(std::time::Instant::now() < deadline, "`true` never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(child.try_wait().expect("waitable").is_some());
        assert!(!process_is_alive(pid));
    }

    #[test]
    fn a_state_whose_apiserver_is_unreachable_is_not_running() {
        let dir = tempfile::tempdir().expect("temp dir");
        state(std::process::id())
            .write(dir.path())
            .expect("written");
        assert!(State::running(dir.path()).is_none());
    }
}
