//! Turns a pod's container spec into what to exec on the host: argv, environment, working directory.

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};

use crate::status::{LOOPBACK_IP, NO_COMMAND};

/// A host process to start for one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchPlan {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
}

/// Why a container cannot be started; reported as its terminated state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    pub reason: &'static str,
    pub message: String,
}

pub fn launch_plan(pod: &Pod, container: &Container) -> Result<LaunchPlan, PlanError> {
    let env = resolve_env(pod, container.env.as_deref().unwrap_or_default())?;
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let command = container.command.clone().unwrap_or_default();
    let args = container.args.clone().unwrap_or_default();
    // Without `command` the image's entrypoint would run. There are no images here: `args` alone run as the
    // command (what an image without ENTRYPOINT does); with neither there is nothing to run.
    let argv: Vec<String> = command
        .into_iter()
        .chain(args)
        .map(|arg| expand(&arg, &lookup))
        .collect();
    if argv.is_empty() {
        return Err(PlanError {
            reason: NO_COMMAND,
            message: format!(
                "container {:?} has no command: this test runtime ignores images and runs only `command` + `args`; set `command`",
                container.name
            ),
        });
    }
    Ok(LaunchPlan {
        argv,
        env,
        working_dir: container.working_dir.clone().filter(|d| !d.is_empty()),
    })
}

fn resolve_env(pod: &Pod, vars: &[EnvVar]) -> Result<Vec<(String, String)>, PlanError> {
    let mut resolved: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for var in vars {
        let value = match (&var.value, &var.value_from) {
            (_, Some(source)) => {
                let field = source.field_ref.as_ref().map(|f| f.field_path.as_str());
                match field.and_then(|path| field_value(pod, path)) {
                    Some(value) => value,
                    None => {
                        return Err(PlanError {
                            reason: "CreateContainerConfigError",
                            message: format!(
                                "env {:?}: this test runtime resolves only valueFrom.fieldRef of metadata.name, metadata.namespace, metadata.uid, metadata.labels/annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP, status.hostIP",
                                var.name
                            ),
                        });
                    }
                }
            }
            (Some(value), None) => {
                let lookup = |name: &str| {
                    resolved
                        .iter()
                        .rev()
                        .find(|(key, _)| key == name)
                        .map(|(_, v)| v.clone())
                };
                expand(value, &lookup)
            }
            (None, None) => String::new(),
        };
        resolved.push((var.name.clone(), value));
    }
    Ok(resolved)
}

/// The downward-API fields a fieldRef may name.
fn field_value(pod: &Pod, path: &str) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some(key) = bracketed(path, "metadata.labels") {
        return meta.labels.as_ref()?.get(key).cloned();
    }
    if let Some(key) = bracketed(path, "metadata.annotations") {
        return meta.annotations.as_ref()?.get(key).cloned();
    }
    match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => spec?.node_name.clone(),
        "spec.serviceAccountName" => spec?.service_account_name.clone(),
        "status.podIP" | "status.hostIP" => Some(LOOPBACK_IP.to_string()),
        _ => None,
    }
}

/// `metadata.labels['key']` -> `key`.
fn bracketed<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    rest.strip_prefix('\'')?.strip_suffix('\'')
}

/// Kubernetes' `$(VAR)` expansion in command, args and env values: defined variables are replaced,
/// undefined references stay as written, and `$$` escapes a dollar.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(close) = inner.find(')')
        {
            let name = &inner[..close];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVarSource, ObjectFieldSelector, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("step-a-x1".to_string()),
                namespace: Some("ns1".to_string()),
                uid: Some("u-1".to_string()),
                labels: Some([("app".to_string(), "kwf".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("kwf-node".to_string()),
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    fn container(command: &[&str], args: &[&str], env: Vec<EnvVar>) -> Container {
        let strings = |items: &[&str]| {
            (!items.is_empty()).then(|| items.iter().map(|s| s.to_string()).collect())
        };
        Container {
            name: "main".to_string(),
            command: strings(command),
            args: strings(args),
            env: Some(env),
            ..Container::default()
        }
    }

    fn plain(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.to_string(),
            value: Some(value.to_string()),
            value_from: None,
        }
    }

    fn field(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: path.to_string(),
                    api_version: None,
                }),
                ..EnvVarSource::default()
            }),
        }
    }

    fn env_of(plan: &LaunchPlan) -> Vec<(&str, &str)> {
        plan.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn command_and_args_are_joined() {
        let plan =
            launch_plan(&pod(), &container(&["sh", "-c"], &["echo hi"], vec![])).expect("plan");
        assert_eq!(plan.argv, vec!["sh", "-c", "echo hi"]);
        assert_eq!(plan.working_dir, None);
    }

    #[test]
    fn args_alone_run_as_the_command() {
        let plan =
            launch_plan(&pod(), &container(&[], &["sh", "-c", "true"], vec![])).expect("plan");
        assert_eq!(plan.argv, vec!["sh", "-c", "true"]);
    }

    #[test]
    fn no_command_is_an_error_with_reason() {
        let err = launch_plan(&pod(), &container(&[], &[], vec![])).expect_err("no command");
        assert_eq!(err.reason, NO_COMMAND);
        assert!(err.message.contains("set `command`"), "{}", err.message);
    }

    #[test]
    fn env_values_and_field_refs_resolve_in_order() {
        let env = vec![
            plain("GREETING", "hello"),
            plain("MSG", "$(GREETING) world"),
            field("POD", "metadata.name"),
            field("NS", "metadata.namespace"),
            field("NODE", "spec.nodeName"),
            field("APP", "metadata.labels['app']"),
            field("IP", "status.podIP"),
        ];
        let plan = launch_plan(
            &pod(),
            &container(&["echo", "$(MSG) from $(POD)"], &[], env),
        )
        .expect("plan");
        assert_eq!(
            env_of(&plan),
            vec![
                ("GREETING", "hello"),
                ("MSG", "hello world"),
                ("POD", "step-a-x1"),
                ("NS", "ns1"),
                ("NODE", "kwf-node"),
                ("APP", "kwf"),
                ("IP", LOOPBACK_IP),
            ]
        );
        assert_eq!(plan.argv, vec!["echo", "hello world from step-a-x1"]);
    }

    #[test]
    fn unsupported_value_from_fails_with_config_error() {
        let env = vec![EnvVar {
            name: "SECRET".to_string(),
            value: None,
            value_from: Some(EnvVarSource::default()),
        }];
        let err = launch_plan(&pod(), &container(&["true"], &[], env)).expect_err("unsupported");
        assert_eq!(err.reason, "CreateContainerConfigError");
        assert!(err.message.contains("SECRET"));
    }

    #[test]
    fn expansion_rules() {
        let lookup = |name: &str| (name == "A").then(|| "1".to_string());
        assert_eq!(expand("$(A)-$(B)", &lookup), "1-$(B)");
        assert_eq!(expand("$$(A) costs $5", &lookup), "$(A) costs $5");
        assert_eq!(expand("$(A", &lookup), "$(A");
        assert_eq!(expand("trailing $", &lookup), "trailing $");
        assert_eq!(expand("no vars", &lookup), "no vars");
    }
}
