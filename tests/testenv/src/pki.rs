//! Certificates and keys of the control plane, made fresh for every start: one ECDSA P-256 CA signs the
//! apiserver's serving certificate, the admin client certificate (group `system:masters`), the kubelets'
//! serving certificate, the real node's client certificate (`system:node:127.0.0.1`, group `system:nodes`)
//! and the apiserver's client certificate towards kubelets; a separate key pair signs ServiceAccount tokens.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use crate::Error;

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// All credentials of one control plane, in memory.
pub struct Pki {
    pub ca: CertifiedKey,
    pub apiserver: CertifiedKey,
    pub admin: CertifiedKey,
    pub kubelet: CertifiedKey,
    /// The real node's kubelet talks to the apiserver as `system:node:<name>` (Node authorizer).
    pub node_client: CertifiedKey,
    /// kube-apiserver talks to kubelets (logs, exec) as a `system:masters` member, which kubelet webhook
    /// authorization lets through.
    pub kubelet_client: CertifiedKey,
    pub service_account_key_pem: String,
    pub service_account_pub_pem: String,
}

/// Where [`Pki::write`] put each file.
#[derive(Clone, Debug)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub kubelet_client_cert: PathBuf,
    pub kubelet_client_key: PathBuf,
    /// The kubelets' serving certificate (the real kubelet reads it from here).
    pub kubelet_cert: PathBuf,
    pub kubelet_key: PathBuf,
    pub node_client_cert: PathBuf,
    pub node_client_key: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_pub: PathBuf,
}

/// Names the apiserver is reached by: loopback for clients, the in-cluster names and the first service IP
/// (127.0.100.1 in [`crate::flags::SERVICE_CLUSTER_IP_RANGE`]) for anything that uses the `kubernetes`
/// Service.
const APISERVER_NAMES: [&str; 7] = [
    "localhost",
    "127.0.0.1",
    crate::flags::KUBERNETES_SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

impl Pki {
    /// Generates a fresh CA and every certificate; `node_name` goes into the kubelet's serving certificate,
    /// `real_node_name` into the real node's client certificate.
    pub fn generate(node_name: &str, real_node_name: &str) -> Result<Pki, Error> {
        let ca_key = new_key("CA")?;
        let mut ca_params = params("CA", &[])?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kwf-testenv-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|source| Error::Certificate { what: "CA", source })?;
        let ca = CertifiedKey {
            cert_pem: ca_cert.pem(),
            key_pem: ca_key.serialize_pem(),
        };
        let issuer = Issuer::new(ca_params, ca_key);

        let apiserver = leaf(
            "apiserver serving",
            &APISERVER_NAMES,
            "kube-apiserver",
            None,
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        )?;
        let admin = leaf(
            "admin client",
            &[],
            "admin",
            Some("system:masters"),
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        )?;
        let kubelet = leaf(
            "kubelet serving",
            &["127.0.0.1", "localhost", node_name],
            node_name,
            None,
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        )?;
        let node_client = leaf(
            "node client",
            &[],
            &format!("system:node:{real_node_name}"),
            Some("system:nodes"),
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        )?;
        let kubelet_client = leaf(
            "apiserver kubelet client",
            &[],
            "kube-apiserver-kubelet-client",
            Some("system:masters"),
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        )?;
        let service_account = new_key("service-account signing")?;
        Ok(Pki {
            ca,
            apiserver,
            admin,
            kubelet,
            node_client,
            kubelet_client,
            service_account_key_pem: service_account.serialize_pem(),
            service_account_pub_pem: service_account.public_key_pem(),
        })
    }

    /// Writes the files the components read into `dir` (private keys readable by the owner only).
    pub fn write(&self, dir: &Path) -> Result<PkiFiles, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        let files = PkiFiles {
            ca_cert: dir.join("ca.crt"),
            apiserver_cert: dir.join("apiserver.crt"),
            apiserver_key: dir.join("apiserver.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            kubelet_client_cert: dir.join("apiserver-kubelet-client.crt"),
            kubelet_client_key: dir.join("apiserver-kubelet-client.key"),
            kubelet_cert: dir.join("kubelet.crt"),
            kubelet_key: dir.join("kubelet.key"),
            node_client_cert: dir.join("node-client.crt"),
            node_client_key: dir.join("node-client.key"),
            service_account_key: dir.join("service-account.key"),
            service_account_pub: dir.join("service-account.pub"),
        };
        write_file(&files.ca_cert, &self.ca.cert_pem, 0o644)?;
        write_file(&dir.join("ca.key"), &self.ca.key_pem, 0o600)?;
        write_file(&files.apiserver_cert, &self.apiserver.cert_pem, 0o644)?;
        write_file(&files.apiserver_key, &self.apiserver.key_pem, 0o600)?;
        write_file(&files.admin_cert, &self.admin.cert_pem, 0o644)?;
        write_file(&files.admin_key, &self.admin.key_pem, 0o600)?;
        write_file(
            &files.kubelet_client_cert,
            &self.kubelet_client.cert_pem,
            0o644,
        )?;
        write_file(
            &files.kubelet_client_key,
            &self.kubelet_client.key_pem,
            0o600,
        )?;
        write_file(&files.kubelet_cert, &self.kubelet.cert_pem, 0o644)?;
        write_file(&files.kubelet_key, &self.kubelet.key_pem, 0o600)?;
        write_file(&files.node_client_cert, &self.node_client.cert_pem, 0o644)?;
        write_file(&files.node_client_key, &self.node_client.key_pem, 0o600)?;
        write_file(
            &files.service_account_key,
            &self.service_account_key_pem,
            0o600,
        )?;
        write_file(
            &files.service_account_pub,
            &self.service_account_pub_pem,
            0o644,
        )?;
        Ok(files)
    }
}

fn new_key(what: &'static str) -> Result<KeyPair, Error> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|source| Error::Certificate { what, source })
}

fn params(what: &'static str, names: &[&str]) -> Result<CertificateParams, Error> {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    CertificateParams::new(names).map_err(|source| Error::Certificate { what, source })
}

fn leaf(
    what: &'static str,
    names: &[&str],
    common_name: &str,
    organization: Option<&str>,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<CertifiedKey, Error> {
    let key = new_key(what)?;
    let mut leaf_params = params(what, names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        leaf_params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
    }
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![usage];
    leaf_params.use_authority_key_identifier_extension = true;
    let cert = leaf_params
        .signed_by(&key, issuer)
        .map_err(|source| Error::Certificate { what, source })?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

pub(crate) fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), Error> {
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io("cannot create", path, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| Error::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem_certificates_and_keys() {
        let pki = Pki::generate("kwf-node", "127.0.0.1").expect("certificates");
        for cert in [&pki.ca, &pki.apiserver, &pki.admin, &pki.kubelet] {
            assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(cert.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        assert!(
            pki.service_account_pub_pem
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert_ne!(pki.apiserver.cert_pem, pki.kubelet.cert_pem);
    }

    #[test]
    fn writes_private_keys_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let files = Pki::generate("kwf-node", "127.0.0.1")
            .and_then(|pki| pki.write(dir.path()))
            .expect("written");
        let mode = |path: &Path| fs::metadata(path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&files.admin_key), 0o600);
        assert_eq!(mode(&files.service_account_key), 0o600);
        assert_eq!(mode(&files.ca_cert), 0o644);
    }
}
