//! The admin kubeconfig: client-certificate authentication as `admin` in group `system:masters`.

use std::path::Path;

/// Renders a kubeconfig that points at `server` and refers to the certificate files by path.
pub fn render(server: &str, ca_cert: &Path, client_cert: &Path, client_key: &Path) -> String {
    // JSON strings are valid YAML scalars and escape any unusual character in a path.
    let quote = |path: &Path| serde_json::Value::from(path.to_string_lossy()).to_string();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kwf-testenv
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: admin
  user:
    client-certificate: {cert}
    client-key: {key}
contexts:
- name: kwf-testenv
  context:
    cluster: kwf-testenv
    user: admin
    namespace: default
current-context: kwf-testenv
",
        ca = quote(ca_cert),
        cert = quote(client_cert),
        key = quote(client_key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_kubeconfig_kube_can_read() {
        let text = render(
            "https://127.0.0.1:6443",
            Path::new("/pki/ca.crt"),
            Path::new("/pki/admin.crt"),
            Path::new("/pki dir/admin.key"),
        );
        let config = kube::config::Kubeconfig::from_yaml(&text).expect("valid kubeconfig");
        assert_eq!(config.current_context.as_deref(), Some("kwf-testenv"));
        let cluster = config.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/pki/ca.crt")
        );
        let user = config.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(user.client_key.as_deref(), Some("/pki dir/admin.key"));
    }
}
