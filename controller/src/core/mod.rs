//! The functional core: the whole behaviour of the controller as one pure function,
//! [`decide`], and the building of the objects it asks for. No I/O and no import from the shell
//! (the rest of the crate): the shell observes, calls [`decide`] and applies its [`Effect`]s.
//!
//! Level-triggered: the answer depends only on the current state, so a missed event, a restart
//! of the controller or a repeated call changes nothing; calling decide() again with the status
//! and Jobs its effects produce yields no effect.
//!
//! # The order of effects
//!
//! A [`Decision`] lists its effects in this order, and the shell applies them in it, stopping
//! at the first error (the whole reconcile is then retried):
//!
//! 1. **creates** ([`Effect::Create`]): an object exists before the status names it, so a
//!    crash after the create is adopted, never taken for an object deleted by hand (claims
//!    before Jobs);
//! 2. **the status** ([`Effect::WriteStatus`], at most one): a step is recorded failed or reset
//!    before its Job is deleted, so the deletion is not taken for a Job deleted by hand;
//! 3. **deletes** ([`Effect::Delete`]; Jobs before claims);
//! 4. **relabels** ([`Effect::Relabel`]);
//! 5. **events** ([`Effect::Event`]): they describe what the status records, so they are
//!    published only once it is written.
//!
//! The shell may run consecutive creates in parallel. The test
//! `core::tests::start::effects_come_in_the_contract_order` enforces this order.
//!
//! One job per module: [`decide()`] (the order above), `reset` (new generation, restart
//! requests), `run_control` (stop and suspend requests), `steps` (Jobs -> step phases; what
//! starts, in which order, within `parallelism` and `maxParallel`; skipping), `attempts` (one
//! attempt of a step or a fan-out instance after another: retries and backoff), `nodes` (the nodes of a `withNodes` fan-out), `timeouts` (step
//! deadlines), `relabel` (the relabel cascade), `status` (phase, conditions, progress),
//! `messages` (what people read), `claims` (the claims of `volumeClaimTemplates`: created before
//! the steps that mount them, the node of a single-node claim, deleted by policy),
//! [`observed`] (what the shell saw: Jobs, claims, JobTemplates), [`effect`] (the vocabulary of
//! effects). The Job of a step is built by `kwf_api::job`, shared with the plugin.

mod attempts;
mod claims;
mod decide;
pub mod effect;
pub mod history;
pub mod item_group;
mod messages;
mod nodes;
pub mod observed;
mod relabel;
mod reset;
pub mod resource_trigger;
mod run_control;
pub mod schedule;
mod status;
mod steps;
pub mod template_run;
mod timeouts;

#[cfg(test)]
mod tests;

pub use claims::steps_on_single_node_claims;
pub use decide::decide;
pub use effect::{Decision, Effect, OwnedKind, OwnedObject, OwnedRef, WorkflowEvent};
pub use observed::{
    ContainerExit, JobState, Observed, ObservedClaim, ObservedJob, ObservedNode, needs_exit_code,
};
pub use steps::needs_nodes;
