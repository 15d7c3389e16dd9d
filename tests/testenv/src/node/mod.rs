//! The real node: containerd, runc and a real kubelet (v1.35, built with the other Go binaries) beside the
//! process nodes, with its state under `<plane>/node`, pods on a loopback-only network (the `kwf-loopback`
//! CNI plugin), images built here, and a stop that undoes every host change (mounts, cgroups, sysctls,
//! files outside the folder).
//!
//! It starts after the control plane is ready, so an ordinary start is not slowed down; tests that need it
//! wait for it with [`crate::TestEnv::real_node`], which fails with the one-line reason when this machine
//! cannot run it (not root, no cgroups, containerd missing and no apt-get, another plane on the host owns
//! it). One real node runs per host: the kubelet writes fixed host paths and cgroups.

mod cni;
mod containerd;
mod host;
mod images;
mod kubelet;
mod layout;
mod no_registry;

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::flags::Layout;
use crate::process::Component;

pub use host::{HOST_PATHS, KUBELET_SYSCTLS};
pub use host::{HostBefore, REAL_NODE_ENV, mounts_below, pod_processes, shim_processes};
pub use layout::{
    BUSYBOX_IMAGE, NodeLayout, PAUSE_IMAGE, REAL_NODE_NAME, RUNTIME_CONTAINERS, RUNTIME_LABEL,
    RUNTIME_PROCESS,
};
pub use no_registry::refusal as image_refusal;

const CONTAINERD: &str = "containerd";
const KUBELET: &str = "kubelet";
/// Registration to Ready takes about 20 s on this kind of machine; a loaded one needs more.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const CONTAINERD_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A real node being started or running. [`RealNode::stop`] undoes everything [`RealNode::start`] did.
pub struct RealNode {
    layout: NodeLayout,
    plane: Layout,
    log_dir: PathBuf,
    lock: Option<File>,
    host_before: Option<HostBefore>,
    containerd: Option<Component>,
    kubelet: Option<Component>,
    images: no_registry::NodeImages,
}

impl RealNode {
    /// Checks the machine (installing containerd and runc with apt-get when they are missing) and takes the
    /// host's real-node lock; the error is the one-line reason it cannot run here.
    pub fn prepare(plane: &Layout) -> Result<RealNode, String> {
        if let Some(reason) = host::unavailable_reason() {
            return Err(reason);
        }
        let layout = NodeLayout::new(&plane.dir);
        let lock = take_host_lock(&plane.dir)?;
        // A previous run in this folder that was killed may have left mounts: the folder goes only after them.
        host::unmount_below(&layout.dir);
        if layout.dir.exists() {
            fs::remove_dir_all(&layout.dir)
                .map_err(|e| format!("cannot remove the old {}: {e}", layout.dir.display()))?;
        }
        Ok(RealNode {
            layout,
            plane: plane.clone(),
            log_dir: plane.log_dir(),
            lock: Some(lock),
            host_before: None,
            containerd: None,
            kubelet: None,
            images: Default::default(),
        })
    }

    pub fn layout(&self) -> &NodeLayout {
        &self.layout
    }

