//! The kwf Workflow API, shared by `workflow-controller` and `kubectl-workflow`:
//! the resource types, the generated CRD, `validate()` and the pure DAG engine.

pub mod types;

pub use types::*;
