//! The nodes a step fanned out over nodes (`withNodes`) runs on: [`ObservedNode`] as the shell
//! saw it, and [`eligible`], the pure rule of `kwf_api::fan_out::NodeFanOut`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PodSpec, Taint, Toleration};
use kwf_api::fan_out::NodeFanOut;

/// What the core knows of a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
}

impl ObservedNode {
    pub fn from_node(node: &Node) -> ObservedNode {
        let spec = node.spec.as_ref();
        ObservedNode {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
        }
    }
}

/// The names of the nodes `fan_out` runs on, for a pod spec `pod` (its nodeSelector and
/// tolerations), in name order.
pub(super) fn eligible(fan_out: &NodeFanOut, pod: &PodSpec, nodes: &[ObservedNode]) -> Vec<String> {
    let selector = pod.node_selector.clone().unwrap_or_default();
    let tolerations = pod.tolerations.as_deref().unwrap_or_default();
    let mut names: Vec<String> = nodes
        .iter()
        .filter(|node| !node.unschedulable)
        .filter(|node| !fan_out.exclude.iter().any(|name| name.trim() == node.name))
        .filter(|node| has_labels(node, &fan_out.selector) && has_labels(node, &selector))
        .filter(|node| {
            node.taints
                .iter()
                .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
                .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
        })
        .map(|node| node.name.clone())
        .collect();
    names.sort();
    names
}

fn has_labels(node: &ObservedNode, wanted: &BTreeMap<String, String>) -> bool {
    wanted
        .iter()
        .all(|(key, value)| node.labels.get(key) == Some(value))
}

/// Kubernetes' rule: an empty key with `Exists` tolerates everything; otherwise the keys match
/// and, with `Equal` (the default), the values too; an empty effect matches every effect.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let exists = toleration.operator.as_deref() == Some("Exists");
    match toleration.key.as_deref().filter(|k| !k.is_empty()) {
        None => exists,
        Some(key) if key != taint.key => false,
        Some(_) => {
            exists
                || toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: &[(&str, &str)], taint: Option<(&str, &str)>) -> ObservedNode {
        ObservedNode {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            unschedulable: false,
            taints: taint
                .into_iter()
                .map(|(key, value)| Taint {
                    key: key.to_owned(),
                    value: Some(value.to_owned()),
                    effect: "NoSchedule".to_owned(),
                    time_added: None,
                })
                .collect(),
        }
    }

    #[test]
    fn selector_exclusions_cordons_and_taints_choose_the_nodes() {
        let mut cordoned = node("d", &[("pool", "a")], None);
        cordoned.unschedulable = true;
        let nodes = vec![
            node("c", &[("pool", "a")], Some(("gpu", "yes"))),
            node("a", &[("pool", "a")], None),
            node("b", &[("pool", "b")], None),
            node("e", &[("pool", "a")], None),
            cordoned,
        ];
        let fan_out = NodeFanOut {
            selector: [("pool".to_owned(), "a".to_owned())].into(),
            exclude: vec![" e".to_owned()],
        };
        assert_eq!(eligible(&fan_out, &PodSpec::default(), &nodes), vec!["a"]);
        let tolerant = PodSpec {
            tolerations: Some(vec![Toleration {
                key: Some("gpu".to_owned()),
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            }]),
            ..PodSpec::default()
        };
        assert_eq!(eligible(&fan_out, &tolerant, &nodes), vec!["a", "c"]);
        let everything = PodSpec {
            tolerations: Some(vec![Toleration {
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            }]),
            node_selector: Some([("pool".to_owned(), "b".to_owned())].into()),
            ..PodSpec::default()
        };
        assert!(
            eligible(&fan_out, &everything, &nodes).is_empty(),
            "pool a and b"
        );
        let wrong_value = Toleration {
            key: Some("gpu".to_owned()),
            value: Some("no".to_owned()),
            ..Toleration::default()
        };
        assert!(!tolerates(&wrong_value, &nodes[0].taints[0]));
    }
}
