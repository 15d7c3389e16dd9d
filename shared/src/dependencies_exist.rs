//! The CRD's cross-step CEL rule: every `dependsOn` names a step of the workflow.
//!
//! Kubernetes CEL has no `cel.bind`, and a nested `exists` would cost steps² × dependencies,
//! beyond the API server's budget at 2,000 steps. So the step names are turned into a map
//! once (`transformMapEntry`, Kubernetes 1.32+) inside a one-element list whose element the
//! comprehension binds; lookups in it cost 1. The rule is added here rather than through
//! `#[x_kube(validation)]` because it needs both a `messageExpression` (to name the step)
//! and a plain `message`: the API server shows the latter when the expression cannot run,
//! e.g. when two steps share a name and the map cannot be built (that duplicate is reported
//! on its own by the `stepName` list-map key).

use schemars::Schema;
use serde_json::json;

/// The names of the steps as a map, bound to `names` by the comprehension around it.
const NAMES: &str = "[self.transformMapEntry(i, c, {c.stepName: true})]";

/// The rule: true when every `dependsOn` entry is a step's name.
pub(crate) fn dependencies_exist_rule() -> String {
    format!("{NAMES}.all(names, self.all(c, !has(c.dependsOn) || c.dependsOn.all(d, d in names)))")
}

/// Names the first step with a missing dependency, and that dependency. Built without
/// string concatenation inside comprehensions, whose cost the API server overestimates.
pub(crate) fn dependencies_exist_message() -> String {
    let offender = format!(
        "{NAMES}.map(names, self.filter(c, has(c.dependsOn) && c.dependsOn.exists(d, !(d in names))))[0][0]"
    );
    let missing =
        format!("{NAMES}.map(names, {offender}.dependsOn.filter(d, !(d in names)))[0][0]");
    format!(
        "'step \"' + {offender}.stepName + '\": depends on \"' + {missing} + \
         '\", which is not a step of this workflow: fix the name or remove it from dependsOn'"
    )
}

/// Adds the rule to the schema of `spec.containers`.
pub(crate) fn dependencies_exist(schema: &mut Schema) {
    let rule = json!({
        "rule": dependencies_exist_rule(),
        "messageExpression": dependencies_exist_message(),
        "message": "every dependsOn entry must be the stepName of a step of this workflow",
        "reason": "FieldValueInvalid",
    });
    let rules = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| json!([]));
    if let Some(rules) = rules.as_array_mut() {
        rules.push(rule);
    }
}
