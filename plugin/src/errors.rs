//! Turning API errors into one line that says what is wrong and what to do.
//!
//! [`explain`] is pure: the error, what we were doing ([`Op`]) and where ([`Endpoint`]) in,
//! a sentence out. Every API call of the plugin goes through it.

use kube::core::Status;

/// The Workflow resource, as `kubectl auth can-i` spells it.
pub const WORKFLOWS: &str = "workflows.kwf.dev";
/// The resource of WorkflowTemplates, for messages.
pub const WORKFLOW_TEMPLATES: &str = "workflowtemplates.kwf.dev";
/// How to install the CRD, for the error that says it is missing: a command a krew user can run as it
/// is (no checkout needed), kubectl's built-in kustomize reading the manifests of this very release.
pub const INSTALL_CRD_HINT: &str = concat!(
    "install kwf with `kubectl apply --server-side -k '",
    env!("CARGO_PKG_REPOSITORY"),
    "//controller/deploy?ref=v",
    env!("CARGO_PKG_VERSION"),
    "'`"
);

/// An error that ends the command with an exit code of its own (`wait`'s), not the usual 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: message.into(),
        }
    }
}

/// The exit code of a failed command: its [`Exit`] code, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Exit>().map_or(1, |exit| exit.code)
}

/// What the plugin was doing when an API call failed.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    /// The Kubernetes verb: get, list, watch, create, patch.
    pub verb: &'a str,
    /// The resource as `plural.group`, such as [`WORKFLOWS`] or `jobs.batch`.
    pub resource: &'a str,
    pub name: Option<&'a str>,
    /// None for a request across all namespaces.
    pub namespace: Option<&'a str>,
}

impl<'a> Op<'a> {
    pub fn new(verb: &'a str, resource: &'a str, namespace: Option<&'a str>) -> Self {
        Op {
            verb,
            resource,
            name: None,
            namespace,
        }
    }

    pub fn named(mut self, name: &'a str) -> Self {
        self.name = Some(name);
        self
    }

    fn scope(&self) -> String {
        match self.namespace {
            Some(ns) => format!("in namespace \"{ns}\""),
            None => "in any namespace".to_string(),
        }
    }
}

/// The API server the plugin talked to, for errors about reaching it.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    pub server: &'a str,
    pub context: &'a str,
}

/// One line saying what went wrong with `op` and what to do about it.
pub fn explain(err: &kube::Error, op: &Op<'_>, at: &Endpoint<'_>) -> String {
    match err {
        kube::Error::Api(status) => explain_status(status, op, at),
        kube::Error::HyperError(_) | kube::Error::Service(_) => unreachable(root_cause(err), at),
        kube::Error::Auth(e) => format!(
            "cannot authenticate to the API server at {} (context \"{}\"): {}; refresh your credentials or pick another --context",
            at.server,
            at.context,
            one_line(&e.to_string())
        ),
        other => format!(
            "{} {} failed: {}",
            op.verb,
            op.resource,
            one_line(&chain(other))
        ),
    }
}

/// The errors of a `kube::runtime` watcher wrap the client's.
pub fn explain_watch(
    err: &kube::runtime::watcher::Error,
    op: &Op<'_>,
    at: &Endpoint<'_>,
) -> String {
    use kube::runtime::watcher::Error as W;
    match err {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => explain(e, op, at),
        W::WatchError(status) => explain_status(status, op, at),
        other => format!(
            "watching {} failed: {}",
            op.resource,
            one_line(&chain(other))
        ),
    }
}

fn explain_status(status: &Status, op: &Op<'_>, at: &Endpoint<'_>) -> String {
    let message = one_line(&status.message);
    // By reason or by code: a 404 for a path the API server does not serve at all (a CRD
    // not installed) comes back as plain text, so only its code says what it is.
    let is = |reason: &str, code: u16| status.reason == reason || status.code == code;
    if is("NotFound", 404) {
        let named_object = status.details.as_ref().is_some_and(|d| !d.name.is_empty());
        if op.resource == WORKFLOWS && !named_object {
            // A 404 without an object name is the API server not knowing the resource at all.
            return format!(
                "the Workflow CRD (kwf.dev/v1alpha1) is not installed on the cluster of context \"{}\": {INSTALL_CRD_HINT}",
                at.context
            );
        }
        return match (op.resource, op.name) {
            (WORKFLOWS, Some(name)) => format!(
                "workflow \"{name}\" not found {}; list them with `kubectl workflow list{}`",
                op.scope(),
                op.namespace
                    .map(|ns| format!(" -n {ns}"))
                    .unwrap_or_default()
            ),
            (resource, Some(name)) => format!("{resource} \"{name}\" not found {}", op.scope()),
            (resource, None) => format!("{resource} not found {}: {message}", op.scope()),
        };
    }
    if is("Forbidden", 403) {
        return forbidden(&message, op);
    }
    if is("Unauthorized", 401) {
        return format!(
            "the API server at {} (context \"{}\") rejected your credentials; refresh them or pick another --context",
            at.server, at.context
        );
    }
    if status.reason == "AlreadyExists" {
        let name = op.name.unwrap_or("(unnamed)");
        return format!(
            "workflow \"{name}\" already exists {}; delete it first or use metadata.generateName",
            op.scope()
        );
    }
    if is("Invalid", 422) {
        let what = op.name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
        return format!("the API server rejected {}{what}: {message}", op.resource);
    }
    if is("Conflict", 409) {
        return format!(
            "{} {} conflicted with a concurrent change: {message}; run the command again",
            op.verb, op.resource
        );
    }
    let code = if status.code > 0 {
        format!(" ({})", status.code)
    } else {
        String::new()
    };
    format!("{} {} failed{code}: {message}", op.verb, op.resource)
}