    /// Writes the configuration, starts containerd, imports the images, starts the kubelet and waits until
    /// the Node is Ready. Call on the thread that owns the control plane (the children die with it).
    pub async fn start(&mut self, client: &kube::Client) -> Result<Duration, String> {
        let started = Instant::now();
        let archives = tokio::task::spawn_blocking(images::ensure)
            .await
            .map_err(|e| format!("building the images: {e}"))??;
        let proxy = no_registry::start(self.images.clone())
            .await
            .map_err(|e| format!("cannot listen for the no-registry proxy: {e}"))?;
        let kubelet_port = free_port()?;
        self.write_files(kubelet_port)?;
        self.host_before = Some(HostBefore::record());

        let path = std::env::var("PATH").unwrap_or_default();
        let path = format!("{path}:/usr/local/sbin:/usr/sbin:/sbin");
        let proxy_url = format!("http://{proxy}");
        let containerd_env = [
            ("PATH", path.clone()),
            ("HTTP_PROXY", proxy_url.clone()),
            ("HTTPS_PROXY", proxy_url.clone()),
            ("http_proxy", proxy_url.clone()),
            ("https_proxy", proxy_url),
            ("NO_PROXY", String::new()),
            ("no_proxy", String::new()),
        ];
        let containerd_program = host::find_program(CONTAINERD).ok_or("containerd is missing")?;
        let ctr = host::find_program("ctr").ok_or("ctr is missing")?;
        let containerd = self.containerd.insert(
            Component::spawn_with_env(
                CONTAINERD,
                &containerd_program,
                &[
                    "--config".into(),
                    self.layout
                        .containerd_config()
                        .to_string_lossy()
                        .into_owned(),
                ],
                &containerd_env,
                &self.log_dir.join("containerd.log"),
            )
            .map_err(|e| e.to_string())?,
        );
        let socket = self.layout.containerd_socket();
        let deadline = Instant::now() + CONTAINERD_TIMEOUT;
        loop {
            containerd.check_alive().map_err(|e| e.to_string())?;
            let answered = Command::new(&ctr)
                .arg("--address")
                .arg(&socket)
                .arg("version")
                .output()
                .is_ok_and(|output| output.status.success());
            if answered {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "containerd did not answer on {} within {} s (log: {})",
                    socket.display(),
                    CONTAINERD_TIMEOUT.as_secs(),
                    containerd.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        images::import(&ctr, &socket, &archives)?;
        let listed = images::list(&ctr, &socket)?;
        if let Ok(mut images) = self.images.write() {
            *images = listed;
        }

        let kubelet = self.kubelet.insert(
            Component::spawn_with_env(
                KUBELET,
                &self.plane.bin_dir.join(KUBELET),
                &kubelet::flags(&self.layout),
                &[("PATH", path)],
                &self.log_dir.join("kubelet.log"),
            )
            .map_err(|e| e.to_string())?,
        );
        let nodes: Api<Node> = Api::all(client.clone());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            kubelet.check_alive().map_err(|e| e.to_string())?;
            if let Some(containerd) = self.containerd.as_mut() {
                containerd.check_alive().map_err(|e| e.to_string())?;
            }
            let node = nodes.get_opt(REAL_NODE_NAME).await.ok().flatten();
            if node.as_ref().is_some_and(is_ready) {
                let ready_in = started.elapsed();
                let _ = fs::write(
                    self.layout.ready_file(),
                    format!("Ready in {:.1} s\n", ready_in.as_secs_f64()),
                );
                return Ok(ready_in);
            }
            if Instant::now() >= deadline {
                let state = if node.is_some() {
                    "registered but not Ready"
                } else {
                    "not registered"
                };
                return Err(format!(
                    "Node {REAL_NODE_NAME} is {state} after {} s (log: {})",
                    READY_TIMEOUT.as_secs(),
                    kubelet.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn write_files(&self, kubelet_port: u16) -> Result<(), String> {
        let layout = &self.layout;
        for dir in [
            layout.containerd_root(),
            layout.containerd_state(),
            layout.containerd_opt(),
            layout.runc_root(),
            layout.cni_bin_dir(),
            layout.cni_conf_dir(),
            layout.kubelet_root(),
            layout.pod_logs(),
            layout.volume_plugins(),
        ] {
            fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let pki = &self.plane.pki;
        let kubeconfig = crate::kubeconfig::render(
            &self.plane.apiserver_url(),
            &pki.ca_cert,
            &pki.node_client_cert,
            &pki.node_client_key,
        );
        let files = [
            (layout.containerd_config(), containerd::config(layout)),
            (
                layout.kubelet_config(),
                kubelet::config(layout, kubelet_port, pki),
            ),
            (layout.kubelet_kubeconfig(), kubeconfig),
            (layout.resolv_conf(), layout::RESOLV_CONF.to_string()),
            (layout.cni_conf_dir().join(cni::CONF_FILE), cni::conf()),
        ];
        for (path, text) in files {
            fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        cni::install_plugin(&layout.cni_bin_dir())
    }

    /// Writes why the node is not running where tests look for it.
    pub fn record_unavailable(plane_dir: &Path, reason: &str) {
        let layout = NodeLayout::new(plane_dir);
        let _ = fs::create_dir_all(&layout.dir);
        let _ = fs::write(layout.unavailable_file(), format!("{reason}\n"));
    }

    /// Stops the kubelet, the pods, containerd and its shims, unmounts everything below the node's folder and
    /// restores the host; returns what could not be undone, one line each.
    pub fn stop(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(mut kubelet) = self.kubelet.take() {
            kubelet.signal_terminate();
            kubelet.wait_or_kill(STOP_GRACE);
        }
        let survivors = host::kill_until_gone(host::pod_processes, STOP_GRACE);
        if !survivors.is_empty() {
            problems.push(format!("pod processes still running: {survivors:?}"));
        }
        if let Some(mut containerd) = self.containerd.take() {
            containerd.signal_terminate();
            containerd.wait_or_kill(STOP_GRACE);
        }
        let socket = self.layout.containerd_socket();
        let survivors = host::kill_until_gone(|| host::shim_processes(&socket), STOP_GRACE);
        if !survivors.is_empty() {
            problems.push(format!("containerd shims still running: {survivors:?}"));
        }
        let mounts = host::unmount_below(&self.layout.dir);
        if !mounts.is_empty() {
            problems.push(format!("still mounted: {mounts:?}"));
        }
        if let Some(before) = self.host_before.take() {
            problems.extend(before.restore(&self.layout.dir));
        }
        let _ = fs::remove_file(self.layout.ready_file());
        self.lock = None;
        problems
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        if self.lock.is_some() {
            for problem in self.stop() {
                eprintln!("kwf-testenv: stopping the real node: {problem}");
            }
        }
    }
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free loopback port for the kubelet: {e}"))
}

/// One real node per host: an exclusive lock on `~/.cache/kwf/real-node.lock`, holding the owner's folder.
fn take_host_lock(plane_dir: &Path) -> Result<File, String> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let path = images::cache_dir().join("real-node.lock");
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        let mut owner = String::new();
        let _ = file.read_to_string(&mut owner);
        return Err(format!(
            "another control plane on this host runs the real node ({}); stop it with `cargo xtask testenv down` in that folder",
            owner.trim()
        ));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", plane_dir.display());
    Ok(file)
}

/// Whether the real node of the plane in `plane_dir` is Ready, or why it is not running (one line), or
/// `None` while it is still starting.
pub fn availability(plane_dir: &Path) -> Option<Result<String, String>> {
    let layout = NodeLayout::new(plane_dir);
    if let Ok(reason) = fs::read_to_string(layout.unavailable_file()) {
        return Some(Err(reason.trim().to_string()));
    }
    fs::read_to_string(layout.ready_file())
        .ok()
        .map(|text| Ok(text.trim().to_string()))
}

/// Forgets the real node's status of an earlier start in this folder.
pub fn clear_status(plane_dir: &Path) {
    let layout = NodeLayout::new(plane_dir);
    let _ = fs::remove_file(layout.ready_file());
    let _ = fs::remove_file(layout.unavailable_file());
}
