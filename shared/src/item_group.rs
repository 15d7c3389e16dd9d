//! A template's item group (oaat-operator's OaatGroup, absorbed): a list of items, each run as
//! the template with the item in one declared parameter, about every `frequency`, one at a time
//! by default, a failed item resting `failureCoolOff` before it is chosen again.
//!
//! This module holds the types and the offline checks ([`item_group_problems`], used by
//! `validate_template`); the choice of the next item is the controller's pure decision
//! (`controller/src/core/item_group.rs`).

use std::hash::Hasher;

use fnv::FnvHasher;
use jiff::{SignedDuration, Span, SpanRelativeTo};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::workflow_template::{Parameter, parameter_values};

/// The `kwf.dev/trigger` label value of the runs of an item group.
pub const TRIGGER_ITEM_GROUP: &str = "item-group";
/// Annotation on a run of an item group: its item.
pub const ANNOTATION_ITEM: &str = "kwf.dev/item";
/// Most items of one group.
pub const MAX_ITEMS: usize = 500;
/// Longest item.
pub const MAX_ITEM_LEN: usize = 253;
/// The parameter that receives the item when `parameter` is not set.
pub const DEFAULT_ITEM_PARAMETER: &str = "item";

/// Items run one at a time (by default), each about every `frequency`.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemGroup {
    /// The items, each run as the template with the item in `parameter`. Unique.
    #[schemars(length(min = 1, max = MAX_ITEMS), inner(length(min = 1, max = MAX_ITEM_LEN)))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub items: Vec<String>,
    /// The declared template parameter that receives the item (default `item`).
    #[serde(default = "default_parameter")]
    #[schemars(length(min = 1, max = crate::params::MAX_PARAM_NAME_LEN))]
    pub parameter: String,
    /// How long after an item's last success it is due again: a duration such as `30s`,
    /// `5m`, `1h30m` or `2d`.
    #[schemars(length(min = 1, max = 64))]
    pub frequency: String,
    /// A failed item is not chosen again within this long of its failure (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub failure_cool_off: Option<String>,
    /// How many runs of the group may be active at once (default 1: one at a time).
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 500))]
    pub concurrency: u32,
    /// True: no new run of the group starts (active ones go on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

fn default_parameter() -> String {
    DEFAULT_ITEM_PARAMETER.to_owned()
}

fn default_concurrency() -> u32 {
    1
}

/// What the controller knows of one item: the truth across the deletion of old runs.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemStatus {
    /// The item.
    pub name: String,
    /// When its last successful run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Time>,
    /// When its last failed run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Time>,
    /// Failed runs since the last success.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures_since_success: u32,
    /// Its active run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_run: Option<String>,
    /// Runs created for it so far: the number in the name of the next one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub runs: u32,
    /// When its latest run was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<Time>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A friendly duration (`30s`, `5m`, `1h30m`, `2d`, `90 minutes`; a day is 24 hours), not
/// negative.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let bad = |why: &str| {
        format!("{text:?} is not a duration ({why}): write one such as 30s, 5m, 1h30m or 2d")
    };
    let span: Span = text.trim().parse().map_err(|_| bad("unreadable"))?;
    if span.get_months() != 0 || span.get_years() != 0 {
        return Err(bad("months and years have no fixed length"));
    }
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad("too long"))?;
    if duration.is_negative() {
        return Err(bad("negative"));
    }
    Ok(duration)
}

/// The group's `failureCoolOff` (zero when unset), if it reads.
pub fn cool_off(group: &ItemGroup) -> Result<SignedDuration, String> {
    match &group.failure_cool_off {
        None => Ok(SignedDuration::ZERO),
        Some(text) => parse_duration(text).map_err(|e| format!("itemGroup.failureCoolOff: {e}")),
    }
}

/// The group's `frequency`, if it reads and is positive.
pub fn frequency(group: &ItemGroup) -> Result<SignedDuration, String> {
    let f = parse_duration(&group.frequency).map_err(|e| format!("itemGroup.frequency: {e}"))?;
    if f.is_zero() {
        return Err(format!(
            "itemGroup.frequency: {:?} is zero: give a positive duration such as 5m",
            group.frequency
        ));
    }
    Ok(f)
}

