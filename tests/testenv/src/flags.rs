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
/// controller; the token controller keeps ServiceAccount token Secrets working.
pub const CONTROLLERS: [&str; 5] = [
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
];

/// The range Services get their cluster IPs from (`kubernetes` gets the first: 10.0.0.1).
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";

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
            "--authorization-mode=RBAC".into(),
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
            format!(
                "--service-account-private-key-file={}",
                path(&pki.service_account_key)
            ),
            format!("--root-ca-file={}", path(&pki.ca_cert)),
            "--profiling=false".into(),
        ]
    }
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
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
            "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none",
        ] {
            assert!(
                flags.iter().any(|flag| flag == expected),
                "missing {expected} in {flags:?}"
            );
        }
        assert!(
            !flags
                .iter()
                .any(|flag| flag.contains("disable-admission-plugins"))
        );
    }

    #[test]
    fn controller_manager_runs_only_the_needed_controllers_without_serving() {
        let flags = layout().controller_manager();
        assert!(flags.contains(&"--controllers=job-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller".to_string()));
        assert!(flags.contains(&"--secure-port=0".to_string()));
        assert!(flags.contains(&"--leader-elect=false".to_string()));
        assert!(flags.contains(&"--kubeconfig=/s/kubeconfig".to_string()));
    }
}
