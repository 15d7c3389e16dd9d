//! OCI images built from a list of files, with no container engine and no base image: an image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) or its tar archive (what `skopeo` calls `oci-archive:`,
//! `ctr images import` and `kind load image-archive` read).
//!
//! Byte for byte reproducible: the same [`Image`] gives the same archive and digests on every machine. Tar
//! entries are sorted by path with mtime 0 and the owners chosen per entry (root by default), no user or
//! group names; gzip has no timestamp and no file name; JSON objects are written with sorted keys; the config
//! has no `created` time and no history.
//!
//! One image has one layer. The index entry names the image for `ctr -n k8s.io images import`
//! (`io.containerd.image.name`, the full reference) and for `skopeo` (`org.opencontainers.image.ref.name`,
//! the tag), as `ctr images export` does.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, ConfigBuilder, DescriptorBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, Os, PlatformBuilder,
    RootFsBuilder, Sha256Digest,
};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

mod tools;
pub use tools::{ensure_installed, ensure_skopeo, skopeo_inspect};

/// The annotation containerd names an imported image by.
pub const ANNOTATION_CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// Why an image could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path in the image is absolute after `/` is stripped, empty, or leaves the root (`..`).
    #[error("image path {path:?} is not a plain path inside the image: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    /// The reference does not end in a tag (`registry/name:tag`).
    #[error(
        "image reference {reference:?} has no tag: give a full reference such as docker.io/library/busybox:1.36"
    )]
    InvalidReference { reference: String },

    /// A file of the host could not be read or written.
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The OCI types rejected a value (a bug here rather than a user error).
    #[error("building the OCI {what} failed: {source}")]
    Spec {
        what: &'static str,
        #[source]
        source: oci_spec::OciSpecError,
    },

    /// A tool that checks images (skopeo) is missing or failed.
    #[error("{0}")]
    Tool(String),
}

/// Where a regular file's bytes come from.
#[derive(Clone, Debug)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file of the host, read when the image is written.
    Host(PathBuf),
}

#[derive(Clone, Debug)]
enum Kind {
    Dir,
    File(Content),
    Symlink(String),
}

/// One file, directory or symlink of the image's layer.
#[derive(Clone, Debug)]
pub struct Entry {
    path: String,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
}

impl Entry {
    /// A directory, mode 0755, owned by root.
    pub fn dir(path: impl Into<String>) -> Entry {
        Entry::new(path, Kind::Dir, 0o755)
    }

