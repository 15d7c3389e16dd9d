//! Names kwf gives to Kubernetes objects: deterministic, valid, at most 63 characters, and
//! distinct for distinct inputs (a hash of the full name replaces what had to be cut).

use std::hash::Hasher;

use fnv::FnvHasher;

/// Longest name of a Kubernetes label value and of a DNS-1123 label.
pub const MAX_LABEL_LEN: usize = 63;
/// A DNS-1123 label as a regular expression (without the length limit).
pub const DNS1123_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Characters of the hash suffix that replaces a cut part.
const HASH_LEN: usize = 8;

/// Whether `s` is a DNS-1123 label: 1 to 63 lowercase letters, digits or '-', starting and
/// ending with a letter or digit.
pub fn is_dns1123_label(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= MAX_LABEL_LEN
                && alnum(first)
                && alnum(last)
                && bytes.iter().all(|&c| alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Name of the Job that runs `step` of `workflow` for `generation`, run `run` (0 for the
/// first, each restart adds one): `{workflow}-{step}-{generation}`, plus `-r{run}` when
/// `run > 0`. When that is not a DNS-1123 label of at most 63 characters, the workflow
/// part is cut (and characters a label cannot hold replaced) and `-{8 hex}` of a stable
/// hash of the full name is appended.
pub fn job_name(workflow: &str, step: &str, generation: i64, run: u32) -> String {
    attempt_job_name(workflow, step, generation, run, None, 0)
}

/// Name of the Job of one attempt of `step` (of one instance of a fanned-out step):
/// [`job_name`]'s, plus `-i{instance}` for an instance and `-a{attempt}` for a retry
/// (attempt 0 is the first), cut and hashed the same way when too long.
pub fn attempt_job_name(
    workflow: &str,
    step: &str,
    generation: i64,
    run: u32,
    instance: Option<u32>,
    attempt: u32,
) -> String {
    use std::fmt::Write as _;
    let mut suffix = format!("-{step}-{generation}");
    if run > 0 {
        let _ = write!(suffix, "-r{run}");
    }
    if let Some(instance) = instance {
        let _ = write!(suffix, "-i{instance}");
    }
    if attempt > 0 {
        let _ = write!(suffix, "-a{attempt}");
    }
    let full = format!("{workflow}{suffix}");
    if is_dns1123_label(&full) {
        return full;
    }
    let hash = stable_hash(&full);
    let budget = MAX_LABEL_LEN - HASH_LEN - 1;
    let prefix = if suffix.len() < budget {
        let kept: String = workflow.chars().take(budget - suffix.len()).collect();
        sanitize(&format!("{kept}{suffix}"), budget)
    } else {
        // Only with absurd steps or runs: cut the whole name instead.
        sanitize(&full, budget)
    };
    let prefix = prefix.trim_end_matches('-');
    if prefix.is_empty() {
        format!("x-{hash}")
    } else {
        format!("{prefix}-{hash}")
    }
}

/// A label value for `name` (the `kwf.dev/workflow` label): `name` itself when it fits in
/// 63 characters, else its first characters and `-{8 hex}` of a stable hash of all of it.
pub fn label_value(name: &str) -> String {
    if name.len() <= MAX_LABEL_LEN && is_label_value(name) {
        return name.to_owned();
    }
    let hash = stable_hash(name);
    let kept: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_LABEL_LEN - HASH_LEN - 1)
        .collect();
    let kept = kept.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if kept.is_empty() {
        format!("x-{hash}")
    } else {
        format!("{kept}-{hash}")
    }
}

/// A label value: empty, or alphanumerics with '-', '_', '.' inside.
fn is_label_value(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => true,
    }
}

/// At most `max` characters of `s` made of what a DNS-1123 label may hold, starting with a
/// letter or digit.
fn sanitize(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned.trim_start_matches('-').chars().take(max).collect()
}

/// First 8 hex digits of the 64-bit FNV-1a hash of `s`: stable across builds and platforms.
fn stable_hash(s: &str) -> String {
    let mut hasher = FnvHasher::default();
    hasher.write(s.as_bytes());
    format!("{:016x}", hasher.finish())[..HASH_LEN].to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::limits::MAX_STEP_NAME_LEN;

    #[test]
    fn short_names_are_kept_as_they_are() {
        assert_eq!(job_name("build", "compile", 3, 0), "build-compile-3");
        assert_eq!(job_name("build", "compile", 3, 2), "build-compile-3-r2");
        assert_eq!(label_value("build"), "build");
        assert_eq!(label_value("my.workflow"), "my.workflow");
    }

    #[test]
    fn long_names_are_cut_and_hashed_to_63_characters() {
        let workflow = "w".repeat(253);
        let step = "s".repeat(MAX_STEP_NAME_LEN);
        for run in [0, 1, u32::MAX] {
            for generation in [1, 42, i64::MAX] {
                let name = job_name(&workflow, &step, generation, run);
                assert!(is_dns1123_label(&name), "{name}");
                assert!(name.len() <= MAX_LABEL_LEN, "{name}");
                assert_eq!(
                    name,
                    job_name(&workflow, &step, generation, run),
                    "deterministic"
                );
            }
        }
        let name = job_name(&workflow, "compile", 7, 1);
        assert_eq!(name.len(), MAX_LABEL_LEN);
        assert!(
            name.contains("-compile-7-r1-"),
            "keeps step, generation and run: {name}"
        );
        let label = label_value(&workflow);
        assert_eq!(label.len(), MAX_LABEL_LEN);
        assert!(label.starts_with("www"), "{label}");
    }

    #[test]
    fn names_a_label_cannot_hold_become_valid() {
        // Workflow names are DNS-1123 subdomains: dots are allowed there, not in a label.
        let name = job_name("my.workflow", "a", 1, 0);
        assert!(is_dns1123_label(&name), "{name}");
        assert!(name.starts_with("my-workflow-a-1-"), "{name}");
        assert_ne!(
            name,
            job_name("my-workflow", "a", 1, 0),
            "dots differ from dashes"
        );
        let odd = label_value(&format!("-{}", "x.".repeat(40)));
        assert!(odd.len() <= MAX_LABEL_LEN && is_label_value(&odd), "{odd}");
    }

    #[test]
    fn distinct_inputs_give_distinct_names() {
        let prefix = "a-very-long-workflow-name-that-certainly-does-not-fit-in-a-label";
        let mut jobs = HashSet::new();
        let mut labels = HashSet::new();
        for i in 0..2000 {
            let workflow = format!("{prefix}-{i}");
            for (step, generation, run) in [("a", 1, 0), ("a", 2, 0), ("a", 1, 1), ("b", 1, 0)] {
                let name = job_name(&workflow, step, generation, run);
                assert!(is_dns1123_label(&name), "{name}");
                assert!(jobs.insert(name.clone()), "collision: {name}");
            }
            assert!(
                labels.insert(label_value(&workflow)),
                "label collision for {workflow}"
            );
        }
    }

    #[test]
    fn instances_and_attempts_have_names_of_their_own() {
        assert_eq!(attempt_job_name("w", "s", 1, 0, None, 0), "w-s-1");
        assert_eq!(
            attempt_job_name("w", "s", 1, 2, Some(7), 3),
            "w-s-1-r2-i7-a3"
        );
        assert_eq!(attempt_job_name("w", "s", 1, 0, Some(0), 1), "w-s-1-i0-a1");
        let long = "w".repeat(60);
        let mut seen = HashSet::new();
        for instance in [None, Some(0), Some(999)] {
            for attempt in [0, 1, 20] {
                let name = attempt_job_name(&long, "step", 3, 1, instance, attempt);
                assert!(is_dns1123_label(&name), "{name}");
                assert!(seen.insert(name), "distinct");
            }
        }
    }

    #[test]
    fn dns1123_labels() {
        for good in ["a", "a-b", "0", "a1", &"a".repeat(63)] {
            assert!(is_dns1123_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }
}
