//! Client connections by protocol (`http1`, `http2`) and TLS: how many are open, how many
//! were accepted.
//!
//! A connection is counted from its first request, when its protocol is known (with
//! `--http auto` on cleartext, hyper tells HTTP/2 from HTTP/1.1 by the first bytes); one
//! closed before any request (a port probe, a failed TLS handshake) is not counted. The
//! serving code (`server/listen.rs`) holds a `ConnectionWatch` per connection: its first
//! request costs two atomic adds, each later one an atomic load, and its end one subtract.

use std::sync::{Arc, OnceLock};

use http::Version;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

const PROTOCOLS: [&str; 2] = ["http1", "http2"];
const TLS: [&str; 2] = ["false", "true"];

/// The open gauges and accepted counters, by protocol then TLS.
pub struct Connections {
    open: [[Gauge; 2]; 2],
    accepted: [[Counter; 2]; 2],
}

impl Connections {
    pub(super) fn register(registry: &mut Registry) -> Arc<Self> {
        let open = Family::<[(&'static str, &'static str); 2], Gauge>::default();
        let accepted = Family::<[(&'static str, &'static str); 2], Counter>::default();
        let labels = |protocol: usize, tls: usize| [("protocol", PROTOCOLS[protocol]), ("tls", TLS[tls])];
        let connections = Self {
            open: [0, 1].map(|protocol| [0, 1].map(|tls| open.get_or_create_owned(&labels(protocol, tls)))),
            accepted: [0, 1].map(|protocol| [0, 1].map(|tls| accepted.get_or_create_owned(&labels(protocol, tls)))),
        };
        registry.register("amphicorn_connections_open", "Client connections open, from their first request", open);
        registry.register(
            "amphicorn_connections_accepted",
            "Client connections accepted that sent a request",
            accepted,
        );
        Arc::new(connections)
    }

    /// The watch of one connection, TLS or not.
    pub fn watch(self: &Arc<Self>, tls: bool) -> ConnectionWatch {
        ConnectionWatch { connections: self.clone(), tls, open: OnceLock::new() }
    }
}

/// One connection: counted open from its first request until dropped.
pub struct ConnectionWatch {
    connections: Arc<Connections>,
    tls: bool,
    open: OnceLock<Gauge>,
}

impl ConnectionWatch {
    /// A request arrived on the connection in `version`.
    pub fn request(&self, version: Version) {
        self.open.get_or_init(|| {
            let protocol = usize::from(version >= Version::HTTP_2);
            let tls = usize::from(self.tls);
            self.connections.accepted[protocol][tls].inc();
            let open = self.connections.open[protocol][tls].clone();
            open.inc();
            open
        });
    }
}

impl Drop for ConnectionWatch {
    fn drop(&mut self) {
        if let Some(open) = self.open.get() {
            open.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_counted_once_from_its_first_request_until_dropped() {
        let connections = Connections::register(&mut Registry::default());
        let watch = connections.watch(true);
        watch.request(Version::HTTP_2);
        watch.request(Version::HTTP_2);
        assert_eq!((connections.accepted[1][1].get(), connections.open[1][1].get()), (1, 1));
        drop(watch);
        assert_eq!((connections.accepted[1][1].get(), connections.open[1][1].get()), (1, 0));
        // A connection closed before any request is not counted.
        drop(connections.watch(false));
        let http1 = connections.watch(false);
        http1.request(Version::HTTP_11);
        assert_eq!((connections.accepted[0][0].get(), connections.open[0][0].get()), (1, 1));
        assert_eq!(connections.accepted[0][1].get() + connections.accepted[1][0].get(), 0);
    }
}
