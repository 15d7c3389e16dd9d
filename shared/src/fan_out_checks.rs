//! The part of `validate()` about retries, fan-out and parallelism: limits in range, items
//! that are strings or objects, and every `{{item}}` placeholder one the items can fill. The
//! CRD's rules catch the ranges at admission; the items' shapes only this layer sees (a CEL rule
//! over every item of every step would exceed the API server's cost budget).

use serde_json::Value;

use crate::fan_out::{self, MAX_ITEMS};
use crate::retries::{MAX_RETRIES, RetryPolicy};
use crate::validate::{Problem, ProblemKind};
use crate::workflow::{Step, WorkflowSpec};

/// The problems of `spec` of this module's kind, in spec order: the workflow's, then each step's.
pub(crate) fn problems(spec: &WorkflowSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(parallelism) = spec.parallelism
        && parallelism < 1
    {
        problems.push(Problem::of_spec(
            ProblemKind::InvalidParallelism,
            format!(
                "parallelism is {parallelism}: set it to 1 or more (the most Jobs of the workflow that run at once), or remove it"
            ),
        ));
    }
    if let Some(retries) = &spec.retries {
        for message in retry_problems(retries) {
            problems.push(Problem::of_spec(ProblemKind::InvalidRetries, message));
        }
    }
    for step in &spec.containers {
        let name = step.step_name.as_str();
        if let Some(retries) = &step.retries {
            for message in retry_problems(retries) {
                problems.push(Problem::of_step(name, ProblemKind::InvalidRetries, message));
            }
        }
        problems.extend(
            item_problems(step)
                .map(|message| Problem::of_step(name, ProblemKind::InvalidItems, message)),
        );
        if let Some(max) = step.max_parallel {
            if max < 1 {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::InvalidParallelism,
                    format!("maxParallel is {max}: set it to 1 or more, or remove it"),
                ));
            } else if step.with_items.is_none() && step.with_nodes.is_none() {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::InvalidParallelism,
                    "maxParallel applies to a fanned-out step only: add withItems or withNodes, or remove maxParallel (spec.parallelism limits the whole workflow)".to_owned(),
                ));
            }
        }
    }
    problems
}

fn retry_problems(retries: &RetryPolicy) -> Vec<String> {
    let mut problems = Vec::new();
    if !(0..=MAX_RETRIES).contains(&retries.limit) {
        problems.push(format!(
            "retries.limit is {}: set it between 0 and {MAX_RETRIES} (the retries after the first attempt)",
            retries.limit
        ));
    }
    if let Some(backoff) = &retries.backoff {
        if backoff.seconds.is_some_and(|s| s < 0) {
            problems.push("retries.backoff.seconds is negative: set it to 0 or more".to_owned());
        }
        if backoff.max_seconds.is_some_and(|s| s < 0) {
            problems.push("retries.backoff.maxSeconds is negative: set it to 0 or more".to_owned());
        }
        if let Some(factor) = backoff.factor
            && !(1..=10).contains(&factor)
        {
            problems.push(format!(
                "retries.backoff.factor is {factor}: set it between 1 and 10"
            ));
        }
    }
    problems
}

fn item_problems(step: &Step) -> impl Iterator<Item = String> {
    let mut problems = Vec::new();
    if step.with_items.is_some() && step.with_nodes.is_some() {
        problems.push(
            "has both withItems and withNodes: fan out over one of them (a step per fan-out)"
                .to_owned(),
        );
    }
    match &step.with_items {
        None if step.with_nodes.is_some() => {
            // A node fan-out's item is the node's name: a string.
            if let Some(field) = fan_out::texts(step)
                .flat_map(fan_out::placeholders)
                .find_map(|p| p.field)
            {
                problems.push(format!(
                    "{{{{item.{field}}}}} in a step fanned out over nodes: the item is the node's name, use {{{{item}}}}"
                ));
            }
        }
        None => {
            let uses_items = step
                .command
                .iter()
                .flatten()
                .chain(step.args.iter().flatten())
                .chain(
                    step.env
                        .iter()
                        .flatten()
                        .filter_map(|var| var.value.as_ref()),
                )
                .any(|text| !fan_out::placeholders(text).is_empty());
            if uses_items {
                problems.push(
                    "uses {{item}} but has no withItems or withNodes: add one, or remove the placeholder"
                        .to_owned(),
                );
            }
        }
        Some(items) if items.is_empty() => problems.push(
            "withItems is empty: list at least one item, or remove withItems to run the step once"
                .to_owned(),
        ),
        Some(items) if items.len() > MAX_ITEMS => problems.push(format!(
            "withItems has {} items, more than the {MAX_ITEMS} allowed: split the step",
            items.len()
        )),
        Some(items) => {
            if let Some(index) = items
                .iter()
                .position(|item| !matches!(item, Value::String(_) | Value::Object(_)))
            {
                problems.push(format!(
                    "withItems entry {index} is {}: give each item as a string or an object (quote numbers)",
                    items[index]
                ));
            } else if let Err(error) = fan_out::check(step) {
                problems.push(error.to_string());
            }
        }
    }
    problems.into_iter()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{StepFixture, step, workflow_of};
    use crate::retries::Backoff;

    fn messages(spec: &WorkflowSpec) -> Vec<String> {
        problems(spec).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_negative_retry_limit_is_one_clear_line() {
        let mut s = step("flaky", &[]);
        s.retries = Some(RetryPolicy {
            limit: -1,
            backoff: Some(Backoff {
                seconds: Some(-2),
                factor: Some(0),
                max_seconds: None,
            }),
            ..RetryPolicy::default()
        });
        let wf = workflow_of("w", vec![s]);
        assert_eq!(
            messages(&wf.spec),
            vec![
                "step \"flaky\": retries.limit is -1: set it between 0 and 20 (the retries after the first attempt)",
                "step \"flaky\": retries.backoff.seconds is negative: set it to 0 or more",
                "step \"flaky\": retries.backoff.factor is 0: set it between 1 and 10",
            ]
        );
    }

    #[test]
    fn empty_items_numbers_and_unfillable_fields_are_refused() {
        let with = |items: Vec<Value>, command: &str| {
            let mut s = step("fan", &[]).with_command(&["sh", "-c", command]);
            s.with_items = Some(items);
            workflow_of("w", vec![s])
        };
        assert_eq!(
            messages(&with(vec![], "echo").spec),
            vec![
                "step \"fan\": withItems is empty: list at least one item, or remove withItems to run the step once"
            ]
        );
        assert!(messages(&with(vec![json!(1)], "echo").spec)[0].contains("entry 0 is 1"));
        assert_eq!(
            messages(&with(vec![json!("a")], "echo {{item.x}}").spec),
            vec![
                "step \"fan\": {{item.x}} needs object items, but item 0 is a: use {{item}}, or give the items as objects"
            ]
        );
        assert!(
            messages(&with(vec![json!({"x": 1}), json!("b")], "echo {{item}}").spec).is_empty()
        );
    }

    #[test]
    fn placeholders_without_items_and_limits_below_one_are_refused() {
        let mut s = step("one", &[]).with_command(&["echo", "{{item}}"]);
        s.max_parallel = Some(2);
        let mut wf = workflow_of("w", vec![s]);
        wf.spec.parallelism = Some(0);
        let found = messages(&wf.spec);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("parallelism is 0"));
        assert!(found[1].contains("has no withItems"));
        assert!(found[2].contains("maxParallel applies to a fanned-out step only"));
    }
}
