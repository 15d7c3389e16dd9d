//! Writing to standard output. A closed pipe (`kubectl workflow list | head -1`) is a normal
//! way for a reader to stop, not an error: the plugin then exits quietly with status 0.

use std::io::{ErrorKind, Write};

/// Writes `text` as is and flushes, so a redraw shows at once.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
    }
}

/// Writes `text` and a newline unless it already ends with one.
pub fn print_block(text: &str) -> anyhow::Result<()> {
    if text.is_empty() || text.ends_with('\n') {
        print(text)
    } else {
        print(&format!("{text}\n"))
    }
}

/// A note for the user on standard error (warnings, "No resources found").
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
