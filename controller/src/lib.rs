//! The kwf workflow controller.
//!
//! A functional core ([`core`]: what to do, given a Workflow and its Jobs) inside an imperative
//! shell (everything else: watching, applying effects, leader election, metrics). The core
//! imports nothing from the shell. `docs/architecture.md` draws the whole path of an event.

pub mod core;

pub mod backoff;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod job_cache;
pub mod job_watch;
pub mod leader;
pub mod metrics;
pub mod node_list;
pub mod rate_limit;
pub mod reconcile;
pub mod resource_triggers;
pub mod server;
pub mod status_writes;
pub mod telemetry;
pub mod template_runs;
pub mod templates;
pub mod term;
pub mod volume_watch;
pub mod wiring;
pub mod workflows;

pub use config::Config;
pub use error::{ReconcileError, StartError};
pub use wiring::serve;
