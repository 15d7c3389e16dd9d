//! Command lines of the control-plane components: pure functions of where things live and which ports
//! were picked, so they can be read and tested without starting anything.

use std::path::{Path, PathBuf};

use crate::pki::PkiFiles;

/// Loopback ports picked for one start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub etcd_client: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
}

/// Everything the command lines depend on.
#[derive(Clone, Debug)]
pub struct Layout {
    pub bin_dir: PathBuf,
    /// The state directory: logs, data and certificates live below it.
    pub dir: PathBuf,
    pub ports: Ports,
    pub pki: PkiFiles,
    pub kubeconfig: PathBuf,
}

/// The controllers kube-controller-manager runs. Jobs need the job controller, cascading deletes the garbage
/// collector, namespace deletion the namespace controller; the ServiceAccount admission plugin stays on (as in
/// a real cluster) and needs every namespace's `default` ServiceAccount, made by the serviceaccount
/// controller; the token controller keeps ServiceAccount token Secrets working. The persistentvolume binder
/// binds claims and, with `--enable-hostpath-provisioner`, provisions host-path volumes for the StorageClass
/// [`HOSTPATH_STORAGE_CLASS`]; the two protection controllers lift the finalizers the admission plugin puts
/// on claims and volumes (without them a namespace with a claim never finishes deleting). The root-CA
/// publisher puts `kube-root-ca.crt` in every namespace, which every projected ServiceAccount token volume
/// mounts (a real kubelet cannot start a pod without it). The deployment and replicaset controllers run the
/// controller's own Deployment in the cluster (its in-cluster test).
///
/// No node-lifecycle controller: the process nodes send no leases, and it would taint them unreachable.
pub const CONTROLLERS: [&str; 11] = [
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
];

/// The range Services get their cluster IPs from: on loopback, so that no in-cluster client ever aims at a
/// private range off the machine. `kubernetes` gets the first address, [`KUBERNETES_SERVICE_IP`].
pub const SERVICE_CLUSTER_IP_RANGE: &str = "127.0.100.0/24";
/// The `kubernetes` Service's cluster IP (nothing routes it: there is no kube-proxy).
pub const KUBERNETES_SERVICE_IP: &str = "127.0.100.1";
/// The StorageClass the control plane creates (the default one): kube-controller-manager's host-path
/// provisioner, which makes each volume a directory `/tmp/hostpath_pv/<uid>` (a path upstream hard-codes).
pub const HOSTPATH_STORAGE_CLASS: &str = "kwf-hostpath";
/// The provisioner name of kube-controller-manager's host-path provisioner.
pub const HOSTPATH_PROVISIONER: &str = "kubernetes.io/host-path";

