//! Cron expressions and time zones of a schedule, parsed once here so that `kubectl workflow
//! validate`, the controller and its tests read them alike.
//!
//! The syntax is CronJob's: five fields (minute, hour, day of month, month, day of week), names
//! of months and days, ranges, lists, steps, `?` for `*`, and the macros `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` (croner's parser,
//! seconds and years turned off). A day of month and a day of week both set match either, as in
//! Vixie cron and CronJob.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;

/// The time zone of a schedule without `timeZone`.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// `expr` as a schedule, or one line saying what is wrong with it.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    if expr.trim_start().starts_with("TZ=") || expr.trim_start().starts_with("CRON_TZ=") {
        return Err(format!(
            "invalid cron expression {expr:?}: a time zone goes in timeZone, not in the expression"
        ));
    }
    parser.parse(expr).map_err(|err| {
        format!(
            "invalid cron expression {expr:?}: {err}; use five fields: minute hour day-of-month month day-of-week (such as \"*/5 * * * *\")"
        )
    })
}

/// The IANA zone `name` (`None`: UTC), or one line saying it is unknown.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    let name = name.unwrap_or(DEFAULT_TIME_ZONE);
    TimeZone::get(name).map_err(|_| {
        format!("unknown time zone {name:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cronjob_syntax_parses() {
        for expr in [
            "* * * * *",
            "*/5 * * * *",
            "0 2 * * MON-FRI",
            "30 4 1,15 * ?",
            "@hourly",
            "@daily",
        ] {
            parse_cron(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        }
    }

    #[test]
    fn bad_expressions_are_one_line() {
        for expr in [
            "",
            "* * * *",
            "61 * * * *",
            "* * * * * *",
            "TZ=UTC * * * * *",
        ] {
            let err = parse_cron(expr).unwrap_err();
            assert!(err.starts_with("invalid cron expression"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn zones_are_iana_names() {
        assert!(time_zone(None).is_ok());
        assert!(time_zone(Some("Europe/Berlin")).is_ok());
        let err = time_zone(Some("Mars/Olympus")).unwrap_err();
        assert_eq!(
            err,
            "unknown time zone \"Mars/Olympus\": use an IANA name such as \"Europe/Berlin\" or \"UTC\""
        );
    }
}
