//! [`ControlPlane`]: start and stop one control plane in a state directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Taint;
use kwf_kubelet::KubeletConfig;
use tokio::sync::oneshot;

use crate::flags::Layout;
use crate::pki::Pki;
use crate::{Error, binaries, kubeconfig, ports, supervisor};

/// The name of the first process Node, untainted: kube-scheduler places every pod that asks for nothing here.
pub const NODE_NAME: &str = "kwf-node";
/// The second process Node, tainted `kwf.dev/node=kwf-node-2:NoSchedule` so that only pods that ask for it
/// (a toleration, or `nodeName`) land there.
pub const SECOND_NODE_NAME: &str = "kwf-node-2";
/// The taint key that keeps ordinary pods off [`SECOND_NODE_NAME`].
pub const NODE_TAINT_KEY: &str = "kwf.dev/node";
/// How many times a start is tried when a picked port was taken before a component could bind it.
const PORT_CLASH_ATTEMPTS: usize = 3;

/// A running control plane: etcd, kube-apiserver and kube-controller-manager child processes, and the process
/// kubelet on a thread of its own. Stopped by [`ControlPlane::stop`] or on drop; its children also die with
/// the process (PR_SET_PDEATHSIG) if it never gets to either.
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
    apiserver_url: String,
    ready_in: Duration,
    shutdown: Option<oneshot::Sender<()>>,
    owner: Option<JoinHandle<Result<(), Error>>>,
}

impl ControlPlane {
    /// Builds or reuses the Go binaries (tests/testenv/go/build.sh), makes certificates, starts every component
    /// on free loopback ports and waits until `/readyz` is ok, the `default` ServiceAccount exists and the Node
    /// is Ready. `dir` receives certificates, the kubeconfig, data and `logs/*.log`.
    pub fn start(dir: &Path) -> Result<ControlPlane, Error> {
        let bin_dir = binaries::ensure()?;
        let mut attempt = 1;
        loop {
            match Self::start_with(dir, &bin_dir) {
                Err(error) if error.is_port_clash() && attempt < PORT_CLASH_ATTEMPTS => {
                    tracing::warn!("retrying with other ports: {error}");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    fn start_with(dir: &Path, bin_dir: &Path) -> Result<ControlPlane, Error> {
        let started = Instant::now();
        let dir = fs::create_dir_all(dir)
            .and_then(|()| fs::canonicalize(dir))
            .map_err(|e| Error::io("cannot create the state directory", dir, e))?;
        let kubelet_dir = dir.join("kubelet");
        // Every start is a new cluster: no data or container logs from a previous one.
        for stale in [dir.join("etcd"), kubelet_dir.clone()] {
            if stale.exists() {
                fs::remove_dir_all(&stale).map_err(|e| Error::io("cannot remove", &stale, e))?;
            }
        }
        for fresh in [dir.join("logs"), kubelet_dir.clone()] {
            fs::create_dir_all(&fresh).map_err(|e| Error::io("cannot create", &fresh, e))?;
        }
        let pki = Pki::generate(NODE_NAME, crate::node::REAL_NODE_NAME)?;
        let layout = Layout {
            bin_dir: bin_dir.to_path_buf(),
            pki: pki.write(&dir.join("pki"))?,
            ports: ports::pick()?,
            kubeconfig: dir.join("kubeconfig"),
            dir: dir.clone(),
        };
        let text = kubeconfig::render(
            &layout.apiserver_url(),
            &layout.pki.ca_cert,
            &layout.pki.admin_cert,
            &layout.pki.admin_key,
        );
        fs::write(&layout.kubeconfig, text)
            .map_err(|e| Error::io("cannot write", &layout.kubeconfig, e))?;
        let kubelets = process_nodes(&pki, &kubelet_dir);

        let (ready_tx, ready_rx) = mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let plane_layout = layout.clone();
        let owner = std::thread::Builder::new()
            .name("kwf-testenv-owner".into())
            .spawn(move || supervisor::run(plane_layout, kubelets, ready_tx, shutdown_rx))
            .map_err(|e| Error::io("cannot start the supervisor thread for", &dir, e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(ControlPlane {
                kubeconfig: layout.kubeconfig.clone(),
                apiserver_url: layout.apiserver_url(),
                bin_dir: layout.bin_dir,
                dir,
                ready_in: started.elapsed(),
                shutdown: Some(shutdown_tx),
                owner: Some(owner),
            }),
            Ok(Err(error)) => {
                let _ = owner.join();
                Err(error)
            }
            Err(_) => Err(Error::Supervisor(match owner.join() {
                Ok(_) => "it ended without reporting".into(),
                Err(panic) => panic_message(panic),
            })),
        }
    }

    /// The admin (`system:masters`) client-certificate kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The directory holding kubectl, kube-apiserver, kube-controller-manager and etcd.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The state directory given to [`ControlPlane::start`] (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where every component writes its log (`etcd.log`, `kube-apiserver.log`, ..., `kwf-kubelet.log`).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// `https://127.0.0.1:<port>`.
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// How long the start took, from the cached binaries to a Ready Node.
    pub fn ready_in(&self) -> Duration {
        self.ready_in
    }

    /// Stops the kubelet (which kills what it runs), then each component: SIGTERM, wait, SIGKILL.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), Error> {
        let Some(owner) = self.owner.take() else {
            return Ok(());
        };
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match owner.join() {
            Ok(outcome) => outcome,
            Err(panic) => Err(Error::Supervisor(panic_message(panic))),
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Err(error) = self.shut_down() {
            eprintln!("kwf-testenv: stopping the control plane: {error}");
        }
    }
}

/// The process nodes: [`NODE_NAME`] takes the pods that ask for no placement; [`SECOND_NODE_NAME`] is tainted
/// and only runs pods placed on it (by kube-scheduler or `nodeName`). Both carry `kwf.dev/runtime=process`.
fn process_nodes(pki: &Pki, kubelet_dir: &Path) -> Vec<KubeletConfig> {
    let labels = [(
        crate::node::RUNTIME_LABEL.to_string(),
        crate::node::RUNTIME_PROCESS.to_string(),
    )]
    .into();
    let node = |name: &str, taints: Vec<Taint>| KubeletConfig {
        node_name: name.to_string(),
        listen: supervisor::kubelet_listen_address(),
        tls_cert_pem: pki.kubelet.cert_pem.clone(),
        tls_key_pem: pki.kubelet.key_pem.clone(),
        work_dir: kubelet_dir.join(name),
        labels: std::collections::BTreeMap::clone(&labels),
        taints,
    };
    let second_taint = Taint {
        key: NODE_TAINT_KEY.to_string(),
        value: Some(SECOND_NODE_NAME.to_string()),
        effect: "NoSchedule".to_string(),
        time_added: None,
    };
    vec![
        node(NODE_NAME, Vec::new()),
        node(SECOND_NODE_NAME, vec![second_taint]),
    ]
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "it panicked".into())
}
