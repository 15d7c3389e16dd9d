//! What `stop`, `suspend` and `resume` share: a merge patch of the Workflow's annotations
//! (never its spec, whose every change reruns it from scratch), `--dry-run`, and the line
//! that says what was done, as kubectl prints it.

use kwf_api::Workflow;
use serde_json::{Value, json};

use crate::cli::DryRun;
use crate::errors::{Op, WORKFLOWS};
use crate::render::object_ref;
use crate::session::Session;

/// A merge patch setting (`Some`) or removing (`None`) one annotation.
pub(super) fn annotation_patch(key: &str, value: Option<&str>) -> Value {
    json!({ "metadata": { "annotations": { key: value } } })
}

/// Sends `patch` to workflow `name` as `dry_run` says: nothing for `client`, an API server
/// dry run for `server`.
pub(super) async fn send(
    session: &Session,
    name: &str,
    patch: &Value,
    dry_run: DryRun,
) -> anyhow::Result<()> {
    if dry_run == DryRun::Client {
        return Ok(());
    }
    let op = Op::new("patch", WORKFLOWS, Some(session.namespace())).named(name);
    let server_dry_run = dry_run == DryRun::Server;
    session
        .send(
            op,
            session.merge_patch_workflow_dry(name, patch, server_dry_run),
        )
        .await
        .map(|_: Workflow| ())
}

/// `workflow.kwf.dev/NAME stopped`, marked as kubectl marks dry runs.
pub(super) fn done_line(name: &str, what: &str, dry_run: DryRun) -> String {
    format!("{} {what}{}\n", object_ref(name), dry_run_suffix(dry_run))
}

/// kubectl's ` (dry run)` / ` (server dry run)`.
pub(super) fn dry_run_suffix(dry_run: DryRun) -> &'static str {
    match dry_run {
        DryRun::None => "",
        DryRun::Client => " (dry run)",
        DryRun::Server => " (server dry run)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sets_or_removes_one_annotation() {
        assert_eq!(
            annotation_patch("kwf.dev/suspend", Some("true")),
            json!({"metadata": {"annotations": {"kwf.dev/suspend": "true"}}})
        );
        assert_eq!(
            annotation_patch("kwf.dev/suspend", None),
            json!({"metadata": {"annotations": {"kwf.dev/suspend": null}}})
        );
    }

    #[test]
    fn dry_runs_say_so_as_kubectl_does() {
        assert_eq!(
            done_line("wf", "stopped", DryRun::None),
            "workflow.kwf.dev/wf stopped\n"
        );
        assert_eq!(
            done_line("wf", "suspended", DryRun::Client),
            "workflow.kwf.dev/wf suspended (dry run)\n"
        );
        assert_eq!(
            done_line("wf", "resumed", DryRun::Server),
            "workflow.kwf.dev/wf resumed (server dry run)\n"
        );
    }
}
