//! The WorkflowTemplate resource (`kwf.dev/v1alpha1`): a Workflow spec with declared
//! parameters, run by Workflows that name it (`workflowTemplateRef`), by `kubectl workflow
//! submit --from template/NAME` and by its schedule.
//!
//! [`instantiate`] turns a template and the run's parameter values into the run's spec; it is
//! the one place substitution happens, shared by the controller and the plugin.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::item_group::{ItemGroup, ItemStatus, item_group_problems};
use crate::params::{self, MAX_PARAMS};
use crate::workflow::{Step, WorkflowSpec};

/// Label on every run of a template: the template's name.
pub const LABEL_TEMPLATE: &str = "kwf.dev/template";
/// Label on every run a template's trigger created: what created it (`schedule`).
pub const LABEL_TRIGGER: &str = "kwf.dev/trigger";
/// The [`LABEL_TRIGGER`] value of scheduled runs.
pub const TRIGGER_SCHEDULE: &str = "schedule";
/// Annotation on a scheduled run: the time it was scheduled for (RFC 3339, UTC).
pub const ANNOTATION_SCHEDULED_TIME: &str = "kwf.dev/scheduled-time";

/// A stored Workflow definition and the parameters its runs fill in.
// kube's printcolumn(..) repeats `type_` by design: not a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kwf.dev",
    version = "v1alpha1",
    kind = "WorkflowTemplate",
    plural = "workflowtemplates",
    shortname = "kwft",
    namespaced,
    status = "WorkflowTemplateStatus",
    derive = "PartialEq",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule.cron"),
    printcolumn(name = "Last Run", type_ = "string", json_path = ".status.lastRun"),
    printcolumn(name = "Next", type_ = "date", json_path = ".status.nextScheduleTime"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.workflowSpec.workflowTemplateRef)")
        .message("a template's workflowSpec cannot name another template: remove workflowSpec.workflowTemplateRef")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = kube::core::Rule::new("has(self.workflowSpec.containers)")
        .message("the template has no steps: add at least one entry to workflowSpec.containers")
        .reason(kube::core::Reason::FieldValueRequired),
    validation = kube::core::Rule::new(ITEM_PARAMETER_DECLARED_RULE)
        .message("itemGroup.parameter names no declared parameter: add it to spec.parameters")
        .reason(kube::core::Reason::FieldValueInvalid)
)]
pub struct WorkflowTemplateSpec {
    /// The parameters runs may set, each referred to as `{{params.NAME}}` in a step's
    /// `image`, `command`, `args` and `env` values, and in `workflowMetadata`'s values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_PARAMS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub parameters: Vec<Parameter>,
    /// Labels and annotations every run gets (values may refer to parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_metadata: Option<WorkflowMetadata>,
    /// The spec of every run: a Workflow's spec.
    pub workflow_spec: WorkflowSpec,
    /// Runs on a cron schedule, with CronJob's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Runs once per item, one at a time by default, each item about every `frequency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_group: Option<ItemGroup>,
    /// Finished successful runs of this template kept (the oldest beyond are deleted;
    /// default: all). Counts the runs of every trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub successful_runs_history_limit: Option<u32>,
    /// Finished failed runs of this template kept (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub failed_runs_history_limit: Option<u32>,
    /// A finished run of this template is deleted this many seconds after it finished
    /// (default: kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
    /// Runs when objects of a chosen kind are created, updated or deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::resource_trigger::MAX_TRIGGERS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub resource_triggers: Vec<crate::resource_trigger::ResourceTrigger>,
}

/// An item group's parameter (`item` by default) is one of the template's parameters.
const ITEM_PARAMETER_DECLARED_RULE: &str = "!has(self.itemGroup) || (has(self.parameters) && self.parameters.exists(p, p.name == (has(self.itemGroup.parameter) ? self.itemGroup.parameter : 'item')))";

