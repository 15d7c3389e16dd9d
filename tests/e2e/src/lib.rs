//! Helpers shared by the end-to-end tests in `tests/e2e/tests/`, and the benchmark harness
//! ([`bench`]) of `cargo xtask bench`.

pub mod bench;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResourceExt};
use kwf_api::Workflow;

/// Installs (or updates) the Workflow CRD generated from the types and waits until the API
/// server serves it. Idempotent and safe to call from tests running concurrently.
pub async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Workflow::crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.patch(
        &name,
        &PatchParams::apply("kwf-e2e").force(),
        &Patch::Apply(&crd),
    )
    .await?;
    let established = await_condition(crds, &name, conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(30), established).await??;
    Ok(())
}
