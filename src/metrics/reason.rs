//! Why a request was answered before any app ran: the `reason` label of
//! `amphicorn_requests_refused_total`, counted by `Metrics::refuse` (before a mount is known)
//! and `MountMetrics::refuse` (by a mount). Where each refusal happens is `server/service.rs`'s.

/// Why a request was answered before any app ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `400`: conflicting or malformed `Content-Length`/`Transfer-Encoding`.
    BadFraming,
    /// `431`/`414`: a request line or headers over `--max-header-size`.
    HeadersTooLarge,
    /// `400`: `*` as the target of a method other than `OPTIONS`.
    BadTarget,
    /// `501`: `CONNECT`; we are not a proxy.
    NotAProxy,
    /// `404`: no mount covers the path.
    NoMount,
    /// `503`: the mount's `--limit-concurrency` is reached.
    ConcurrencyLimit,
    /// `413`: a body over `--max-body-size`.
    BodyTooLarge,
    /// `408`: the body stalled past `--timeout-request-body`.
    BodyTimeout,
    /// `400`: a body that could not be read (bad chunking, the client gone).
    BadBody,
}

impl Reason {
    /// The reasons counted before a mount is known (label `mount=""`).
    pub(super) const SERVER: [Self; 5] =
        [Self::BadFraming, Self::HeadersTooLarge, Self::BadTarget, Self::NotAProxy, Self::NoMount];
    /// The reasons counted for a mount.
    pub(super) const MOUNT: [Self; 4] = [Self::ConcurrencyLimit, Self::BodyTooLarge, Self::BodyTimeout, Self::BadBody];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::BadFraming => "bad_framing",
            Self::HeadersTooLarge => "headers_too_large",
            Self::BadTarget => "bad_target",
            Self::NotAProxy => "not_a_proxy",
            Self::NoMount => "no_mount",
            Self::ConcurrencyLimit => "concurrency_limit",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BadBody => "bad_body",
        }
    }
}
