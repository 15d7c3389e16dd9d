//! The OCI writer: a valid image layout (every blob named by its sha256, descriptors that match, a layer tar with
//! sorted entries and parents first), byte-for-byte reproducible, and read back by a real OCI tool (skopeo).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use kwf_testenv::oci::{self, Compression, Entry, Image};
use serde_json::Value;

const REFERENCE: &str = "docker.io/library/kwf-oci-test:1.0";

/// A busybox-style image: a binary, a symlink to it, a file owned by the non-root user, an empty directory.
fn sample(binary: &Path) -> Image {
    Image::new(REFERENCE)
        .platform("linux", "amd64")
        .entrypoint(["/bin/sh"])
        .cmd(["-c", "true"])
        .user("65532:65532")
        .env("PATH", "/bin")
        .env("HOME", "/home/nonroot")
        .working_dir("/home/nonroot")
        .label("org.opencontainers.image.title", "kwf-oci-test")
        .label("a.first.label", "sorted")
        .entry(Entry::copy_of("/bin/busybox", binary).mode(0o755))
        .entry(Entry::symlink("bin/sh", "busybox"))
        .entry(Entry::file(
            "etc/passwd",
            "nonroot:x:65532:65532::/home/nonroot:/bin/sh\n",
        ))
        .entry(Entry::dir("home/nonroot").mode(0o700).owner(65532, 65532))
        .entry(Entry::dir("tmp").mode(0o1777))
}

/// A file in a program's place: the writer copies bytes and never runs them.
fn some_binary(dir: &Path) -> PathBuf {
    let path = dir.join("busybox");
    let bytes: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn read_json(path: &Path) -> Value {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The blob a descriptor names, after checking its size and that its name is its sha256.
fn blob(layout: &Path, descriptor: &Value) -> Vec<u8> {
    let digest = descriptor["digest"]
        .as_str()
        .expect("a descriptor has a digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256 digests");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).expect("the blob exists");
    assert_eq!(
        oci::sha256_digest(&bytes),
        digest,
        "blob {hex} is named by its sha256"
    );
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(bytes.len() as u64),
        "size of {digest}"
    );
    bytes
}

/// (path, type, mode, uid, gid, mtime, link target, content) of each layer entry, in tar order.
type LayerEntry = (String, char, u32, u64, u64, u64, Option<String>, Vec<u8>);

fn layer_entries(tar_bytes: &[u8]) -> Vec<LayerEntry> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .expect("the layer is a tar")
        .map(|entry| {
            let mut entry = entry.expect("a tar entry");
            let header = entry.header().clone();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("entry content");
            (
                entry.path().expect("a path").to_string_lossy().into_owned(),
                header.entry_type().as_byte() as char,
                header.mode().expect("mode"),
                header.uid().expect("uid"),
                header.gid().expect("gid"),
                header.mtime().expect("mtime"),
                entry
                    .link_name()
                    .expect("link")
                    .map(|link| link.to_string_lossy().into_owned()),
                content,
            )
        })
        .collect()
}

