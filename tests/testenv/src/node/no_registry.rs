//! The real node's "registry": a loopback HTTP proxy that containerd must use for every pull and that refuses
//! them all, naming the images the node has. So a pod naming an image the node lacks fails at once with
//! `ErrImagePull` and a message saying which images it can run, and no pull ever leaves the machine (a
//! request through a proxy does not even resolve the registry's name: Go's client hands it to the proxy).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The images the node has, as the refusal reports them.
pub type NodeImages = Arc<RwLock<Vec<String>>>;

/// The refusal's reason phrase: Go's HTTP client returns the text after the status code as the error, which
/// containerd and the kubelet put into the pod's `ErrImagePull` message.
pub fn refusal(images: &[String]) -> String {
    let images = if images.is_empty() {
        "none yet".to_string()
    } else {
        images.join(", ")
    };
    format!(
        "kwf test node: no registry (no traffic leaves loopback); use one of the images this node has ({images}) with imagePullPolicy IfNotPresent or Never"
    )
}

/// Listens on a free loopback port and answers every request with 403 [`refusal`]; returns its address.
pub async fn start(images: NodeImages) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let images = images.clone();
            tokio::spawn(async move {
                // Read the request head (CONNECT host:443 or GET http://...); its content does not matter.
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let reason = refusal(&images.read().map(|i| i.clone()).unwrap_or_default());
                let response = format!(
                    "HTTP/1.1 403 {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_lists_the_images() {
        let text = refusal(&["kwf.local/busybox:1".into(), "kwf.local/pause:1".into()]);
        assert!(
            text.contains("(kwf.local/busybox:1, kwf.local/pause:1)"),
            "{text}"
        );
        assert!(!text.contains('\r') && !text.contains('\n'));
    }

    #[tokio::test]
    async fn every_request_is_refused_with_the_images_in_the_status_line() {
        let images: NodeImages = Arc::new(RwLock::new(vec!["kwf.local/busybox:1".into()]));
        let address = start(images).await.expect("listening");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connected");
        stream
            .write_all(b"CONNECT registry-1.docker.io:443 HTTP/1.1\r\nHost: registry-1.docker.io:443\r\n\r\n")
            .await
            .expect("sent");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.expect("read");
        assert!(
            reply.starts_with("HTTP/1.1 403 kwf test node: no registry"),
            "{reply}"
        );
        assert!(reply.contains("kwf.local/busybox:1"), "{reply}");
    }
}
