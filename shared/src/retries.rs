//! Retries of a failed step (`retries` on a step, or on the workflow for every step): which
//! failures retry, how many times, and how long to wait before each new attempt. Every
//! attempt is a new Job; `limit` counts the retries *after* the first attempt, so a step has
//! at most `limit + 1` attempts (Argo's off-by-one complaint, argo-workflows#5341, stated once).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Most retries a step may have.
pub const MAX_RETRIES: i32 = 20;
/// Seconds before the first retry when `backoff` does not say.
pub const DEFAULT_BACKOFF_SECONDS: i64 = 10;
/// Factor by which the wait grows after each failed attempt when `backoff` does not say.
pub const DEFAULT_BACKOFF_FACTOR: i32 = 2;
/// Longest wait between attempts when `backoff` does not say (the Job controller's cap).
pub const DEFAULT_BACKOFF_MAX_SECONDS: i64 = 360;

/// When and how often a failed step runs again.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Retries after the first attempt: a step runs at most `limit + 1` times (0 to 20).
    #[x_kube(validation = kube::core::Rule::new("self >= 0 && self <= 20")
        .message("retries.limit must be between 0 and 20: the number of retries after the first attempt")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub limit: i32,
    /// The wait before each retry: `seconds`, then multiplied by `factor` after each failed
    /// attempt, at most `maxSeconds`. Default 10 s, factor 2, at most 360 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Only a failure with one of these exit codes retries; absent: any failure does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub exit_codes: Option<Vec<i32>>,
    /// Whether an attempt that ran out of `maxStepTimeout` retries (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<bool>,
}

/// The wait between attempts.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// Seconds before the first retry (0 retries at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 0")
        .message("retries.backoff.seconds must be 0 or more")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub seconds: Option<i64>,
    /// Factor by which the wait grows after each failed attempt (1 keeps it constant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 10")
        .message("retries.backoff.factor must be between 1 and 10")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub factor: Option<i32>,
    /// Longest wait between two attempts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 0")
        .message("retries.backoff.maxSeconds must be 0 or more")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub max_seconds: Option<i64>,
}

/// One failed attempt of a step (or of a fan-out instance) that was retried, as its status
/// keeps it: the Job, how it ended, when.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailedAttempt {
    /// The attempt's Job (kept until the run is cleaned up, for `kubectl workflow logs`).
    pub job_name: String,
    /// Exit code of its container, where the pod showed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// How it failed, in a few words: `exit code 1`, `OOMKilled`, `timed out after 60s`.
    pub reason: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// How an attempt failed, as far as the retry rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// Its container exited with this code (or the Job failed without one: None).
    Exited(Option<i32>),
    /// It ran out of `maxStepTimeout`.
    TimedOut,
}

impl RetryPolicy {
    /// Whether an attempt that failed so, after `failed_attempts` failed attempts in all
    /// (this one included), runs again.
    pub fn retries(&self, failure: AttemptFailure, failed_attempts: u32) -> bool {
        let limit = u32::try_from(self.limit.clamp(0, MAX_RETRIES)).unwrap_or(0);
        if failed_attempts > limit {
            return false;
        }
        match failure {
            AttemptFailure::TimedOut => self.timeouts.unwrap_or(true),
            AttemptFailure::Exited(code) => match &self.exit_codes {
                None => true,
                Some(codes) => code.is_some_and(|code| codes.contains(&code)),
            },
        }
    }

    /// Seconds to wait before the attempt that follows `failed_attempts` failed ones (>= 1):
    /// `seconds * factor^(failed_attempts - 1)`, at most `maxSeconds`.
    pub fn delay_seconds(&self, failed_attempts: u32) -> i64 {
        let backoff = self.backoff.clone().unwrap_or_default();
        let base = backoff.seconds.unwrap_or(DEFAULT_BACKOFF_SECONDS).max(0);
        let factor = i64::from(
            backoff
                .factor
                .unwrap_or(DEFAULT_BACKOFF_FACTOR)
                .clamp(1, 10),
        );
        let cap = backoff
            .max_seconds
            .unwrap_or(DEFAULT_BACKOFF_MAX_SECONDS)
            .max(0);
        let exponent = failed_attempts.saturating_sub(1).min(62);
        let grown = factor
            .checked_pow(exponent)
            .and_then(|scale| base.checked_mul(scale))
            .unwrap_or(i64::MAX);
        grown.min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: i32) -> RetryPolicy {
        RetryPolicy {
            limit,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn limit_counts_retries_after_the_first_attempt() {
        let p = policy(2);
        assert!(p.retries(AttemptFailure::Exited(Some(1)), 1));
        assert!(p.retries(AttemptFailure::Exited(Some(1)), 2));
        assert!(
            !p.retries(AttemptFailure::Exited(Some(1)), 3),
            "3 attempts in all"
        );
        assert!(!policy(0).retries(AttemptFailure::Exited(Some(1)), 1));
        assert!(
            !policy(-4).retries(AttemptFailure::Exited(None), 1),
            "a negative limit (refused at admission) never retries"
        );
    }

    #[test]
    fn exit_codes_and_timeouts_choose_what_retries() {
        let p = RetryPolicy {
            limit: 5,
            exit_codes: Some(vec![3, 137]),
            timeouts: Some(false),
            ..RetryPolicy::default()
        };
        assert!(p.retries(AttemptFailure::Exited(Some(137)), 1));
        assert!(!p.retries(AttemptFailure::Exited(Some(1)), 1));
        assert!(
            !p.retries(AttemptFailure::Exited(None), 1),
            "no exit code is not a listed one"
        );
        assert!(!p.retries(AttemptFailure::TimedOut, 1));
        assert!(policy(1).retries(AttemptFailure::TimedOut, 1), "default");
        assert!(policy(1).retries(AttemptFailure::Exited(None), 1), "any");
    }

    #[test]
    fn delay_grows_by_the_factor_up_to_the_cap() {
        let p = RetryPolicy {
            limit: 20,
            backoff: Some(Backoff {
                seconds: Some(2),
                factor: Some(3),
                max_seconds: Some(50),
            }),
            ..RetryPolicy::default()
        };
        let delays: Vec<i64> = (1..=5).map(|n| p.delay_seconds(n)).collect();
        assert_eq!(delays, vec![2, 6, 18, 50, 50]);
        assert_eq!(p.delay_seconds(20), 50, "no overflow");
        assert_eq!(policy(3).delay_seconds(1), DEFAULT_BACKOFF_SECONDS);
        assert_eq!(policy(3).delay_seconds(2), 20);
        assert_eq!(policy(3).delay_seconds(30), DEFAULT_BACKOFF_MAX_SECONDS);
    }
}
