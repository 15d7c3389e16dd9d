//! The kwf Workflow API, shared by `workflow-controller` and `kubectl-workflow`:
//! the resource types, the generated CRD, `validate()` and the pure DAG engine.

mod adjacency;
pub mod crd;
pub mod cron;
pub mod dag;
mod dependencies_exist;
mod dependency_graph;
mod embedded_schema;
pub mod fan_out;
mod fan_out_checks;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod item_group;
pub mod job;
pub mod job_template;
pub mod limits;
pub mod names;
pub mod params;
pub mod parse;
pub mod pod_defaults;
pub mod resource_trigger;
pub mod retries;
pub mod validate;
mod volume_checks;
mod volume_schema;
pub mod volumes;
pub mod workflow;
pub mod workflow_template;

pub use crd::crd_yaml;
pub use dag::Dag;
pub use job_template::{JobTemplate, JobTemplateBody, JobTemplateRef};
pub use limits::{Limits, MAX_DEPENDENCIES, MAX_STEP_NAME_LEN, MAX_STEPS};
pub use names::{MAX_LABEL_LEN, attempt_job_name, is_dns1123_label, job_name, label_value};
pub use parse::{ParseError, parse_workflows};
pub use pod_defaults::PodDefaults;
pub use retries::RetryPolicy;
pub use validate::{Problem, ProblemKind, ValidationErrors, validate, validate_with};
pub use volumes::{VolumeClaimPolicy, VolumeClaimTemplate, claim_name};
pub use workflow::*;
pub use workflow_template::{
    Instance, TemplateError, WorkflowTemplate, WorkflowTemplateRef, WorkflowTemplateSpec,
    instantiate, validate_template,
};
