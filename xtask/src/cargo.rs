//! Building the workspace's own binaries from a task, with the cargo that runs `cargo xtask`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The build profile of a task's binaries.
#[derive(Clone, Copy)]
pub enum Profile {
    Debug,
    Release,
}

/// `cargo build [--release] -p PACKAGE...` in `workspace`; returns the directory holding the
/// binaries (`target/debug` or `target/release`, honouring `CARGO_TARGET_DIR`).
pub fn build(workspace: &Path, profile: Profile, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args(["build", "--locked"]);
    if let Profile::Release = profile {
        command.arg("--release");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command
        .current_dir(workspace)
        .status()
        .with_context(|| format!("cannot run {} build", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!(
            "cargo build of {} failed ({status}): fix the build and retry",
            packages.join(", ")
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    Ok(target.join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    }))
}
