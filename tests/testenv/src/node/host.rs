//! The host around the real node: whether it can run one (root, cgroups, containerd and runc, installing them
//! with apt-get when missing), what the kubelet and containerd change outside the node's folder, and undoing
//! it on stop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Programs the real node runs; installed by `tests/testenv/node/install.sh` when one is missing.
pub const REQUIRED_PROGRAMS: [&str; 6] = [
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
    "busybox",
    "nsenter",
];
/// Set to `0` (or `off`) to start the control plane without the real node.
pub const REAL_NODE_ENV: &str = "KWF_TESTENV_REAL_NODE";
/// sysctls the kubelet rewrites at start (`protectKernelDefaults: false`); restored on stop.
pub const KUBELET_SYSCTLS: [&str; 3] = [
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
];
/// Paths outside the folder that the kubelet, containerd 1.6 or libcni create whatever their configuration
/// says; each is removed on stop if it did not exist before the start.
pub const HOST_PATHS: [&str; 5] = [
    "/var/lib/kubelet",
    "/var/log/containers",
    "/run/containerd",
    "/var/lib/cni",
    "/var/log/pods",
];
/// The cgroup the kubelet (cgroupfs driver) creates in every hierarchy.
const KUBEPODS: &str = "kubepods";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The install script, found through this crate's source directory.
pub fn install_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node/install.sh")
}

/// Why this machine cannot run the real node, or `None` when it can (installing packages if needed).
pub fn unavailable_reason() -> Option<String> {
    if let Some(value) = std::env::var_os(REAL_NODE_ENV)
        && matches!(value.to_str(), Some("0" | "off" | "false"))
    {
        return Some(format!(
            "disabled by {REAL_NODE_ENV}={}",
            value.to_string_lossy()
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Some(format!(
            "it needs root (containerd, runc, mounts and cgroups) and this runs as uid {uid}"
        ));
    }
    if !memory_cgroup_present() {
        return Some(format!("no memory cgroup controller under {CGROUP_ROOT}"));
    }
    let missing = missing_programs();
    if missing.is_empty() {
        return None;
    }
    if find_program("apt-get").is_none() {
        return Some(format!(
            "{} missing and no apt-get to install them",
            missing.join(", ")
        ));
    }
    let script = install_script();
    eprintln!(
        "kwf-testenv: installing {} for the real node with apt-get ({})",
        missing.join(", "),
        script.display()
    );
    let installed = Command::new("sh")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    let missing = missing_programs();
    match installed {
        _ if missing.is_empty() => None,
        Ok(status) => Some(format!(
            "{} still missing after `sh {}` ({status})",
            missing.join(", "),
            script.display()
        )),
        Err(error) => Some(format!("cannot run `sh {}`: {error}", script.display())),
    }
}

fn memory_cgroup_present() -> bool {
    Path::new(CGROUP_ROOT).join("memory").is_dir()
        || fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
            .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory"))
}

fn missing_programs() -> Vec<&'static str> {
    REQUIRED_PROGRAMS
        .into_iter()
        .filter(|program| find_program(program).is_none())
        .collect()
}

/// `program` on `$PATH` (plus the sbin directories, where runc lives, which a user's PATH may lack).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

/// The host as it was before the real node started: what to put back on stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBefore {
    pub sysctls: Vec<(String, String)>,
    /// [`HOST_PATHS`] that did not exist (so are removed on stop).
    pub absent_paths: Vec<PathBuf>,
    /// cgroup hierarchies without a `kubepods` cgroup (so it is removed on stop).
    pub absent_kubepods: Vec<PathBuf>,
}

impl HostBefore {
    pub fn record() -> HostBefore {
        let sysctls = KUBELET_SYSCTLS
            .iter()
            .filter_map(|name| {
                let value = fs::read_to_string(Path::new("/proc/sys").join(name)).ok()?;
                Some((name.to_string(), value.trim().to_string()))
            })
            .collect();
        let absent_paths = HOST_PATHS
            .iter()
            .map(PathBuf::from)
            .filter(|path| fs::symlink_metadata(path).is_err())
            .collect();
        let absent_kubepods = cgroup_hierarchies()
            .into_iter()
            .map(|hierarchy| hierarchy.join(KUBEPODS))
            .filter(|kubepods| !kubepods.exists())
            .collect();
        HostBefore {
            sysctls,
            absent_paths,
            absent_kubepods,
        }
    }

    /// The sysctls whose value differs now from before the start, as (name, before, now).
    pub fn changed_sysctls(&self) -> Vec<(String, String, String)> {
        self.sysctls
            .iter()
            .filter_map(|(name, before)| {
                let now = fs::read_to_string(Path::new("/proc/sys").join(name)).ok()?;
                let now = now.trim().to_string();
                (now != *before).then(|| (name.clone(), before.clone(), now))
            })
            .collect()
    }