    /// A regular file with these bytes, mode 0644, owned by root.
    pub fn file(path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Entry {
        Entry::new(path, Kind::File(Content::Bytes(bytes.into())), 0o644)
    }

    /// A regular file with the bytes of a host file, mode 0644 (set 0755 with [`Entry::mode`] for an
    /// executable: the host file's own mode is not used, so that it cannot change the digest).
    pub fn copy_of(path: impl Into<String>, source: impl Into<PathBuf>) -> Entry {
        Entry::new(path, Kind::File(Content::Host(source.into())), 0o644)
    }

    /// A symbolic link to `target` (relative to the link's directory, or absolute inside the image).
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Entry {
        Entry::new(path, Kind::Symlink(target.into()), 0o777)
    }

    /// The permission bits (e.g. 0o755).
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    /// The numeric owner (root, 0:0, unless set).
    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    fn new(path: impl Into<String>, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// Whether the layer is gzip-compressed (smaller) or a plain tar (faster to write and to read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

/// An image of one layer: its reference, its files and the config a runtime starts it with.
#[derive(Clone, Debug)]
pub struct Image {
    reference: String,
    os: String,
    architecture: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    user: Option<String>,
    env: Vec<String>,
    working_dir: Option<String>,
    labels: BTreeMap<String, String>,
    entries: Vec<Entry>,
    compression: Compression,
}

/// The digests of a written image (`sha256:<hex>`) and the size of its layer blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// The manifest's digest: what `skopeo inspect` and `crictl images --digests` show as the image's.
    pub manifest: String,
    pub config: String,
    pub layer: String,
    /// The digest of the uncompressed layer tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    pub layer_size: u64,
}

impl Image {
    /// An empty linux image of the host's architecture named `reference`, a full reference with a tag
    /// (`ghcr.io/kwf-dev/workflow-controller:v0.1.0`, `docker.io/library/busybox:1.36`: the name the
    /// kubelet looks up after `ctr -n k8s.io images import`).
    pub fn new(reference: impl Into<String>) -> Image {
        Image {
            reference: reference.into(),
            os: "linux".to_owned(),
            architecture: oci_architecture(std::env::consts::ARCH).to_owned(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            user: None,
            env: Vec::new(),
            working_dir: None,
            labels: BTreeMap::new(),
            entries: Vec::new(),
            compression: Compression::default(),
        }
    }

    /// The platform, in OCI names (`linux`, `amd64`/`arm64`).
    pub fn platform(mut self, os: impl Into<String>, architecture: impl Into<String>) -> Image {
        self.os = os.into();
        self.architecture = architecture.into();
        self
    }

    pub fn entrypoint<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Image {
        self.entrypoint = args.into_iter().map(Into::into).collect();
        self
    }

    pub fn cmd<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Image {
        self.cmd = args.into_iter().map(Into::into).collect();
        self
    }

    /// The user the process runs as: `uid`, `uid:gid` or a name from the image's /etc/passwd.
    pub fn user(mut self, user: impl Into<String>) -> Image {
        self.user = Some(user.into());
        self
    }

    /// One environment variable (in the order given).
    pub fn env(mut self, name: &str, value: &str) -> Image {
        self.env.push(format!("{name}={value}"));
        self
    }

    pub fn working_dir(mut self, dir: impl Into<String>) -> Image {
        self.working_dir = Some(dir.into());
        self
    }

    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Image {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Adds a file, directory or symlink; a later entry of the same path replaces an earlier one. Missing
    /// parent directories are added (0755, root).
    pub fn entry(mut self, entry: Entry) -> Image {
        self.entries.push(entry);
        self
    }

    pub fn compression(mut self, compression: Compression) -> Image {
        self.compression = compression;
        self
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Writes the image layout into `dir` (created if missing; an existing `index.json` is replaced).
    pub fn write_layout(&self, dir: &Path) -> Result<Digests, Error> {
        let layout = self.layout()?;
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(io_error("create", &blobs))?;
        for (hex, bytes) in &layout.blobs {
            let path = blobs.join(hex);
            std::fs::write(&path, bytes).map_err(io_error("write", &path))?;
        }
        for (name, bytes) in [
            ("oci-layout", &layout.oci_layout),
            ("index.json", &layout.index),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(io_error("write", &path))?;
        }
        Ok(layout.digests)
    }

    /// Writes the image layout as one tar archive at `path` (parent directories created; written beside
    /// it and renamed, so a reader never sees half an archive).
    pub fn write_archive(&self, path: &Path) -> Result<Digests, Error> {
        let layout = self.layout()?;
        let mut archive = tar::Builder::new(Vec::new());
        let mut append = |name: &str, kind: tar::EntryType, bytes: &[u8]| {
            let mut header = header(kind, if kind.is_dir() { 0o755 } else { 0o644 }, 0, 0);
            header.set_size(bytes.len() as u64);
            archive.append_data(&mut header, name, bytes)
        };
        let to_archive = |source: io::Error| Error::Io {
            what: "write",
            path: path.to_owned(),
            source,
        };
        // Sorted: blobs/ < index.json < oci-layout.
        append("blobs/", tar::EntryType::Directory, &[]).map_err(to_archive)?;
        append("blobs/sha256/", tar::EntryType::Directory, &[]).map_err(to_archive)?;
        for (hex, bytes) in &layout.blobs {
            append(
                &format!("blobs/sha256/{hex}"),
                tar::EntryType::Regular,
                bytes,
            )
            .map_err(to_archive)?;
        }
        append("index.json", tar::EntryType::Regular, &layout.index).map_err(to_archive)?;
        append("oci-layout", tar::EntryType::Regular, &layout.oci_layout).map_err(to_archive)?;
        let bytes = archive.into_inner().map_err(to_archive)?;

        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, bytes).map_err(io_error("write", &partial))?;
        std::fs::rename(&partial, path).map_err(io_error("write", path))?;
        Ok(layout.digests)
    }

    /// Every blob and JSON document of the layout, in memory.
    fn layout(&self) -> Result<Layout, Error> {
        let tag = tag_of(&self.reference).ok_or_else(|| Error::InvalidReference {
            reference: self.reference.clone(),
        })?;
        let layer_tar = self.layer_tar()?;
        let diff_id = sha256_digest(&layer_tar);
        let (layer, layer_media_type) = match self.compression {
            Compression::Gzip => (gzip(&layer_tar), MediaType::ImageLayerGzip),
            Compression::None => (layer_tar, MediaType::ImageLayer),
        };
        let layer_digest = sha256_digest(&layer);

        let config = canonical_json("config", &self.configuration(&diff_id)?)?;
        let config_digest = sha256_digest(&config);
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(
                MediaType::ImageConfig,
                &config_digest,
                config.len(),
            )?)
            .layers(vec![descriptor(
                layer_media_type,
                &layer_digest,
                layer.len(),
            )?])
            .build()
            .map_err(spec_error("manifest"))?;
        let manifest = canonical_json("manifest", &manifest)?;
        let manifest_digest = sha256_digest(&manifest);

        let annotations = [
            (ANNOTATION_REF_NAME.to_owned(), tag.to_owned()),
            (
                ANNOTATION_CONTAINERD_IMAGE_NAME.to_owned(),
                self.reference.clone(),
            ),
        ];
        let platform = PlatformBuilder::default()
            .os(Os::from(self.os.as_str()))
            .architecture(Arch::from(self.architecture.as_str()))
            .build()
            .map_err(spec_error("platform"))?;
        let manifest_descriptor = DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(parse_digest(&manifest_digest)?)
            .size(manifest.len() as u64)
            .platform(platform)
            .annotations(
                annotations
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            )
            .build()
            .map_err(spec_error("index entry"))?;
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![manifest_descriptor])
            .build()
            .map_err(spec_error("index"))?;
        let oci_layout = OciLayoutBuilder::default()
            .image_layout_version("1.0.0")
            .build()
            .map_err(spec_error("oci-layout"))?;

        let digests = Digests {
            manifest: manifest_digest,
            config: config_digest,
            layer: layer_digest,
            diff_id,
            layer_size: layer.len() as u64,
        };
        let mut blobs = BTreeMap::new();
        for (digest, bytes) in [
            (&digests.manifest, manifest),
            (&digests.config, config),
            (&digests.layer, layer),
        ] {
            blobs.insert(hex_of(digest).to_owned(), bytes);
        }
        Ok(Layout {
            blobs,
            index: canonical_json("index", &index)?,
            oci_layout: canonical_json("oci-layout", &oci_layout)?,
            digests,
        })
    }

    fn configuration(&self, diff_id: &str) -> Result<oci_spec::image::ImageConfiguration, Error> {
        let mut config = ConfigBuilder::default();
        if !self.entrypoint.is_empty() {
            config = config.entrypoint(self.entrypoint.clone());
        }
        if !self.cmd.is_empty() {
            config = config.cmd(self.cmd.clone());
        }
        if let Some(user) = &self.user {
            config = config.user(user.clone());
        }
        if !self.env.is_empty() {
            config = config.env(self.env.clone());
        }
        if let Some(dir) = &self.working_dir {
            config = config.working_dir(dir.clone());
        }
        if !self.labels.is_empty() {
            config = config.labels(
                self.labels
                    .clone()
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
        }
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![diff_id.to_owned()])
            .build()
            .map_err(spec_error("rootfs"))?;
        ImageConfigurationBuilder::default()
            .os(Os::from(self.os.as_str()))
            .architecture(Arch::from(self.architecture.as_str()))
            .config(config.build().map_err(spec_error("config"))?)
            .rootfs(rootfs)
            .build()
            .map_err(spec_error("config"))
    }

    /// The layer: every entry and missing parent directory, sorted by path (a parent sorts before its
    /// children), as an uncompressed tar.
    fn layer_tar(&self) -> Result<Vec<u8>, Error> {
        let mut entries: BTreeMap<String, &Entry> = BTreeMap::new();
        for entry in &self.entries {
            entries.insert(normalize(&entry.path)?, entry);
        }
        let implied_dir = Entry::dir("");
        let parents: Vec<String> = entries
            .keys()
            .flat_map(|path| parents_of(path))
            .filter(|parent| !entries.contains_key(parent))
            .collect();
        for parent in parents {
            entries.insert(parent, &implied_dir);
        }

        let mut layer = tar::Builder::new(Vec::new());
        for (path, entry) in entries {
            let to_layer = |source: io::Error| Error::Io {
                what: "add to the layer",
                path: PathBuf::from(&path),
                source,
            };
            match &entry.kind {
                Kind::Dir => {
                    let mut header =
                        header(tar::EntryType::Directory, entry.mode, entry.uid, entry.gid);
                    header.set_size(0);
                    layer
                        .append_data(&mut header, format!("{path}/"), io::empty())
                        .map_err(to_layer)?;
                }
                Kind::File(content) => {
                    let bytes = match content {
                        Content::Bytes(bytes) => std::borrow::Cow::Borrowed(bytes.as_slice()),
                        Content::Host(source) => std::borrow::Cow::Owned(
                            std::fs::read(source).map_err(io_error("read", source))?,
                        ),
                    };
                    let mut header =
                        header(tar::EntryType::Regular, entry.mode, entry.uid, entry.gid);
                    header.set_size(bytes.len() as u64);
                    layer
                        .append_data(&mut header, &path, bytes.as_ref())
                        .map_err(to_layer)?;
                }
                Kind::Symlink(target) => {
                    let mut header =
                        header(tar::EntryType::Symlink, entry.mode, entry.uid, entry.gid);
                    header.set_size(0);
                    layer
                        .append_link(&mut header, &path, target)
                        .map_err(to_layer)?;
                }
            }
        }
        layer.into_inner().map_err(|source| Error::Io {
            what: "finish",
            path: PathBuf::from("the layer"),
            source,
        })
    }
}

struct Layout {
    /// Blob contents by the hex of their sha256.
    blobs: BTreeMap<String, Vec<u8>>,
    index: Vec<u8>,
    oci_layout: Vec<u8>,
    digests: Digests,
}

/// A tar header with no timestamp and no user or group names, so only the chosen fields vary.
fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_mtime(0);
    header
}

/// `path` relative to the image root, `/`-separated, or why it is not a path inside the image.
fn normalize(path: &str) -> Result<String, Error> {
    let invalid = |reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => {
                parts.push(part.to_str().ok_or_else(|| invalid("not UTF-8"))?)
            }
            Component::ParentDir => return Err(invalid("`..` would leave the image root")),
            Component::Prefix(_) => return Err(invalid("a drive prefix")),
        }
    }
    if parts.is_empty() {
        return Err(invalid("it names the root itself"));
    }
    Ok(parts.join("/"))
}

