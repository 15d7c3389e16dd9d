//! The real node's images, built here with no registry: busybox from Debian's busybox-static (the binary,
//! one symlink per applet, /etc/passwd and /etc/group, /tmp 1777) and the pause image (a static C program,
//! `node/pause.c`). Archives are cached under `~/.cache/kwf/images-<key>`, keyed by their inputs, and
//! imported into containerd with `ctr images import` at every start, with the controller's image when
//! `cargo xtask image` has written it (`target/image/*.oci.tar`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::oci::{Compression, Entry, Image};

use super::layout::{BUSYBOX_IMAGE, PAUSE_IMAGE};

/// Bumped when what the images contain changes in a way their inputs do not show.
const RECIPE_VERSION: &str = "1";
/// Where Debian's busybox-static installs its binary.
const BUSYBOX: &str = "/bin/busybox";

/// The image archives to import, with the reference each names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archives {
    pub images: Vec<(String, PathBuf)>,
}

/// The kwf cache directory, as `go/build.sh` finds it.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KWF_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("kwf")
}

fn pause_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node/pause.c")
}

/// Builds the archives, or finds them cached. Errors are one line.
pub fn ensure() -> Result<Archives, String> {
    let busybox = fs::read(BUSYBOX).map_err(|e| format!("cannot read {BUSYBOX}: {e}"))?;
    let pause_c = fs::read(pause_source())
        .map_err(|e| format!("cannot read {}: {e}", pause_source().display()))?;
    let mut inputs = Vec::new();
    for part in [RECIPE_VERSION.as_bytes(), &busybox, &pause_c] {
        inputs.extend_from_slice(crate::oci::sha256_digest(part).as_bytes());
    }
    let key = &crate::oci::sha256_digest(&inputs)["sha256:".len()..][..16];
    let dir = cache_dir().join(format!("images-{key}"));
    let busybox_archive = dir.join("busybox.tar");
    let pause_archive = dir.join("pause.tar");
    if !busybox_archive.is_file() {
        busybox_image(&applets()?)
            .write_archive(&busybox_archive)
            .map_err(|e| format!("building the busybox image: {e}"))?;
    }
    if !pause_archive.is_file() {
        let binary = dir.join("pause");
        compile_pause(&binary)?;
        pause_image(&binary)
            .write_archive(&pause_archive)
            .map_err(|e| format!("building the pause image: {e}"))?;
    }
    let mut images = vec![
        (BUSYBOX_IMAGE.to_string(), busybox_archive),
        (PAUSE_IMAGE.to_string(), pause_archive),
    ];
    images.extend(workspace_images());
    Ok(Archives { images })
}

/// Image archives `cargo xtask image` wrote (the controller's), named by their file.
fn workspace_images() -> Vec<(String, PathBuf)> {
    let dir = crate::state::workspace_dir().join("target").join("image");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut archives: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.to_string_lossy().ends_with(".oci.tar"))
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, path)
        })
        .collect();
    archives.sort();
    archives
}

/// busybox's applets, from `busybox --list-full` (paths such as `bin/sh`, `usr/bin/env`).
fn applets() -> Result<Vec<String>, String> {
    let output = Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .map_err(|e| format!("cannot run {BUSYBOX} --list-full: {e}"))?;
    if !output.status.success() {
        return Err(format!("{BUSYBOX} --list-full failed ({})", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim().trim_start_matches('/').to_string())
        .filter(|line| !line.is_empty() && line != "bin/busybox")
        .collect())
}

/// The busybox image: `/bin/busybox` and an absolute symlink to it per applet; root and `nobody` users.
pub fn busybox_image(applets: &[String]) -> Image {
    let mut image = Image::new(BUSYBOX_IMAGE)
        .cmd(["sh"])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .compression(Compression::None)
        .entry(Entry::copy_of("bin/busybox", BUSYBOX).mode(0o755))
        .entry(Entry::file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ))
        .entry(Entry::file("etc/group", "root:x:0:\nnogroup:x:65534:\n"))
        .entry(Entry::dir("tmp").mode(0o1777))
        .entry(Entry::dir("root").mode(0o700))
        .entry(Entry::dir("proc"))
        .entry(Entry::dir("sys"))
        .entry(Entry::dir("dev"));
    for applet in applets {
        image = image.entry(Entry::symlink(applet.as_str(), "/bin/busybox"));
    }
    image
}

/// The pause image: one static binary, its entrypoint.
pub fn pause_image(binary: &Path) -> Image {
    Image::new(PAUSE_IMAGE)
        .entrypoint(["/pause"])
        .user("65535:65535")
        .compression(Compression::None)
        .entry(Entry::copy_of("pause", binary).mode(0o755))
}

fn compile_pause(binary: &Path) -> Result<(), String> {
    if let Some(parent) = binary.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&compiler)
        .args(["-static", "-Os", "-s", "-o"])
        .arg(binary)
        .arg(pause_source())
        .output()
        .map_err(|e| {
            format!("cannot run {compiler} to build the pause image: {e}; install gcc (apt-get install gcc libc6-dev)")
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{compiler} -static {}` failed: {}",
            pause_source().display(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or_default()
        ))
    }
}

/// `ctr --address <socket> -n k8s.io images import <archive>` for each archive.
pub fn import(ctr: &Path, socket: &Path, archives: &Archives) -> Result<(), String> {
    for (reference, archive) in &archives.images {
        let output = Command::new(ctr)
            .arg("--address")
            .arg(socket)
            .args(["-n", super::layout::CRI_NAMESPACE, "images", "import"])
            .arg(archive)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", ctr.display()))?;
        if !output.status.success() {
            return Err(format!(
                "`ctr images import {}` ({reference}) failed: {}",
                archive.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// The images containerd holds for the kubelet (`ctr images ls -q`), sorted, without digest-only names.
pub fn list(ctr: &Path, socket: &Path) -> Result<Vec<String>, String> {
    let output = Command::new(ctr)
        .arg("--address")
        .arg(socket)
        .args(["-n", super::layout::CRI_NAMESPACE, "images", "ls", "-q"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ctr.display()))?;
    if !output.status.success() {
        return Err(format!(
            "`ctr images ls` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let mut images: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.starts_with("sha256:") && !name.contains('@'))
        .map(str::to_string)
        .collect();
    images.sort();
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busybox_image_links_every_applet_to_the_binary() {
        let applets = vec!["bin/sh".to_string(), "usr/bin/env".to_string()];
        let image = busybox_image(&applets);
        assert_eq!(image.reference(), BUSYBOX_IMAGE);
        let dir = tempfile::tempdir().expect("temp dir");
        // The layer is written from the host's busybox: only where it is installed.
        if Path::new(BUSYBOX).is_file() {
            let digests = image.write_layout(dir.path()).expect("written");
            assert!(digests.layer_size > 100_000, "{digests:?}");
        }
    }
}
