//! Where the real node keeps its state under the control plane's folder, and the names it uses: pure, so
//! the configuration files can be read and tested without starting anything.

use std::path::{Path, PathBuf};

/// The real node's name: an IP literal, so the kubelet takes it as its InternalIP without a DNS lookup
/// (any other name makes it resolve itself through the host's resolver, off loopback).
pub const REAL_NODE_NAME: &str = "127.0.0.1";
/// The label (and taint key) that marks the real node; pods opt in with a nodeSelector and a toleration.
pub const RUNTIME_LABEL: &str = "kwf.dev/runtime";
/// The value of [`RUNTIME_LABEL`] on the real node.
pub const RUNTIME_CONTAINERS: &str = "containers";
/// The value of [`RUNTIME_LABEL`] on the process nodes.
pub const RUNTIME_PROCESS: &str = "process";
/// The name containerd's CRI plugin runs sandboxes from; imported before the kubelet starts.
pub const PAUSE_IMAGE: &str = "kwf.local/pause:1";
/// The busybox image built from Debian's busybox-static.
pub const BUSYBOX_IMAGE: &str = "kwf.local/busybox:1";
/// containerd's namespace for everything the CRI plugin (so the kubelet) sees.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// Paths of one real node, all below `<plane>/node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLayout {
    pub dir: PathBuf,
}

impl NodeLayout {
    pub fn new(plane_dir: &Path) -> NodeLayout {
        NodeLayout {
            dir: plane_dir.join("node"),
        }
    }

    pub fn containerd_config(&self) -> PathBuf {
        self.dir.join("containerd.toml")
    }
    pub fn containerd_root(&self) -> PathBuf {
        self.dir.join("containerd/root")
    }
    pub fn containerd_state(&self) -> PathBuf {
        self.dir.join("containerd/state")
    }
    pub fn containerd_opt(&self) -> PathBuf {
        self.dir.join("containerd/opt")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd/containerd.sock")
    }
    pub fn runc_root(&self) -> PathBuf {
        self.dir.join("runc")
    }
    pub fn cni_bin_dir(&self) -> PathBuf {
        self.dir.join("cni/bin")
    }
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.dir.join("cni/conf")
    }
    pub fn kubelet_root(&self) -> PathBuf {
        self.dir.join("kubelet")
    }
    pub fn kubelet_config(&self) -> PathBuf {
        self.dir.join("kubelet-config.yaml")
    }
    pub fn kubelet_kubeconfig(&self) -> PathBuf {
        self.dir.join("kubelet.kubeconfig")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
    pub fn pod_logs(&self) -> PathBuf {
        self.dir.join("pod-logs")
    }
    pub fn volume_plugins(&self) -> PathBuf {
        self.dir.join("volume-plugins")
    }
    /// Written once the Node is Ready ("Ready in 21.3 s").
    pub fn ready_file(&self) -> PathBuf {
        self.dir.join("ready")
    }
    /// Why the node is not running, one line, for tests that need it (written when it could not start).
    pub fn unavailable_file(&self) -> PathBuf {
        self.dir.join("unavailable")
    }
}

/// The text of [`NodeLayout::resolv_conf`]: the only resolver is on loopback (nothing answers there, so
/// names do not resolve, but no query ever leaves the machine).
pub const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions ndots:1 timeout:1 attempts:1\n";
