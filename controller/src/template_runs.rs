//! Workflows that name a WorkflowTemplate and have no steps yet: before the Workflow reconcile
//! proper, the template is read once and its substituted spec written into the run
//! (`core::template_run`), or the run failed with why. Everything else goes to
//! [`crate::reconcile::reconcile`] untouched.

use std::sync::Arc;

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use kwf_api::{Workflow, WorkflowTemplate};
use serde_json::json;

use crate::config::MANAGER;
use crate::context::Context;
use crate::core::template_run::{self, Resolution};
use crate::error::{ReconcileError, has_status};

/// The Workflow reconcile, resolving a run's template first where it awaits one.
pub async fn reconcile(wf: Arc<Workflow>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if !template_run::awaits_template(&wf) {
        return crate::reconcile::reconcile(wf, ctx).await;
    }
    let namespace = wf
        .namespace()
        .ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = wf.name_any();
    let template_name = wf
        .spec
        .workflow_template_ref
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let templates: Api<WorkflowTemplate> = Api::namespaced(ctx.client.clone(), &namespace);
    let template =
        templates
            .get_opt(&template_name)
            .await
            .map_err(|source| ReconcileError::ReadTemplate {
                name: template_name.clone(),
                source,
            })?;
    let params = PatchParams {
        field_manager: Some(MANAGER.to_owned()),
        ..Default::default()
    };
    let workflows: Api<Workflow> = Api::namespaced(ctx.client.clone(), &namespace);
    match template_run::resolve(&wf, template.as_ref(), Timestamp::now()) {
        Resolution::Patch(patch) => {
            tracing::info!(workflow = %name, template = %template_name, "resolved the run's template");
            match workflows.patch(&name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => {}
                // Changed meanwhile (or gone): the watch brings the new version.
                Err(err) if has_status(&err, 409) || has_status(&err, 404) => {}
                Err(source) => return Err(ReconcileError::PatchWorkflow { name, source }),
            }
        }
        Resolution::Fail(status) => {
            tracing::info!(workflow = %name, message = status.message.as_deref().unwrap_or_default(), "the run's template cannot run");
            let patch = json!({
                "metadata": { "resourceVersion": wf.meta().resource_version },
                "status": status,
            });
            match workflows
                .patch_status(&name, &params, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(err) if has_status(&err, 409) || has_status(&err, 404) => {}
                Err(source) => return Err(ReconcileError::PatchStatus { name, source }),
            }
        }
        Resolution::Unchanged => {}
    }
    // A restart request (an annotation change) or the patch's own event comes back through
    // the watch; the template appearing does not, by design: a failed run stays failed.
    Ok(Action::await_change())
}
