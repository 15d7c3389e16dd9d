//! The controller's /metrics, /healthz and /readyz, read over plain HTTP/1.0; /metrics parsed
//! into series -> value.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One scrape: every sample by its series (`name{labels}` exactly as exposed).
#[derive(Clone, Debug, Default)]
pub struct Samples(pub BTreeMap<String, f64>);

impl Samples {
    /// Fetches `http://<addr>/metrics`.
    pub async fn scrape(addr: &str) -> anyhow::Result<Samples> {
        let body = get(addr, "/metrics").await?;
        Ok(Samples::parse(&body))
    }

    /// Parses the text exposition format; comments and malformed lines are skipped.
    pub fn parse(text: &str) -> Samples {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect();
        Samples(samples)
    }

    /// The value of one series, 0 when absent.
    pub fn value(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// Every series of the metric `name` with labels, by its label text (`verb="create",...`).
    pub fn labelled(&self, name: &str) -> BTreeMap<String, f64> {
        let prefix = format!("{name}{{");
        self.0
            .iter()
            .filter_map(|(series, value)| {
                let labels = series.strip_prefix(&prefix)?.strip_suffix('}')?;
                Some((labels.to_owned(), *value))
            })
            .collect()
    }

    /// The change of every series since `before`.
    pub fn since(&self, before: &Samples) -> Samples {
        Samples(
            self.0
                .iter()
                .map(|(series, value)| (series.clone(), value - before.value(series)))
                .collect(),
        )
    }
}

/// The value of one label in a label text such as `resource="jobs",verb="create"`.
pub fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// Status code and body of a GET on a plain-HTTP server (the controller's metrics server).
pub async fn get(addr: &str, path: &str) -> anyhow::Result<String> {
    let (code, body) = get_status(addr, path).await?;
    if code != 200 {
        bail!("GET http://{addr}{path} answered {code}");
    }
    Ok(body)
}

/// Status code and body of a GET, HTTP/1.0 so the server closes the connection after the body.
pub async fn get_status(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no HTTP status from {addr}{path}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP kwf_api_requests Requests\n\
# TYPE kwf_api_requests counter\n\
kwf_api_requests_total{resource=\"jobs\",verb=\"create\"} 12\n\
kwf_api_requests_total{resource=\"workflows/status\",verb=\"patch\"} 7\n\
kwf_reconcile_duration_seconds_sum 0.5\n\
kwf_reconcile_duration_seconds_count 20\n\
# EOF\n";

    #[test]
    fn series_and_labels_are_read() {
        let samples = Samples::parse(TEXT);
        assert_eq!(samples.value("kwf_reconcile_duration_seconds_count"), 20.0);
        let requests = samples.labelled("kwf_api_requests_total");
        assert_eq!(requests.len(), 2);
        let (labels, value) = requests.iter().next().unwrap();
        assert_eq!(label(labels, "resource"), Some("jobs"));
        assert_eq!(label(labels, "verb"), Some("create"));
        assert_eq!(*value, 12.0);
    }

    #[test]
    fn differences_count_from_the_earlier_scrape() {
        let before = Samples::parse("a 1\nb 5\n");
        let after = Samples::parse("a 4\nb 5\nc 2\n");
        let delta = after.since(&before);
        assert_eq!(
            (delta.value("a"), delta.value("b"), delta.value("c")),
            (3.0, 0.0, 2.0)
        );
    }
}
