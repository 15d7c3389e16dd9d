//! Connecting as kubectl does: `--kubeconfig`, else `$KUBECONFIG` (several paths merged, first
//! wins), else `~/.kube/config`; `--context` or the current context; `-n` or the context's
//! namespace. Only commands that need the cluster call this, through [`crate::session`].

use anyhow::anyhow;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::cli::ConnectionFlags;
use crate::errors::{Endpoint, one_line};

/// A client for one cluster, with what the error messages need to name it.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    pub server: String,
    pub context: String,
}

impl Cluster {
    pub fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            server: &self.server,
            context: &self.context,
        }
    }
}

/// Reads the kubeconfig and builds a client. No request is sent yet.
pub async fn connect(flags: &ConnectionFlags) -> anyhow::Result<Cluster> {
    let kubeconfig = read_kubeconfig(flags)?;
    let context = match &flags.context {
        Some(context) => context.clone(),
        None => kubeconfig.current_context.clone().ok_or_else(|| {
            anyhow!(
                "the kubeconfig sets no current-context; pass --context (one of: {})",
                contexts(&kubeconfig)
            )
        })?,
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Err(anyhow!(
            "context \"{context}\" is not in the kubeconfig (it has: {}); pass --context with one of them",
            contexts(&kubeconfig)
        ));
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| {
            anyhow!(
                "cannot use context \"{context}\" of the kubeconfig: {}",
                kubeconfig_problem(&e)
            )
        })?;
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let namespace = flags
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let cannot_build = |e: kube::Error| {
        anyhow!(
            "cannot build a client for {server} (context \"{context}\"): {}",
            one_line(&e.to_string())
        )
    };
    let client = if flags.verbosity >= crate::request_log::REQUEST_LEVEL {
        kube::client::ClientBuilder::try_from(config)
            .map_err(cannot_build)?
            .with_layer(&crate::request_log::RequestLog {
                server: server.clone(),
            })
            .build()
    } else {
        Client::try_from(config).map_err(cannot_build)?
    };
    Ok(Cluster {
        client,
        namespace,
        server,
        context,
    })
}

fn read_kubeconfig(flags: &ConnectionFlags) -> anyhow::Result<Kubeconfig> {
    if let Some(path) = &flags.kubeconfig {
        return read_file(path);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let candidates = kubeconfig_paths(std::env::var_os("KUBECONFIG").as_deref(), home.as_deref());
    // As kubectl: files listed in KUBECONFIG that do not exist are skipped; the first file
    // to set a value wins.
    let existing: Vec<&PathBuf> = candidates.iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(anyhow!(
            "no kubeconfig found (looked for {}): set KUBECONFIG or pass --kubeconfig",
            if tried.is_empty() {
                "$HOME/.kube/config".to_string()
            } else {
                tried.join(", ")
            }
        ));
    }
    existing
        .into_iter()
        .try_fold(Kubeconfig::default(), |merged, path| {
            let next = read_file(path)?;
            merged.merge(next).map_err(|e| {
                anyhow!(
                    "cannot merge kubeconfig {}: {}",
                    path.display(),
                    kubeconfig_problem(&e)
                )
            })
        })
}

/// The kubeconfig files to read: `$KUBECONFIG`'s list when set and not empty, else `~/.kube/config`.
fn kubeconfig_paths(env: Option<&OsStr>, home: Option<&Path>) -> Vec<PathBuf> {
    let listed: Vec<PathBuf> = env
        .map(|value| {
            std::env::split_paths(value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    home.map(|home| home.join(".kube").join("config"))
        .into_iter()
        .collect()
}

fn read_file(path: &Path) -> anyhow::Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|e| {
        anyhow!(
            "cannot read kubeconfig {}: {}",
            path.display(),
            kubeconfig_problem(&e)
        )
    })
}

fn kubeconfig_problem(err: &KubeconfigError) -> String {
    match err {
        // Its message repeats the path the caller already names.
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        other => one_line(&crate::errors::chain(other)),
    }
}

fn contexts(config: &Kubeconfig) -> String {
    let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        "no contexts".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_lists_every_path_of_the_variable() {
        let joined = std::env::join_paths(["/a/one", "", "/b/two"]).unwrap();
        assert_eq!(
            kubeconfig_paths(Some(&joined), Some(Path::new("/home/u"))),
            vec![PathBuf::from("/a/one"), PathBuf::from("/b/two")]
        );
    }

    #[test]
    fn an_unset_or_empty_variable_means_the_home_config() {
        let home = Some(Path::new("/home/u"));
        assert_eq!(
            kubeconfig_paths(None, home),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
        assert_eq!(
            kubeconfig_paths(Some(OsStr::new("")), home),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
        assert!(kubeconfig_paths(None, None).is_empty());
    }
}