    /// Puts everything back (processes are already stopped): the sysctls, the paths outside the folder, the
    /// kubepods cgroups. Returns what could not be undone, one line each.
    pub fn restore(&self, node_dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, before, _) in self.changed_sysctls() {
            let path = Path::new("/proc/sys").join(&name);
            if let Err(error) = fs::write(&path, format!("{before}\n")) {
                problems.push(format!("cannot restore {}: {error}", path.display()));
            }
        }
        for path in &self.absent_paths {
            unmount_below(path);
            if let Err(error) = fs::remove_dir_all(path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                problems.push(format!("cannot remove {}: {error}", path.display()));
            }
        }
        // Paths that existed before: only what this node put there.
        let _ = fs::remove_file("/var/lib/kubelet/device-plugins/kubelet.sock");
        remove_links_into(Path::new("/var/log/containers"), node_dir);
        for kubepods in &self.absent_kubepods {
            if let Err(error) = remove_cgroup_tree(kubepods) {
                problems.push(error);
            }
        }
        problems
    }
}

/// Every cgroup hierarchy (v1: one per controller directory; v2: the root).
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    if root.join("cgroup.controllers").is_file() {
        return vec![root.to_path_buf()];
    }
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .filter(|dir| dir.join("cgroup.procs").is_file())
        .collect()
}

/// Processes in any `kubepods` cgroup: the pods' containers (and pause processes).
pub fn pod_processes() -> Vec<u32> {
    let mut pids = Vec::new();
    for hierarchy in cgroup_hierarchies() {
        collect_procs(&hierarchy.join(KUBEPODS), &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect_procs(cgroup: &Path, pids: &mut Vec<u32>) {
    if let Ok(text) = fs::read_to_string(cgroup.join("cgroup.procs")) {
        pids.extend(
            text.lines()
                .filter_map(|line| line.trim().parse::<u32>().ok()),
        );
    }
    if let Ok(entries) = fs::read_dir(cgroup) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&entry.path(), pids);
            }
        }
    }
}

/// containerd shims serving our containerd (their command line names its socket).
pub fn shim_processes(containerd_socket: &Path) -> Vec<u32> {
    let socket = containerd_socket.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.first()
                    .is_some_and(|program| program.ends_with(b"containerd-shim-runc-v2"))
                    && args.contains(&socket.as_bytes())
            })
        })
        .collect()
}

/// SIGKILLs `pids` again and again until `list` finds none (or `within` passes); returns the survivors.
pub fn kill_until_gone(list: impl Fn() -> Vec<u32>, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let pids = list();
        if pids.is_empty() || Instant::now() >= deadline {
            return pids;
        }
        for pid in pids {
            // SAFETY: kill(2) has no memory-safety preconditions; these pids are the node's own processes.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo, whose paths escape spaces).
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounts_below_in(&text, dir)
}

fn mounts_below_in(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|escaped| PathBuf::from(unescape_mount_path(escaped)))
        .filter(|mount| mount.starts_with(dir))
        .collect();
    mounts.sort_by_key(|mount| std::cmp::Reverse(mount.components().count()));
    mounts.dedup();
    mounts
}

fn unescape_mount_path(escaped: &str) -> String {
    let mut out = Vec::with_capacity(escaped.len());
    let bytes = escaped.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(code) = u8::from_str_radix(&escaped[i + 1..i + 4], 8)
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts (lazily) everything at or below `dir`; returns the mount points that are still there.
pub fn unmount_below(dir: &Path) -> Vec<PathBuf> {
    for _ in 0..3 {
        let mounts = mounts_below(dir);
        if mounts.is_empty() {
            break;
        }
        for mount in mounts {
            let Ok(c_path) = std::ffi::CString::new(mount.to_string_lossy().as_bytes()) else {
                continue;
            };
            // SAFETY: umount2 with a valid NUL-terminated path.
            unsafe {
                libc::umount2(c_path.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
    mounts_below(dir)
}

fn remove_links_into(dir: &Path, target_prefix: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let points_into_node =
            fs::read_link(entry.path()).is_ok_and(|t| t.starts_with(target_prefix));
        if points_into_node {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes a cgroup and its children, deepest first (a cgroup directory is removed with rmdir, never by
/// deleting its files).
fn remove_cgroup_tree(cgroup: &Path) -> Result<(), String> {
    if !cgroup.is_dir() {
        return Ok(());
    }
    if let Ok(entries) = fs::read_dir(cgroup) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path())?;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(cgroup) {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                return Err(format!(
                    "cannot remove cgroup {}: {error}",
                    cgroup.display()
                ));
            }
            // A cgroup whose last process just died stays busy for a moment.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_below_a_folder_come_deepest_first_with_spaces_unescaped() {
        let mountinfo = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:50 / /plane/node/kubelet rw - ext4 /dev/sda1 rw
31 30 0:51 / /plane/node/kubelet/pods/x/volumes/tmpfs rw - tmpfs tmpfs rw
32 22 0:52 / /plane/node/containerd/state/a\\040b rw - overlay overlay rw
33 22 0:53 / /planet rw - tmpfs tmpfs rw
";
        assert_eq!(
            mounts_below_in(mountinfo, Path::new("/plane/node")),
            [
                PathBuf::from("/plane/node/kubelet/pods/x/volumes/tmpfs"),
                PathBuf::from("/plane/node/containerd/state/a b"),
                PathBuf::from("/plane/node/kubelet"),
            ]
        );
    }

    #[test]
    fn the_host_record_lists_the_kubelet_sysctls_it_could_read() {
        let before = HostBefore::record();
        for (name, _) in &before.sysctls {
            assert!(KUBELET_SYSCTLS.contains(&name.as_str()));
        }
        assert!(before.changed_sysctls().is_empty());
    }

    #[test]
    fn programs_are_found_on_the_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-kwf").is_none());
    }
}
