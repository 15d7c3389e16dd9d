//! `restart NAME [--failed]`: ask the controller for a rerun by setting its restart annotations.

use kwf_api::{
    ANNOTATION_RESTART_MODE, ANNOTATION_RESTARTED_AT, ANNOTATION_STOP, RESTART_MODE_FAILED,
    Workflow,
};
use serde_json::{Value, json};

use crate::cli::RestartArgs;
use crate::errors::{Op, WORKFLOWS};
use crate::render::{GraphFormat, object_ref};
use crate::session::Session;
use crate::watch::follow;

pub async fn execute(args: &RestartArgs, session: &Session) -> anyhow::Result<()> {
    let name = &args.workflow.name;
    let namespace = session.namespace();
    let stamp = jiff::Timestamp::now().to_string();
    let op = Op::new("patch", WORKFLOWS, Some(namespace)).named(name);
    let patch = restart_patch(&stamp, args.failed);
    session
        .send(op, session.merge_patch_workflow(name, &patch))
        .await?;
    let what = if args.failed {
        " (failed and skipped steps only)"
    } else {
        ""
    };
    session
        .terminal
        .print(&format!("{} restarted{what}\n", object_ref(name)))?;
    if !args.follow.watch {
        return Ok(());
    }
    // Until the controller has acted on this very restart, the old end state is no answer.
    let fresh = |wf: &Workflow| {
        wf.status
            .as_ref()
            .and_then(|s| s.observed_restart.as_deref())
            == Some(stamp.as_str())
    };
    follow(session, namespace, name, &fresh, GraphFormat::Tree)
        .await?
        .into_result(name)
}

/// The merge patch: a new `restartedAt`, the mode set for --failed or removed otherwise, and
/// the stop request of an earlier run removed (the controller acts on a stop value once, so
/// this only keeps the annotations telling the truth).
fn restart_patch(stamp: &str, failed_only: bool) -> Value {
    let mode = if failed_only {
        Value::from(RESTART_MODE_FAILED)
    } else {
        Value::Null
    };
    json!({ "metadata": { "annotations": {
        ANNOTATION_RESTARTED_AT: stamp, ANNOTATION_RESTART_MODE: mode, ANNOTATION_STOP: null } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_only_sets_the_mode() {
        assert_eq!(
            restart_patch("2026-01-02T03:04:05Z", true),
            json!({"metadata": {"annotations": {
                "kwf.dev/restartedAt": "2026-01-02T03:04:05Z", "kwf.dev/restart-mode": "failed",
                "kwf.dev/stop": null}}})
        );
    }

    #[test]
    fn a_full_restart_removes_the_mode() {
        assert_eq!(
            restart_patch("t", false),
            json!({"metadata": {"annotations": {"kwf.dev/restartedAt": "t", "kwf.dev/restart-mode": null, "kwf.dev/stop": null}}})
        );
    }
}
