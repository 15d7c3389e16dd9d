//! `cargo xtask test`: the whole test suite against the local control plane.

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::Context;
use kwf_testenv::state::{self, State};

use crate::testenv;

#[derive(clap::Args)]
#[command(
    after_help = "Starts the control plane unless `cargo xtask testenv up` already runs one (that one is \
left running), runs `cargo test --workspace <ARGS>` with KWF_TESTENV_DIR pointing at it, stops the control \
plane it started (also when tests fail) and exits with the tests' exit code."
)]
pub struct Args {
    /// Extra arguments for `cargo test --workspace`, e.g. `-- --nocapture` or `-p kwf-testenv`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cargo_args: Vec<OsString>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = state::default_dir();
    let started_here = State::running(&dir).is_none();
    testenv::up(&dir)?;
    // Ctrl-C reaches cargo (same process group) and ends the tests; this process must live on to stop the
    // control plane, so it only notes the signal (handlers, unlike "ignore", are reset for the child).
    ignore_interrupts_but_not_in_children();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["test", "--workspace"])
        .args(&args.cargo_args)
        .env(state::DIR_ENV, &dir)
        .status()
        .with_context(|| format!("cannot run {} test", cargo.to_string_lossy()));
    if started_here {
        testenv::down(&dir)?;
    }
    let code = status?.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
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