/// Every problem of an item group that shows without running it: its durations, unique
/// items, the parameter declared, the other parameters' defaults, the concurrency.
pub fn item_group_problems(group: &ItemGroup, declared: &[Parameter]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = frequency(group) {
        problems.push(e);
    }
    if let Err(e) = cool_off(group) {
        problems.push(e);
    }
    if group.items.is_empty() {
        problems.push("itemGroup.items is empty: list at least one item".to_owned());
    }
    if group.items.len() > MAX_ITEMS {
        problems.push(format!(
            "itemGroup.items has {} items, more than {MAX_ITEMS}: split the group into several templates",
            group.items.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for item in &group.items {
        if item.is_empty() || item.len() > MAX_ITEM_LEN {
            problems.push(format!(
                "itemGroup.items: {item:?} must have 1 to {MAX_ITEM_LEN} characters"
            ));
        }
        if !seen.insert(item.as_str()) {
            problems.push(format!(
                "itemGroup.items: {item:?} is listed twice: keep one"
            ));
        }
    }
    if group.concurrency == 0 {
        problems.push("itemGroup.concurrency must be at least 1".to_owned());
    }
    if !declared.iter().any(|p| p.name == group.parameter) {
        problems.push(format!(
            "itemGroup.parameter {:?} is not declared: add it to spec.parameters",
            group.parameter
        ));
    } else {
        let given = [(group.parameter.clone(), String::new())].into();
        if let Err(errs) = parameter_values(declared, &given) {
            problems.extend(errs.into_iter().map(|e| format!("itemGroup: {e}")));
        }
    }
    problems
}

/// 8 hex digits of the 64-bit FNV-1a hash of `item`: the item's part of its run names, stable
/// across builds, and a valid name part whatever characters the item has.
pub fn item_hash(item: &str) -> String {
    let mut hasher = FnvHasher::default();
    hasher.write(item.as_bytes());
    format!("{:016x}", hasher.finish())[..8].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(items: &[&str]) -> ItemGroup {
        ItemGroup {
            items: items.iter().map(|s| (*s).to_owned()).collect(),
            parameter: "item".into(),
            frequency: "5m".into(),
            failure_cool_off: Some("1m".into()),
            concurrency: 1,
            suspend: false,
        }
    }

    fn param(name: &str, default: Option<&str>) -> Parameter {
        Parameter {
            name: name.into(),
            default: default.map(str::to_owned),
            description: None,
        }
    }

    #[test]
    fn friendly_durations_read_and_a_day_is_24_hours() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("2d"), Ok(172_800));
        assert_eq!(secs("90 minutes"), Ok(5400));
        assert_eq!(secs("0s"), Ok(0));
        assert_eq!(
            secs("5 parsecs"),
            Err("\"5 parsecs\" is not a duration (unreadable): write one such as 30s, 5m, 1h30m or 2d".into())
        );
        assert!(secs("1mo").unwrap_err().contains("months and years"));
        assert!(secs("-5m").unwrap_err().contains("negative"));
    }

    #[test]
    fn a_valid_group_has_no_problems() {
        assert_eq!(
            item_group_problems(&group(&["a", "b"]), &[param("item", None)]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_problem_is_one_line_naming_the_field() {
        let mut g = group(&["a", "a", ""]);
        g.frequency = "0s".into();
        g.failure_cool_off = Some("soon".into());
        g.concurrency = 0;
        let problems = item_group_problems(&g, &[param("item", None), param("other", None)]);
        let starts: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(p))
            .collect();
        assert_eq!(
            starts,
            [
                "itemGroup.frequency",
                "itemGroup.failureCoolOff",
                "itemGroup.items",
                "itemGroup.items",
                "itemGroup.concurrency must be at least 1",
                "itemGroup",
            ],
            "{problems:#?}"
        );
        assert!(problems.iter().all(|p| !p.contains('\n')));
        assert!(
            problems[5].contains("\"other\" has no default"),
            "{problems:#?}"
        );
    }

    #[test]
    fn the_parameter_must_be_declared() {
        let problems = item_group_problems(&group(&["a"]), &[param("x", Some("1"))]);
        assert_eq!(
            problems,
            ["itemGroup.parameter \"item\" is not declared: add it to spec.parameters"]
        );
    }

    #[test]
    fn item_hashes_are_short_stable_and_distinct() {
        assert_eq!(item_hash("a").len(), 8);
        assert_eq!(item_hash("a"), item_hash("a"));
        assert_ne!(item_hash("a"), item_hash("b"));
        assert!(
            item_hash("Ünïcode / spaces")
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
    }

    #[test]
    fn defaults_apply_when_reading_yaml() {
        let g: ItemGroup = serde_saphyr::from_str("items: [a]\nfrequency: 1h\n").unwrap();
        assert_eq!(
            (g.parameter.as_str(), g.concurrency, g.suspend),
            ("item", 1, false)
        );
        assert_eq!(cool_off(&g), Ok(SignedDuration::ZERO));
    }
}
