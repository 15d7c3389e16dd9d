//! `cargo xtask image`: the workflow-controller container image as an OCI archive, built with no container
//! engine and no base image: a statically linked release binary, /etc/passwd and /etc/group naming the
//! non-root user, nothing else (no shell, no CA certificates: the controller reaches the API server at the
//! address and with the CA of its in-cluster config).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use kwf_testenv::oci::{self, Entry, Image};

/// Where the image is published; the kustomize base (`controller/deploy/kustomization.yaml`) names it too.
pub const REPOSITORY: &str = "ghcr.io/kwf-dev/workflow-controller";
const BIN: &str = "workflow-controller";
/// The user of distroless' `nonroot` images, matching the Deployment's `runAsUser`/`runAsGroup`.
pub const USER: &str = "65532:65532";

const PASSWD: &str = "\
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin
";
const GROUP: &str = "\
root:x:0:
nonroot:x:65532:
";

#[derive(clap::Args)]
#[command(
    after_help = "Builds workflow-controller as a static release binary (its own target directory, \
target/image/build, so the ordinary release build is left alone) and writes an OCI archive of one layer: the \
binary, /etc/passwd and /etc/group, user 65532:65532. Same sources, same digest. Load it with \
`ctr -n k8s.io images import ARCHIVE` or `kind load image-archive ARCHIVE`; push it with \
`skopeo copy oci-archive:ARCHIVE docker://ghcr.io/kwf-dev/workflow-controller:vVERSION`."
)]
pub struct Args {
    /// The archive to write [default: target/image/workflow-controller-<version>.oci.tar].
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Package this statically linked workflow-controller instead of building one.
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
}

/// The workspace version (xtask shares it with the controller).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `ghcr.io/kwf-dev/workflow-controller:v<version>`.
pub fn reference(version: &str) -> String {
    format!("{REPOSITORY}:v{version}")
}

