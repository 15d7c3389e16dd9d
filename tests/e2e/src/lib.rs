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

/// The address of the controller's /metrics server, from its start-up log line
/// (`serving /metrics, /healthz and /readyz address=...`); None until that line is written.
pub fn metrics_addr_in(log: &str) -> Option<&str> {
    log.lines()
        .find(|line| line.contains("serving /metrics"))
        .and_then(|line| line.split("address=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_metrics_address_is_read_from_the_start_up_line() {
        let log = "2026-11-21T10:00:00Z  INFO workflow_controller::run: serving /metrics, /healthz and /readyz address=127.0.0.1:40123\n\
                   2026-11-21T10:00:00Z  INFO workflow_controller::run: workflow-controller started";
        assert_eq!(super::metrics_addr_in(log), Some("127.0.0.1:40123"));
        assert_eq!(super::metrics_addr_in("starting"), None);
    }
}