#[test]
fn the_layout_is_valid_and_describes_the_files_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let binary = some_binary(dir.path());
    let digests = sample(&binary).write_layout(&layout).unwrap();

    assert_eq!(
        read_json(&layout.join("oci-layout")),
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    let entry = &manifests[0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(entry["digest"], digests.manifest.as_str());
    assert_eq!(
        entry["platform"],
        serde_json::json!({"os": "linux", "architecture": "amd64"})
    );
    assert_eq!(entry["annotations"]["io.containerd.image.name"], REFERENCE);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "1.0"
    );

    let manifest: Value = serde_json::from_slice(&blob(&layout, entry)).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], digests.config.as_str());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(layers[0]["digest"], digests.layer.as_str());
    assert_eq!(layers[0]["size"].as_u64(), Some(digests.layer_size));

    let config: Value = serde_json::from_slice(&blob(&layout, &manifest["config"])).unwrap();
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(
        config["config"],
        serde_json::json!({
            "Entrypoint": ["/bin/sh"],
            "Cmd": ["-c", "true"],
            "User": "65532:65532",
            "Env": ["PATH=/bin", "HOME=/home/nonroot"],
            "WorkingDir": "/home/nonroot",
            "Labels": {"a.first.label": "sorted", "org.opencontainers.image.title": "kwf-oci-test"},
        })
    );
    assert_eq!(
        config["rootfs"],
        serde_json::json!({"type": "layers", "diff_ids": [digests.diff_id]})
    );
    assert!(
        config.get("created").is_none(),
        "no timestamp: it would change the digest"
    );

    let mut layer_tar = Vec::new();
    flate2::read::GzDecoder::new(blob(&layout, &layers[0]).as_slice())
        .read_to_end(&mut layer_tar)
        .unwrap();
    assert_eq!(oci::sha256_digest(&layer_tar), digests.diff_id);
    let binary_bytes = std::fs::read(&binary).unwrap();
    let expected: Vec<LayerEntry> = vec![
        ("bin/".into(), '5', 0o755, 0, 0, 0, None, vec![]),
        (
            "bin/busybox".into(),
            '0',
            0o755,
            0,
            0,
            0,
            None,
            binary_bytes,
        ),
        (
            "bin/sh".into(),
            '2',
            0o777,
            0,
            0,
            0,
            Some("busybox".into()),
            vec![],
        ),
        ("etc/".into(), '5', 0o755, 0, 0, 0, None, vec![]),
        (
            "etc/passwd".into(),
            '0',
            0o644,
            0,
            0,
            0,
            None,
            b"nonroot:x:65532:65532::/home/nonroot:/bin/sh\n".to_vec(),
        ),
        ("home/".into(), '5', 0o755, 0, 0, 0, None, vec![]),
        (
            "home/nonroot/".into(),
            '5',
            0o700,
            65532,
            65532,
            0,
            None,
            vec![],
        ),
        ("tmp/".into(), '5', 0o1777, 0, 0, 0, None, vec![]),
    ];
    assert_eq!(layer_entries(&layer_tar), expected);
}

#[test]
fn the_same_image_gives_the_same_bytes_and_another_file_another_digest() {
    let dir = tempfile::tempdir().unwrap();
    let binary = some_binary(dir.path());
    let first = dir.path().join("first.oci.tar");
    let second = dir.path().join("again/second.oci.tar");
    let digests = sample(&binary).write_archive(&first).unwrap();
    assert_eq!(sample(&binary).write_archive(&second).unwrap(), digests);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap(),
        "byte for byte"
    );
    assert!(
        !dir.path().join("first.oci.tar.partial").exists(),
        "the partial file was renamed"
    );

    let changed = sample(&binary).entry(Entry::file("etc/passwd", "root:x:0:0::/:/bin/sh\n"));
    let other = changed
        .write_archive(&dir.path().join("other.oci.tar"))
        .unwrap();
    assert_ne!(other.layer, digests.layer);
    assert_ne!(other.manifest, digests.manifest);
    let retagged = Image::new("docker.io/library/kwf-oci-test:2.0").platform("linux", "amd64");
    let untouched = Image::new(REFERENCE).platform("linux", "amd64");
    let (retagged, untouched) = (
        retagged
            .write_archive(&dir.path().join("retagged.oci.tar"))
            .unwrap(),
        untouched
            .write_archive(&dir.path().join("untouched.oci.tar"))
            .unwrap(),
    );
    assert_eq!(
        retagged.manifest, untouched.manifest,
        "the name lives in index.json, not in the manifest"
    );
}

#[test]
fn the_archive_holds_the_layout_sorted_and_uncompressed_layers_are_plain_tar() {
    let dir = tempfile::tempdir().unwrap();
    let binary = some_binary(dir.path());
    let image = sample(&binary).compression(Compression::None);
    let layout = dir.path().join("layout");
    let from_layout = image.write_layout(&layout).unwrap();
    let archive_path = dir.path().join("image.oci.tar");
    assert_eq!(image.write_archive(&archive_path).unwrap(), from_layout);
    assert_eq!(
        from_layout.layer, from_layout.diff_id,
        "an uncompressed layer is its own diff"
    );

    let bytes = std::fs::read(&archive_path).unwrap();
    let mut files = BTreeMap::new();
    let mut names = Vec::new();
    for (path, kind, mode, uid, _, mtime, _, content) in layer_entries(&bytes) {
        assert_eq!((uid, mtime), (0, 0), "{path}: root-owned, mtime 0");
        assert_eq!(mode, if kind == '5' { 0o755 } else { 0o644 }, "{path}");
        names.push(path.clone());
        if kind == '0' {
            files.insert(path, content);
        }
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(&names[..2], ["blobs/", "blobs/sha256/"]);
    assert_eq!(files.len(), 2 + 3, "index.json, oci-layout and three blobs");
    for (path, content) in files {
        assert_eq!(
            std::fs::read(layout.join(&path)).unwrap(),
            content,
            "{path} as in the layout"
        );
    }
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&from_layout.manifest[7..])).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
}

