//! The thread that owns a running control plane: it spawns every component (so their PR_SET_PDEATHSIG is tied
//! to a thread that lives exactly as long as the control plane), runs the process kubelets on its own tokio
//! runtime, reports readiness, then starts the real node (when the machine can run it), watches the
//! components and stops everything on request.

use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{ListParams, PostParams};
use kwf_kubelet::KubeletConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::flags::{HOSTPATH_PROVISIONER, HOSTPATH_STORAGE_CLASS, Layout};
use crate::node::RealNode;
use crate::process::Component;

/// How long a start may take before it is reported as not ready (a cached start takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long each component gets to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

pub const ETCD: &str = "etcd";
pub const APISERVER: &str = "kube-apiserver";
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
pub const SCHEDULER: &str = "kube-scheduler";
/// Where kube-controller-manager's host-path provisioner puts volumes (hard-coded upstream).
const HOSTPATH_PV_DIR: &str = "/tmp/hostpath_pv";
pub const KUBELET: &str = "kwf-kubelet";

/// A process kubelet's task and, once it ended, why (a JoinHandle may be awaited only once).
struct Kubelet {
    task: Option<JoinHandle<Result<(), kwf_kubelet::Error>>>,
    ended: Option<Result<(), String>>,
    log: PathBuf,
}

/// The process kubelets, stopped together.
type Kubelets = Vec<Kubelet>;

/// The first of `kubelets` that ended, and why.
async fn first_ended(kubelets: &mut Kubelets) -> Option<(usize, Result<(), String>)> {
    for (index, kubelet) in kubelets.iter_mut().enumerate() {
        if let Some(ended) = kubelet.ended().await {
            return Some((index, ended));
        }
    }
    None
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
    kubelet_configs: Vec<KubeletConfig>,
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
    let (stop_kubelets, kubelets_stopped) = tokio::sync::watch::channel(false);
    let mut kubelets: Kubelets = Vec::new();
    let mut real_node: Option<RealNode> = None;
    crate::node::clear_status(&layout.dir);
    let kubelet_outcome = runtime.block_on(async {
        let started = bring_up(
            &layout,
            kubelet_configs,
            &kubelet_log,
            move || {
                let mut stopped = kubelets_stopped.clone();
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                }
            },
            &mut components,
            &mut kubelets,
        )
        .await;
        let client = match started {
            Ok(client) => {
                let _ = ready.send(Ok(()));
                Some(client)
            }
            Err(error) => {
                let _ = ready.send(Err(error));
                None
            }
        };
        if let Some(client) = client {
            let watching = watch(&mut components, &mut kubelets, shutdown);
            tokio::pin!(watching);
            let mut stopped_early = false;
            match RealNode::prepare(&layout) {
                Ok(node) => {
                    let node = real_node.insert(node);
                    tokio::select! {
                        () = &mut watching => stopped_early = true,
                        outcome = node.start(&client) => match outcome {
                            Ok(ready_in) => tracing::info!(
                                "kwf-testenv: the real node {} is Ready after {:.1} s",
                                crate::node::REAL_NODE_NAME,
                                ready_in.as_secs_f64()
                            ),
                            Err(reason) => {
                                eprintln!("kwf-testenv: the real node is not running: {reason}");
                                RealNode::record_unavailable(&layout.dir, &reason);
                            }
                        },
                    }
                }
                Err(reason) => {
                    eprintln!("kwf-testenv: the real node is not running: {reason}");
                    RealNode::record_unavailable(&layout.dir, &reason);
                }
            }
            if !stopped_early {
                watching.await;
            }
            remove_provisioned_volumes(&client).await;
        }
        let _ = stop_kubelets.send(true);
        let mut outcome = Ok(());
        for kubelet in kubelets {
            let stopped = kubelet.stopped().await;
            if outcome.is_ok() {
                outcome = stopped;
            }
        }
        outcome
    });
    if let Some(mut node) = real_node.take() {
        for problem in node.stop() {
            eprintln!("kwf-testenv: stopping the real node: {problem}");
        }
    }
    // The process kubelets' host processes die with the runtime's threads; the components are stopped in the order
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

