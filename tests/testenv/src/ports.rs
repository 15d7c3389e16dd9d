//! Free loopback ports, picked by binding port 0.

use std::net::{Ipv4Addr, TcpListener};

use crate::Error;
use crate::flags::Ports;

/// Picks three distinct free ports. They are released before the components bind them, so another process
/// may take one in between: the start then fails with "address already in use" and is retried.
pub fn pick() -> Result<Ports, Error> {
    // Hold all listeners at once so the three ports differ.
    let listeners = (0..3)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::io("cannot bind a free port on", "127.0.0.1", e))?;
    let port = |index: usize| -> Result<u16, Error> {
        listeners[index]
            .local_addr()
            .map(|address| address.port())
            .map_err(|e| Error::io("cannot read the port bound on", "127.0.0.1", e))
    };
    Ok(Ports {
        etcd_client: port(0)?,
        etcd_peer: port(1)?,
        apiserver: port(2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_three_distinct_bindable_ports() {
        let ports = pick().expect("free ports");
        assert_ne!(ports.etcd_client, ports.etcd_peer);
        assert_ne!(ports.etcd_peer, ports.apiserver);
        assert_ne!(ports.etcd_client, ports.apiserver);
        TcpListener::bind((Ipv4Addr::LOCALHOST, ports.apiserver)).expect("released again");
    }
}