/// `a`, `a/b` for `a/b/c`.
fn parents_of(path: &str) -> impl Iterator<Item = String> + '_ {
    path.match_indices('/').map(|(at, _)| path[..at].to_owned())
}

/// The tag of `registry/name:tag` (a `:` after the last `/`; a port in the registry part is not a tag).
fn tag_of(reference: &str) -> Option<&str> {
    let name = reference.rsplit('/').next()?;
    let (_, tag) = name.split_once(':')?;
    (!tag.is_empty() && !reference.contains('@')).then_some(tag)
}

/// The OCI name of a Rust target architecture.
pub fn oci_architecture(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Gzip with no timestamp, no file name and the "unknown" OS byte.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(
            Vec::with_capacity(bytes.len() / 2),
            flate2::Compression::default(),
        );
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("gzip into a Vec cannot fail")
}

/// JSON with sorted object keys (oci-spec keeps annotations and labels in HashMaps, whose order varies
/// between runs; serde_json's Value sorts them).
fn canonical_json(what: &'static str, value: &impl Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_value(value)
        .and_then(|value| serde_json::to_vec(&value))
        .map_err(|source| Error::Spec {
            what,
            source: source.into(),
        })
}

fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: usize,
) -> Result<oci_spec::image::Descriptor, Error> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(parse_digest(digest)?)
        .size(size as u64)
        .build()
        .map_err(spec_error("descriptor"))
}

