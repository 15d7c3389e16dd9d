//! The command line, as clap derive types. Parsing only: no I/O happens here, so `--help`,
//! usage errors and `version` never touch the network or a kubeconfig.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage kwf Workflows: DAGs of steps that run as Kubernetes Jobs.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl-workflow",
    bin_name = "kubectl workflow",
    version,
    propagate_version = true,
    max_term_width = 110,
    after_help = "Examples:\n  kubectl workflow create -f wf.yaml --watch\n  kubectl workflow graph my-wf --watch\n  kubectl workflow restart my-wf --failed\n  kubectl workflow logs my-wf build -f\n  kubectl workflow wait my-wf --for=completed --timeout=10m"
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionFlags,

    /// When to color the output: auto colors a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's connection flags; every command that talks to the cluster honours them.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnectionFlags {
    /// Namespace to use (default: the namespace of the kubeconfig context, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// Path to the kubeconfig file (default: $KUBECONFIG, several paths merged, else ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Log every API request (kubectl's -v): 6 or more prints method, URL, status and time.
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        value_name = "LEVEL",
        default_value_t = 0
    )]
    pub verbosity: u8,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create workflows from a file (several YAML documents allowed), validating them first.
    Create(CreateArgs),
    /// Run a WorkflowTemplate: create a workflow from it with parameter values.
    Submit(SubmitArgs),
    /// Show a workflow's DAG with the live state of every step (template/NAME: a template's DAG).
    Graph(GraphArgs),
    /// Show a workflow in detail: spec, steps, failed steps' last log lines, conditions, events;
    /// or a template (template/NAME): parameters, triggers, steps and its recent runs.
    Describe(ObjectArg),
    /// Rerun a workflow, or only its failed, skipped and stopped steps with --failed.
    Restart(RestartArgs),
    /// Stop a running workflow: delete its running Jobs, mark what did not finish Stopped.
    Stop(StopArgs),
    /// Suspend a workflow: no new step starts; running steps finish.
    Suspend(ControlArgs),
    /// Resume a suspended workflow.
    Resume(ControlArgs),
    /// Wait until a workflow completes, fails or finishes; exit codes scripts can rely on.
    #[command(after_help = WAIT_EXIT_CODES)]
    Wait(WaitArgs),
    /// Delete workflows (their Jobs and pods go with them).
    Delete(DeleteArgs),
    /// Add, change or remove labels of a workflow; the controller copies them onto its Jobs.
    Relabel(RelabelArgs),
    /// List workflows, or templates with `list templates`.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Print the logs of a step, or of every step in dependency order.
    Logs(LogsArgs),
    /// Check workflow files offline (no cluster needed).
    Validate(ValidateArgs),
    /// Print the kwf objects of a file written for kopf, KubeCI, JobFlow or oaat (offline).
    Convert(ConvertArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Print the plugin's version.
    Version,
}

impl Command {
    /// Whether the command draws ASCII instead of Unicode glyphs (`--ascii`).
    pub fn ascii(&self) -> bool {
        match self {
            Command::Create(CreateArgs { follow, .. })
            | Command::Submit(SubmitArgs { follow, .. })
            | Command::Graph(GraphArgs { follow, .. })
            | Command::Restart(RestartArgs { follow, .. }) => follow.ascii,
            _ => false,
        }
    }
}

/// The exit codes of `wait`, in its --help.
pub const WAIT_EXIT_CODES: &str = "Exit codes:\n  0  the condition was met\n  1  the workflow finished the other way (one line says how)\n  2  usage error\n  3  timed out waiting for the condition\n  4  could not wait: workflow not found or deleted, API server unreachable, forbidden";

/// The workflow or template a command acts on.
#[derive(Args, Debug)]
pub struct ObjectArg {
    /// NAME or workflow/NAME for a workflow, template/NAME for a WorkflowTemplate.
    #[arg(value_name = "NAME|template/NAME")]
    pub name: String,
}

/// The workflow a command acts on.
#[derive(Args, Debug)]
pub struct WorkflowArg {
    /// The workflow's name.
    pub name: String,
}

/// The file of `create` and `validate`.
#[derive(Args, Debug)]
pub struct FileArg {
    /// The file to read, or `-` for standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub path: PathBuf,
}

