//! Acting as a ServiceAccount from outside the cluster: a kubeconfig that carries a token of the
//! account from the TokenRequest API (the controller as its deployment's identity, or a user
//! without permissions).

use std::path::Path;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;

/// How long the tokens are valid: longer than any test.
const TOKEN_SECONDS: i64 = 3600;

/// Writes to `path` a kubeconfig for the cluster of `admin_kubeconfig` (its first cluster entry)
/// that authenticates as ServiceAccount `namespace/name` (which must exist) with a fresh token.
pub async fn write_kubeconfig(
    client: &Client,
    admin_kubeconfig: &Path,
    namespace: &str,
    name: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(TOKEN_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| anyhow::anyhow!("TokenRequest for {namespace}/{name}: {e}"))?
        .status
        .ok_or_else(|| {
            anyhow::anyhow!("no token in the TokenRequest status of {namespace}/{name}")
        })?
        .token;
    let admin = Kubeconfig::read_from(admin_kubeconfig)?;
    let cluster = admin
        .clusters
        .first()
        .ok_or_else(|| anyhow::anyhow!("no cluster in {}", admin_kubeconfig.display()))?;
    let user = format!("system:serviceaccount:{namespace}:{name}");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{ "name": user, "user": { "token": token } }],
        "contexts": [{
            "name": user,
            "context": { "cluster": cluster.name, "user": user },
        }],
        "current-context": user,
    });
    std::fs::write(path, config.to_string())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