fn parse_digest(digest: &str) -> Result<Sha256Digest, Error> {
    hex_of(digest).parse().map_err(spec_error("digest"))
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut digest = String::with_capacity(7 + 64);
    digest.push_str("sha256:");
    for byte in hash {
        digest.push_str(&format!("{byte:02x}"));
    }
    digest
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn spec_error(what: &'static str) -> impl FnOnce(oci_spec::OciSpecError) -> Error {
    move |source| Error::Spec { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_and_may_not_leave_the_root() {
        assert_eq!(normalize("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(normalize("./bin//sh").unwrap(), "bin/sh");
        assert!(matches!(
            normalize("../etc"),
            Err(Error::InvalidPath { .. })
        ));
        assert!(matches!(normalize("/"), Err(Error::InvalidPath { .. })));
    }

    #[test]
    fn parents_are_listed_outermost_first() {
        assert_eq!(parents_of("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parents_of("a").count(), 0);
    }

    #[test]
    fn the_tag_follows_the_last_slash() {
        assert_eq!(
            tag_of("ghcr.io/kwf-dev/workflow-controller:v0.1.0"),
            Some("v0.1.0")
        );
        assert_eq!(tag_of("localhost:5000/busybox:1.36"), Some("1.36"));
        assert_eq!(tag_of("localhost:5000/busybox"), None);
        assert_eq!(tag_of("busybox:"), None);
        assert_eq!(tag_of("busybox@sha256:00"), None);
    }

    #[test]
    fn sha256_digest_is_prefixed_lowercase_hex() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
