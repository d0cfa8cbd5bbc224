//! The PROXY protocol (HAProxy's, versions 1 and 2): a balancer in front states the client's
//! and its own address in a header before the HTTP bytes, so a TCP proxy (no HTTP headers to
//! add) can still tell us who the client is.
//!
//! Only peers in the trusted list must (and may) send it; from them, a connection without a
//! valid header is closed. The header is parsed by the `ppp` crate; what arrived after it is
//! served first by `Prefixed`, so hyper sees the HTTP bytes as if they came first. `LOCAL`
//! (a balancer's health check) and `UNKNOWN` headers keep the socket's own addresses.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ppp::{v1, v2, HeaderResult, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::forward::forward_async_write;

/// The largest header worth waiting for (v2 allows 16 + 65535 bytes; no balancer sends that).
const MAX_HEADER: usize = 4096;

/// A stream with some bytes already read from it, served before the rest. Besides the
/// PROXY header's, `protocol::choose_version` reads the first bytes this way.
pub struct Prefixed<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> Prefixed<T> {
    pub fn new(inner: T) -> Self {
        Self { prefix: Bytes::new(), inner }
    }

    /// What was read ahead and not served yet.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }
}

impl<T: AsyncRead + Unpin> Prefixed<T> {
    /// Reads what comes next (up to `at_most` bytes) onto the end of the prefix; 0 at the
    /// end of the stream.
    pub async fn read_more(&mut self, at_most: usize) -> io::Result<usize> {
        let mut more = BytesMut::with_capacity(self.prefix.len() + at_most);
        more.extend_from_slice(&self.prefix);
        let read = self.inner.read_buf(&mut more).await?;
        self.prefix = more.freeze();
        Ok(read)
    }
}

/// The client and server addresses a PROXY header gives (None: keep the socket's).
pub type Addresses = Option<(SocketAddr, SocketAddr)>;

/// Reads the PROXY header at the start of `stream` within `timeout`.
pub async fn read_header<T: AsyncRead + Unpin>(
    mut stream: T,
    timeout: Duration,
) -> io::Result<(Prefixed<T>, Addresses)> {
    let mut buffer = BytesMut::with_capacity(256);
    let read = async {
        loop {
            if stream.read_buf(&mut buffer).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the PROXY header"));
            }
            let parsed = HeaderResult::parse(&buffer);
            if parsed.is_incomplete() && buffer.len() < MAX_HEADER {
                continue;
            }
            return header_addresses(parsed).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a trusted peer sent no valid PROXY protocol header")
            });
        }
    };
    let (length, addresses) = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY protocol header in time"))??;
    buffer.advance(length);
    Ok((Prefixed { prefix: buffer.freeze(), inner: stream }, addresses))
}

/// The header's length and addresses, if it is complete and valid.
pub(crate) fn header_addresses(parsed: HeaderResult<'_>) -> Option<(usize, Addresses)> {
    match parsed {
        HeaderResult::V1(Ok(header)) => {
            let addresses = match header.addresses {
                v1::Addresses::Tcp4(ip) => Some((
                    SocketAddr::from((ip.source_address, ip.source_port)),
                    SocketAddr::from((ip.destination_address, ip.destination_port)),
                )),
                v1::Addresses::Tcp6(ip) => Some((
                    SocketAddr::from((ip.source_address, ip.source_port)),
                    SocketAddr::from((ip.destination_address, ip.destination_port)),
                )),
                v1::Addresses::Unknown => None,
            };
            Some((header.header.len(), addresses))
        }
        HeaderResult::V2(Ok(header)) => {
            let addresses = match (header.command, header.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(ip)) => Some((
                    SocketAddr::from((ip.source_address, ip.source_port)),
                    SocketAddr::from((ip.destination_address, ip.destination_port)),
                )),
                (v2::Command::Proxy, v2::Addresses::IPv6(ip)) => Some((
                    SocketAddr::from((ip.source_address, ip.source_port)),
                    SocketAddr::from((ip.destination_address, ip.destination_port)),
                )),
                _ => None,
            };
            Some((header.len(), addresses))
        }
        _ => None,
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let take = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..take]);
            if take < self.prefix.len() {
                self.prefix.advance(take);
                return Poll::Ready(Ok(()));
            }
            // Served whole: let its buffer go, rather than keep it as long as the connection.
            self.prefix = Bytes::new();
            // What else has arrived joins it in this read: hyper would take a prefix alone
            // for the start of a head, and double its read buffer to read the rest. (If
            // nothing has, this read still ends with the prefix.)
            if buf.remaining() > 0 {
                if let Poll::Ready(Err(error)) = Pin::new(&mut self.inner).poll_read(cx, buf) {
                    return Poll::Ready(Err(error));
                }
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

forward_async_write!(Prefixed, inner);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_prefix_and_what_has_arrived_since_come_in_one_read() {
        let mut stream = Prefixed::new(&b"PRI-not: the rest of the head\r\n\r\n"[..]);
        assert_eq!(stream.read_more(3).await.expect("read ahead"), 3);
        assert_eq!(stream.prefix(), b"PRI");
        let mut buffer = [0; 64];
        let read = stream.read(&mut buffer).await.expect("read");
        assert_eq!(&buffer[..read], b"PRI-not: the rest of the head\r\n\r\n");
        assert!(stream.prefix().is_empty());
        // A read smaller than the prefix takes part of it, and the rest comes next.
        let mut stream = Prefixed::new(&b"cdef"[..]);
        stream.read_more(2).await.expect("read ahead");
        let mut small = [0; 1];
        assert_eq!(stream.read(&mut small).await.expect("read"), 1);
        assert_eq!(stream.prefix(), b"d");
        let mut buffer = [0; 8];
        let read = stream.read(&mut buffer).await.expect("read");
        assert_eq!(&buffer[..read], b"def");
    }

    fn addresses(header: &[u8]) -> Option<(usize, Addresses)> {
        header_addresses(HeaderResult::parse(header))
    }

    #[test]
    fn version_1() {
        let header = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n";
        let client: SocketAddr = SocketAddr::from(([203, 0, 113, 7], 51234));
        let server: SocketAddr = SocketAddr::from(([10, 0, 0, 1], 443));
        assert_eq!(addresses(header), Some((43, Some((client, server)))));
        assert_eq!(addresses(b"PROXY UNKNOWN\r\nGET"), Some((15, None)));
        assert_eq!(addresses(b"GET / HTTP/1.1\r\n\r\n"), None);
        assert!(HeaderResult::parse(b"PROXY TCP4 203.0.113.7").is_incomplete());
    }

    #[test]
    fn version_2() {
        let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        header.extend([0x21, 0x11, 0, 12, 203, 0, 113, 7, 10, 0, 0, 1, 0xC8, 0x22, 1, 187]);
        let length = header.len();
        header.extend(b"GET / HTTP/1.1\r\n");
        let client = SocketAddr::from(([203, 0, 113, 7], 51234));
        let server = SocketAddr::from(([10, 0, 0, 1], 443));
        assert_eq!(addresses(&header), Some((length, Some((client, server)))));
        // LOCAL (a health check): the socket's own addresses stand.
        let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(addresses(&local), Some((16, None)));
    }
}