impl Layout {
    pub fn apiserver_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.apiserver)
    }

    pub fn etcd_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.etcd_client)
    }

    pub fn etcd_data_dir(&self) -> PathBuf {
        self.dir.join("etcd")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn etcd(&self) -> Vec<String> {
        vec![
            format!("--data-dir={}", path(&self.etcd_data_dir())),
            format!("--listen-client-url={}", self.etcd_url()),
            format!(
                "--listen-peer-url=http://127.0.0.1:{}",
                self.ports.etcd_peer
            ),
        ]
    }

    /// kube-apiserver flags after controller-runtime's envtest, with RBAC on and the kubelet's serving
    /// certificate checked against our CA.
    pub fn apiserver(&self) -> Vec<String> {
        let pki = &self.pki;
        vec![
            format!("--etcd-servers={}", self.etcd_url()),
            format!("--secure-port={}", self.ports.apiserver),
            "--bind-address=127.0.0.1".into(),
            // Without it an offline machine fails with "Unable to find suitable network address".
            "--advertise-address=127.0.0.1".into(),
            format!("--cert-dir={}", path(&self.dir.join("apiserver"))),
            format!("--tls-cert-file={}", path(&pki.apiserver_cert)),
            format!("--tls-private-key-file={}", path(&pki.apiserver_key)),
            format!("--client-ca-file={}", path(&pki.ca_cert)),
            // Node: the real node's kubelet acts as `system:node:127.0.0.1`.
            "--authorization-mode=Node,RBAC".into(),
            // That plugin taints every new Node not-ready until the node-lifecycle controller (not run here)
            // lifts it; the kubelets report readiness themselves.
            "--disable-admission-plugins=TaintNodesByCondition".into(),
            format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
            format!("--service-account-issuer={}/", self.apiserver_url()),
            format!(
                "--service-account-key-file={}",
                path(&pki.service_account_pub)
            ),
            format!(
                "--service-account-signing-key-file={}",
                path(&pki.service_account_key)
            ),
            "--allow-privileged=true".into(),
            // One apiserver, no real endpoints to reconcile for the `kubernetes` Service.
            "--endpoint-reconciler-type=none".into(),
            // `kubectl logs` goes to the process kubelet at the Node's InternalIP (127.0.0.1).
            "--kubelet-preferred-address-types=InternalIP".into(),
            format!("--kubelet-certificate-authority={}", path(&pki.ca_cert)),
            // The real kubelet authenticates the apiserver's `logs`/`exec` calls by client certificate.
            format!(
                "--kubelet-client-certificate={}",
                path(&pki.kubelet_client_cert)
            ),
            format!("--kubelet-client-key={}", path(&pki.kubelet_client_key)),
            "--profiling=false".into(),
        ]
    }

    /// kube-scheduler places every pod, as in a real cluster.
    pub fn scheduler(&self) -> Vec<String> {
        vec![
            format!("--kubeconfig={}", path(&self.kubeconfig)),
            "--leader-elect=false".into(),
            // No serving endpoint: nothing scrapes it and it would need another free port.
            "--secure-port=0".into(),
            "--kube-api-qps=200".into(),
            "--kube-api-burst=400".into(),
            "--profiling=false".into(),
        ]
    }

    pub fn controller_manager(&self) -> Vec<String> {
        let pki = &self.pki;
        vec![
            format!("--kubeconfig={}", path(&self.kubeconfig)),
            format!("--controllers={}", CONTROLLERS.join(",")),
            "--leader-elect=false".into(),
            "--use-service-account-credentials=false".into(),
            // No serving endpoint: nothing scrapes it and it would need another free port.
            "--secure-port=0".into(),
            // Tests create many objects quickly; the default client rate limit (20 qps) would slow them.
            "--kube-api-qps=500".into(),
            "--kube-api-burst=1000".into(),
            // The Job controller's 5 default workers spend most of their time waiting on the API
            // server (pod creates, finalizer patches, status updates); with a few Jobs finishing each
            // second a new Job queued behind them for 150 ms before its pod was created.
            "--concurrent-job-syncs=50".into(),
            format!(
                "--service-account-private-key-file={}",
                path(&pki.service_account_key)
            ),
            format!("--root-ca-file={}", path(&pki.ca_cert)),
            "--enable-hostpath-provisioner=true".into(),
            "--profiling=false".into(),
        ]
    }
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn layout() -> Layout {
        let pki = Path::new("/s/pki");
        Layout {
            bin_dir: "/bin".into(),
            dir: "/s".into(),
            ports: Ports {
                etcd_client: 2001,
                etcd_peer: 2002,
                apiserver: 6443,
            },
            pki: PkiFiles {
                ca_cert: pki.join("ca.crt"),
                apiserver_cert: pki.join("apiserver.crt"),
                apiserver_key: pki.join("apiserver.key"),
                admin_cert: pki.join("admin.crt"),
                admin_key: pki.join("admin.key"),
                kubelet_client_cert: pki.join("kc.crt"),
                kubelet_client_key: pki.join("kc.key"),
                kubelet_cert: pki.join("kubelet.crt"),
                kubelet_key: pki.join("kubelet.key"),
                node_client_cert: pki.join("node-client.crt"),
                node_client_key: pki.join("node-client.key"),
                service_account_key: pki.join("sa.key"),
                service_account_pub: pki.join("sa.pub"),
            },
            kubeconfig: "/s/kubeconfig".into(),
        }
    }

    #[test]
    fn etcd_listens_on_the_picked_loopback_ports() {
        assert_eq!(
            layout().etcd(),
            [
                "--data-dir=/s/etcd",
                "--listen-client-url=http://127.0.0.1:2001",
                "--listen-peer-url=http://127.0.0.1:2002",
            ]
        );
    }

    #[test]
    fn apiserver_uses_etcd_the_port_and_the_certificates() {
        let flags = layout().apiserver();
        for expected in [
            "--etcd-servers=http://127.0.0.1:2001",
            "--secure-port=6443",
            "--advertise-address=127.0.0.1",
            "--client-ca-file=/s/pki/ca.crt",
            "--tls-cert-file=/s/pki/apiserver.crt",
            "--service-account-issuer=https://127.0.0.1:6443/",
            "--service-account-signing-key-file=/s/pki/sa.key",
            "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=127.0.100.0/24",
            "--kubelet-client-certificate=/s/pki/kc.crt",
        ] {
            assert!(
                flags.iter().any(|flag| flag == expected),
                "missing {expected} in {flags:?}"
            );
        }
        // Only the node-taint plugin is off; ServiceAccount admission stays on.
        assert!(
            flags
                .iter()
                .filter(|flag| flag.contains("disable-admission-plugins"))
                .all(|flag| flag == "--disable-admission-plugins=TaintNodesByCondition")
        );
    }

    #[test]
    fn controller_manager_runs_only_the_needed_controllers_without_serving() {
        let flags = layout().controller_manager();
        assert!(flags.contains(&"--controllers=job-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,persistentvolume-binder-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,root-ca-certificate-publisher-controller,deployment-controller,replicaset-controller".to_string()));
        assert!(flags.contains(&"--enable-hostpath-provisioner=true".to_string()));
        assert!(flags.contains(&"--secure-port=0".to_string()));
        assert!(flags.contains(&"--leader-elect=false".to_string()));
        assert!(flags.contains(&"--kubeconfig=/s/kubeconfig".to_string()));
    }

    #[test]
    fn the_scheduler_uses_the_admin_kubeconfig_without_serving_or_election() {
        let flags = layout().scheduler();
        for expected in [
            "--kubeconfig=/s/kubeconfig",
            "--leader-elect=false",
            "--secure-port=0",
        ] {
            assert!(
                flags.iter().any(|flag| flag == expected),
                "missing {expected}"
            );
        }
    }
}
