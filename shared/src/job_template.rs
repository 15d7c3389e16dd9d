//! The JobTemplate resource (`kwf.dev/v1alpha1`): a stored batch/v1 JobTemplateSpec that
//! steps use by name (`jobTemplateRef`), JobFlow's "Job templates by reference".

use std::borrow::Cow;

use k8s_openapi::api::batch::v1;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// What a JobTemplate holds: a batch/v1 JobTemplateSpec, `spec.metadata` (labels and
/// annotations of the Job) and `spec.spec` (the JobSpec, with the pod template).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kwf.dev",
    version = "v1alpha1",
    kind = "JobTemplate",
    plural = "jobtemplates",
    shortname = "kwfjt",
    namespaced,
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(transparent)]
pub struct JobTemplateBody(pub v1::JobTemplateSpec);

impl JsonSchema for JobTemplateBody {
    fn schema_name() -> Cow<'static, str> {
        "JobTemplateBody".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        crate::embedded_schema::stripped::<v1::JobTemplateSpec>(generator)
    }
}

/// A step's reference to a JobTemplate in the Workflow's namespace.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct JobTemplateRef {
    /// Name of the JobTemplate.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}