/// `--watch` and `--ascii`: following a workflow while its graph is redrawn.
#[derive(Args, Debug, Clone, Copy)]
pub struct FollowFlags {
    /// Follow until the workflow ends, redrawing its graph; exit 0 when it completed, 1 when it failed.
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// Use ASCII instead of Unicode glyphs.
    #[arg(long)]
    pub ascii: bool,
}

/// How `create` sends the objects.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    /// Send them for real.
    None,
    /// Validate locally only; nothing is sent.
    Client,
    /// Let the API server validate them (admission included) without persisting.
    Server,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub file: FileArg,

    /// Validate without creating: `client` (offline) or `server` (API server dry run).
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_value_t = DryRun::None,
          default_missing_value = "client", conflicts_with = "watch")]
    pub dry_run: DryRun,

    /// Convert documents of other systems even when a field has no kwf equivalent (each such
    /// field is then a warning on stderr, and left out).
    #[arg(long)]
    pub allow_lossy: bool,

    #[command(flatten)]
    pub follow: FollowFlags,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The template to run: template/NAME (a WorkflowTemplate in the namespace).
    #[arg(long = "from", value_name = "template/NAME")]
    pub from: String,

    /// A parameter value (KEY=VALUE); repeat for more. Unset parameters take their default.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    /// Name of the workflow (default: generated by the API server, <template>-xxxxx).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Create nothing: `client` (the template is read, the run printed) or `server`.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_value_t = DryRun::None,
          default_missing_value = "client", conflicts_with = "watch")]
    pub dry_run: DryRun,

    /// Print the workflow created (or that would be) instead of its name.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<SubmitOutput>,

    #[command(flatten)]
    pub follow: FollowFlags,
}

/// Output formats of `submit`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutput {
    Yaml,
    Json,
}

/// Output formats of `graph`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphOutput {
    Tree,
    Json,
    Yaml,
    Dot,
    Mermaid,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    #[command(flatten)]
    pub workflow: ObjectArg,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = GraphOutput::Tree)]
    pub output: GraphOutput,

    /// Under each fanned-out step, a line per instance that has not succeeded (its item,
    /// attempt and Job), then one for the rest; without it, a fan-out is one line of counts.
    #[arg(long)]
    pub instances: bool,

    #[command(flatten)]
    pub follow: FollowFlags,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub workflow: WorkflowArg,

    /// Rerun only the failed, skipped and stopped steps, keeping what succeeded.
    #[arg(long)]
    pub failed: bool,

    #[command(flatten)]
    pub follow: FollowFlags,
}

/// `--dry-run` of the commands that change a workflow: `client` sends nothing that changes
/// it, `server` has the API server check the change without persisting it.
#[derive(Args, Debug, Clone, Copy)]
pub struct DryRunFlag {
    /// Change nothing: `client` (only reads are sent) or `server` (the API server checks the
    /// change without persisting it); `--dry-run` alone means client.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_value_t = DryRun::None,
          default_missing_value = "client", hide_possible_values = true)]
    pub dry_run: DryRun,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    pub workflow: WorkflowArg,

    #[command(flatten)]
    pub dry_run: DryRunFlag,
}

/// `suspend` and `resume`.
#[derive(Args, Debug)]
pub struct ControlArgs {
    #[command(flatten)]
    pub workflow: WorkflowArg,

    #[command(flatten)]
    pub dry_run: DryRunFlag,
}

/// What `wait --for` waits for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Every step succeeded.
    Completed,
    /// The workflow failed (a step failed, it was stopped, or its spec is invalid).
    Failed,
    /// Either.
    Finished,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[command(flatten)]
    pub workflow: WorkflowArg,

    /// The end to wait for.
    #[arg(long = "for", value_enum, default_value_t = WaitFor::Completed, value_name = "CONDITION")]
    pub condition: WaitFor,

    /// How long to wait, such as 30s, 10m or 1h30m (as kubectl wait: 0 looks once, a negative
    /// value waits a week).
    #[arg(
        long,
        default_value = "30s",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub timeout: String,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(true).args(["names", "selector", "all"]))]
