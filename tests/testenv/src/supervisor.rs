//! The thread that owns a running control plane: it spawns every component (so their PR_SET_PDEATHSIG is tied
//! to a thread that lives exactly as long as the control plane), runs the process kubelet on its own tokio
//! runtime, reports readiness, watches the components and stops everything on request.

use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::Api;
use kwf_kubelet::KubeletConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::flags::Layout;
use crate::process::Component;

/// How long a start may take before it is reported as not ready (a cached start takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long each component gets to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

pub const ETCD: &str = "etcd";
pub const APISERVER: &str = "kube-apiserver";
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
pub const KUBELET: &str = "kwf-kubelet";

/// The kubelet's task and, once it ended, why (a JoinHandle may be awaited only once).
struct Kubelet {
    task: Option<JoinHandle<Result<(), kwf_kubelet::Error>>>,
    ended: Option<Result<(), String>>,
    log: PathBuf,
}

impl Kubelet {
    /// Why the kubelet ended, if it did.
    async fn ended(&mut self) -> Option<Result<(), String>> {
        if let Some(task) = self.task.take_if(|task| task.is_finished()) {
            self.ended = Some(outcome(task.await));
        }
        self.ended.clone()
    }

    /// Waits for the kubelet to stop after its shutdown future resolved.
    async fn stopped(mut self) -> Result<(), Error> {
        let ended = match self.task.take() {
            Some(task) => match tokio::time::timeout(STOP_GRACE, task).await {
                Ok(joined) => outcome(joined),
                Err(_) => Err(format!("it did not stop within {} s", STOP_GRACE.as_secs())),
            },
            None => self.ended.take().unwrap_or(Ok(())),
        };
        ended.map_err(|reason| self.error(reason))
    }

    fn error(&self, reason: String) -> Error {
        Error::Kubelet {
            reason,
            log: self.log.clone(),
        }
    }
}

fn outcome(
    joined: Result<Result<(), kwf_kubelet::Error>, tokio::task::JoinError>,
) -> Result<(), String> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(join) => Err(join.to_string()),
    }
}

/// Runs on the owner thread until `shutdown` resolves (or the start fails). The start's outcome goes to `ready`.
pub fn run(
    layout: Layout,
    kubelet_config: KubeletConfig,
    ready: mpsc::Sender<Result<(), Error>>,
    shutdown: oneshot::Receiver<()>,
) -> Result<(), Error> {
    let kubelet_log = layout.log_dir().join(format!("{KUBELET}.log"));
    let runtime = match runtime_logging_to(&kubelet_log) {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(error));
            return Ok(());
        }
    };
    let mut components = Vec::new();
    let (stop_kubelet, kubelet_stopped) = oneshot::channel::<()>();
    let mut kubelet = Kubelet {
        task: None,
        ended: None,
        log: kubelet_log.clone(),
    };
    let kubelet_outcome = runtime.block_on(async {
        let started = bring_up(
            &layout,
            kubelet_config,
            async {
                let _ = kubelet_stopped.await;
            },
            &mut components,
            &mut kubelet,
        )
        .await;
        let up = started.is_ok();
        let _ = ready.send(started);
        if up {
            watch(&mut components, &mut kubelet, shutdown).await;
        }
        let _ = stop_kubelet.send(());
        kubelet.stopped().await
    });
    // The kubelet's host processes die with the runtime's threads; the components are stopped in the order
    // that keeps the logs quiet: the controller manager and the apiserver before etcd.
    runtime.shutdown_timeout(STOP_GRACE);
    let (etcd, others): (Vec<_>, Vec<_>) = components.into_iter().partition(|c| c.name == ETCD);
    for mut group in [others, etcd] {
        group.iter_mut().for_each(Component::signal_terminate);
        group.iter_mut().for_each(|c| c.wait_or_kill(STOP_GRACE));
    }
    let _ = std::fs::remove_dir_all(layout.etcd_data_dir());
    kubelet_outcome
}

/// A runtime whose threads send `tracing` events (the kubelet's, kube's) to `log`, without touching the
/// process-wide subscriber that tests may set up themselves.
fn runtime_logging_to(log: &Path) -> Result<tokio::runtime::Runtime, Error> {
    let file = File::create(log).map_err(|e| Error::io("cannot create log", log, e))?;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,kube_client::client::builder=off",
        ))
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    // The owner thread polls the block_on future; every worker and blocking thread gets the same default.
    std::mem::forget(tracing::dispatcher::set_default(&dispatch));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kwf-testenv")
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&dispatch)))
        .build()
        .map_err(|e| Error::io("cannot start the tokio runtime for", log, e))
}

