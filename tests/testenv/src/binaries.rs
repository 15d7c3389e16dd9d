//! The Go binaries of the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)
//! and of the real node (kubelet), built from
//! the upstream modules pinned in `tests/testenv/go` and cached by `go/build.sh`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// Names of the binaries `build.sh` puts in its output directory.
pub const BINARIES: [&str; 6] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
];

/// The build script, found through this crate's source directory (tests always run from a checkout).
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("go")
        .join("build.sh")
}

/// Builds the binaries or reuses the cached ones and returns their directory.
///
/// The first build takes minutes; its progress lines are echoed on stderr so a waiting user sees them.
/// Later calls return the cached directory in milliseconds.
pub fn ensure() -> Result<PathBuf, Error> {
    let script = build_script();
    run_build_script(&script, &BINARIES)
        .map_err(|(command, reason)| Error::Build { command, reason })
}

/// Runs a build script of this crate (`go/build.sh`, `helm/build.sh`: each prints the directory of what it
/// built, or of its cached copy) and checks that `expected` are in that directory. On failure: the command
/// and the reason, the script's last message (it says what went wrong).
pub(crate) fn run_build_script(
    script: &Path,
    expected: &[&str],
) -> Result<PathBuf, (String, String)> {
    let command = format!("bash {}", script.display());
    let build_error = |reason: String| (command.clone(), reason);
    let mut child = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| build_error(format!("cannot run bash: {source}")))?;
    // Echo the script's messages while remembering the last one: on failure it says what went wrong.
    let mut last_message = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            last_message = line;
        }
    }
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .map_err(|source| build_error(format!("cannot read its output: {source}")))?;
    }
    let status = child
        .wait()
        .map_err(|source| build_error(format!("cannot wait for it: {source}")))?;
    if !status.success() {
        let reason = if last_message.is_empty() {
            status.to_string()
        } else {
            last_message
        };
        return Err(build_error(reason));
    }
    let dir = PathBuf::from(stdout.trim());
    if let Some(missing) = expected.iter().find(|name| !dir.join(name).is_file()) {
        return Err(build_error(format!(
            "{missing} is missing from {}",
            dir.display()
        )));
    }
    Ok(dir)
}
