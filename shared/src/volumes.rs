//! Shared volumes: `spec.volumes` (any core/v1 Volume), `spec.volumeClaimTemplates` (a
//! PersistentVolumeClaim the controller creates for each generation of the spec) and what
//! happens to those claims when a run ends (`spec.volumeClaimPolicy`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::{LABEL_GENERATION, owner_reference};
use crate::{LABEL_WORKFLOW, Workflow, label_value};

/// Most volumes plus claim templates a Workflow may declare (also the CRD's `maxItems`): keeps
/// the CEL rule that checks every mount within the API server's cost budget.
pub const MAX_VOLUMES: usize = 32;
/// Most `volumeMounts` a step may have (also the CRD's `maxItems`).
pub const MAX_VOLUME_MOUNTS: usize = 16;
/// Longest claim template name (like a step name: room for the workflow and generation in the
/// claim's name).
pub const MAX_CLAIM_NAME_LEN: usize = 40;

/// Label on every claim the controller creates: the claim template it comes from.
pub const LABEL_CLAIM: &str = "kwf.dev/claim";
/// Annotation the scheduler sets on a claim whose StorageClass binds on first use: the node
/// its volume lives on.
pub const ANNOTATION_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// A PersistentVolumeClaim created for the Workflow: one per generation of the spec, shared by
/// every step that mounts `name` and by the restarts of that generation (so `restart --failed`
/// finds what the succeeded steps wrote). It is owned by the Workflow, so deleting the Workflow
/// deletes it; `volumeClaimPolicy` says whether it goes earlier.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeClaimTemplate {
    /// The volume name steps mount (`volumeMounts[].name`), unique among `volumes` and
    /// `volumeClaimTemplates`; the claim is named `{workflow}-{name}-{generation}`.
    #[schemars(length(min = 1, max = MAX_CLAIM_NAME_LEN), regex(pattern = crate::names::DNS1123_LABEL_PATTERN))]
    pub name: String,
    /// Labels of the claim (the controller adds its own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of the claim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The claim's spec: access modes, size, StorageClass.
    #[schemars(schema_with = "crate::embedded_schema::stripped::<PersistentVolumeClaimSpec>")]
    pub spec: PersistentVolumeClaimSpec,
}

impl VolumeClaimTemplate {
    /// Whether the claim's volume can be mounted by one node at a time (ReadWriteOnce or
    /// ReadWriteOncePod), so every step that mounts it must run on the same node.
    pub fn single_node(&self) -> bool {
        self.spec
            .access_modes
            .iter()
            .flatten()
            .any(|mode| mode == "ReadWriteOnce" || mode == "ReadWriteOncePod")
    }
}

/// What becomes of a run's claims when the run ends.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VolumeClaimPolicy {
    /// Delete them when the run completes; keep them after a failure, for a look at the data
    /// and for `restart --failed` (the default).
    #[default]
    DeleteOnSuccess,
    /// Delete them when the run completes or fails.
    DeleteOnFinish,
    /// Keep them until the Workflow is deleted (or its spec changes).
    Retain,
}

/// Name of the claim of template `claim` for `generation` of `workflow`:
/// `{workflow}-{claim}-{generation}`, cut and hashed like a Job name when too long.
pub fn claim_name(workflow: &str, claim: &str, generation: i64) -> String {
    crate::names::job_name(workflow, claim, generation, 0)
}

/// The claim of `template` for `generation` of `wf`: its name, the controller's labels (the
/// workflow, the template and the generation), the template's own labels and annotations, and
/// the Workflow as controlling owner, so that deleting the Workflow deletes it.
pub fn build_claim(
    wf: &Workflow,
    template: &VolumeClaimTemplate,
    generation: i64,
) -> PersistentVolumeClaim {
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let mut labels = template.labels.clone();
    labels.insert(LABEL_WORKFLOW.to_owned(), label_value(wf_name));
    labels.insert(LABEL_CLAIM.to_owned(), template.name.clone());
    labels.insert(LABEL_GENERATION.to_owned(), generation.to_string());
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim_name(wf_name, &template.name, generation)),
            namespace: wf.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!template.annotations.is_empty()).then(|| template.annotations.clone()),
            owner_references: Some(vec![owner_reference(wf)]),
            ..ObjectMeta::default()
        },
        spec: Some(template.spec.clone()),
        status: None,
    }
}
