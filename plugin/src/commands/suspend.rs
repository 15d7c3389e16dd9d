//! `suspend NAME`: set `kwf.dev/suspend: "true"`; no new step starts, running steps finish.

use kwf_api::{ANNOTATION_SUSPEND, SUSPEND_TRUE};

use crate::cli::ControlArgs;
use crate::session::Session;

use super::annotate::{annotation_patch, done_line, send};

pub async fn execute(args: &ControlArgs, session: &Session) -> anyhow::Result<()> {
    let name = &args.workflow.name;
    let dry_run = args.dry_run.dry_run;
    // A missing workflow is an error before anything is sent, dry run or not.
    session.get_workflow(session.namespace(), name).await?;
    send(
        session,
        name,
        &annotation_patch(ANNOTATION_SUSPEND, Some(SUSPEND_TRUE)),
        dry_run,
    )
    .await?;
    session
        .terminal
        .print(&done_line(name, "suspended", dry_run))
}
