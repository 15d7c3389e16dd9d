//! kubectl's `-v`: at level 6 and above every API request is logged on standard error as
//! kubectl logs it (`GET https://…/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y 200 OK in 4
//! milliseconds`), so a user sees what a command sends. A tower layer around the client; the
//! line itself is a pure function.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode, Uri};
use kube::client::Body;
use tower::{Layer, Service};

/// The lowest `-v` level that logs requests (kubectl's: 6 logs URL, status and time).
pub const REQUEST_LEVEL: u8 = 6;

/// The layer that logs each request once it is answered. It sits outside kube's own stack,
/// where URIs are still relative to the cluster's: `server` completes them.
#[derive(Clone, Debug)]
pub struct RequestLog {
    pub server: String,
}

impl<S> Layer<S> for RequestLog {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged {
            inner,
            server: self.server.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Logged<S> {
    inner: S,
    server: String,
}

impl<S, B> Service<Request<Body>> for Logged<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = request.method().clone();
        let url = url(&self.server, request.uri());
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            let outcome = match &answer {
                Ok(response) => Ok(response.status()),
                Err(err) => Err(err.to_string()),
            };
            eprintln!("{}", line(&method, &url, outcome, started.elapsed()));
            answer
        })
    }
}

/// The request's full URL as kubectl prints it: the server's, and no empty query left over
/// by the client (`?`, `?&`).
pub fn url(server: &str, uri: &Uri) -> String {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let path = path.replacen("?&", "?", 1);
    let path = path.strip_suffix('?').unwrap_or(&path);
    if uri.scheme().is_some() {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        format!(
            "{}://{authority}{path}",
            uri.scheme_str().unwrap_or("https")
        )
    } else {
        format!("{}{path}", server.trim_end_matches('/'))
    }
}

/// `GET URL 200 OK in 3 milliseconds`, or `GET URL failed: ERROR in …`.
pub fn line(
    method: &Method,
    uri: &str,
    outcome: Result<StatusCode, String>,
    took: Duration,
) -> String {
    let took = took.as_millis();
    match outcome {
        Ok(status) => format!("{method} {uri} {status} in {took} milliseconds"),
        Err(err) => format!(
            "{method} {uri} failed: {} in {took} milliseconds",
            crate::errors::one_line(&err)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_whole_and_without_an_empty_query() {
        let server = "https://127.0.0.1:6443/";
        let relative = |text: &str| url(server, &text.parse::<Uri>().unwrap());
        assert_eq!(
            relative("/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y?"),
            "https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y"
        );
        assert_eq!(
            relative("/apis/kwf.dev/v1alpha1/namespaces/x/workflows?&labelSelector=team%3Da"),
            "https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows?labelSelector=team%3Da"
        );
        assert_eq!(
            relative("https://10.0.0.1/api/v1/pods"),
            "https://10.0.0.1/api/v1/pods"
        );
    }

    #[test]
    fn a_request_line_reads_like_kubectl_s() {
        let uri = "https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y";
        assert_eq!(
            line(
                &Method::PATCH,
                uri,
                Ok(StatusCode::OK),
                Duration::from_millis(4)
            ),
            "PATCH https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y 200 OK in 4 milliseconds"
        );
        assert_eq!(
            line(
                &Method::GET,
                uri,
                Err("connection\nrefused".into()),
                Duration::from_millis(1)
            ),
            "GET https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y failed: connection refused in 1 milliseconds"
        );
    }
}
