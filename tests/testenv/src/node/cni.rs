//! The pod network of the real node: the project's own `kwf-loopback` CNI plugin (`node/cni-loopback.sh`),
//! which gives each pod an isolated namespace with only `lo` up and the pod IP 127.0.0.1.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The plugin's name: its file name in the CNI bin dir and its `type` in the network configuration.
pub const PLUGIN: &str = "kwf-loopback";
/// containerd's CRI plugin always adds a loopback network of plugin type `loopback` beside the configured
/// one; our plugin does that job too (it only brings `lo` up), so it is installed under that name as well and
/// no stock CNI plugin is needed.
const LOOPBACK_PLUGIN: &str = "loopback";
/// The network configuration's file name (containerd takes the first one in the conf dir).
pub const CONF_FILE: &str = "10-kwf-loopback.conflist";

const PLUGIN_SOURCE: &str = include_str!("../../node/cni-loopback.sh");

/// The network configuration list naming the plugin.
pub fn conf() -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": PLUGIN,
        "plugins": [{ "type": PLUGIN }],
    })
    .to_string()
}

/// Writes the plugin into `bin_dir`, executable, as `kwf-loopback` and `loopback`.
pub fn install_plugin(bin_dir: &Path) -> Result<(), String> {
    for name in [PLUGIN, LOOPBACK_PLUGIN] {
        let path = bin_dir.join(name);
        fs::write(&path, PLUGIN_SOURCE)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("cannot install the CNI plugin {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn the_conf_names_the_plugin() {
        let conf: serde_json::Value = serde_json::from_str(&conf()).expect("json");
        assert_eq!(conf["plugins"][0]["type"], PLUGIN);
        assert_eq!(conf["cniVersion"], "1.0.0");
    }

    fn run(command: &str) -> (bool, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        install_plugin(dir.path()).expect("installed");
        let output = Command::new(dir.path().join(PLUGIN))
            .env("CNI_COMMAND", command)
            .stdin(Stdio::null())
            .output()
            .expect("ran");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    #[test]
    fn version_lists_the_spec_versions_and_del_does_nothing() {
        let (ok, out) = run("VERSION");
        assert!(ok);
        let version: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert!(
            version["supportedVersions"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v == "1.0.0"))
        );
        assert_eq!(run("DEL"), (true, String::new()));
        assert!(!run("BOGUS").0);
    }
}