/// One declared parameter.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Parameter {
    /// Its name, as in `{{params.NAME}}`: a letter or `_`, then letters, digits, `_` or `-`.
    #[schemars(length(min = 1, max = params::MAX_PARAM_NAME_LEN), regex(pattern = params::PARAM_NAME_PATTERN))]
    pub name: String,
    /// The value of a run that does not set it; without one every run must set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// What it is for (shown by `kubectl explain` readers and people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Metadata stamped onto each run.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct WorkflowMetadata {
    /// Labels of the run (and so of its Jobs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// When a template runs by itself: CronJob's fields and meaning, in a time zone.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Five-field cron expression (minute hour day-of-month month day-of-week) or a macro
    /// such as `@hourly`, read in `timeZone`.
    #[schemars(length(min = 1, max = 256))]
    pub cron: String,
    /// IANA time zone of `cron` (default UTC). In a skipped hour (spring forward) a fixed
    /// time runs at the first minute after the gap and `*`/step times in the gap are skipped;
    /// in a repeated hour (fall back) a fixed time runs once, `*`/step times run in both passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub time_zone: Option<String>,
    /// What to do when a run is due while an earlier one still runs: Allow (default),
    /// Forbid (skip the new one) or Replace (delete the running one, start the new one).
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A run not started within this many seconds of its time is skipped (default: no
    /// limit). Only the latest missed time is ever caught up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self > 0")
        .message("startingDeadlineSeconds must be a positive number of seconds")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub starting_deadline_seconds: Option<i64>,
    /// True: no new scheduled run starts (running ones go on). Times passed while
    /// suspended are not caught up on resume, except the latest one within the deadline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Parameter values of the scheduled runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// CronJob's `concurrencyPolicy`.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    /// Runs may overlap.
    #[default]
    Allow,
    /// A time due while a run is active is skipped.
    Forbid,
    /// The active runs are deleted and the new one starts.
    Replace,
}

/// What the controller last did with the template.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTemplateStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The latest scheduled time a run was created for (or skipped at, by Forbid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next time the schedule is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The run created last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// A problem of the schedule or the item group (invalid expression, unknown zone, bad
    /// parameters, unreadable duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The item group's items: last success and failure, failures since the success, the
    /// active run. The truth across the deletion of old runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemStatus>,
    /// The template's last runs (of every trigger), newest first, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_runs: Vec<String>,
    /// What each resource trigger watches and last counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_triggers: Vec<crate::resource_trigger::ResourceTriggerStatus>,
}

/// A run's spec, labels and annotations, made from a template and parameter values.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The template's `workflowSpec`, substituted, naming the template and holding the
    /// values of every parameter.
    pub spec: WorkflowSpec,
    /// `workflowMetadata.labels` substituted, and [`LABEL_TEMPLATE`].
    pub labels: BTreeMap<String, String>,
    /// `workflowMetadata.annotations` substituted.
    pub annotations: BTreeMap<String, String>,
}

/// Why a template cannot make a run: every problem, shown as one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct TemplateError {
    /// The template's name.
    pub template: String,
    pub problems: Vec<String>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "template {:?}: {}",
            self.template,
            self.problems.join("; ")
        )
    }
}