#[test]
fn bad_paths_and_references_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let escaping = Image::new(REFERENCE).entry(Entry::file("../etc/passwd", "x"));
    let error = escaping
        .write_archive(&dir.path().join("a.tar"))
        .unwrap_err();
    assert!(matches!(error, oci::Error::InvalidPath { .. }), "{error}");
    assert!(error.to_string().contains("../etc/passwd"), "{error}");

    let untagged = Image::new("localhost:5000/busybox");
    let error = untagged
        .write_archive(&dir.path().join("b.tar"))
        .unwrap_err();
    assert!(
        matches!(error, oci::Error::InvalidReference { .. }),
        "{error}"
    );

    let missing = Image::new(REFERENCE).entry(Entry::copy_of("bin/x", dir.path().join("absent")));
    let error = missing
        .write_archive(&dir.path().join("c.tar"))
        .unwrap_err();
    assert!(
        error.to_string().contains("absent") && !error.to_string().contains('\n'),
        "{error}"
    );
}

#[test]
fn skopeo_reads_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.oci.tar");
    let digests = sample(&some_binary(dir.path()))
        .write_archive(&archive)
        .unwrap();

    let summary = oci::skopeo_inspect(&archive, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary["Digest"], digests.manifest.as_str());
    assert_eq!(summary["Layers"], serde_json::json!([digests.layer]));
    assert_eq!(summary["Os"], "linux");
    assert_eq!(summary["Architecture"], "amd64");
    let config = oci::skopeo_inspect(&archive, &["--config"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh"])
    );
    assert_eq!(config["config"]["User"], "65532:65532");
    let raw = oci::skopeo_inspect(&archive, &["--raw"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw["layers"].as_array().map(Vec::len), Some(1));
    // skopeo picks the image by its tag, the index's ref.name.
    let by_tag = dir.path().join("image.oci.tar:1.0");
    let tagged = oci::skopeo_inspect(&by_tag, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tagged["Digest"], digests.manifest.as_str());
}

/// A containerd of this test's own (root, state and socket in a temporary directory, no CRI plugin), so the
/// machine's containerd and its images are left alone; killed when dropped.
struct PrivateContainerd {
    child: std::process::Child,
    socket: PathBuf,
}

impl PrivateContainerd {
    fn start(dir: &Path) -> PrivateContainerd {
        let containerd =
            oci::ensure_installed("containerd", "containerd").unwrap_or_else(|e| panic!("{e}"));
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let text = format!(
            "version = 2\nroot = {root:?}\nstate = {state:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = {socket:?}\n[ttrpc]\n  address = {ttrpc:?}\n[debug]\n  address = \"\"\n\
             [metrics]\n  address = \"\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt:?}\n",
            root = dir.join("root"),
            opt = dir.join("opt"),
            state = dir.join("state"),
            ttrpc = dir.join("containerd.sock.ttrpc"),
        );
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = std::process::Command::new(containerd)
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start containerd: {e}"));
        let containerd = PrivateContainerd { child, socket };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "containerd did not answer within 30 s: see {}",
                dir.join("containerd.log").display()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "kwf-oci-test"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr: {e}"))
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ctr_imports_the_archive_under_its_reference() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.oci.tar");
    let digests = sample(&some_binary(dir.path()))
        .write_archive(&archive)
        .unwrap();
    let containerd = PrivateContainerd::start(dir.path());

    // --no-unpack: the test checks the name and digest containerd records; unpacking needs a snapshotter
    // (overlayfs), which not every test machine offers.
    let import = containerd.ctr(&["images", "import", "--no-unpack", archive.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(
        import.status.success(),
        "ctr images import failed: {stderr}"
    );
    let listed = containerd.ctr(&["images", "ls"]);
    let listing = String::from_utf8_lossy(&listed.stdout);
    let line = listing
        .lines()
        .find(|line| line.starts_with(REFERENCE))
        .unwrap_or_else(|| panic!("ctr images ls does not list {REFERENCE}:\n{listing}"));
    assert!(line.contains(&digests.manifest), "{line}");
    assert!(line.contains("linux/amd64"), "{line}");
}
