//! containerd's configuration for the real node: every path of its own below the node's folder, and the
//! CRI settings this kind of machine needs.

use super::layout::{NodeLayout, PAUSE_IMAGE};

/// containerd 1.6's config (version 2). The non-defaults that matter:
/// - `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE, so a sandbox asking for oom_score_adj -998
///   kills `runc init`;
/// - `netns_mounts_under_state_dir`: pod network namespaces are mounted under our state, not /run/netns;
/// - `sandbox_image` is the pause image built here (a missing one would trigger a pull);
/// - runc's `Root` and the CNI directories are ours; metrics and debug endpoints are off.
pub fn config(layout: &NodeLayout) -> String {
    let p = |path: std::path::PathBuf| path.to_string_lossy().into_owned();
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{runc}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
"#,
        root = p(layout.containerd_root()),
        state = p(layout.containerd_state()),
        socket = p(layout.containerd_socket()),
        opt = p(layout.containerd_opt()),
        pause = PAUSE_IMAGE,
        runc = p(layout.runc_root()),
        cni_bin = p(layout.cni_bin_dir()),
        cni_conf = p(layout.cni_conf_dir()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_below_the_node_folder_and_the_needed_settings_are_on() {
        let layout = NodeLayout::new(std::path::Path::new("/plane"));
        let text = config(&layout);
        for line in text.lines().filter(|line| line.contains('/')) {
            let quoted = line.split('"').nth(1).unwrap_or_default();
            if quoted.starts_with('/') {
                assert!(quoted.starts_with("/plane/node/"), "{line}");
            }
        }
        for expected in [
            "restrict_oom_score_adj = true",
            "netns_mounts_under_state_dir = true",
            "sandbox_image = \"kwf.local/pause:1\"",
            "address = \"/plane/node/containerd/containerd.sock\"",
            "Root = \"/plane/node/runc\"",
        ] {
            assert!(text.contains(expected), "missing {expected}");
        }
    }
}
