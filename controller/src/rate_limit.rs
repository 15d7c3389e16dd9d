//! Client-side rate limiting (QPS with a burst) and request counting for the kube client.
//!
//! kube 5 has no client rate limiter (client-go's `--kube-api-qps/--kube-api-burst`), so the
//! client's tower stack gets this small token bucket. kube's `Client` drives its service through
//! a `tower::buffer::Buffer`, so one bucket is shared by every clone of the client: waiting in
//! `poll_ready` queues requests in order.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::metrics::Metrics;

/// A token bucket: `burst` tokens at most, refilled at `qps` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket. `qps` <= 0 (or not finite) means unlimited.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps,
            burst,
            tokens: burst,
            refilled: Instant::now(),
        }
    }

    fn unlimited(&self) -> bool {
        !(self.qps.is_finite() && self.qps > 0.0)
    }

    /// Takes a token if one is available, else returns how long until one will be.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.unlimited() {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.qps))
        }
    }
}

/// Tower layer adding [`RateLimited`] to the kube client's stack.
#[derive(Clone)]
pub struct RateLimitLayer {
    qps: f64,
    burst: u32,
    metrics: Metrics,
}

impl RateLimitLayer {
    /// `qps` requests per second sustained, `burst` at once; every request is counted in `metrics`.
    pub fn new(qps: f64, burst: u32, metrics: Metrics) -> Self {
        Self {
            qps,
            burst,
            metrics,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimited {
            inner,
            bucket: TokenBucket::new(self.qps, self.burst),
            has_token: false,
            sleep: None,
            metrics: self.metrics.clone(),
        }
    }
}

/// A service that waits for a token before it is ready, and counts requests by verb.
pub struct RateLimited<S> {
    inner: S,
    bucket: TokenBucket,
    has_token: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    metrics: Metrics,
}

impl<S, B> Service<Request<B>> for RateLimited<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while !self.has_token {
            if let Some(sleep) = self.sleep.as_mut() {
                std::task::ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
            }
            match self.bucket.try_take(Instant::now()) {
                Ok(()) => self.has_token = true,
                Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.has_token = false;
        self.metrics
            .count_request(verb(&request), resource(request.uri().path()));
        self.inner.call(request)
    }
}

/// The Kubernetes verb of a request, from its method and query (cheap: no path parsing).
fn verb<B>(request: &Request<B>) -> &'static str {
    let watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match request.method().as_str() {
        "GET" if watch => "watch",
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "other",
    }
}

/// The resource of a request path, with its subresource (`jobs`, `workflows/status`, `events`),
/// so the API cost can be told apart: Job creates, status writes, Events.
fn resource(path: &str) -> &str {
    let mut segments = path.trim_matches('/').split('/');
    // /api/v1/... or /apis/<group>/<version>/...
    let skip = match segments.next() {
        Some("api") => 1,
        Some("apis") => 2,
        _ => return "other",
    };
    let rest: Vec<&str> = segments.skip(skip).collect();
    let rest = match rest.as_slice() {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        all => all,
    };
    match rest {
        [resource, _, subresource, ..] => {
            // The one subresource the controller writes; anything else is counted with its resource.
            if *subresource == "status" && *resource == "workflows" {
                "workflows/status"
            } else {
                resource
            }
        }
        [resource, ..] => resource,
        [] => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_paces_at_qps() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(start), Ok(()));
        }
        let wait = bucket.try_take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert_eq!(bucket.try_take(start + Duration::from_millis(100)), Ok(()));
        assert!(bucket.try_take(start + Duration::from_millis(150)).is_err());
    }

    #[test]
    fn tokens_never_exceed_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 2);
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.try_take(later), Ok(()));
        assert_eq!(bucket.try_take(later), Ok(()));
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn zero_qps_means_unlimited() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(0.0, 1);
        for _ in 0..1000 {
            assert_eq!(bucket.try_take(now), Ok(()));
        }
    }

    #[test]
    fn verbs_come_from_method_and_watch_parameter() {
        let req =
            |method: &str, uri: &str| Request::builder().method(method).uri(uri).body(()).unwrap();
        assert_eq!(
            verb(&req(
                "GET",
                "/apis/batch/v1/jobs?watch=true&resourceVersion=1"
            )),
            "watch"
        );
        assert_eq!(verb(&req("GET", "/apis/batch/v1/jobs?limit=500")), "get");
        assert_eq!(
            verb(&req("POST", "/apis/batch/v1/namespaces/a/jobs")),
            "create"
        );
        assert_eq!(
            verb(&req(
                "PATCH",
                "/apis/kwf.dev/v1alpha1/namespaces/a/workflows/w/status"
            )),
            "patch"
        );
        assert_eq!(
            verb(&req("DELETE", "/apis/batch/v1/namespaces/a/jobs/j")),
            "delete"
        );
    }

    #[test]
    fn resources_come_from_the_path() {
        for (path, expected) in [
            ("/apis/batch/v1/namespaces/a/jobs", "jobs"),
            ("/apis/batch/v1/jobs", "jobs"),
            (
                "/apis/kwf.dev/v1alpha1/namespaces/a/workflows/w/status",
                "workflows/status",
            ),
            ("/apis/kwf.dev/v1alpha1/workflows", "workflows"),
            ("/apis/events.k8s.io/v1/namespaces/a/events", "events"),
            ("/api/v1/namespaces/a/pods", "pods"),
            ("/api/v1/namespaces/a", "namespaces"),
            (
                "/apis/coordination.k8s.io/v1/namespaces/d/leases/l",
                "leases",
            ),
            ("/version", "other"),
        ] {
            assert_eq!(resource(path), expected, "{path}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_service_waits_for_a_token_before_it_is_ready() {
        use tower::ServiceExt;
        let inner =
            tower::service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(()) });
        let mut service = RateLimitLayer::new(2.0, 1, Metrics::new()).layer(inner);
        let start = Instant::now();
        for _ in 0..3 {
            service
                .ready()
                .await
                .unwrap()
                .call(Request::new(()))
                .await
                .unwrap();
        }
        // One from the burst, then two at 2 per second.
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }
}