pub struct DeleteArgs {
    /// The workflows to delete.
    #[arg(value_name = "NAME", conflicts_with_all = ["selector", "all"])]
    pub names: Vec<String>,

    /// Delete the workflows this label selector matches, such as `team=data`.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Delete every workflow of the namespace (with -l: every one it matches).
    #[arg(long)]
    pub all: bool,

    /// Ask before deleting.
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Succeed when a named workflow does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,

    #[command(flatten)]
    pub dry_run: DryRunFlag,
}

#[derive(Args, Debug)]
pub struct RelabelArgs {
    #[command(flatten)]
    pub workflow: WorkflowArg,

    /// `key=value` to set a label, `key-` to remove it (kubectl label syntax).
    #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
    pub changes: Vec<String>,

    /// Allow changing the value of a label that is already set.
    #[arg(long)]
    pub overwrite: bool,

    /// Return only once every Job of the workflow carries the change.
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", requires = "wait")]
    pub timeout: u64,
}

/// Output formats of `list`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOutput {
    Table,
    Wide,
    Name,
    Json,
    Yaml,
}

/// What `list` lists.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ListKind {
    /// Workflows (the default).
    #[default]
    #[value(alias = "workflow", alias = "wf")]
    Workflows,
    /// WorkflowTemplates, with their triggers, last run and next run.
    #[value(alias = "template", alias = "workflowtemplates", alias = "kwft")]
    Templates,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// What to list.
    #[arg(value_enum, default_value_t = ListKind::Workflows, hide_default_value = true)]
    pub kind: ListKind,

    /// Label selector, such as `team=data,tier!=dev`.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// List the workflows (or templates) of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ListOutput::Table)]
    pub output: ListOutput,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub workflow: WorkflowArg,

    /// The step (default: every step, in dependency order).
    pub step: Option<String>,

    /// Follow: stream new lines until the step (or the workflow) ends.
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// Only the failed steps' logs, in dependency order.
    #[arg(long, conflicts_with_all = ["step", "follow"])]
    pub failed: bool,

    /// The instance of a fanned-out step, by its item's index from 0 (`build[3]` in graph).
    #[arg(long, value_name = "N", requires = "step")]
    pub instance: Option<u32>,

    /// The attempt of a step with retries, from 1 (`attempt 2/4` in graph); default: the latest.
    #[arg(long, value_name = "N", requires = "step")]
    pub attempt: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub file: FileArg,

    /// Print the PersistentVolumeClaims and Jobs the first run of each valid workflow creates,
    /// exactly as the controller builds them (step fields, Job templates and podDefaults merged),
    /// as a kubectl List.
    #[arg(long)]
    pub jobs: bool,

    /// Format of `--jobs`.
    #[arg(short = 'o', long, value_enum, default_value_t = ObjectOutput::Yaml, requires = "jobs")]
    pub output: ObjectOutput,

    /// Convert documents of other systems even when a field has no kwf equivalent (each such
    /// field is then a warning on stderr, and left out).
    #[arg(long)]
    pub allow_lossy: bool,
}

/// `convert`: a file of kopf, KubeCI, JobFlow or oaat documents (kwf's own pass through).
#[derive(Args, Debug)]
#[command(
    after_help = "Converts workflow.crd.com/v1 WorkFlow (kopf), kube.ci/v1alpha1 and engine.kube.ci/v1alpha1 \
Workflow (KubeCI), api.practice.com/v1alpha1 JobFlow, DaemonJob and JobTemplate, kawaja.net/v1 OaatType \
and OaatGroup. A field without a kwf equivalent is one line on stderr and fails the conversion, unless \
--allow-lossy. create -f and validate -f read the same files."
)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub file: FileArg,

    /// Output format (JSON: one object, or a kubectl List of several).
    #[arg(short = 'o', long, value_enum, default_value_t = ObjectOutput::Yaml)]
    pub output: ObjectOutput,

    /// Convert even when a field has no kwf equivalent (each such field is then a warning on
    /// stderr, and left out).
    #[arg(long)]
    pub allow_lossy: bool,
}