/// RBAC denials: say who may not do what, where, and what to ask for.
fn forbidden(message: &str, op: &Op<'_>) -> String {
    let parsed = parse_forbidden(message);
    let user = parsed.user.map(|u| format!("{u} ")).unwrap_or_default();
    let verb = parsed.verb.unwrap_or(op.verb);
    let resource = parsed.resource.unwrap_or_else(|| op.resource.to_string());
    let scope = match (parsed.namespace, op.namespace) {
        (Some(ns), _) | (None, Some(ns)) => format!("in namespace \"{ns}\""),
        (None, None) => "at cluster scope".to_string(),
    };
    format!(
        "forbidden: {user}cannot {verb} {resource} {scope}; ask a cluster admin for a Role that allows it \
         (kwf's are in controller/deploy/user-roles.yaml; check with `kubectl auth can-i {verb} {resource}`)"
    )
}

#[derive(Debug, Default, PartialEq)]
struct Forbidden<'m> {
    user: Option<&'m str>,
    verb: Option<&'m str>,
    resource: Option<String>,
    namespace: Option<&'m str>,
}

/// Reads the API server's standard denial, e.g. `workflows.kwf.dev "x" is forbidden: User
/// "alice" cannot patch resource "workflows" in API group "kwf.dev" in the namespace "team"`.
fn parse_forbidden(message: &str) -> Forbidden<'_> {
    let mut found = Forbidden::default();
    if let Some(rest) = message.split_once("User \"").map(|(_, r)| r)
        && let Some((user, rest)) = rest.split_once("\" cannot ")
    {
        found.user = Some(user);
        if let Some((verb, rest)) = rest.split_once(" resource \"")
            && let Some((resource, rest)) = rest.split_once('"')
        {
            found.verb = Some(verb);
            let group = rest
                .split_once("in API group \"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(g, _)| g)
                .unwrap_or("");
            found.resource = Some(if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            });
            found.namespace = rest
                .split_once("in the namespace \"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(ns, _)| ns);
        }
    }
    found
}

fn unreachable(cause: String, at: &Endpoint<'_>) -> String {
    format!(
        "cannot reach the API server at {} (context \"{}\"): {cause}; check that the cluster is running and that --context/--kubeconfig point at it",
        at.server, at.context
    )
}

/// The innermost error says what actually happened ("Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    one_line(&current.to_string())
}

