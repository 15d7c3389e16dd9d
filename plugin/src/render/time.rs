//! Times and durations as people read them: compact step durations, kubectl's ages, and
//! RFC 3339 timestamps to the second.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A timestamp to the second, in UTC: `2026-03-01T10:00:00Z`.
pub(crate) fn timestamp(time: &Time) -> String {
    time.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `start` to `end` in whole seconds, never negative (clocks of two machines may disagree).
pub(crate) fn seconds_between(start: Timestamp, end: Timestamp) -> i64 {
    end.duration_since(start).as_secs().max(0)
}

/// A duration as compact as it stays readable: `4s`, `1m12s`, `2h3m`, `3d4h`.
pub(crate) fn compact(seconds: i64) -> String {
    let s = seconds.max(0);
    let (days, hours, minutes, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let (big, big_unit, small, small_unit) = if s < 60 {
        return format!("{s}s");
    } else if s < 3600 {
        (minutes, "m", secs, "s")
    } else if s < 86_400 {
        (hours, "h", minutes, "m")
    } else {
        (days, "d", hours, "h")
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// An age exactly as kubectl prints it (apimachinery's `duration.HumanDuration`): precise
/// when recent, coarser as it grows (`90s`, `5m30s`, `15m`, `3h`, `2d`).
pub(crate) fn age(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let minutes = s / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", s % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = s / 3600;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    if hours < 24 * 365 * 8 {
        return with_remainder(days / 365, "y", days % 365, "d");
    }
    format!("{}y", days / 365)
}

fn with_remainder(big: i64, big_unit: &str, small: i64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// `2026-03-01T10:00:00Z (5m ago)`, or `-` when unknown.
pub(crate) fn when(time: Option<&Time>, now: Timestamp) -> String {
    match time {
        Some(t) => format!("{} ({} ago)", timestamp(t), age(seconds_between(t.0, now))),
        None => super::text::NONE.into(),
    }
}

/// `5m ago`, or `-` when unknown.
pub(crate) fn ago(time: Option<&Time>, now: Timestamp) -> String {
    match time {
        Some(t) => format!("{} ago", age(seconds_between(t.0, now))),
        None => super::text::NONE.into(),
    }
}

/// Duration between two optional instants; a run still going counts until `now`.
pub(crate) fn elapsed(
    started: Option<&Time>,
    finished: Option<&Time>,
    running: bool,
    now: Timestamp,
) -> Option<i64> {
    let started = started?.0;
    let end = match finished {
        Some(f) => f.0,
        None if running => now,
        None => return None,
    };
    Some(seconds_between(started, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_durations() {
        let cases = [
            (-3, "0s"),
            (0, "0s"),
            (4, "4s"),
            (59, "59s"),
            (60, "1m"),
            (72, "1m12s"),
            (3599, "59m59s"),
            (3600, "1h"),
            (7380, "2h3m"),
            (7399, "2h3m"),
            (86_400, "1d"),
            (3 * 86_400 + 4 * 3600 + 59, "3d4h"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(compact(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn ages_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (90, "90s"),
            (120, "2m"),
            (330, "5m30s"),
            (900, "15m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (30 * 3600, "30h"),
            (2 * 86_400, "2d"),
            (2 * 86_400 + 3600, "2d1h"),
            (30 * 86_400, "30d"),
            (3 * 365 * 86_400 + 10 * 86_400, "3y10d"),
            (9 * 365 * 86_400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(age(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn elapsed_counts_running_until_now() {
        let t = |s| Time(Timestamp::from_second(s).unwrap());
        let now = Timestamp::from_second(100).unwrap();
        assert_eq!(elapsed(Some(&t(10)), Some(&t(40)), false, now), Some(30));
        assert_eq!(elapsed(Some(&t(10)), None, true, now), Some(90));
        assert_eq!(elapsed(Some(&t(10)), None, false, now), None);
        assert_eq!(elapsed(None, None, true, now), None);
    }
}
