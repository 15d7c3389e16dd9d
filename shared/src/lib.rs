//! The kwf Workflow API, shared by `workflow-controller` and `kubectl-workflow`:
//! the resource types, the generated CRD, `validate()` and the pure DAG engine.

mod adjacency;
pub mod crd;
pub mod dag;
mod dependencies_exist;
mod dependency_graph;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod job_template_schema;
pub mod limits;
pub mod names;
pub mod parse;
pub mod validate;
pub mod workflow;

pub use crd::crd_yaml;
pub use dag::Dag;
pub use limits::{Limits, MAX_DEPENDENCIES, MAX_STEP_NAME_LEN, MAX_STEPS};
pub use names::{MAX_LABEL_LEN, is_dns1123_label, job_name, label_value};
pub use parse::{ParseError, parse_workflows};
pub use validate::{Problem, ProblemKind, ValidationErrors, validate, validate_with};
pub use workflow::*;
