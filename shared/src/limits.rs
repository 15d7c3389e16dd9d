//! How large a Workflow may be: the bounds the CRD's schema declares (`workflow.rs`) and
//! `validate()` checks, in one place so that the two never disagree.

/// Most steps a Workflow may have (also the CRD's `maxItems`): a 2,000-step workflow with its
/// status stays well below etcd's 1.5 MiB object limit, and the CEL rules stay within the
/// API server's cost budget.
pub const MAX_STEPS: usize = 2000;
/// Most entries a step's `dependsOn` may have (also the CRD's `maxItems`).
pub const MAX_DEPENDENCIES: usize = 100;
/// Longest `stepName`: leaves room in a 63-character Job name for a workflow name prefix,
/// the generation and the run.
pub const MAX_STEP_NAME_LEN: usize = 40;

/// Bounds `validate_with` checks. The defaults are the CRD's; larger ones exist so that the
/// engine can be exercised (and benchmarked) beyond what the API server admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_steps: usize,
    pub max_dependencies: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: MAX_STEPS,
            max_dependencies: MAX_DEPENDENCIES,
        }
    }
}
