//! `relabel`'s arguments, with kubectl label semantics: `key=value` sets, `key-` removes,
//! changing an existing value needs `--overwrite`. Pure, so every rule is unit-tested.

use std::collections::BTreeMap;

/// Label keys under this prefix are the controller's; a user label there would break it.
const RESERVED_PREFIX: &str = "kwf.dev/";

/// One argument of `relabel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelChange {
    Set { key: String, value: String },
    Remove { key: String },
}

impl LabelChange {
    fn key(&self) -> &str {
        match self {
            LabelChange::Set { key, .. } | LabelChange::Remove { key } => key,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("invalid label change \"{0}\": use key=value to set a label or key- to remove it")]
    Syntax(String),
    #[error("invalid label key \"{key}\": {why}")]
    Key { key: String, why: String },
    #[error("invalid value \"{value}\" for label \"{key}\": {why}")]
    Value {
        key: String,
        value: String,
        why: String,
    },
    #[error("label \"{0}\" is both set and removed; give it once")]
    SetAndRemoved(String),
    #[error("label \"{0}\" is managed by kwf and cannot be changed")]
    Reserved(String),
    #[error("label \"{key}\" already has the value \"{current}\"; pass --overwrite to change it")]
    NeedsOverwrite { key: String, current: String },
}

/// Parses `key=value` and `key-` arguments, checking keys and values as the API server would.
pub fn parse_changes(args: &[String]) -> Result<Vec<LabelChange>, LabelError> {
    let mut changes: Vec<LabelChange> = Vec::with_capacity(args.len());
    for arg in args {
        let change = if let Some((key, value)) = arg.split_once('=') {
            check_value(key, value)?;
            LabelChange::Set {
                key: key.to_string(),
                value: value.to_string(),
            }
        } else if let Some(key) = arg.strip_suffix('-') {
            LabelChange::Remove {
                key: key.to_string(),
            }
        } else {
            return Err(LabelError::Syntax(arg.clone()));
        };
        check_key(change.key())?;
        if let Some(earlier) = changes.iter().find(|c| c.key() == change.key())
            && std::mem::discriminant(earlier) != std::mem::discriminant(&change)
        {
            return Err(LabelError::SetAndRemoved(change.key().to_string()));
        }
        changes.push(change);
    }
    Ok(changes)
}

/// What to send: a merge patch of the labels (None removes), and notes for the user.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Relabel {
    pub patch: BTreeMap<String, Option<String>>,
    /// Removals of labels that are not there (kubectl warns and goes on).
    pub warnings: Vec<String>,
}

/// Applies kubectl's rules to the workflow's current labels. The patch only holds real changes.
pub fn plan(
    current: &BTreeMap<String, String>,
    changes: &[LabelChange],
    overwrite: bool,
) -> Result<Relabel, LabelError> {
    let mut plan = Relabel::default();
    for change in changes {
        match change {
            LabelChange::Set { key, value } => match current.get(key) {
                Some(existing) if existing == value => {}
                Some(existing) if !overwrite => {
                    return Err(LabelError::NeedsOverwrite {
                        key: key.clone(),
                        current: existing.clone(),
                    });
                }
                _ => {
                    plan.patch.insert(key.clone(), Some(value.clone()));
                }
            },
            LabelChange::Remove { key } => {
                if current.contains_key(key) {
                    plan.patch.insert(key.clone(), None);
                } else {
                    plan.warnings.push(format!("label \"{key}\" not found"));
                }
            }
        }
    }
    Ok(plan)
}

/// The state every Job must reach for `--wait`: set labels present with their value, removed
/// labels absent.
pub fn wanted(changes: &[LabelChange]) -> BTreeMap<String, Option<String>> {
    changes
        .iter()
        .map(|c| match c {
            LabelChange::Set { key, value } => (key.clone(), Some(value.clone())),
            LabelChange::Remove { key } => (key.clone(), None),
        })
        .collect()
}

/// Whether a Job's labels show every wanted change.
pub fn carries(
    labels: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, Option<String>>,
) -> bool {
    wanted
        .iter()
        .all(|(key, value)| labels.get(key) == value.as_ref())
}

/// A qualified name: optional DNS subdomain prefix + `/` + a name of at most 63 characters.
fn check_key(key: &str) -> Result<(), LabelError> {
    let bad = |why: &str| LabelError::Key {
        key: key.to_string(),
        why: why.to_string(),
    };
    if key.starts_with(RESERVED_PREFIX) {
        return Err(LabelError::Reserved(key.to_string()));
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > 253 {
            return Err(bad(
                "the prefix before '/' must be a DNS subdomain of 1 to 253 characters",
            ));
        }
        let label_ok = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        };
        if !prefix.split('.').all(label_ok) {
            return Err(bad(
                "the prefix before '/' must be a lowercase DNS subdomain such as example.com",
            ));
        }
    }
    if name.is_empty() {
        return Err(bad("the name part must not be empty"));
    }
    check_name_chars(name).map_err(|why| bad(&why))
}

