//! Step deadlines: `maxStepTimeout` seconds from the step's Job creation. The Job's own
//! `activeDeadlineSeconds` only counts once the Job controller starts it; this deadline also
//! catches a Job stuck before that, and drives the requeue so it is enforced on time.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// When a step whose Job was created at `created` (or, before the Job is seen, recorded as
/// started at `started`) must have finished. None when the timeout is unlimited (-1).
pub(super) fn deadline(
    created: Option<Timestamp>,
    started: Option<Timestamp>,
    now: Timestamp,
    max_step_timeout: i64,
) -> Option<Timestamp> {
    if max_step_timeout <= 0 {
        return None;
    }
    let base = created.or(started).unwrap_or(now);
    base.checked_add(SignedDuration::from_secs(max_step_timeout))
        .ok()
}

/// Time left until `deadline`, or None when it has passed.
pub(super) fn remaining(deadline: Timestamp, now: Timestamp) -> Option<Duration> {
    let left = now.duration_until(deadline);
    if left.is_positive() {
        Duration::try_from(left).ok()
    } else {
        None
    }
}

/// The earlier of two optional requeue delays.
pub(super) fn earliest(current: Option<Duration>, candidate: Duration) -> Option<Duration> {
    Some(current.map_or(candidate, |current| current.min(candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    fn deadline_counts_from_creation_then_start_then_now() {
        assert_eq!(deadline(Some(at(0)), Some(at(5)), at(9), 10), Some(at(10)));
        assert_eq!(deadline(None, Some(at(5)), at(9), 10), Some(at(15)));
        assert_eq!(deadline(None, None, at(9), 10), Some(at(19)));
    }

    #[test]
    fn unlimited_timeout_has_no_deadline() {
        assert_eq!(deadline(Some(at(0)), None, at(0), -1), None);
    }

    #[test]
    fn remaining_is_none_at_and_after_the_deadline() {
        assert_eq!(remaining(at(10), at(7)), Some(Duration::from_secs(3)));
        assert_eq!(remaining(at(10), at(10)), None);
        assert_eq!(remaining(at(10), at(11)), None);
    }

    #[test]
    fn earliest_keeps_the_smaller_delay() {
        let one = Duration::from_secs(1);
        let two = Duration::from_secs(2);
        assert_eq!(earliest(None, two), Some(two));
        assert_eq!(earliest(Some(one), two), Some(one));
        assert_eq!(earliest(Some(two), one), Some(one));
    }
}
