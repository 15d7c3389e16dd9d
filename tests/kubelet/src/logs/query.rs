//! Parsing the log request (path and query) and cutting the log to what was asked for.

use super::LogKey;

/// The options of a container log request that this kubelet honours. `timestamps`, `sinceSeconds`,
/// `sinceTime` and `previous` are accepted and ignored: the log files store no per-line times, and restarts
/// append to one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub follow: bool,
    pub tail_lines: Option<u64>,
    pub limit_bytes: Option<u64>,
}

/// `/containerLogs/{ns}/{pod}/{container}` -> its key; `None` for any other path.
pub fn parse_path(path: &str) -> Option<LogKey> {
    let rest = path.strip_prefix("/containerLogs/")?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let [namespace, pod, container] = parts.as_slice() else {
        return None;
    };
    // Kubernetes names are DNS labels/subdomains: anything else would escape the log directory.
    let valid = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    if !(valid(namespace) && valid(pod) && valid(container)) {
        return None;
    }
    Some(LogKey {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        container: container.to_string(),
    })
}

/// Parses the query string; an invalid value is a one-line error for a 400 reply.
pub fn parse_query(query: Option<&str>) -> Result<LogQuery, String> {
    let mut parsed = LogQuery::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "follow" => parsed.follow = parse_bool(&key, &value)?,
            "tailLines" => parsed.tail_lines = Some(parse_count(&key, &value)?),
            "limitBytes" => parsed.limit_bytes = Some(parse_count(&key, &value)?),
            _ => {}
        }
    }
    Ok(parsed)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "query parameter {key}={value:?} is not a boolean: use true or false"
        )),
    }
}

fn parse_count(key: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("query parameter {key}={value:?} is not a non-negative integer"))
}

/// The last `lines` lines of `content` (a final line without newline counts as a line).
pub fn tail(content: &[u8], lines: u64) -> &[u8] {
    if lines == 0 {
        return &content[content.len()..];
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    let mut seen = 0;
    for (at, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return &content[at + 1..];
            }
        }
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_with_three_names_is_a_key() {
        let key = parse_path("/containerLogs/ns1/pod-a/main").expect("key");
        assert_eq!(
            key,
            LogKey {
                namespace: "ns1".into(),
                pod: "pod-a".into(),
                container: "main".into()
            }
        );
    }

    #[test]
    fn other_paths_are_rejected() {
        for path in [
            "/containerLogs/ns/pod",
            "/containerLogs/ns/pod/c/extra",
            "/containerLogs/../pod/c",
            "/containerLogs/ns//c",
            "/logs/ns/pod/c",
            "/containerLogs/ns/p%2Fx/c",
        ] {
            assert_eq!(parse_path(path), None, "{path}");
        }
    }

    #[test]
    fn query_options_parse_and_unknown_ones_are_ignored() {
        let q = parse_query(Some(
            "follow=true&tailLines=5&limitBytes=100&timestamps=true&sinceSeconds=3",
        ))
        .expect("query");
        assert_eq!(
            q,
            LogQuery {
                follow: true,
                tail_lines: Some(5),
                limit_bytes: Some(100)
            }
        );
        assert_eq!(parse_query(None).expect("empty"), LogQuery::default());
        assert!(!parse_query(Some("follow=false")).expect("follow").follow);
    }

    #[test]
    fn invalid_query_values_are_one_line_errors() {
        let err = parse_query(Some("tailLines=-1")).expect_err("negative");
        assert!(err.contains("tailLines"), "{err}");
        let err = parse_query(Some("follow=maybe")).expect_err("bool");
        assert!(err.contains("follow"), "{err}");
    }

    #[test]
    fn tail_takes_last_lines() {
        let log = b"a\nb\nc\n";
        assert_eq!(tail(log, 2), b"b\nc\n");
        assert_eq!(tail(log, 3), log);
        assert_eq!(tail(log, 10), log);
        assert_eq!(tail(log, 0), b"");
        assert_eq!(tail(b"a\nb", 1), b"b");
        assert_eq!(tail(b"", 1), b"");
    }
}