async fn bring_up<S, F>(
    layout: &Layout,
    kubelet_configs: Vec<KubeletConfig>,
    kubelet_log: &Path,
    kubelet_shutdown: S,
    components: &mut Vec<Component>,
    kubelets: &mut Kubelets,
) -> Result<kube::Client, Error>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + 'static,
{
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
    components.push(Component::spawn(
        SCHEDULER,
        &layout.bin_dir.join(SCHEDULER),
        &layout.scheduler(),
        &log(SCHEDULER),
    )?);
    let node_names: Vec<String> = kubelet_configs
        .iter()
        .map(|c| c.node_name.clone())
        .collect();
    for config in kubelet_configs {
        kubelets.push(Kubelet {
            task: Some(tokio::spawn(kwf_kubelet::run(
                client.clone(),
                config,
                kubelet_shutdown(),
            ))),
            ended: None,
            log: kubelet_log.to_path_buf(),
        });
    }
    create_storage_class(&client).await?;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    wait_until(
        components,
        Some(&mut *kubelets),
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
        Some(&mut *kubelets),
        deadline,
        CONTROLLER_MANAGER,
        &log(CONTROLLER_MANAGER),
        || exists(&accounts, "ServiceAccount", "default"),
    )
    .await?;
    progress("ServiceAccount default/default exists");
    let nodes: Api<Node> = Api::all(client.clone());
    for node_name in &node_names {
        wait_until(
            components,
            Some(&mut *kubelets),
            deadline,
            KUBELET,
            &log(KUBELET),
            || node_ready(&nodes, node_name),
        )
        .await?;
    }
    progress("the process Nodes are Ready");
    Ok(client)
}

/// The default StorageClass: kube-controller-manager's host-path provisioner (claims bind at once; a
/// volume is a directory on this machine, which is the only one).
async fn create_storage_class(client: &kube::Client) -> Result<(), Error> {
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class: StorageClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": HOSTPATH_STORAGE_CLASS,
            "annotations": { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        "provisioner": HOSTPATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }))
    .map_err(|e| Error::Supervisor(format!("the StorageClass object: {e}")))?;
    match classes.create(&PostParams::default(), &class).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(Error::NotReady {
            component: APISERVER,
            seconds: 0,
            detail: format!("creating StorageClass {HOSTPATH_STORAGE_CLASS}: {error}"),
            log: PathBuf::from("kube-apiserver.log"),
        }),
    }
}

/// Removes the directories the host-path provisioner made for this plane's volumes (they live outside the
/// folder, in [`HOSTPATH_PV_DIR`]), and that directory itself once it is empty.
async fn remove_provisioned_volumes(client: &kube::Client) {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let Ok(list) = volumes.list(&ListParams::default()).await else {
        return;
    };
    for volume in list.items {
        let path = volume
            .spec
            .and_then(|spec| spec.host_path)
            .map(|host_path| PathBuf::from(host_path.path));
        if let Some(path) = path
            .filter(|path| path.starts_with(HOSTPATH_PV_DIR) && path != Path::new(HOSTPATH_PV_DIR))
        {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    let _ = std::fs::remove_dir(HOSTPATH_PV_DIR);
}

/// Polls `check` until it succeeds, failing early when a component or the kubelet ends, and with
/// [`Error::NotReady`] naming `component` at the deadline.
async fn wait_until<F, Fut>(
    components: &mut [Component],
    mut kubelets: Option<&mut Kubelets>,
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
        if let Some(kubelets) = kubelets.as_deref_mut()
            && let Some((index, ended)) = first_ended(kubelets).await
        {
            let why = ended
                .err()
                .unwrap_or_else(|| "it stopped before it was asked to".into());
            return Err(kubelets[index].error(why));
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
    kubelets: &mut Kubelets,
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
        if let (Some((_, ended)), false) = (first_ended(kubelets).await, kubelet_reported) {
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
