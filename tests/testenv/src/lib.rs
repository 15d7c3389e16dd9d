//! A real, local Kubernetes control plane for tests and the demo.
//!
//! etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from the upstream Go modules
//! pinned in `tests/testenv/go` (first build: minutes; then cached) and run as child processes on free loopback
//! ports; two process kubelets of `kwf-kubelet` register `kwf-node` and `kwf-node-2` and run pods' commands as
//! host processes (a test runtime: container images are ignored); the [`node`] module adds the real node
//! (containerd + runc + kubelet) where the machine can run it. Which pods go where: `tests/testenv/README.md`.
//!
//! Tests use [`TestEnv::shared`]; `cargo xtask testenv up|down` keeps one control plane running across test
//! runs, and [`ControlPlane`] starts one in a given directory.

mod binaries;
mod control_plane;
mod env;
mod error;
pub mod flags;
pub mod helm;
mod kubeconfig;
pub mod node;
pub mod oci;
pub mod pki;
pub mod pods;
mod ports;
mod process;
pub mod state;
mod supervisor;

pub use binaries::{build_script, ensure as ensure_binaries};
pub use control_plane::{ControlPlane, NODE_NAME, NODE_TAINT_KEY, SECOND_NODE_NAME};
pub use env::{TestEnv, workspace_bin};
pub use error::Error;
