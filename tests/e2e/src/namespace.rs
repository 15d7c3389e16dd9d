//! Namespaces for a test, a benchmark scenario or the demo: made fresh (or made again), and usable
//! for pods before they are handed out.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};

/// Label on every namespace made by [`fresh`], so leftovers of test runs can be found.
pub const TEST_NAMESPACE_LABEL: &str = "kwf.dev/test-namespace";

/// How long a namespace may take to become usable, or to disappear.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Creates a namespace `<prefix>-<5 random characters>` (the API server picks a free name) and
/// returns its name once pods can be created in it.
pub async fn fresh(client: &Client, prefix: &str) -> anyhow::Result<String> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            generate_name: Some(format!("{prefix}-")),
            labels: Some([(TEST_NAMESPACE_LABEL.to_owned(), "true".to_owned())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create a namespace {prefix}-...: {e}"))?;
    let name = created.name_any();
    wait_usable(client, &name).await?;
    Ok(name)
}

/// Deletes namespace `name` with everything in it (if it exists), waits until it is gone, and
/// creates it again, empty and usable.
pub async fn recreate(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Some(old) = namespaces.get_opt(name).await? {
        namespaces.delete(name, &DeleteParams::default()).await?;
        let uid = old.uid().unwrap_or_default();
        let gone = await_condition(namespaces.clone(), name, conditions::is_deleted(&uid));
        tokio::time::timeout(TIMEOUT, gone).await.map_err(|_| {
            anyhow::anyhow!("namespace {name} was not deleted within {TIMEOUT:?}: look at `kubectl get namespace {name} -o yaml`")
        })??;
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create namespace {name}: {e}"))?;
    wait_usable(client, name).await
}

/// Waits until the namespace's `default` ServiceAccount exists: the ServiceAccount admission
/// plugin rejects pods until kube-controller-manager has made it.
async fn wait_usable(client: &Client, name: &str) -> anyhow::Result<()> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    let made = await_condition(accounts, "default", |account: Option<&ServiceAccount>| {
        account.is_some()
    });
    tokio::time::timeout(TIMEOUT, made).await.map_err(|_| {
        anyhow::anyhow!(
            "namespace {name} got no default ServiceAccount within {TIMEOUT:?}: is kube-controller-manager running?"
        )
    })??;
    Ok(())
}
