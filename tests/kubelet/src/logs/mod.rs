//! Container logs: where they are stored, which containers are still writing, and the HTTPS endpoint
//! `GET /containerLogs/{ns}/{pod}/{container}` that the API server proxies `kubectl logs` to.

pub mod query;
pub mod server;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// One container of one pod, as the log endpoint names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl LogKey {
    /// `{work_dir}/logs/{ns}/{pod}/{container}.log` (the contract's layout).
    pub fn path(&self, work_dir: &Path) -> PathBuf {
        work_dir
            .join("logs")
            .join(&self.namespace)
            .join(&self.pod)
            .join(format!("{}.log", self.container))
    }
}

/// The log files and which of them a live process still writes to (so `follow` knows when to stop).
#[derive(Clone, Debug)]
pub struct LogStore {
    work_dir: PathBuf,
    running: Arc<Mutex<HashSet<LogKey>>>,
}

impl LogStore {
    pub fn new(work_dir: PathBuf) -> Self {
        LogStore {
            work_dir,
            running: Arc::default(),
        }
    }

    pub fn path(&self, key: &LogKey) -> PathBuf {
        key.path(&self.work_dir)
    }

    pub fn set_running(&self, key: &LogKey, running: bool) {
        let mut set = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }

    pub fn is_running(&self, key: &LogKey) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }
}