/// Output formats of `validate --jobs`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectOutput {
    Yaml,
    Json,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--color`: auto colors a terminal unless NO_COLOR is set; always and never are explicit.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_names_the_kubectl_command() {
        let help = Cli::command().render_usage().to_string();
        assert!(help.contains("kubectl workflow"), "{help}");
    }

    #[test]
    fn dry_run_without_a_value_means_client() {
        let cli = Cli::try_parse_from(["kubectl-workflow", "create", "-f", "x.yaml", "--dry-run"])
            .unwrap();
        let Command::Create(args) = cli.command else {
            panic!("not create")
        };
        assert_eq!(args.dry_run, DryRun::Client);
        let cli = Cli::try_parse_from([
            "kubectl-workflow",
            "create",
            "-f",
            "x.yaml",
            "--dry-run=server",
        ])
        .unwrap();
        let Command::Create(args) = cli.command else {
            panic!("not create")
        };
        assert_eq!(args.dry_run, DryRun::Server);
    }

    fn follow_flags(command: &Command) -> Option<FollowFlags> {
        match command {
            Command::Create(args) => Some(args.follow),
            Command::Graph(args) => Some(args.follow),
            Command::Restart(args) => Some(args.follow),
            _ => None,
        }
    }

    #[test]
    fn watch_and_ascii_mean_the_same_in_every_command_that_follows() {
        for command in [
            &["create", "-f", "x.yaml"][..],
            &["graph", "wf"],
            &["restart", "wf"],
        ] {
            let parse = |flags: &[&str]| {
                let argv = ["kubectl-workflow"].iter().chain(command).chain(flags);
                Cli::try_parse_from(argv).unwrap().command
            };
            let plain = parse(&[]);
            assert!(!plain.ascii(), "{command:?}");
            assert_eq!(
                follow_flags(&plain).map(|f| (f.watch, f.ascii)),
                Some((false, false))
            );
            let both = parse(&["-w", "--ascii"]);
            assert!(both.ascii(), "{command:?}");
            assert_eq!(
                follow_flags(&both).map(|f| (f.watch, f.ascii)),
                Some((true, true))
            );
            let long = parse(&["--watch"]);
            assert_eq!(follow_flags(&long).map(|f| f.watch), Some(true));
        }
        let list = Cli::try_parse_from(["kubectl-workflow", "list"]).unwrap();
        assert!(!list.command.ascii());
    }

    #[test]
    fn watching_a_dry_run_is_a_usage_error() {
        let err = Cli::try_parse_from([
            "kubectl-workflow",
            "create",
            "-f",
            "x.yaml",
            "--dry-run",
            "--watch",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn the_workflow_name_comes_first_in_every_command_that_takes_one() {
        let cli = Cli::try_parse_from(["kubectl-workflow", "logs", "wf", "build"]).unwrap();
        let Command::Logs(args) = cli.command else {
            panic!("not logs")
        };
        assert_eq!(
            (args.workflow.name.as_str(), args.step.as_deref()),
            ("wf", Some("build"))
        );
        let cli = Cli::try_parse_from(["kubectl-workflow", "relabel", "wf", "a=1", "b-"]).unwrap();
        let Command::Relabel(args) = cli.command else {
            panic!("not relabel")
        };
        assert_eq!(args.workflow.name, "wf");
        assert_eq!(args.changes, ["a=1", "b-"]);
    }

    #[test]
    fn connection_flags_are_accepted_anywhere() {
        let cli = Cli::try_parse_from([
            "kubectl-workflow",
            "graph",
            "wf",
            "-n",
            "team",
            "--context",
            "prod",
            "--kubeconfig",
            "/tmp/kc",
        ])
        .unwrap();
        assert_eq!(cli.connection.namespace.as_deref(), Some("team"));
        assert_eq!(cli.connection.context.as_deref(), Some("prod"));
        assert_eq!(cli.connection.kubeconfig, Some(PathBuf::from("/tmp/kc")));
        let cli = Cli::try_parse_from(["kubectl-workflow", "-n", "team", "list", "-A"]).unwrap();
        assert_eq!(cli.connection.namespace.as_deref(), Some("team"));
    }

    #[test]
    fn delete_takes_names_a_selector_or_all_and_never_nothing() {
        let parse = |argv: &[&str]| {
            let argv = ["kubectl-workflow", "delete"].iter().chain(argv);
            Cli::try_parse_from(argv).map(|cli| cli.command)
        };
        let Ok(Command::Delete(args)) = parse(&["a", "b"]) else {
            panic!("names")
        };
        assert_eq!(args.names, ["a", "b"]);
        assert!(matches!(parse(&["-l", "team=x"]), Ok(Command::Delete(_))));
        assert!(matches!(parse(&["--all"]), Ok(Command::Delete(_))));
        assert!(matches!(
            parse(&["--all", "-l", "t=x"]),
            Ok(Command::Delete(_))
        ));
        for bad in [&[][..], &["a", "--all"], &["a", "-l", "t=x"]] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        let Ok(Command::Delete(args)) = parse(&["a", "--dry-run=server", "-i"]) else {
            panic!("flags")
        };
        assert_eq!(args.dry_run.dry_run, DryRun::Server);
        assert!(args.interactive);
    }

    #[test]
    fn wait_defaults_to_completed_within_30_seconds() {
        let cli = Cli::try_parse_from(["kubectl-workflow", "wait", "wf"]).unwrap();
        let Command::Wait(args) = cli.command else {
            panic!("not wait")
        };
        assert_eq!(
            (args.condition, args.timeout.as_str()),
            (WaitFor::Completed, "30s")
        );
        let cli = Cli::try_parse_from([
            "kubectl-workflow",
            "wait",
            "wf",
            "--for=finished",
            "--timeout=-1s",
        ])
        .unwrap();
        let Command::Wait(args) = cli.command else {
            panic!("not wait")
        };
        assert_eq!(
            (args.condition, args.timeout.as_str()),
            (WaitFor::Finished, "-1s")
        );
    }

    #[test]
    fn verbosity_is_kubectl_s_v() {
        for argv in [&["-v", "6"][..], &["--v=6"], &["-v=6"]] {
            let argv = ["kubectl-workflow"].iter().chain(argv).chain(&["list"]);
            assert_eq!(Cli::try_parse_from(argv).unwrap().connection.verbosity, 6);
        }
        let cli = Cli::try_parse_from(["kubectl-workflow", "stop", "wf", "-v", "8"]).unwrap();
        assert_eq!(cli.connection.verbosity, 8);
    }

    #[test]
    fn logs_failed_takes_no_step_and_no_follow() {
        let cli = Cli::try_parse_from(["kubectl-workflow", "logs", "wf", "--failed"]).unwrap();
        let Command::Logs(args) = cli.command else {
            panic!("not logs")
        };
        assert!(args.failed);
        for bad in [
            &["logs", "wf", "b", "--failed"][..],
            &["logs", "wf", "-f", "--failed"],
        ] {
            let argv = ["kubectl-workflow"].iter().chain(bad);
            assert_eq!(Cli::try_parse_from(argv).unwrap_err().exit_code(), 2);
        }
    }

    #[test]
    fn convert_takes_a_file_an_output_and_allow_lossy() {
        let cli =
            Cli::try_parse_from(["kubectl-workflow", "convert", "-f", "-", "-o", "json"]).unwrap();
        let Command::Convert(args) = cli.command else {
            panic!("not convert")
        };
        assert_eq!(
            (args.file.path.as_os_str(), args.output, args.allow_lossy),
            (std::ffi::OsStr::new("-"), ObjectOutput::Json, false)
        );
        for command in ["create", "validate", "convert"] {
            let cli =
                Cli::try_parse_from(["kubectl-workflow", command, "-f", "x", "--allow-lossy"])
                    .unwrap();
            let lossy = match cli.command {
                Command::Create(a) => a.allow_lossy,
                Command::Validate(a) => a.allow_lossy,
                Command::Convert(a) => a.allow_lossy,
                _ => false,
            };
            assert!(lossy, "{command}");
        }
        let err = Cli::try_parse_from(["kubectl-workflow", "convert"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn usage_errors_are_clap_errors_with_exit_code_2() {
        let err = Cli::try_parse_from(["kubectl-workflow", "graph"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["kubectl-workflow", "relabel", "wf"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err =
            Cli::try_parse_from(["kubectl-workflow", "graph", "wf", "-o", "png"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
