//! The HTTPS log endpoint. The API server proxies `kubectl logs` here without verifying the certificate
//! (no `--kubelet-certificate-authority`), so the self-signed serving certificate of the config is enough.

use std::convert::Infallible;
use std::future::Future;
use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use super::LogStore;
use super::query::{parse_path, parse_query, tail};
use crate::Error;

type Body = BoxBody<Bytes, Infallible>;

/// How often a following reader looks for new bytes.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Builds the TLS acceptor from the PEM certificate chain and key.
pub fn tls_acceptor(cert_pem: &str, key_pem: &str) -> Result<TlsAcceptor, Error> {
    let tls = |what: &str, e: &dyn std::fmt::Display| Error::Tls(format!("{what}: {e}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls("tls_cert_pem is not a PEM certificate", &e))?;
    if certs.is_empty() {
        return Err(Error::Tls("tls_cert_pem holds no certificate".to_string()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| tls("tls_key_pem is not a PEM private key", &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("TLS setup", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls("certificate and key do not match", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves log requests on `listener` until `shutdown` resolves; open (following) connections end with it.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    logs: LogStore,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "log endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let logs = logs.clone();
                connections.spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "log endpoint: TLS handshake failed");
                            return;
                        }
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let logs = logs.clone();
                        async move { Ok::<_, Infallible>(handle(&logs, request).await) }
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await
                    {
                        tracing::debug!(%peer, error = %e, "log endpoint: connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn handle(logs: &LogStore, request: Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served".to_string(),
        );
    }
    let Some(key) = parse_path(request.uri().path()) else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "{} is not served: this kubelet serves only /containerLogs/{{namespace}}/{{pod}}/{{container}}",
                request.uri().path()
            ),
        );
    };
    let query = match parse_query(request.uri().query()) {
        Ok(query) => query,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let path = logs.path(&key);
    let content = match tokio::fs::read(&path).await {
        Ok(content) => content,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return text(
                StatusCode::NOT_FOUND,
                format!(
                    "container {:?} in pod {}/{} has no log: it has not started on this node",
                    key.container, key.namespace, key.pod
                ),
            );
        }
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading {}: {e}", path.display()),
            );
        }
    };
    let start = match query.tail_lines {
        Some(lines) => content.len() - tail(&content, lines).len(),
        None => 0,
    };
    let mut initial = Bytes::from(content).slice(start..);
    let mut remaining = query.limit_bytes;
    cut(&mut initial, &mut remaining);
    if !query.follow || remaining == Some(0) {
        return plain(Full::new(initial).boxed());
    }
    let offset = start as u64 + initial.len() as u64;
    let stream = follow(logs.clone(), key, path, offset, remaining);
    let first = futures::stream::iter((!initial.is_empty()).then(|| Ok(Frame::data(initial))));
    plain(StreamBody::new(futures::StreamExt::chain(first, stream)).boxed())
}

/// Shortens `chunk` to the bytes still allowed by `limitBytes`.
fn cut(chunk: &mut Bytes, remaining: &mut Option<u64>) {
    if let Some(left) = remaining {
        let keep = (*left).min(chunk.len() as u64);
        chunk.truncate(keep as usize);
        *left -= keep;
    }
}

struct Follow {
    logs: LogStore,
    key: super::LogKey,
    path: std::path::PathBuf,
    offset: u64,
    remaining: Option<u64>,
    done: bool,
}

/// New bytes of the log from `offset` on, until the container's process has exited and all it wrote is sent.
fn follow(
    logs: LogStore,
    key: super::LogKey,
    path: std::path::PathBuf,
    offset: u64,
    remaining: Option<u64>,
) -> impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static {
    let state = Follow {
        logs,
        key,
        path,
        offset,
        remaining,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if state.done || state.remaining == Some(0) {
                return None;
            }
            // Read the running flag before the file: bytes written before the exit are then always seen.
            let still_running = state.logs.is_running(&state.key);
            let mut chunk = match read_from(&state.path, state.offset).await {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::debug!(path = %state.path.display(), error = %e, "log endpoint: follow read failed");
                    return None;
                }
            };
            if !still_running {
                state.done = true;
            }
            if !chunk.is_empty() {
                state.offset += chunk.len() as u64;
                cut(&mut chunk, &mut state.remaining);
                return Some((Ok(Frame::data(chunk)), state));
            }
            if state.done {
                return None;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    })
}

async fn read_from(path: &std::path::Path, offset: u64) -> std::io::Result<Bytes> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(SeekFrom::Start(offset)).await?;
    let mut buffer = Vec::new();
    file.read_to_end(&mut buffer).await?;
    Ok(Bytes::from(buffer))
}

fn plain(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn text(status: StatusCode, message: String) -> Response<Body> {
    let mut response = plain(Full::new(Bytes::from(message + "\n")).boxed());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::io::Write;

    fn key() -> super::super::LogKey {
        super::super::LogKey {
            namespace: "ns".into(),
            pod: "p".into(),
            container: "c".into(),
        }
    }

    async fn collect(stream: impl Stream<Item = Result<Frame<Bytes>, Infallible>>) -> Vec<u8> {
        let frames: Vec<_> = stream.collect().await;
        frames
            .into_iter()
            .filter_map(|f| f.ok()?.into_data().ok())
            .flat_map(|b| b.to_vec())
            .collect()
    }

    #[test]
    fn cut_honours_the_byte_limit_across_chunks() {
        let mut remaining = Some(5);
        let mut first = Bytes::from_static(b"abc");
        cut(&mut first, &mut remaining);
        let mut second = Bytes::from_static(b"defg");
        cut(&mut second, &mut remaining);
        assert_eq!(
            (&first[..], &second[..], remaining),
            (&b"abc"[..], &b"de"[..], Some(0))
        );
        let mut unlimited = Bytes::from_static(b"xyz");
        let mut none = None;
        cut(&mut unlimited, &mut none);
        assert_eq!(&unlimited[..], b"xyz");
    }

    #[tokio::test]
    async fn follow_streams_appended_bytes_until_the_container_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::new(dir.path().to_path_buf());
        let path = store.path(&key());
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(&path, b"old\n").expect("write");
        store.set_running(&key(), true);
        let reader = tokio::spawn(collect(follow(store.clone(), key(), path.clone(), 4, None)));
        tokio::time::sleep(FOLLOW_POLL * 2).await;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(b"new 1\n").expect("append");
        tokio::time::sleep(FOLLOW_POLL * 2).await;
        file.write_all(b"new 2\n").expect("append");
        store.set_running(&key(), false);
        let followed = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("follow ended after the container stopped")
            .expect("reader joined");
        assert_eq!(followed, b"new 1\nnew 2\n");
    }

    #[tokio::test]
    async fn follow_stops_at_the_byte_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::new(dir.path().to_path_buf());
        let path = store.path(&key());
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(&path, b"0123456789").expect("write");
        store.set_running(&key(), true);
        let followed = tokio::time::timeout(
            Duration::from_secs(10),
            collect(follow(store, key(), path, 2, Some(3))),
        )
        .await
        .expect("limit ends the stream while the container still runs");
        assert_eq!(followed, b"234");
    }

    #[test]
    fn mismatched_or_missing_pem_is_a_tls_error() {
        let err = tls_acceptor("not pem", "not pem").err().expect("error");
        assert!(err.to_string().contains("TLS"), "{err}");
    }

    #[test]
    fn generated_certificate_is_accepted() {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
        tls_acceptor(&cert.cert.pem(), &cert.signing_key.serialize_pem()).expect("acceptor");
    }
}