async fn bring_up(
    layout: &Layout,
    kubelet: KubeletConfig,
    kubelet_shutdown: impl Future<Output = ()> + Send + 'static,
    components: &mut Vec<Component>,
    kubelet_task: &mut Kubelet,
) -> Result<(), Error> {
    let started = Instant::now();
    let deadline = started + START_TIMEOUT;
    let progress = |what: &str| {
        tracing::info!(
            "kwf-testenv: {what} after {:.2} s",
            started.elapsed().as_secs_f64()
        )
    };
    let log = |name: &str| layout.log_dir().join(format!("{name}.log"));

    components.push(Component::spawn(
        ETCD,
        &layout.bin_dir.join(ETCD),
        &layout.etcd(),
        &log(ETCD),
    )?);
    let etcd_port = layout.ports.etcd_client;
    wait_until(
        components,
        None,
        deadline,
        ETCD,
        &log(ETCD),
        || async move {
            tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, etcd_port))
                .await
                .map(drop)
                .map_err(|e| format!("port {etcd_port} does not accept connections: {e}"))
        },
    )
    .await?;
    progress("etcd accepts connections");

    components.push(Component::spawn(
        APISERVER,
        &layout.bin_dir.join(APISERVER),
        &layout.apiserver(),
        &log(APISERVER),
    )?);
    let client = crate::env::client_for(&layout.kubeconfig)
        .await
        .map_err(|detail| Error::NotReady {
            component: APISERVER,
            seconds: 0,
            detail,
            log: layout.kubeconfig.clone(),
        })?;
    wait_until(
        components,
        None,
        deadline,
        APISERVER,
        &log(APISERVER),
        || readyz(&client),
    )
    .await?;
    progress("kube-apiserver is ready");

    components.push(Component::spawn(
        CONTROLLER_MANAGER,
        &layout.bin_dir.join(CONTROLLER_MANAGER),
        &layout.controller_manager(),
        &log(CONTROLLER_MANAGER),
    )?);
    let node_name = kubelet.node_name.clone();
    kubelet_task.task = Some(tokio::spawn(kwf_kubelet::run(
        client.clone(),
        kubelet,
        kubelet_shutdown,
    )));

    let namespaces: Api<Namespace> = Api::all(client.clone());
    wait_until(
        components,
        Some(&mut *kubelet_task),
        deadline,
        APISERVER,
        &log(APISERVER),
        || exists(&namespaces, "Namespace", "default"),
    )
    .await?;
    progress("namespace default exists");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    wait_until(
        components,
        Some(&mut *kubelet_task),
        deadline,
        CONTROLLER_MANAGER,
        &log(CONTROLLER_MANAGER),
        || exists(&accounts, "ServiceAccount", "default"),
    )
    .await?;
    progress("ServiceAccount default/default exists");
    let nodes: Api<Node> = Api::all(client.clone());
    wait_until(
        components,
        Some(&mut *kubelet_task),
        deadline,
        KUBELET,
        &log(KUBELET),
        || node_ready(&nodes, &node_name),
    )
    .await?;
    progress("the Node is Ready");
    Ok(())
}

/// Polls `check` until it succeeds, failing early when a component or the kubelet ends, and with
/// [`Error::NotReady`] naming `component` at the deadline.
async fn wait_until<F, Fut>(
    components: &mut [Component],
    mut kubelet: Option<&mut Kubelet>,
    deadline: Instant,
    component: &'static str,
    log: &Path,
    mut check: F,
) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        for each in components.iter_mut() {
            each.check_alive()?;
        }
        if let Some(kubelet) = kubelet.as_deref_mut()
            && let Some(ended) = kubelet.ended().await
        {
            let why = ended
                .err()
                .unwrap_or_else(|| "it stopped before it was asked to".into());
            return Err(kubelet.error(why));
        }
        let detail = match check().await {
            Ok(()) => return Ok(()),
            Err(detail) => detail,
        };
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                component,
                seconds: started.elapsed().as_secs(),
                detail,
                log: log.to_path_buf(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn readyz(client: &kube::Client) -> Result<(), String> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match client.request_text(request).await {
        Ok(body) if body.trim() == "ok" => Ok(()),
        Ok(body) => Err(format!("/readyz says {}", body.trim())),
        Err(error) => Err(format!("/readyz: {error}")),
    }
}

async fn exists<K>(api: &Api<K>, kind: &str, name: &str) -> Result<(), String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("{kind} {name} does not exist yet")),
        Err(error) => Err(format!("reading {name}: {error}")),
    }
}

async fn node_ready(nodes: &Api<Node>, name: &str) -> Result<(), String> {
    let node = nodes
        .get_opt(name)
        .await
        .map_err(|e| format!("reading Node {name}: {e}"))?
        .ok_or_else(|| format!("Node {name} is not registered"))?;
    let ready = node
        .status
        .and_then(|status| status.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True");
    if ready {
        Ok(())
    } else {
        Err(format!("Node {name} is not Ready"))
    }
}

/// Keeps the control plane up until `shutdown`; reports (once each) a component or the kubelet that ends.
async fn watch(
    components: &mut [Component],
    kubelet: &mut Kubelet,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut reported = vec![false; components.len()];
    let mut kubelet_reported = false;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        for (component, reported) in components.iter_mut().zip(reported.iter_mut()) {
            if let (Some(status), false) = (component.exit_status(), *reported) {
                eprintln!(
                    "kwf-testenv: {}",
                    component
                        .died(status)
                        .to_string()
                        .replace(" during start", "")
                );
                *reported = true;
            }
        }
        if let (Some(ended), false) = (kubelet.ended().await, kubelet_reported) {
            let why = ended.err().unwrap_or_else(|| "it returned early".into());
            eprintln!("kwf-testenv: the process kubelet stopped: {why}");
            kubelet_reported = true;
        }
    }
}

/// The kubelet listens on any free loopback port; the one it binds is registered on its Node.
pub fn kubelet_listen_address() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}
