//! `resume NAME`: remove `kwf.dev/suspend`; the steps whose dependencies succeeded start.

use kwf_api::{ANNOTATION_SUSPEND, Workflow};

use crate::cli::ControlArgs;
use crate::session::Session;

use super::annotate::{annotation_patch, done_line, send};

pub async fn execute(args: &ControlArgs, session: &Session) -> anyhow::Result<()> {
    let name = &args.workflow.name;
    let dry_run = args.dry_run.dry_run;
    let wf = session.get_workflow(session.namespace(), name).await?;
    if !suspended(&wf) {
        return session.terminal.print(&format!(
            "{} is not suspended\n",
            crate::render::object_ref(name)
        ));
    }
    send(
        session,
        name,
        &annotation_patch(ANNOTATION_SUSPEND, None),
        dry_run,
    )
    .await?;
    session.terminal.print(&done_line(name, "resumed", dry_run))
}

/// Whether the annotation is set at all: any value is removed, as any other than "true"
/// already lets steps start.
fn suspended(wf: &Workflow) -> bool {
    wf.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_SUSPEND))
}
