//! `restart NAME [--failed]`: ask the controller for a rerun by setting its restart annotations.

use kube::Api;
use kube::api::{Patch, PatchParams};
use kwf_api::{ANNOTATION_RESTART_MODE, ANNOTATION_RESTARTED_AT, RESTART_MODE_FAILED, Workflow};
use serde_json::{Value, json};

use super::object_ref;
use crate::cli::{ColorChoice, ConnectionFlags, RestartArgs};
use crate::connect::connect;
use crate::errors::{Op, WORKFLOWS};
use crate::output;
use crate::render::GraphFormat;
use crate::style::stdout_style;
use crate::watch::{Display, follow};

pub async fn run(
    args: &RestartArgs,
    flags: &ConnectionFlags,
    color: ColorChoice,
) -> anyhow::Result<()> {
    let cluster = connect(flags).await?;
    let namespace = cluster.namespace.clone();
    let api: Api<Workflow> = Api::namespaced(cluster.client.clone(), &namespace);
    let stamp = jiff::Timestamp::now().to_string();
    let op = Op::new("patch", WORKFLOWS, Some(&namespace)).named(&args.name);
    api.patch(
        &args.name,
        &PatchParams::default(),
        &Patch::Merge(restart_patch(&stamp, args.failed)),
    )
    .await
    .map_err(cluster.fail(op))?;
    let what = if args.failed {
        " (failed and skipped steps only)"
    } else {
        ""
    };
    output::print(&format!("{} restarted{what}\n", object_ref(&args.name)))?;
    if !args.watch {
        return Ok(());
    }
    // Until the controller has acted on this very restart, the old end state is no answer.
    let fresh = |wf: &Workflow| {
        wf.status
            .as_ref()
            .and_then(|s| s.observed_restart.as_deref())
            == Some(stamp.as_str())
    };
    let display = Display {
        format: GraphFormat::Tree,
        style: stdout_style(color, args.ascii),
    };
    follow(&cluster, &namespace, &args.name, &fresh, display)
        .await?
        .into_result(&args.name)
}

/// The merge patch: a new `restartedAt`, and the mode set for --failed or removed otherwise.
fn restart_patch(stamp: &str, failed_only: bool) -> Value {
    let mode = if failed_only {
        Value::from(RESTART_MODE_FAILED)
    } else {
        Value::Null
    };
    json!({ "metadata": { "annotations": { ANNOTATION_RESTARTED_AT: stamp, ANNOTATION_RESTART_MODE: mode } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_only_sets_the_mode() {
        assert_eq!(
            restart_patch("2026-01-02T03:04:05Z", true),
            json!({"metadata": {"annotations": {
                "kwf.dev/restartedAt": "2026-01-02T03:04:05Z", "kwf.dev/restart-mode": "failed"}}})
        );
    }

    #[test]
    fn a_full_restart_removes_the_mode() {
        assert_eq!(
            restart_patch("t", false),
            json!({"metadata": {"annotations": {"kwf.dev/restartedAt": "t", "kwf.dev/restart-mode": null}}})
        );
    }
}