/// The values of every declared parameter: `given`, else the default. A given name the
/// template does not declare, or a parameter without a default that is not given, is a problem.
pub fn parameter_values(
    declared: &[Parameter],
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut problems = Vec::new();
    let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
    for name in given.keys() {
        if !names.contains(&name.as_str()) {
            let known = if names.is_empty() {
                "it declares none".to_owned()
            } else {
                format!("it declares {}", names.join(", "))
            };
            problems.push(format!(
                "parameter {name:?} is not declared ({known}): remove it or declare it in spec.parameters"
            ));
        }
    }
    let mut values = BTreeMap::new();
    for p in declared {
        match given.get(&p.name).or(p.default.as_ref()) {
            Some(v) => {
                values.insert(p.name.clone(), v.clone());
            }
            None => problems.push(format!(
                "parameter {:?} has no default and no value: pass one (-p {}=VALUE, or params in the Workflow)",
                p.name, p.name
            )),
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

/// The run of `template` with parameters `given`: its spec with every reference substituted
/// (a step's `image`, `command`, `args`, `env` values; `workflowMetadata` values), its labels
/// and annotations. Step names, dependencies and everything else are taken as written.
pub fn instantiate(
    template: &WorkflowTemplate,
    given: &BTreeMap<String, String>,
) -> Result<Instance, TemplateError> {
    let name = template.metadata.name.clone().unwrap_or_default();
    let fail = |problems| TemplateError {
        template: name.clone(),
        problems,
    };
    let values = parameter_values(&template.spec.parameters, given).map_err(fail)?;
    let mut problems = Vec::new();
    let mut spec = template.spec.workflow_spec.clone();
    for step in &mut spec.containers {
        substitute_step(step, &values, &mut problems);
    }
    let metadata = template.spec.workflow_metadata.clone().unwrap_or_default();
    let mut labels = substitute_map(metadata.labels, "label", &values, &mut problems);
    for (key, value) in &labels {
        if !is_label_value(value) {
            problems.push(format!(
                "label {key}: {value:?} is not a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit): pass another value"
            ));
        }
    }
    let annotations = substitute_map(metadata.annotations, "annotation", &values, &mut problems);
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    labels.insert(LABEL_TEMPLATE.to_owned(), name.clone());
    spec.workflow_template_ref = Some(WorkflowTemplateRef { name });
    spec.params = values;
    Ok(Instance {
        spec,
        labels,
        annotations,
    })
}

fn substitute_step(step: &mut Step, values: &BTreeMap<String, String>, problems: &mut Vec<String>) {
    let at = |field: &str| format!("step {:?} {field}", step.step_name);
    let text = |field: String, s: &mut String, problems: &mut Vec<String>| match params::substitute(
        s, values,
    ) {
        Ok(out) => *s = out.into_owned(),
        Err(missing) => problems.push(unknown_reference(&field, &missing)),
    };
    if let Some(image) = step.image.as_mut() {
        text(at("image"), image, problems);
    }
    for (field, list) in [
        ("command", step.command.as_mut()),
        ("args", step.args.as_mut()),
    ] {
        for s in list.into_iter().flatten() {
            text(at(field), s, problems);
        }
    }
    for EnvVar { name, value, .. } in step.env.iter_mut().flatten() {
        if let Some(v) = value.as_mut() {
            text(at(&format!("env {name}")), v, problems);
        }
    }
}

fn substitute_map(
    map: BTreeMap<String, String>,
    what: &str,
    values: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| {
            let v = match params::substitute(&v, values) {
                Ok(out) => out.into_owned(),
                Err(missing) => {
                    problems.push(unknown_reference(&format!("{what} {k}"), &missing));
                    v
                }
            };
            (k, v)
        })
        .collect()
}

fn unknown_reference(field: &str, name: &str) -> String {
    format!(
        "{field}: {{{{params.{name}}}}} names no declared parameter: declare {name:?} in spec.parameters or fix the name"
    )
}

/// A Kubernetes label value: empty, or at most 63 alphanumerics, `-`, `_` and `.`, starting and
/// ending with an alphanumeric.
fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Every problem of a template that shows without running it: parameter names (valid,
/// unique), references to undeclared parameters, the workflow spec's own problems (with the
/// defaults filled in), the schedule's expression, zone and parameters, and the resource
/// triggers' offline problems.
pub fn validate_template(template: &WorkflowTemplate) -> Result<(), TemplateError> {
    let spec = &template.spec;
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for p in &spec.parameters {
        if !params::is_param_name(&p.name) {
            problems.push(format!(
                "parameter {:?}: invalid name: use a letter or '_', then letters, digits, '_' or '-' (at most {} characters)",
                p.name,
                params::MAX_PARAM_NAME_LEN
            ));
        }
        if seen.contains(&p.name.as_str()) {
            problems.push(format!(
                "parameter {:?} is declared twice: keep one",
                p.name
            ));
        }
        seen.push(&p.name);
    }
    if spec.workflow_spec.workflow_template_ref.is_some() {
        problems.push(
            "a template's workflowSpec cannot name another template: remove workflowSpec.workflowTemplateRef"
                .to_owned(),
        );
    }
    // Substituting placeholder values finds the undeclared references, and leaves a spec
    // that validate() can check like any Workflow's.
    let placeholders: BTreeMap<String, String> = spec
        .parameters
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.default.clone().unwrap_or_else(|| "x".to_owned()),
            )
        })
        .collect();
    let mut probe = template.clone();
    probe.spec.workflow_spec.workflow_template_ref = None;
    match instantiate(&probe, &placeholders) {
        Ok(instance) => {
            let mut run = instance.spec;
            run.workflow_template_ref = None;
            run.params.clear();
            if let Err(errs) = crate::validate(&run) {
                problems.extend(errs.0.iter().map(|p| format!("workflowSpec: {p}")));
            }
        }
        // Label values depend on the parameters: only a run's values can break them.
        Err(err) => problems.extend(
            err.problems
                .into_iter()
                .filter(|p| !p.starts_with("label ") || p.contains("names no declared")),
        ),
    }
    if let Some(schedule) = &spec.schedule {
        problems.extend(schedule_problems(schedule, &spec.parameters));
    }
    if let Some(group) = &spec.item_group {
        problems.extend(item_group_problems(group, &spec.parameters));
    }
    if spec.ttl_seconds_after_finished.is_some_and(|s| s < 0) {
        problems.push(
            "ttlSecondsAfterFinished must be 0 or more seconds: remove it to keep finished runs"
                .to_owned(),
        );
    }
    for (field, limit) in [
        (
            "successfulRunsHistoryLimit",
            spec.successful_runs_history_limit,
        ),
        ("failedRunsHistoryLimit", spec.failed_runs_history_limit),
    ] {
        if limit.is_some_and(|n| n > 1000) {
            problems.push(format!(
                "{field} is at most 1000: lower it, or remove it to keep every run"
            ));
        }
    }
    problems.extend(crate::resource_trigger::trigger_problems(
        &spec.resource_triggers,
        &spec.parameters,
    ));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TemplateError {
            template: template.metadata.name.clone().unwrap_or_default(),
            problems,
        })
    }
}

