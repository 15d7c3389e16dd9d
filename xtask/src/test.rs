//! `cargo xtask test`: the whole test suite against the local control plane.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::Context;
use kwf_testenv::state::{self, State};

use crate::testenv;

#[derive(clap::Args)]
#[command(
    after_help = "Starts the control plane unless `cargo xtask testenv up` already runs one (that one is \
left running), builds the workspace's binaries, runs `cargo test --workspace --no-fail-fast <ARGS>` with KWF_TESTENV_DIR pointing at it, stops the control \
plane it started (also when tests fail) and exits with the tests' exit code."
)]
pub struct Args {
    /// Extra arguments for `cargo test`, e.g. `-- --nocapture`; with `-p <package>` only that package is
    /// tested instead of the whole workspace.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cargo_args: Vec<OsString>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // End-to-end tests run the workspace's binaries (workflow-controller, kubectl-workflow) as
    // processes; `cargo test` builds a package's binaries only for that package's own tests.
    // xtask is left out: it is this running program.
    say("building the workspace's binaries (cargo build --workspace --exclude xtask --bins)");
    let bins = Command::new(cargo_path())
        .args([
            "build",
            "--locked",
            "--workspace",
            "--exclude",
            "xtask",
            "--bins",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !bins.success() {
        anyhow::bail!("building the workspace's binaries failed ({bins}): fix the build and retry");
    }
    let dir = state::default_dir();
    let started_here = State::running(&dir).is_none();
    if started_here {
        say("starting the control plane (stopped again after the tests)");
    }
    testenv::up(&dir)?;
    // Ctrl-C reaches cargo (same process group) and ends the tests; this process must live on to stop the
    // control plane, so it only notes the signal (handlers, unlike "ignore", are reset for the child).
    ignore_interrupts_but_not_in_children();
    let cargo = cargo_path();
    let mut command = Command::new(&cargo);
    command.args(["test", "--no-fail-fast"]);
    if !selects_packages(&args.cargo_args) {
        command.arg("--workspace");
    }
    command.args(&args.cargo_args);
    say(&format!("running {}", shown(&command)));
    let status = command
        .env(state::DIR_ENV, &dir)
        .status()
        .with_context(|| format!("cannot run {} test", cargo.to_string_lossy()));
    if started_here {
        testenv::down(&dir)?;
    }
    let code = status?.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// One line saying what `cargo xtask test` starts doing now.
fn say(what: &str) {
    eprintln!("xtask test: {what}");
}

/// A command as a person would type it: `cargo test --no-fail-fast --workspace`.
fn shown(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(
            command
                .get_args()
                .map(|arg| arg.to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

fn cargo_path() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether the arguments for cargo (before any `--` for the test binaries) pick packages themselves.
fn selects_packages(cargo_args: &[OsString]) -> bool {
    cargo_args
        .iter()
        .map_while(|arg| arg.to_str().filter(|arg| *arg != "--"))
        .any(|arg| {
            arg == "-p" || arg.starts_with("--package") || (arg.starts_with("-p") && arg.len() > 2)
        })
}

extern "C" fn note_interrupt(_: libc::c_int) {}

fn ignore_interrupts_but_not_in_children() {
    // SAFETY: the handler does nothing, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            note_interrupt as *const () as libc::sighandler_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_command_is_shown_by_its_program_name_and_arguments() {
        let mut command = Command::new("/usr/local/cargo/bin/cargo");
        command.args(["test", "--no-fail-fast", "--", "--nocapture"]);
        assert_eq!(shown(&command), "cargo test --no-fail-fast -- --nocapture");
    }

    #[test]
    fn package_options_before_the_separator_select_packages() {
        assert!(selects_packages(&args(&["-p", "kwf-testenv"])));
        assert!(selects_packages(&args(&["-pkwf-testenv"])));
        assert!(selects_packages(&args(&[
            "--package=kwf-e2e",
            "--",
            "--nocapture"
        ])));
        assert!(!selects_packages(&args(&["--", "-p"])));
        assert!(!selects_packages(&args(&[
            "--release",
            "--",
            "--nocapture"
        ])));
        assert!(!selects_packages(&[]));
    }
}
