//! A process kubelet for tests.
//!
//! **This is a test runtime, not a container runtime.** It registers one Ready Node and runs each
//! container of the pods that kube-scheduler binds to it: its `command` + `args` as a host process with
//! the container's `env` and `workingDir`. Images are ignored: a container without `command` runs its `args` as
//! the command, and one with neither fails with reason `NoCommand`. Volumes, probes, resources, security
//! contexts and networking are ignored; every pod has IP 127.0.0.1.
//!
//! Pod status is reported as a real kubelet does (Pending while init containers run, Running with container
//! states, then Succeeded or Failed with `state.terminated.exitCode`, in as few writes as the real one);
//! `restartPolicy` and `activeDeadlineSeconds` are honoured; a deleted pod's processes get SIGTERM, the grace period, SIGKILL, and the pod is then deleted for good.
//! Container output is kept in `{work_dir}/logs/{ns}/{pod}/{container}.log` (restarts append) and served at
//! `https://127.0.0.1:<port>/containerLogs/{ns}/{pod}/{container}`, which is what `kubectl logs` reaches
//! through the API server.
//!
//! Every container process runs in its own process group and is SIGKILLed when the kubelet's process dies
//! (`PR_SET_PDEATHSIG`) or when [`run`] returns.

mod logs;
mod node;
mod pod;
mod process;
mod runtime;
mod spec;
mod status;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Taint;
use tokio::sync::watch;

/// Where and how the kubelet serves and stores things.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The Node's name, e.g. "kwf-node".
    pub node_name: String,
    /// Address of the HTTPS log endpoint; port 0 picks a free one, and the bound port is registered.
    pub listen: SocketAddr,
    /// Self-signed serving certificate (IP SAN 127.0.0.1) for the log endpoint, PEM.
    pub tls_cert_pem: String,
    pub tls_key_pem: String,
    /// Holds `logs/` and the pods' default working directories.
    pub work_dir: PathBuf,
    /// Extra Node labels (beside `kubernetes.io/hostname`, `/os` and `/arch`).
    pub labels: BTreeMap<String, String>,
    /// The Node's taints (kept on every start).
    pub taints: Vec<Taint>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubelet: log endpoint TLS: {0}; pass a PEM certificate and its private key")]
    Tls(String),
    #[error(
        "kubelet: cannot listen on {addr}: {source}; pick a free address (127.0.0.1:0 lets the system choose)"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("kubelet: cannot create work dir {path}: {source}")]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "kubelet: registering Node {node:?} failed: {source}; check that the API server is up and the client may write nodes"
    )]
    RegisterNode { node: String, source: kube::Error },
}

/// Registers a Ready Node, runs the containers of the pods bound to it as host processes, serves logs,
/// until `shutdown` resolves; then kills what it runs. Errors are one-line and name what failed.
pub async fn run(
    client: kube::Client,
    config: KubeletConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    std::fs::create_dir_all(&config.work_dir).map_err(|source| Error::WorkDir {
        path: config.work_dir.clone(),
        source,
    })?;
    let acceptor = logs::server::tls_acceptor(&config.tls_cert_pem, &config.tls_key_pem)?;
    let listen_failed = |source| Error::Listen {
        addr: config.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(listen_failed)?;
    let port = listener.local_addr().map_err(listen_failed)?.port();
    let mut node = node::node_object(&config.node_name, port, jiff::Timestamp::now());
    node::customize(&mut node, &config.labels, &config.taints);
    node::register(&client, &node).await?;
    tracing::info!(node = %config.node_name, port, "kubelet: node registered");

    let log_store = logs::LogStore::new(config.work_dir.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    let server = tokio::spawn(logs::server::serve(
        listener,
        acceptor,
        log_store.clone(),
        stopped(),
    ));
    let heartbeat = tokio::spawn(node::keep_ready(client.clone(), config.node_name.clone()));
    let shared = Arc::new(pod::Node {
        client,
        logs: log_store,
        work_dir: config.work_dir.clone(),
    });
    let runtime = runtime::run(shared, &config.node_name, stopped());
    tokio::pin!(runtime);
    tokio::select! {
        () = shutdown => {}
        () = &mut runtime => {}
    }
    stop_tx.send_replace(true);
    runtime.await;
    heartbeat.abort();
    let _ = server.await;
    tracing::info!(node = %config.node_name, "kubelet: stopped");
    Ok(())
}
