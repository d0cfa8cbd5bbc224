//! The listening sockets Python hands over (bound there, or inherited: TCP or Unix), and
//! accepting connections on them. What a socket *is* is read from its address family.

use std::io;
use std::os::fd::OwnedFd;

use tokio::net::{TcpListener, UnixListener};

use crate::http::connection::Endpoint;

/// A listening socket handed over by Python: TCP (IPv4 or IPv6) or Unix.
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    /// Takes ownership of a listening socket, telling TCP from Unix by its address family.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        let tcp = std::net::TcpListener::from(fd);
        if tcp.local_addr().is_ok() {
            return Ok(Self::Tcp(tcp));
        }
        let unix = std::os::unix::net::UnixListener::from(OwnedFd::from(tcp));
        match unix.local_addr() {
            Ok(_) => Ok(Self::Unix(unix)),
            Err(_) => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a TCP or Unix stream socket")),
        }
    }

    /// Registers the socket with the current tokio runtime.
    pub fn into_tokio(self) -> io::Result<TokioListener> {
        Ok(match self {
            Self::Tcp(listener) => {
                listener.set_nonblocking(true)?;
                TokioListener::Tcp(TcpListener::from_std(listener)?)
            }
            Self::Unix(listener) => {
                listener.set_nonblocking(true)?;
                TokioListener::Unix(UnixListener::from_std(listener)?)
            }
        })
    }
}

pub enum TokioListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl TokioListener {
    pub fn local(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(Endpoint::Inet),
            Self::Unix(listener) => listener.local_addr().map(|address| Endpoint::from_unix(&address.into())),
        }
    }
}

/// An accepted connection.
pub enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

pub async fn accept(listener: &TokioListener) -> io::Result<(Stream, Endpoint)> {
    match listener {
        TokioListener::Tcp(listener) => {
            let (stream, remote) = listener.accept().await?;
            Ok((Stream::Tcp(stream), Endpoint::Inet(remote)))
        }
        TokioListener::Unix(listener) => {
            let (stream, remote) = listener.accept().await?;
            Ok((Stream::Unix(stream), Endpoint::from_unix(&remote.into())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_told_apart_by_address_family() -> io::Result<()> {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        assert!(matches!(Listener::from_fd(OwnedFd::from(tcp))?, Listener::Tcp(_)));

        let directory = std::env::temp_dir().join(format!("amphicorn-listen-{}", std::process::id()));
        std::fs::create_dir_all(&directory)?;
        let path = directory.join("test.sock");
        let _ = std::fs::remove_file(&path);
        let unix = std::os::unix::net::UnixListener::bind(&path)?;
        let kind = Listener::from_fd(OwnedFd::from(unix));
        std::fs::remove_dir_all(&directory)?;
        assert!(matches!(kind?, Listener::Unix(_)));

        let file = std::fs::File::open("/dev/null")?;
        assert!(Listener::from_fd(OwnedFd::from(file)).is_err());
        Ok(())
    }

    #[test]
    fn an_unnamed_unix_peer_has_an_empty_path_and_no_port() -> io::Result<()> {
        let (left, _right) = std::os::unix::net::UnixStream::pair()?;
        let endpoint = Endpoint::from_unix(&left.peer_addr()?);
        assert_eq!(endpoint, Endpoint::Unix(String::new()));
        assert_eq!(endpoint.host(), "");
        assert_eq!(endpoint.port(), None);
        Ok(())
    }
}
