//! A real, local Kubernetes control plane for tests and the demo.
//!
//! etcd, kube-apiserver and kube-controller-manager are built from the upstream Go modules pinned in
//! `tests/testenv/go` (first build: minutes; then cached) and run as child processes on free loopback ports;
//! the process kubelet of `kwf-kubelet` registers one Node and runs pods' commands as host processes (it is a
//! test runtime: container images are ignored).
//!
//! Tests use [`TestEnv::shared`]; `cargo xtask testenv up|down` keeps one control plane running across test
//! runs, and [`ControlPlane`] starts one in a given directory.

mod binaries;
mod control_plane;
mod env;
mod error;
pub mod flags;
mod kubeconfig;
pub mod oci;
pub mod pki;
mod ports;
mod process;
pub mod state;
mod supervisor;

pub use binaries::{build_script, ensure as ensure_binaries};
pub use control_plane::{ControlPlane, NODE_NAME};
pub use env::{TestEnv, workspace_bin};
pub use error::Error;
