//! The harness of the end-to-end tests in `tests/e2e/tests/`, of the benchmark ([`bench`], run
//! by `cargo xtask bench`) and of `cargo xtask demo`: one controller runner ([`controller`]), one
//! test scene ([`scene`]) over one namespace maker ([`namespace`]), one set of workflows
//! ([`fixtures`]), the plugin runner ([`plugin`]), readers of the controller's metrics ([`metrics`])
//! and of watches ([`watch`]), and the object-by-object comparison of rendered manifests
//! ([`manifests`]).

pub mod bench;
pub mod controller;
pub mod fixtures;
pub mod in_cluster;
pub mod manifests;
pub mod metrics;
pub mod namespace;
pub mod plugin;
pub mod scene;
pub mod service_account;
pub mod watch;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};

pub use controller::{Controller, ControllerCommand, Lease};
pub use scene::Scene;

/// Installs (or updates) the CRDs generated from the types (Workflow, JobTemplate) and waits
/// until the API server serves them. Idempotent and safe to call from tests running concurrently.
pub async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in kwf_api::crd::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply("kwf-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established).await??;
    }
    Ok(())
}

/// A client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> anyhow::Result<Client> {
    let file = Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Runs a command to completion with no input; panics with its output unless it succeeded.
pub fn run_ok(command: &mut Command, what: &str) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
