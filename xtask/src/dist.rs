//! `cargo xtask dist`: the release archive of kubectl-workflow for this host (binary + LICENSE), its
//! sha256, and the krew manifest rendered from `krew/workflow.yaml.tmpl`.
//!
//! A release runs `dist` on each platform (linux and darwin, amd64 and arm64), or copies the other
//! platforms' archives into the output directory first: every archive of the current version found there
//! is hashed into the manifest, and a platform with no archive keeps its entry from the manifest being
//! replaced if that one is of the same version. A platform with neither is left out of the manifest
//! (never given a made-up checksum).
//!
//! With `--chart` it also packages the Helm chart `controller/chart` with `helm package` (the helm that
//! `tests/testenv/helm/build.sh` builds) into `<OUT>/workflow-controller-<version>.tgz`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cargo;

/// The plugin's executable, also the name kubectl and krew look it up by.
const BIN: &str = "kubectl-workflow";

/// Every platform the manifest can list, in the order it lists them.
pub const PLATFORMS: [Platform; 4] = [
    Platform::new("linux", "amd64"),
    Platform::new("linux", "arm64"),
    Platform::new("darwin", "amd64"),
    Platform::new("darwin", "arm64"),
];

#[derive(clap::Args)]
#[command(
    after_help = "Writes <OUT>/kubectl-workflow_<version>_<os>_<arch>.tar.gz for this host and \
renders the krew manifest with the sha256 of every archive of that version in <OUT>; platforms without one keep \
their entry from the previous manifest of the same version, or are left out. Install the result with \
`kubectl krew install --manifest=krew/workflow.yaml --archive=<archive>`. With --chart, also \
<OUT>/workflow-controller-<version>.tgz, the Helm chart (`helm install workflow-controller <tgz> -n kwf-system \
--create-namespace`)."
)]
pub struct Args {
    /// Directory for the archives [default: <workspace>/dist]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The krew manifest to render [default: <workspace>/krew/workflow.yaml]
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Package this kubectl-workflow binary instead of building one with `cargo build --release`
    /// (tests package their debug build)
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Also package the Helm chart controller/chart into <OUT> with `helm package` (builds helm from its
    /// Go module the first time)
    #[arg(long)]
    chart: bool,
}

/// An operating system and architecture, spelled as krew (and Go) spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: &'static str,
    pub arch: &'static str,
}

impl Platform {
    const fn new(os: &'static str, arch: &'static str) -> Platform {
        Platform { os, arch }
    }

    /// The platform of a Rust target's `std::env::consts::{OS, ARCH}`, if the manifest can list it.
    pub fn from_rust(os: &str, arch: &str) -> Option<Platform> {
        let os = match os {
            "linux" => "linux",
            "macos" => "darwin",
            _ => return None,
        };
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            _ => return None,
        };
        PLATFORMS.into_iter().find(|p| p.os == os && p.arch == arch)
    }

    fn host() -> anyhow::Result<Platform> {
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        Platform::from_rust(os, arch).with_context(|| {
            format!("krew lists linux and darwin on amd64 and arm64; this host is {os}/{arch}: run dist on one of those")
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)
    }
}

/// File name of the release archive of `version` (without `v`) for `platform`.
pub fn archive_name(version: &str, platform: Platform) -> String {
    format!("{BIN}_{version}_{}_{}.tar.gz", platform.os, platform.arch)
}

/// One platform of the rendered manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlatformEntry {
    pub os: &'static str,
    pub arch: &'static str,
    pub sha256: String,
}

/// Where each platform's checksum came from, for the summary `dist` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Archive,
    PreviousManifest,
    Missing,
}

/// The manifest's platforms: the checksum of each archive found, else the previous manifest's when it is
/// of the same version (an older version's checksum belongs to an older archive), else none.
pub fn choose_platforms(
    version: &str,
    archives: &BTreeMap<Platform, String>,
    previous: Option<&PreviousManifest>,
) -> (Vec<PlatformEntry>, Vec<(Platform, Source)>) {
    let previous = previous.filter(|manifest| manifest.version() == Some(version));
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    for platform in PLATFORMS {
        let (sha256, source) = match archives.get(&platform) {
            Some(sha256) => (Some(sha256.clone()), Source::Archive),
            None => match previous.and_then(|manifest| manifest.sha256(platform)) {
                Some(sha256) => (Some(sha256), Source::PreviousManifest),
                None => (None, Source::Missing),
            },
        };
        if let Some(sha256) = sha256 {
            entries.push(PlatformEntry {
                os: platform.os,
                arch: platform.arch,
                sha256,
            });
        }
        sources.push((platform, source));
    }
    (entries, sources)
}