/// The problems of a schedule: its expression, its zone, its deadline, its parameters.
pub fn schedule_problems(schedule: &Schedule, declared: &[Parameter]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = crate::cron::parse_cron(&schedule.cron) {
        problems.push(format!("schedule.cron: {e}"));
    }
    if let Err(e) = crate::cron::time_zone(schedule.time_zone.as_deref()) {
        problems.push(format!("schedule.timeZone: {e}"));
    }
    if schedule.starting_deadline_seconds.is_some_and(|s| s <= 0) {
        problems.push(
            "schedule.startingDeadlineSeconds must be a positive number of seconds".to_owned(),
        );
    }
    if let Err(errs) = parameter_values(declared, &schedule.params) {
        problems.extend(errs.into_iter().map(|e| format!("schedule.params: {e}")));
    }
    problems
}

/// A Workflow's reference to the WorkflowTemplate it runs (in its namespace).
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct WorkflowTemplateRef {
    /// Name of the WorkflowTemplate.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{StepFixture, step};

    fn param(name: &str, default: Option<&str>) -> Parameter {
        Parameter {
            name: name.to_owned(),
            default: default.map(str::to_owned),
            description: None,
        }
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn template() -> WorkflowTemplate {
        let build = step("build", &[])
            .with_image("registry/{{params.app}}:{{params.tag}}")
            .with_command(&["sh", "-c", "make {{ params.app }}"]);
        let mut build = build;
        build.args = Some(vec!["--env={{params.env}}".to_owned()]);
        build.env = Some(vec![EnvVar {
            name: "TARGET".to_owned(),
            value: Some("{{params.env}}".to_owned()),
            value_from: None,
        }]);
        let test = step("test", &["build"]).with_image("busybox");
        let mut t = WorkflowTemplate::new(
            "ci",
            WorkflowTemplateSpec {
                parameters: vec![
                    param("app", None),
                    param("tag", Some("latest")),
                    param("env", Some("dev")),
                ],
                workflow_metadata: Some(WorkflowMetadata {
                    labels: given(&[("env", "{{params.env}}")]),
                    annotations: given(&[("note", "built {{params.app}}")]),
                }),
                workflow_spec: WorkflowSpec {
                    containers: vec![build, test],
                    ..Default::default()
                },
                schedule: None,
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("ns".to_owned());
        t
    }

    #[test]
    fn instantiate_substitutes_image_command_args_env_and_metadata() {
        let run = instantiate(&template(), &given(&[("app", "api"), ("env", "prod")])).unwrap();
        let build = &run.spec.containers[0];
        assert_eq!(build.image.as_deref(), Some("registry/api:latest"));
        assert_eq!(build.command.as_deref().unwrap()[2], "make api");
        assert_eq!(build.args.as_deref().unwrap(), ["--env=prod"]);
        assert_eq!(
            build.env.as_deref().unwrap()[0].value.as_deref(),
            Some("prod")
        );
        assert_eq!(run.spec.containers[1].image.as_deref(), Some("busybox"));
        assert_eq!(
            run.labels,
            given(&[("env", "prod"), (LABEL_TEMPLATE, "ci")])
        );
        assert_eq!(run.annotations, given(&[("note", "built api")]));
        assert_eq!(
            run.spec.workflow_template_ref,
            Some(WorkflowTemplateRef { name: "ci".into() })
        );
        assert_eq!(
            run.spec.params,
            given(&[("app", "api"), ("env", "prod"), ("tag", "latest")]),
            "the run records every value it ran with"
        );
        crate::validate(&run.spec).expect("the run is a valid workflow");
    }

    #[test]
    fn a_missing_or_undeclared_parameter_is_one_line_naming_it() {
        let err = instantiate(&template(), &given(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template \"ci\": parameter \"app\" has no default and no value: pass one (-p app=VALUE, or params in the Workflow)"
        );
        let err = instantiate(&template(), &given(&[("app", "a"), ("colour", "red")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template \"ci\": parameter \"colour\" is not declared (it declares app, tag, env): remove it or declare it in spec.parameters"
        );
    }

    #[test]
    fn a_reference_to_an_undeclared_parameter_names_the_field() {
        let mut t = template();
        t.spec.workflow_spec.containers[1].image = Some("{{params.nope}}".into());
        let err = instantiate(&t, &given(&[("app", "a")])).unwrap_err();
        assert_eq!(
            err.problems,
            [
                "step \"test\" image: {{params.nope}} names no declared parameter: declare \"nope\" in spec.parameters or fix the name"
            ]
        );
        let err = validate_template(&t).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
    }

    #[test]
    fn a_bad_label_value_after_substitution_is_reported() {
        let err = instantiate(&template(), &given(&[("app", "a"), ("env", "not ok")])).unwrap_err();
        assert!(err.problems[0].starts_with("label env: \"not ok\" is not a label value"));
        assert!(
            validate_template(&template()).is_ok(),
            "only a run's value breaks it"
        );
    }

    #[test]
    fn validate_template_finds_names_duplicates_and_schedule_problems() {
        let mut t = template();
        t.spec.parameters.push(param("app", None));
        t.spec.parameters.push(param("1x", None));
        t.spec.schedule = Some(Schedule {
            cron: "* * *".into(),
            time_zone: Some("Nowhere/Town".into()),
            params: given(&[("zzz", "1")]),
            ..Default::default()
        });
        let problems = validate_template(&t).unwrap_err().problems;
        let starts: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(p))
            .collect();
        assert_eq!(
            starts,
            [
                "parameter \"app\" is declared twice",
                "parameter \"1x\"",
                "schedule.cron",
                "schedule.timeZone",
                "schedule.params",
                "schedule.params",
                "schedule.params",
                "schedule.params",
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn the_example_template_is_valid_and_instantiates() {
        let t: WorkflowTemplate =
            serde_saphyr::from_str(include_str!("../../examples/template.yaml")).unwrap();
        validate_template(&t).unwrap();
        let run = instantiate(&t, &given(&[("who", "kwf")])).unwrap();
        assert_eq!(
            run.spec.containers[0].command.as_deref().unwrap()[2],
            "echo hello kwf"
        );
        assert_eq!(run.labels["greeted"], "kwf");
    }

    #[test]
    fn validate_template_checks_the_item_group_and_the_history_fields() {
        let mut t = template();
        t.spec.item_group = Some(
            serde_saphyr::from_str("items: [a, a]\nparameter: app\nfrequency: soon\n").unwrap(),
        );
        t.spec.ttl_seconds_after_finished = Some(-1);
        t.spec.failed_runs_history_limit = Some(1001);
        let problems = validate_template(&t).unwrap_err().problems;
        assert_eq!(
            problems,
            [
                "itemGroup.frequency: \"soon\" is not a duration (unreadable): write one such as 30s, 5m, 1h30m or 2d",
                "itemGroup.items: \"a\" is listed twice: keep one",
                "ttlSecondsAfterFinished must be 0 or more seconds: remove it to keep finished runs",
                "failedRunsHistoryLimit is at most 1000: lower it, or remove it to keep every run",
            ]
        );
        t.spec.item_group =
            Some(serde_saphyr::from_str("items: [a, b]\nparameter: app\nfrequency: 1h\n").unwrap());
        t.spec.ttl_seconds_after_finished = Some(0);
        t.spec.failed_runs_history_limit = Some(0);
        validate_template(&t).unwrap();
    }

    #[test]
    fn validate_template_reports_the_specs_own_problems() {
        let mut t = template();
        t.spec.workflow_spec.containers[1].depends_on = vec!["missing".into()];
        let err = validate_template(&t).unwrap_err();
        assert!(
            err.problems[0].starts_with("workflowSpec: step \"test\""),
            "{err}"
        );
    }
}
