//! The content codings responses can be compressed with, and their names in settings and in
//! `Accept-Encoding`/`Content-Encoding`. The encoders are `body.rs`'s.

/// A content coding the server compresses responses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Brotli = 0,
    Gzip = 1,
    Zstd = 2,
}

impl Codec {
    pub const COUNT: usize = 3;

    /// The `Content-Encoding` token (also the setting's).
    pub fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// A `compress` setting entry.
    pub fn from_setting(text: &str) -> Option<Self> {
        [Self::Brotli, Self::Gzip, Self::Zstd].into_iter().find(|codec| text.eq_ignore_ascii_case(codec.token()))
    }

    /// An `Accept-Encoding` token (`x-gzip` is gzip).
    pub fn from_accept_token(token: &str) -> Option<Self> {
        Self::from_setting(token).or_else(|| token.eq_ignore_ascii_case("x-gzip").then_some(Self::Gzip))
    }
}