/// The image of `binary`: the binary as its entrypoint, run as the non-root user from the working
/// directory `/`, labelled with the OCI annotations a registry shows.
pub fn controller_image(binary: &Path, version: &str, architecture: &str) -> Image {
    Image::new(reference(version))
        .platform("linux", architecture)
        .entrypoint([format!("/{BIN}")])
        .user(USER)
        .working_dir("/")
        .label("org.opencontainers.image.title", BIN)
        .label(
            "org.opencontainers.image.description",
            "The kwf controller: runs each Workflow's DAG of steps as Kubernetes Jobs",
        )
        .label("org.opencontainers.image.version", version)
        .label(
            "org.opencontainers.image.source",
            env!("CARGO_PKG_REPOSITORY"),
        )
        .label(
            "org.opencontainers.image.licenses",
            env!("CARGO_PKG_LICENSE"),
        )
        .entry(Entry::copy_of(BIN, binary).mode(0o755))
        .entry(Entry::file("etc/passwd", PASSWD))
        .entry(Entry::file("etc/group", GROUP))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if std::env::consts::OS != "linux" {
        bail!("the controller image is a linux image: run `cargo xtask image` on Linux");
    }
    let workspace = workspace_dir();
    let version = version();
    let output = args.output.unwrap_or_else(|| {
        workspace
            .join("target")
            .join("image")
            .join(format!("{BIN}-{version}.oci.tar"))
    });
    let cached = match &args.binary {
        Some(_) => None,
        None => Some(cached_archive(&workspace)?),
    };
    if let Some(cached) = &cached
        && cached.is_file()
    {
        copy_archive(cached, &output)?;
        eprintln!(
            "image: {} unchanged sources, the cached archive {} (delete it to rebuild)",
            reference(version),
            cached.display()
        );
        println!("{}", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let binary = match args.binary {
        Some(binary) => binary,
        None => build_static(&workspace)?,
    };
    ensure_static(&binary)?;

    eprintln!(
        "image: writing {} to {}",
        reference(version),
        output.display()
    );
    let started = Instant::now();
    let architecture = oci::oci_architecture(std::env::consts::ARCH);
    let digests = controller_image(&binary, version, architecture)
        .write_archive(&output)
        .with_context(|| format!("cannot write the image archive {}", output.display()))?;
    let size = std::fs::metadata(&output)
        .map(|meta| meta.len())
        .unwrap_or(0);
    eprintln!(
        "image: {} {} ({:.1} MiB, layer {:.1} MiB, {:.1} s); load it with `ctr -n k8s.io images import {}` or `kind load image-archive {}`",
        reference(version),
        digests.manifest,
        mib(size),
        mib(digests.layer_size),
        started.elapsed().as_secs_f64(),
        output.display(),
        output.display(),
    );
    if let Some(cached) = &cached {
        copy_archive(&output, cached)?;
    }
    println!("{}", output.display());
    Ok(ExitCode::SUCCESS)
}

/// RUSTFLAGS of the static build; part of the cache key.
const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";

/// Where the archive of the current sources is cached: `~/.cache/kwf/controller-image-<key>.oci.tar`, the key
/// a hash of everything the static build and the packaging read (so a fresh clone's CI run, or a second
/// `cargo xtask image` of unchanged sources, takes seconds instead of a release build's minutes).
fn cached_archive(workspace: &Path) -> anyhow::Result<PathBuf> {
    let key = source_key(workspace)?;
    Ok(cache_dir().join(format!("controller-image-{key}.oci.tar")))
}

/// The hash of the build's inputs: the workspace manifest and lock file, every file of the crates the
/// controller is built from, the RUSTFLAGS and target, and this recipe with the OCI writer it uses.
fn source_key(workspace: &Path) -> anyhow::Result<String> {
    let mut files = vec![workspace.join("Cargo.toml"), workspace.join("Cargo.lock")];
    for dir in ["controller", "shared", "tests/testenv/src/oci"] {
        collect_files(&workspace.join(dir), &mut files)?;
    }
    files.push(workspace.join("tests/testenv/src/oci.rs"));
    files.sort();
    let mut inputs = Vec::new();
    for part in [
        STATIC_RUSTFLAGS,
        std::env::consts::ARCH,
        version(),
        include_str!("image.rs"),
    ] {
        inputs.extend_from_slice(oci::sha256_digest(part.as_bytes()).as_bytes());
    }
    for file in &files {
        let contents =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let relative = file.strip_prefix(workspace).unwrap_or(file);
        inputs.extend_from_slice(relative.to_string_lossy().as_bytes());
        inputs.extend_from_slice(oci::sha256_digest(&contents).as_bytes());
    }
    Ok(oci::sha256_digest(&inputs)["sha256:".len()..][..16].to_owned())
}

/// Every file below `dir`, skipping build output (`target/`).
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() {
            if entry.file_name() != "target" {
                collect_files(&path, files)?;
            }
        } else if kind.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// The kwf cache directory, as `go/build.sh` and the test plane find it.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KWF_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("kwf")
}

/// Copies `from` to `to` through a temporary file beside it, so a reader never sees half an archive.
fn copy_archive(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial)
        .and_then(|_| std::fs::rename(&partial, to))
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// `cargo build --release` of the controller linked statically against glibc (`+crt-static`), in a target
/// directory of its own: RUSTFLAGS differ from the ordinary build, which would otherwise be rebuilt after
/// every image. glibc's static libc cannot load NSS modules, so name lookups through /etc/nsswitch.conf do not
/// work; the controller needs none (in-cluster config gives the API server as an IP address).
fn build_static(workspace: &Path) -> anyhow::Result<PathBuf> {
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let target_dir = workspace.join("target").join("image").join("build");
    eprintln!(
        "image: cargo build --release --target {target} -p {BIN} (static, into {}; minutes the first time)",
        target_dir.display()
    );
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            &target,
            "-p",
            BIN,
            "--target-dir",
        ])
        .arg(&target_dir)
        // RUSTFLAGS is ignored while CARGO_ENCODED_RUSTFLAGS is set; neither may leak in from the caller.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", STATIC_RUSTFLAGS)
        .current_dir(workspace)
        .status()
        .with_context(|| format!("cannot run {} build", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("the static build of {BIN} failed ({status}): fix the build and retry");
    }
    eprintln!("image: built in {:.0} s", started.elapsed().as_secs_f64());
    Ok(target_dir.join(target).join("release").join(BIN))
}