/// Renders the manifest template for `version` (without `v`) and the platforms with a checksum.
pub fn render(
    template: &str,
    version: &str,
    platforms: &[PlatformEntry],
) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_template("workflow.yaml", template)
        .context("the krew manifest template is not valid minijinja")?;
    let context = minijinja::context! { version => version, platforms => platforms };
    env.get_template("workflow.yaml")?
        .render(context)
        .context("cannot render the krew manifest template")
}

/// The parts of a krew manifest `dist` reads back: the version and each platform's checksum.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PreviousManifest {
    #[serde(default)]
    pub spec: PreviousSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PreviousSpec {
    pub version: Option<String>,
    #[serde(default)]
    pub platforms: Vec<PreviousPlatform>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PreviousPlatform {
    pub selector: Selector,
    pub sha256: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

impl PreviousManifest {
    pub fn parse(text: &str) -> anyhow::Result<PreviousManifest> {
        serde_saphyr::from_str(text).context("not a krew plugin manifest")
    }

    /// The version without its `v`.
    pub fn version(&self) -> Option<&str> {
        let version = self.spec.version.as_deref()?;
        Some(version.strip_prefix('v').unwrap_or(version))
    }

    pub fn sha256(&self, platform: Platform) -> Option<String> {
        self.spec
            .platforms
            .iter()
            .find(|entry| {
                let labels = &entry.selector.match_labels;
                labels.get("os").map(String::as_str) == Some(platform.os)
                    && labels.get("arch").map(String::as_str) == Some(platform.arch)
            })
            .map(|entry| entry.sha256.clone())
            .filter(|sha256| is_sha256(sha256))
    }
}

/// 64 lowercase hex digits, as krew compares them.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Writes a gzipped tar holding `binary` as `kubectl-workflow` (mode 755) and `license` as `LICENSE`
/// (mode 644), with fixed owners and times so that the same inputs give the same archive and checksum.
pub fn write_archive(binary: &Path, license: &Path, dest: &Path) -> anyhow::Result<()> {
    let file = File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut tar = tar::Builder::new(GzEncoder::new(BufWriter::new(file), Compression::best()));
    for (source, name, mode) in [(binary, BIN, 0o755), (license, "LICENSE", 0o644)] {
        let mut input =
            File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(input.metadata()?.len());
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, &mut input)
            .with_context(|| format!("cannot add {} to {}", source.display(), dest.display()))?;
    }
    let gzip = tar
        .into_inner()
        .with_context(|| format!("cannot write {}", dest.display()))?;
    let mut out = gzip
        .finish()
        .with_context(|| format!("cannot write {}", dest.display()))?;
    io::Write::flush(&mut out).with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(())
}

/// The sha256 of a file, in lowercase hex.
pub fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The version a kubectl-workflow binary reports (`kubectl-workflow 0.1.0` from `version`).
fn version_of(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("version")
        .output()
        .with_context(|| format!("cannot run {} version", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().strip_prefix(&format!("{BIN} ")) {
        Some(version) if output.status.success() && !version.is_empty() => Ok(version.to_owned()),
        _ => bail!(
            "{} version printed {:?}, not `{BIN} <version>`: is it a kubectl-workflow binary?",
            binary.display(),
            text.trim()
        ),
    }
}

/// File name of the packaged chart of `version` (`helm package` names it after Chart.yaml).
pub fn chart_archive_name(version: &str) -> String {
    format!("workflow-controller-{version}.tgz")
}

/// `helm package controller/chart --destination <out>`; returns the archive's path.
fn package_chart(workspace: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let helm = kwf_testenv::helm::ensure()?;
    let home = tempfile::tempdir().context("cannot create a directory for helm's settings")?;
    eprintln!(
        "dist: helm package controller/chart --destination {}",
        out.display()
    );
    let output = kwf_testenv::helm::command_with(&helm, home.path())
        .args(["package", "controller/chart", "--destination"])
        .arg(out)
        .current_dir(workspace)
        .output()
        .with_context(|| format!("cannot run {}", helm.display()))?;
    if !output.status.success() {
        bail!(
            "helm package controller/chart failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let archive = out.join(chart_archive_name(env!("CARGO_PKG_VERSION")));
    if !archive.is_file() {
        bail!(
            "helm package wrote no {}: is controller/chart/Chart.yaml of version {}?",
            archive.display(),
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(archive)
}

fn workspace_dir() -> PathBuf {
    // xtask/ sits at the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `cargo build --release` of the plugin; returns the binary's path.
fn build_release(workspace: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("dist: cargo build --release --locked -p {BIN}");
    Ok(cargo::build(workspace, cargo::Profile::Release, &[BIN])?.join(BIN))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let workspace = workspace_dir();
    let out = args.out.unwrap_or_else(|| workspace.join("dist"));
    let manifest = args
        .manifest
        .unwrap_or_else(|| workspace.join("krew").join("workflow.yaml"));
    let template_path = workspace.join("krew").join("workflow.yaml.tmpl");
    let host = Platform::host()?;
    let binary = match args.binary {
        Some(binary) => binary,
        None => build_release(&workspace)?,
    };
    let version = version_of(&binary)?;

    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let archive = out.join(archive_name(&version, host));
    write_archive(&binary, &workspace.join("LICENSE"), &archive)?;

    let mut archives = BTreeMap::new();
    for platform in PLATFORMS {
        let path = out.join(archive_name(&version, platform));
        if path.is_file() {
            let sha256 = sha256_of(&path)?;
            println!("{sha256}  {}", path.display());
            archives.insert(platform, sha256);
        }
    }
    let previous =
        match fs::read_to_string(&manifest) {
            Ok(text) => Some(PreviousManifest::parse(&text).with_context(|| {
                format!("cannot read {} (fix or delete it)", manifest.display())
            })?),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", manifest.display()));
            }
        };
    if args.chart {
        let chart = package_chart(&workspace, &out)?;
        println!("{}  {}", sha256_of(&chart)?, chart.display());
    }
    let (entries, sources) = choose_platforms(&version, &archives, previous.as_ref());
    let template = fs::read_to_string(&template_path)
        .with_context(|| format!("cannot read {}", template_path.display()))?;
    let rendered = render(&template, &version, &entries)?;
    if let Some(parent) = manifest.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(&manifest, rendered)
        .with_context(|| format!("cannot write {}", manifest.display()))?;

    eprintln!("dist: wrote {} (v{version}):", manifest.display());
    for (platform, source) in sources {
        let how = match source {
            Source::Archive => "sha256 of its archive",
            Source::PreviousManifest => "sha256 kept from the previous manifest",
            Source::Missing => {
                "left out: no archive (run dist on that platform, or copy its archive here)"
            }
        };
        eprintln!("  {platform}: {how}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    const TEMPLATE: &str = include_str!("../../krew/workflow.yaml.tmpl");

    fn sha(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-dist-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn rust_targets_map_to_krew_platforms() {
        assert_eq!(
            Platform::from_rust("linux", "x86_64"),
            Some(Platform::new("linux", "amd64"))
        );
        assert_eq!(
            Platform::from_rust("macos", "aarch64"),
            Some(Platform::new("darwin", "arm64"))
        );
        assert_eq!(Platform::from_rust("windows", "x86_64"), None);
        assert_eq!(Platform::from_rust("linux", "riscv64"), None);
    }

    #[test]
    fn archive_names_carry_version_os_and_arch() {
        assert_eq!(
            archive_name("1.2.3", Platform::new("darwin", "arm64")),
            "kubectl-workflow_1.2.3_darwin_arm64.tar.gz"
        );
    }

    #[test]
    fn the_rendered_manifest_has_krews_shape() {
        let platforms = [
            PlatformEntry {
                os: "linux",
                arch: "amd64",
                sha256: sha('a'),
            },
            PlatformEntry {
                os: "darwin",
                arch: "arm64",
                sha256: sha('b'),
            },
        ];
        let text = render(TEMPLATE, "1.2.3", &platforms).unwrap();
        let json: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let spec = &json["spec"];
        assert_eq!(spec["version"], "v1.2.3");
        for key in ["homepage", "shortDescription", "description"] {
            assert!(spec[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
        }
        let listed = spec["platforms"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1]["selector"]["matchLabels"]["os"], "darwin");
        assert_eq!(listed[1]["selector"]["matchLabels"]["arch"], "arm64");
        assert_eq!(listed[1]["sha256"], sha('b').as_str());
        assert_eq!(listed[1]["bin"], "kubectl-workflow");
        assert_eq!(
            listed[1]["uri"],
            "https://github.com/kwf-dev/kwf/releases/download/v1.2.3/kubectl-workflow_1.2.3_darwin_arm64.tar.gz"
        );
        // Read back the way the next dist run reads it.
        let previous = PreviousManifest::parse(&text).unwrap();
        assert_eq!(previous.version(), Some("1.2.3"));
        assert_eq!(
            previous.sha256(Platform::new("linux", "amd64")),
            Some(sha('a'))
        );
        assert_eq!(previous.sha256(Platform::new("linux", "arm64")), None);
    }

    /// krew/workflow.yaml is what `dist` renders: same template, this workspace's version, and only
    /// real checksums (a stale or hand-edited manifest fails here).
    #[test]
    fn the_committed_manifest_is_the_rendered_template() {
        let committed = include_str!("../../krew/workflow.yaml");
        let manifest = PreviousManifest::parse(committed).unwrap();
        assert_eq!(manifest.version(), Some(env!("CARGO_PKG_VERSION")));
        let (entries, _) =
            choose_platforms(env!("CARGO_PKG_VERSION"), &BTreeMap::new(), Some(&manifest));
        assert!(!entries.is_empty());
        assert_eq!(entries.len(), manifest.spec.platforms.len());
        assert_eq!(
            render(TEMPLATE, env!("CARGO_PKG_VERSION"), &entries).unwrap(),
            committed
        );
    }

    #[test]
    fn archives_win_then_the_previous_manifest_of_the_same_version() {
        let previous = PreviousManifest::parse(
            &render(
                TEMPLATE,
                "1.2.3",
                &[
                    PlatformEntry {
                        os: "linux",
                        arch: "amd64",
                        sha256: sha('0'),
                    },
                    PlatformEntry {
                        os: "darwin",
                        arch: "amd64",
                        sha256: sha('d'),
                    },
                ],
            )
            .unwrap(),
        )
        .unwrap();
        let archives = BTreeMap::from([(Platform::new("linux", "amd64"), sha('1'))]);

        let (entries, sources) = choose_platforms("1.2.3", &archives, Some(&previous));
        let listed: Vec<(&str, &str, String)> = entries
            .iter()
            .map(|e| (e.os, e.arch, e.sha256.clone()))
            .collect();
        assert_eq!(
            listed,
            [("linux", "amd64", sha('1')), ("darwin", "amd64", sha('d'))]
        );
        assert_eq!(
            sources.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            [
                Source::Archive,
                Source::Missing,
                Source::PreviousManifest,
                Source::Missing
            ]
        );

        // A new version drops the old checksums: they belong to the old archives.
        let (entries, _) = choose_platforms("1.3.0", &archives, Some(&previous));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].sha256, sha('1'));
    }

    #[test]
    fn a_placeholder_checksum_is_never_carried_over() {
        let previous = PreviousManifest::parse(
            "spec:\n  version: v1.0.0\n  platforms:\n  - selector: {matchLabels: {os: linux, arch: arm64}}\n    sha256: TODO\n",
        )
        .unwrap();
        assert_eq!(previous.sha256(Platform::new("linux", "arm64")), None);
        assert!(is_sha256(&sha('f')));
        assert!(!is_sha256(&sha('F')));
        assert!(!is_sha256("abc"));
    }

    #[test]
    fn the_archive_holds_the_binary_and_license_and_is_reproducible() {
        let dir = temp_dir("archive");
        let (binary, license) = (dir.join("bin"), dir.join("LICENSE.txt"));
        fs::write(&binary, b"#!/bin/sh\necho hi\n").unwrap();
        fs::write(&license, b"Apache-2.0").unwrap();
        let (first, second) = (dir.join("a.tar.gz"), dir.join("b.tar.gz"));
        write_archive(&binary, &license, &first).unwrap();
        write_archive(&binary, &license, &second).unwrap();
        assert_eq!(sha256_of(&first).unwrap(), sha256_of(&second).unwrap());
        assert!(is_sha256(&sha256_of(&first).unwrap()));

        let gzip = flate2::read::GzDecoder::new(File::open(&first).unwrap());
        let mut archive = tar::Archive::new(gzip);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            seen.push((path, mode, content));
        }
        assert_eq!(
            seen,
            [
                (
                    "kubectl-workflow".into(),
                    0o755,
                    "#!/bin/sh\necho hi\n".into()
                ),
                ("LICENSE".into(), 0o644, "Apache-2.0".into()),
            ]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        let dir = temp_dir("sha");
        let file = dir.join("abc");
        fs::write(&file, b"abc").unwrap();
        assert_eq!(
            sha256_of(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn version_is_read_from_the_binary() {
        let dir = temp_dir("version");
        let fake = dir.join("kubectl-workflow");
        fs::write(&fake, "#!/bin/sh\necho kubectl-workflow 9.8.7\n").unwrap();
        fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(version_of(&fake).unwrap(), "9.8.7");
        fs::write(&fake, "#!/bin/sh\necho something else\n").unwrap();
        let error = version_of(&fake).unwrap_err().to_string();
        assert!(
            error.contains("is it a kubectl-workflow binary?"),
            "{error}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
