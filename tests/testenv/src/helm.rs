//! The real `helm` for the chart's tests (`controller/chart`), built from `helm.sh/helm/v4` by
//! `tests/testenv/helm/build.sh` in a Go module of its own (helm v4 brings Kubernetes modules newer than the
//! control plane's) and cached in `~/.cache/kwf/helm-<key>`, as the control plane's binaries are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::Error;
use crate::binaries::run_build_script;

/// The build script, found through this crate's source directory (tests always run from a checkout).
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("helm")
        .join("build.sh")
}

/// Builds helm or reuses the cached binary and returns its path (the first build takes minutes; its
/// progress lines are echoed on stderr).
pub fn ensure() -> Result<PathBuf, Error> {
    let script = build_script();
    run_build_script(&script, &["helm"])
        .map(|dir| dir.join("helm"))
        .map_err(|(command, reason)| Error::ToolBuild {
            tool: "helm",
            command,
            reason,
        })
}

/// The helm binary, built once per process.
///
/// # Panics
/// With the one-line reason if it cannot be built.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| match ensure() {
        Ok(path) => path,
        Err(error) => panic!("kwf-testenv: {error}"),
    })
}

/// `helm` with its configuration, cache and data (repositories, plugins, registry logins) in `home`
/// instead of the user's, and no KUBECONFIG of the caller's: give `--kubeconfig` for a cluster.
///
/// # Panics
/// With the one-line reason if helm cannot be built.
pub fn command(home: &Path) -> Command {
    command_with(binary(), home)
}

/// [`command`] with a helm binary of [`ensure`]'s.
pub fn command_with(helm: &Path, home: &Path) -> Command {
    let mut command = Command::new(helm);
    command
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .env_remove("HELM_NAMESPACE")
        .env_remove("HELM_KUBECONTEXT");
    command
}
