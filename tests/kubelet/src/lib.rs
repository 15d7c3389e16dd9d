//! A process kubelet for tests (skeleton; being filled in).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where and how the kubelet serves and stores things.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    pub node_name: String,
    pub listen: SocketAddr,
    pub tls_cert_pem: String,
    pub tls_key_pem: String,
    pub work_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubelet: {0}")]
    Other(String),
}

pub async fn run(
    _client: kube::Client,
    _config: KubeletConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    shutdown.await;
    Ok(())
}