/// Every message in the chain, outermost first, without repeats.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Errors are printed on one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::StatusDetails;

    const AT: Endpoint<'static> = Endpoint {
        server: "https://127.0.0.1:6443",
        context: "dev",
    };

    fn status(code: u16, reason: &str, message: &str, name: &str) -> kube::Error {
        let mut s = Status::failure(message, reason).with_code(code);
        if !name.is_empty() {
            s = s.with_details(StatusDetails {
                name: name.into(),
                group: "kwf.dev".into(),
                kind: "workflows".into(),
                uid: String::new(),
                causes: vec![],
                retry_after_seconds: 0,
            });
        }
        kube::Error::Api(Box::new(s))
    }

    fn get_wf() -> Op<'static> {
        Op::new("get", WORKFLOWS, Some("team")).named("nightly")
    }

    #[test]
    fn a_missing_workflow_names_itself_and_the_namespace() {
        let err = status(
            404,
            "NotFound",
            "workflows.kwf.dev \"nightly\" not found",
            "nightly",
        );
        let line = explain(&err, &get_wf(), &AT);
        assert_eq!(
            line,
            "workflow \"nightly\" not found in namespace \"team\"; list them with `kubectl workflow list -n team`"
        );
    }

    #[test]
    fn a_404_without_an_object_means_the_crd_is_missing() {
        let err = status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            "",
        );
        let line = explain(&err, &get_wf(), &AT);
        assert!(
            line.starts_with("the Workflow CRD (kwf.dev/v1alpha1) is not installed"),
            "{line}"
        );
        assert!(
            line.contains("kubectl apply --server-side -k 'https://github.com/kwf-dev/kwf//controller/deploy?ref=v0.1.0'"),
            "{line}"
        );
        // The same for a list, which never names an object.
        let list = Op::new("list", WORKFLOWS, None);
        assert!(explain(&err, &list, &AT).contains("not installed"));
    }

    #[test]
    fn the_plain_text_404_of_an_unserved_path_means_the_crd_is_missing() {
        // What kube makes of the API server's `404 page not found` body.
        let status =
            Status::failure("404 page not found", "Failed to parse error data").with_code(404);
        let err = kube::Error::Api(Box::new(status));
        let line = explain(&err, &get_wf(), &AT);
        assert_eq!(
            line,
            "the Workflow CRD (kwf.dev/v1alpha1) is not installed on the cluster of context \"dev\": \
             install kwf with `kubectl apply --server-side -k \
             'https://github.com/kwf-dev/kwf//controller/deploy?ref=v0.1.0'`"
        );
    }

    #[test]
    fn a_missing_pod_is_not_a_missing_crd() {
        let err = status(404, "NotFound", "pods \"p\" not found", "");
        let op = Op::new("get", "pods", Some("team")).named("p");
        assert_eq!(
            explain(&err, &op, &AT),
            "pods \"p\" not found in namespace \"team\""
        );
    }

    #[test]
    fn forbidden_names_user_verb_resource_and_namespace_from_the_status() {
        let message = "workflows.kwf.dev \"nightly\" is forbidden: User \"system:serviceaccount:team:bot\" \
                       cannot patch resource \"workflows\" in API group \"kwf.dev\" in the namespace \"team\"";
        let err = status(403, "Forbidden", message, "nightly");
        let line = explain(&err, &get_wf(), &AT);
        assert!(
            line.starts_with(
                "forbidden: system:serviceaccount:team:bot cannot patch workflows.kwf.dev in namespace \"team\";"
            ),
            "{line}"
        );
        assert!(
            line.contains("kubectl auth can-i patch workflows.kwf.dev"),
            "{line}"
        );
    }

    #[test]
    fn forbidden_in_the_core_group_and_at_cluster_scope() {
        let message = "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" at the cluster scope";
        let err = status(403, "Forbidden", message, "");
        let op = Op::new("list", "pods", None);
        let line = explain(&err, &op, &AT);
        assert!(
            line.starts_with("forbidden: bob cannot list pods at cluster scope;"),
            "{line}"
        );
    }

    #[test]
    fn forbidden_with_an_unusual_message_falls_back_to_the_operation() {
        let err = status(403, "Forbidden", "denied by webhook", "");
        let op = Op::new("create", WORKFLOWS, Some("team"));
        let line = explain(&err, &op, &AT);
        assert!(
            line.starts_with("forbidden: cannot create workflows.kwf.dev in namespace \"team\";"),
            "{line}"
        );
    }

    #[test]
    fn already_exists_and_invalid_say_what_to_do() {
        let err = status(
            409,
            "AlreadyExists",
            "workflows.kwf.dev \"nightly\" already exists",
            "nightly",
        );
        let op = Op::new("create", WORKFLOWS, Some("team")).named("nightly");
        assert!(
            explain(&err, &op, &AT)
                .contains("already exists in namespace \"team\"; delete it first")
        );
        let err = status(
            422,
            "Invalid",
            "Workflow.kwf.dev \"x\" is invalid:\n spec.containers: bad",
            "x",
        );
        let line = explain(&err, &op, &AT);
        assert_eq!(
            line,
            "the API server rejected workflows.kwf.dev \"nightly\": Workflow.kwf.dev \"x\" is invalid: spec.containers: bad"
        );
    }

    #[test]
    fn unauthorized_names_server_and_context() {
        let err = status(401, "Unauthorized", "Unauthorized", "");
        let line = explain(&err, &get_wf(), &AT);
        assert!(
            line.contains("https://127.0.0.1:6443 (context \"dev\") rejected your credentials"),
            "{line}"
        );
    }

    #[test]
    fn transport_failures_name_server_context_and_root_cause() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err = kube::Error::Service(Box::new(io));
        let line = explain(&err, &get_wf(), &AT);
        assert_eq!(
            line,
            "cannot reach the API server at https://127.0.0.1:6443 (context \"dev\"): Connection refused (os error 111); \
             check that the cluster is running and that --context/--kubeconfig point at it"
        );
    }

    #[test]
    fn parse_forbidden_reads_the_standard_message() {
        let parsed = parse_forbidden(
            "jobs.batch is forbidden: User \"u\" cannot watch resource \"jobs\" in API group \"batch\" in the namespace \"n\"",
        );
        assert_eq!(
            parsed,
            Forbidden {
                user: Some("u"),
                verb: Some("watch"),
                resource: Some("jobs.batch".into()),
                namespace: Some("n")
            }
        );
        assert_eq!(parse_forbidden("nope"), Forbidden::default());
    }

    #[test]
    fn one_line_collapses_newlines() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