/// Fails unless `binary` is an ELF executable with no program interpreter (a dynamic binary would not start in
/// an image without a libc: "no such file or directory" from the kernel, about the missing loader).
fn ensure_static(binary: &Path) -> anyhow::Result<()> {
    let data =
        std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    match interpreter_of(&data) {
        Ok(None) => Ok(()),
        Ok(Some(interpreter)) => bail!(
            "{} is dynamically linked (interpreter {interpreter}): build it with RUSTFLAGS=\"-C target-feature=+crt-static\" or leave out --binary",
            binary.display()
        ),
        Err(error) => bail!(
            "{} is not an ELF executable ({error}): give the workflow-controller binary",
            binary.display()
        ),
    }
}

/// The program interpreter (dynamic loader) an ELF file asks for, if any.
fn interpreter_of(data: &[u8]) -> Result<Option<String>, object::read::Error> {
    use object::read::elf::{ElfFile64, ProgramHeader as _};
    let elf = ElfFile64::<object::Endianness>::parse(data)?;
    let endian = elf.endian();
    for header in elf.elf_program_headers() {
        if let Some(interpreter) = header.interpreter(endian, data)? {
            return Ok(Some(String::from_utf8_lossy(interpreter).into_owned()));
        }
    }
    Ok(None)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn workspace_dir() -> PathBuf {
    // xtask/ sits at the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Layout checks need a file in the binary's place, not the controller: a small stand-in, so this test
    /// builds nothing and compresses little. The static release build is `real_image_from_a_static_build`.
    fn stand_in_binary(dir: &Path) -> PathBuf {
        let path = dir.join("stand-in-binary");
        std::fs::write(&path, b"\x7fELF: a stand-in for workflow-controller\n").unwrap();
        path
    }

    /// (path, mode, uid, gid) of each entry of the image's one layer.
    fn layer_of(archive_digests: &oci::Digests, layout: &Path) -> Vec<(String, u32, u64, u64)> {
        let blob = layout
            .join("blobs/sha256")
            .join(&archive_digests.layer["sha256:".len()..]);
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap())
            .read_to_end(&mut tar_bytes)
            .unwrap();
        tar::Archive::new(tar_bytes.as_slice())
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    header.mode().unwrap(),
                    header.uid().unwrap(),
                    header.gid().unwrap(),
                )
            })
            .collect()
    }

    /// What skopeo reads from the archive, and the layer's entries.
    fn check_with_skopeo(archive: &Path, digests: &oci::Digests) {
        let summary = oci::skopeo_inspect(archive, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary["Digest"], digests.manifest.as_str());
        assert_eq!(
            summary["Layers"],
            serde_json::json!([digests.layer]),
            "one layer"
        );
        assert_eq!(
            summary["Labels"]["org.opencontainers.image.version"],
            version()
        );
        assert_eq!(
            summary["Labels"]["org.opencontainers.image.source"],
            "https://github.com/kwf-dev/kwf"
        );
        let config = oci::skopeo_inspect(archive, &["--config"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/workflow-controller"])
        );
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["os"], "linux");
        let raw = oci::skopeo_inspect(archive, &["--raw"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw["layers"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn the_image_has_only_the_binary_and_the_user_and_skopeo_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let binary = stand_in_binary(dir.path());
        let image = controller_image(&binary, version(), "amd64");
        let first = dir.path().join("first.oci.tar");
        let digests = image.write_archive(&first).unwrap();
        let again = controller_image(&binary, version(), "amd64")
            .write_archive(&dir.path().join("again.oci.tar"))
            .unwrap();
        assert_eq!(again, digests, "same binary, same digests");

        let layout = dir.path().join("layout");
        assert_eq!(image.write_layout(&layout).unwrap(), digests);
        assert_eq!(
            layer_of(&digests, &layout),
            [
                ("etc/".to_owned(), 0o755, 0, 0),
                ("etc/group".to_owned(), 0o644, 0, 0),
                ("etc/passwd".to_owned(), 0o644, 0, 0),
                ("workflow-controller".to_owned(), 0o755, 0, 0),
            ],
            "no shell, nothing but the binary and the user's names"
        );
        assert!(PASSWD.contains("nonroot:x:65532:65532:") && GROUP.contains("nonroot:x:65532:"));
        check_with_skopeo(&first, &digests);
    }

    #[test]
    fn the_kustomize_base_deploys_this_image() {
        #[derive(serde::Deserialize)]
        struct Kustomization {
            images: Vec<ImageOverride>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ImageOverride {
            name: String,
            new_name: String,
            new_tag: String,
        }
        let path = workspace_dir().join("controller/deploy/kustomization.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let kustomization: Kustomization = serde_saphyr::from_str(&text).unwrap();
        let controller = kustomization
            .images
            .iter()
            .find(|image| image.name == BIN)
            .expect("the kustomization sets the workflow-controller image");
        assert_eq!(
            format!("{}:{}", controller.new_name, controller.new_tag),
            reference(version())
        );
        let deployment =
            std::fs::read_to_string(workspace_dir().join("controller/deploy/deployment.yaml"))
                .unwrap();
        assert!(
            deployment.contains("runAsUser: 65532") && deployment.contains("runAsGroup: 65532")
        );
    }

    #[test]
    fn the_cache_key_follows_the_sources_and_ignores_build_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (file, text) in [
            ("Cargo.toml", "[workspace]"),
            ("Cargo.lock", "# lock"),
            ("controller/src/main.rs", "fn main() {}"),
            ("shared/src/lib.rs", ""),
            ("tests/testenv/src/oci.rs", "// writer"),
            ("tests/testenv/src/oci/layer.rs", "// layer"),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let first = source_key(root).unwrap();
        assert_eq!(source_key(root).unwrap(), first, "same sources, same key");
        std::fs::create_dir_all(root.join("controller/target")).unwrap();
        std::fs::write(root.join("controller/target/out"), "build output").unwrap();
        assert_eq!(source_key(root).unwrap(), first, "build output is no input");
        std::fs::write(root.join("controller/src/main.rs"), "fn main() { run() }").unwrap();
        assert_ne!(
            source_key(root).unwrap(),
            first,
            "a changed source, a new key"
        );
    }

    #[test]
    fn only_a_static_elf_binary_is_packaged() {
        // The test executable is an ordinary, dynamically linked build.
        let test_executable = std::env::current_exe().unwrap();
        let error = ensure_static(&test_executable).unwrap_err().to_string();
        assert!(
            error.contains("dynamically linked (interpreter /"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("not-elf");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let error = ensure_static(&script).unwrap_err().to_string();
        assert!(error.contains("is not an ELF executable"), "{error}");
    }

    /// The real thing: the static release build (minutes: 7 to 12 on this project's 2-core machine with warm
    /// dependency caches, most of it the controller's LTO), checked to be static, packaged twice.
    #[test]
    #[ignore = "a static release build of the controller takes minutes: run with `cargo test -p xtask -- --ignored`, or run `cargo xtask image`"]
    fn real_image_from_a_static_build() {
        let binary = build_static(&workspace_dir()).unwrap();
        ensure_static(&binary).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("image.oci.tar");
        let architecture = oci::oci_architecture(std::env::consts::ARCH);
        let digests = controller_image(&binary, version(), architecture)
            .write_archive(&archive)
            .unwrap();
        let again = controller_image(&binary, version(), architecture)
            .write_archive(&dir.path().join("again.oci.tar"))
            .unwrap();
        assert_eq!(again, digests);
        check_with_skopeo(&archive, &digests);
    }
}
