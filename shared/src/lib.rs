//! The kwf Workflow API, shared by `workflow-controller` and `kubectl-workflow`:
//! the resource types, the generated CRD, `validate()` and the pure DAG engine.

mod adjacency;
mod cel;
pub mod crd;
pub mod dag;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod names;
pub mod parse;
mod schema;
pub mod types;
pub mod validate;

pub use crd::crd_yaml;
pub use dag::Dag;
pub use names::{MAX_LABEL_LEN, MAX_STEP_NAME_LEN, is_dns1123_label, job_name, label_value};
pub use parse::{ParseError, parse_workflows};
pub use types::*;
pub use validate::{
    Limits, MAX_DEPENDENCIES, MAX_STEPS, Problem, ProblemKind, ValidationErrors, validate,
    validate_with,
};