fn check_value(key: &str, value: &str) -> Result<(), LabelError> {
    if value.is_empty() {
        return Ok(());
    }
    check_name_chars(value).map_err(|why| LabelError::Value {
        key: key.to_string(),
        value: value.to_string(),
        why,
    })
}

/// The shared rule of label names and values.
fn check_name_chars(text: &str) -> Result<(), String> {
    if text.len() > 63 {
        return Err("must be at most 63 characters".to_string());
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !text.bytes().all(allowed) {
        return Err("may contain only letters, digits, '-', '_' and '.'".to_string());
    }
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !ends_ok(text.bytes().next()) || !ends_ok(text.bytes().last()) {
        return Err("must start and end with a letter or digit".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn labels(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_sets_and_removals() {
        let changes = parse_changes(&args(&["team=data", "example.com/tier=", "old-"])).unwrap();
        assert_eq!(
            changes,
            vec![
                LabelChange::Set {
                    key: "team".into(),
                    value: "data".into()
                },
                LabelChange::Set {
                    key: "example.com/tier".into(),
                    value: "".into()
                },
                LabelChange::Remove { key: "old".into() },
            ]
        );
    }

    #[test]
    fn rejects_bad_syntax_keys_and_values() {
        assert_eq!(
            parse_changes(&args(&["team"])),
            Err(LabelError::Syntax("team".into()))
        );
        assert!(matches!(
            parse_changes(&args(&["-x=1"])),
            Err(LabelError::Key { .. })
        ));
        assert!(matches!(
            parse_changes(&args(&["Ex.com/x=1"])),
            Err(LabelError::Key { .. })
        ));
        assert!(matches!(
            parse_changes(&args(&["a/=1"])),
            Err(LabelError::Key { .. })
        ));
        assert!(matches!(
            parse_changes(&args(&["a=b c"])),
            Err(LabelError::Value { .. })
        ));
        assert!(matches!(
            parse_changes(&args(&[&format!("a={}", "v".repeat(64))])),
            Err(LabelError::Value { .. })
        ));
        assert!(matches!(
            parse_changes(&args(&[&format!("{}=1", "k".repeat(64))])),
            Err(LabelError::Key { .. })
        ));
    }

    #[test]
    fn the_controllers_labels_are_off_limits() {
        assert_eq!(
            parse_changes(&args(&["kwf.dev/workflow=x"])),
            Err(LabelError::Reserved("kwf.dev/workflow".into()))
        );
        assert_eq!(
            parse_changes(&args(&["kwf.dev/step-"])),
            Err(LabelError::Reserved("kwf.dev/step".into()))
        );
    }

    #[test]
    fn a_key_cannot_be_set_and_removed_at_once() {
        assert_eq!(
            parse_changes(&args(&["a=1", "a-"])),
            Err(LabelError::SetAndRemoved("a".into()))
        );
    }

    #[test]
    fn changing_a_value_needs_overwrite() {
        let current = labels(&[("team", "data")]);
        let changes = parse_changes(&args(&["team=web"])).unwrap();
        assert_eq!(
            plan(&current, &changes, false),
            Err(LabelError::NeedsOverwrite {
                key: "team".into(),
                current: "data".into()
            })
        );
        let plan = plan(&current, &changes, true).unwrap();
        assert_eq!(
            plan.patch,
            BTreeMap::from([("team".to_string(), Some("web".to_string()))])
        );
    }

    #[test]
    fn unchanged_values_and_missing_removals_send_nothing() {
        let current = labels(&[("team", "data")]);
        let changes = parse_changes(&args(&["team=data", "gone-"])).unwrap();
        let plan = plan(&current, &changes, false).unwrap();
        assert!(plan.patch.is_empty());
        assert_eq!(plan.warnings, vec!["label \"gone\" not found".to_string()]);
    }

    #[test]
    fn removal_of_a_present_label_patches_it_to_null() {
        let current = labels(&[("team", "data")]);
        let changes = parse_changes(&args(&["team-", "new=1"])).unwrap();
        let plan = plan(&current, &changes, false).unwrap();
        assert_eq!(
            plan.patch,
            BTreeMap::from([
                ("team".to_string(), None),
                ("new".to_string(), Some("1".to_string()))
            ])
        );
    }

    #[test]
    fn carries_checks_values_and_absences() {
        let changes = parse_changes(&args(&["team=web", "old-"])).unwrap();
        let wanted = wanted(&changes);
        assert!(carries(&labels(&[("team", "web"), ("x", "y")]), &wanted));
        assert!(!carries(&labels(&[("team", "web"), ("old", "1")]), &wanted));
        assert!(!carries(&labels(&[("team", "data")]), &wanted));
        assert!(!carries(&labels(&[]), &wanted));
    }
}
