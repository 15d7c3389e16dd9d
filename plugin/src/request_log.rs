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

/// The layer that logs each request once it is answered.
#[derive(Clone, Copy, Debug)]
pub struct RequestLog;

impl<S> Layer<S> for RequestLog {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Logged<S> {
    inner: S,
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
        let uri = request.uri().clone();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            let outcome = match &answer {
                Ok(response) => Ok(response.status()),
                Err(err) => Err(err.to_string()),
            };
            eprintln!("{}", line(&method, &uri, outcome, started.elapsed()));
            answer
        })
    }
}

/// `GET URL 200 OK in 3 milliseconds`, or `GET URL failed: ERROR in …`.
pub fn line(
    method: &Method,
    uri: &Uri,
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
    fn a_request_line_reads_like_kubectl_s() {
        let uri: Uri = "https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y"
            .parse()
            .unwrap();
        assert_eq!(
            line(
                &Method::PATCH,
                &uri,
                Ok(StatusCode::OK),
                Duration::from_millis(4)
            ),
            "PATCH https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y 200 OK in 4 milliseconds"
        );
        assert_eq!(
            line(
                &Method::GET,
                &uri,
                Err("connection\nrefused".into()),
                Duration::from_millis(1)
            ),
            "GET https://127.0.0.1:6443/apis/kwf.dev/v1alpha1/namespaces/x/workflows/y failed: connection refused in 1 milliseconds"
        );
    }
}
