//! The real kubelet's configuration file and command line: pure functions of the node's layout and port.

use std::path::Path;

use crate::pki::PkiFiles;

use super::layout::{NodeLayout, REAL_NODE_NAME, RUNTIME_CONTAINERS, RUNTIME_LABEL};

/// The kubelet's `KubeletConfiguration`. Non-defaults, each needed on this kind of machine (see
/// `shared/notes/real-node.md`): cgroupfs on cgroup v1 (`failCgroupV1: false`), `oomScoreAdj: 0` (no
/// CAP_SYS_RESOURCE), no iptables chains, a loopback-only `resolvConf`, no read-only port, serving and
/// webhook/x509 authentication on loopback with the plane's CA; image GC off so the images imported at
/// start-up stay; eviction thresholds low so a busy test machine does not evict pods.
pub fn config(layout: &NodeLayout, port: u16, pki: &PkiFiles) -> String {
    let p = |path: &Path| path.to_string_lossy().into_owned();
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {port}
readOnlyPort: 0
healthzPort: 0
healthzBindAddress: 127.0.0.1
containerRuntimeEndpoint: unix://{socket}
imageServiceEndpoint: unix://{socket}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
makeIPTablesUtilChains: false
protectKernelDefaults: false
resolvConf: {resolv}
podLogsDir: {pod_logs}
volumePluginDir: {volume_plugins}
tlsCertFile: {cert}
tlsPrivateKeyFile: {key}
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {ca}
authorization:
  mode: Webhook
enableControllerAttachDetach: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
nodeStatusUpdateFrequency: 4s
nodeStatusReportFrequency: 1m
syncFrequency: 10s
fileCheckFrequency: 5s
serializeImagePulls: false
registerNode: true
registerWithTaints:
  - key: {label}
    value: {value}
    effect: NoSchedule
staticPodPath: ""
clusterDomain: cluster.local
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
"#,
        socket = p(&layout.containerd_socket()),
        resolv = p(&layout.resolv_conf()),
        pod_logs = p(&layout.pod_logs()),
        volume_plugins = p(&layout.volume_plugins()),
        cert = p(&pki.kubelet_cert),
        key = p(&pki.kubelet_key),
        ca = p(&pki.ca_cert),
        label = RUNTIME_LABEL,
        value = RUNTIME_CONTAINERS,
    )
}

/// The kubelet's flags (what the config file cannot say).
pub fn flags(layout: &NodeLayout) -> Vec<String> {
    let p = |path: std::path::PathBuf| path.to_string_lossy().into_owned();
    vec![
        format!("--config={}", p(layout.kubelet_config())),
        format!("--kubeconfig={}", p(layout.kubelet_kubeconfig())),
        format!("--root-dir={}", p(layout.kubelet_root())),
        format!("--cert-dir={}", p(layout.dir.join("kubelet-certs"))),
        // An IP literal: taken as the InternalIP without a DNS lookup (`--node-ip=127.0.0.1` is refused).
        format!("--hostname-override={REAL_NODE_NAME}"),
        format!("--node-labels={RUNTIME_LABEL}={RUNTIME_CONTAINERS}"),
        "--v=1".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_has_the_non_defaults_this_machine_needs_and_our_paths() {
        let layout = NodeLayout::new(Path::new("/plane"));
        let pki = crate::flags::tests::layout().pki;
        let text = config(&layout, 10350, &pki);
        for expected in [
            "port: 10350",
            "address: 127.0.0.1",
            "readOnlyPort: 0",
            "failCgroupV1: false",
            "cgroupDriver: cgroupfs",
            "oomScoreAdj: 0",
            "makeIPTablesUtilChains: false",
            "resolvConf: /plane/node/resolv.conf",
            "containerRuntimeEndpoint: unix:///plane/node/containerd/containerd.sock",
            "clientCAFile: /s/pki/ca.crt",
            "tlsCertFile: /s/pki/kubelet.crt",
            "  - key: kwf.dev/runtime\n    value: containers\n    effect: NoSchedule",
        ] {
            assert!(text.contains(expected), "missing {expected:?}");
        }
    }

    #[test]
    fn the_node_is_named_by_its_loopback_address_and_labelled_as_containers() {
        let flags = flags(&NodeLayout::new(Path::new("/plane")));
        assert!(flags.contains(&"--hostname-override=127.0.0.1".to_string()));
        assert!(flags.contains(&"--root-dir=/plane/node/kubelet".to_string()));
        assert!(flags.contains(&"--node-labels=kwf.dev/runtime=containers".to_string()));
    }
}
