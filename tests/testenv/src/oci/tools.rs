//! The real OCI tools the tests check images with (skopeo), installed with apt-get where missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Error, io_error};

/// The path of `skopeo`, installed with apt-get when it is missing and this process runs as root (tests
/// check images with it); otherwise a one-line error saying how to install it.
pub fn ensure_skopeo() -> Result<PathBuf, Error> {
    ensure_installed("skopeo", "skopeo")
}

/// The path of `program`, installed from the Debian package `package` with apt-get when it is missing and this
/// process runs as root; otherwise a one-line error saying how to install it.
pub fn ensure_installed(program: &str, package: &str) -> Result<PathBuf, Error> {
    if let Some(path) = find_in_path(program) {
        return Ok(path);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::Tool(format!(
            "{program} is not installed: install it (`sudo apt-get install {package}` on Debian/Ubuntu) and rerun"
        )));
    }
    eprintln!("kwf-testenv: installing {package} with apt-get (for {program}, which tests use)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|status| status.success())
    };
    // A fresh machine may have no package lists yet.
    let installed = install()
        || (Command::new("apt-get")
            .args(["update", "-q"])
            .status()
            .is_ok_and(|s| s.success())
            && install());
    match find_in_path(program) {
        Some(path) if installed => Ok(path),
        _ => Err(Error::Tool(format!(
            "installing {package} with `apt-get install {package}` failed (see its output above): install it by hand and rerun"
        ))),
    }
}

/// `skopeo inspect [ARGS] oci-archive:ARCHIVE`, parsed: `--raw` gives the manifest, `--config` the config,
/// no argument skopeo's summary (`Digest`, `Layers`, …).
pub fn skopeo_inspect(archive: &Path, args: &[&str]) -> Result<serde_json::Value, Error> {
    let skopeo = ensure_skopeo()?;
    let output = Command::new(&skopeo)
        .arg("inspect")
        .args(args)
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .map_err(io_error("run", &skopeo))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::Tool(format!(
            "skopeo inspect {} oci-archive:{} failed ({}): {}",
            args.join(" "),
            archive.display(),
            output.status,
            stderr.trim()
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| {
        Error::Tool(format!(
            "skopeo inspect {} printed no JSON: {error}",
            args.join(" ")
        ))
    })
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}
