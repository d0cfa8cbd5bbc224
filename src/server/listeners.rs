//! The listening sockets Python hands over (bound there, or inherited: TCP or Unix), and
//! accepting connections on them. What a socket *is* is read from its address family.
//!
//! A failed `accept()` is the accept loop's to retry (`listen.rs`, after a back-off); what
//! is said about it is decided here (`AcceptErrors`): running out of file descriptors
//! (`EMFILE` for the process, `ENFILE` for the system) is a warning naming the limit and how
//! to raise it, at most once per `timers::ACCEPT_ERROR_REPORT` while it lasts, because every
//! new connection waits in the listen backlog (or is refused) until descriptors free up.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Instant;

use tokio::net::{TcpListener, UnixListener};

use crate::http::connection::Endpoint;
use crate::timers::ACCEPT_ERROR_REPORT;

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

/// What to say about failed accepts: a warning when descriptors run out, at most once per
/// `ACCEPT_ERROR_REPORT`, counting the failures since the last one.
#[derive(Debug, Default)]
pub struct AcceptErrors {
    last_report: Option<Instant>,
    failed: u64,
}

impl AcceptErrors {
    /// The warning to log for this failed accept, if one is due.
    pub fn on_error(&mut self, error: &io::Error, now: Instant) -> Option<String> {
        let errno = error.raw_os_error()?;
        if errno != libc::EMFILE && errno != libc::ENFILE {
            return None;
        }
        self.failed += 1;
        if self.last_report.is_some_and(|last| now.duration_since(last) < ACCEPT_ERROR_REPORT) {
            return None;
        }
        self.last_report = Some(now);
        let failed = std::mem::take(&mut self.failed);
        let since =
            if failed > 1 { format!(" ({failed} failed accepts since the last warning)") } else { String::new() };
        Some(if errno == libc::EMFILE {
            let limit =
                crate::fds::open_files_limit().map_or_else(|| "all the".to_owned(), |limit| format!("all {limit}"));
            format!(
                "Out of file descriptors (EMFILE): this process has used {limit} descriptors it may open, so new \
                 connections wait in the listen queue until some close{since}. Raise the limit: `ulimit -n` \
                 in the shell that starts amphicorn, or LimitNOFILE= for a systemd service"
            )
        } else {
            format!(
                "Out of file descriptors (ENFILE): the system's open-file table is full, so new connections \
                 wait in the listen queue until some close{since}. Raise the system's limit (sysctl \
                 fs.file-max) or find what holds so many files"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_is_reported_at_most_once_per_interval() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let first = errors.on_error(&emfile, start).unwrap_or_default();
        assert!(first.contains("EMFILE") && first.contains("ulimit -n"), "{first}");
        assert!(!first.contains("failed accepts"), "{first}");
        assert_eq!(errors.on_error(&emfile, start + ACCEPT_ERROR_REPORT / 2), None);
        assert_eq!(errors.on_error(&emfile, start + ACCEPT_ERROR_REPORT / 2), None);
        let later = errors.on_error(&emfile, start + ACCEPT_ERROR_REPORT).unwrap_or_default();
        assert!(later.contains("(3 failed accepts since the last warning)"), "{later}");
        let enfile = io::Error::from_raw_os_error(libc::ENFILE);
        let system = errors.on_error(&enfile, start + ACCEPT_ERROR_REPORT * 2).unwrap_or_default();
        assert!(system.contains("ENFILE"), "{system}");
        // Other failures (a connection reset before it was accepted) are not worth a word.
        let reset = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(errors.on_error(&reset, start + ACCEPT_ERROR_REPORT * 10), None);
        assert_eq!(errors.on_error(&io::Error::other("not an OS error"), start), None);
    }

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
