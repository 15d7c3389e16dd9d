//! Errors of the control plane: each one is a single line that says what failed and where to look.

use std::path::PathBuf;

/// Why the control plane could not be built, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `tests/testenv/go/build.sh` failed (no Go toolchain, a failed `go build`, ...).
    #[error("building the control-plane binaries failed: {reason} (command: {command})")]
    Build { command: String, reason: String },

    /// A tool's build script failed (`tests/testenv/helm/build.sh`: no Go toolchain, a failed `go build`).
    #[error("building {tool} failed: {reason} (command: {command})")]
    ToolBuild {
        tool: &'static str,
        command: String,
        reason: String,
    },

    /// A file or directory of the control plane could not be written or read.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Certificate generation failed (a bug rather than a user error).
    #[error("generating the {what} certificate failed: {source}")]
    Certificate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },

    /// A component could not be launched at all.
    #[error("{component} could not be started: {source} (command: {command}; log: {log})")]
    Spawn {
        component: &'static str,
        command: String,
        log: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A component exited while the control plane was starting.
    #[error(
        "{component} exited during start ({status}): {last_line} (command: {command}; log: {log})"
    )]
    Died {
        component: &'static str,
        status: String,
        last_line: String,
        command: String,
        log: PathBuf,
    },

    /// A component kept running but did not become ready in time.
    #[error("{component} was not ready after {seconds} s: {detail} (log: {log})")]
    NotReady {
        component: &'static str,
        seconds: u64,
        detail: String,
        log: PathBuf,
    },

    /// The process kubelet stopped with an error.
    #[error("the process kubelet failed: {reason} (log: {log})")]
    Kubelet { reason: String, log: PathBuf },

    /// The thread that owns the control plane went away (it panicked).
    #[error("the control-plane supervisor thread stopped unexpectedly: {0}")]
    Supervisor(String),
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// Whether the failure looks like a port taken by someone else between picking and binding it,
    /// which is worth one more attempt with fresh ports.
    pub fn is_port_clash(&self) -> bool {
        matches!(self, Error::Died { last_line, .. } if last_line.contains("address already in use"))
    }
}
