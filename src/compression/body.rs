//! The compressing body: wraps any body (a `ResponseBody`) and compresses it frame by frame, each
//! data frame flushed (gzip's and zstd's sync flush, brotli's flush) so that what an app
//! streams (server-sent events, a slow report) reaches the client as it is produced, not when
//! the encoder's window fills. The coding's trailer follows the last frame; trailers the app
//! sends come after it. A body already whole in memory is compressed at once (`whole`).
//!
//! Which responses get here, and their headers, is `mod.rs`'s; the codecs are the `flate2`,
//! `brotli` and `zstd` crates writing into a `Vec` that each frame drains.

use std::io::Write;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};

use super::codec::Codec;
use crate::errors::Error;

/// gzip's level, brotli's quality and window, zstd's level: cheap enough per request for
/// dynamic content (brotli's best, 11, is for build-time compression). Measured on the
/// benchmark's 64 KiB JSON (bench/README.md): gzip 5 (zlib-rs) costs about half of 6 for
/// 3.7 % more bytes; brotli quality 3 with a 256 KiB window (Envoy's defaults, so pyvoy's)
/// costs about three quarters of quality 4 for 4 % more bytes, and the window bounds the
/// encoder's memory per response (a larger one only helps bodies over 256 KiB).
const GZIP_LEVEL: u32 = 5;
const BROTLI_QUALITY: u32 = 3;
const BROTLI_WINDOW: u32 = 18;
const BROTLI_BUFFER: usize = 4096;
const ZSTD_LEVEL: i32 = 3;

/// A streaming encoder writing into a buffer that each frame drains.
pub enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    pub fn new(codec: Codec) -> Result<Self, Error> {
        Ok(match codec {
            Codec::Gzip => Self::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL))),
            Codec::Brotli => Self::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
            Codec::Zstd => Self::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).map_err(failed)?),
        })
    }

    /// Compresses `data` and flushes: what comes out decodes to everything given so far.
    pub fn encode(&mut self, data: &[u8]) -> Result<Bytes, Error> {
        let output = match self {
            Self::Gzip(encoder) => {
                encoder.write_all(data).and_then(|()| encoder.flush()).map_err(failed)?;
                encoder.get_mut()
            }
            Self::Brotli(encoder) => {
                encoder.write_all(data).and_then(|()| encoder.flush()).map_err(failed)?;
                encoder.get_mut()
            }
            Self::Zstd(encoder) => {
                encoder.write_all(data).and_then(|()| encoder.flush()).map_err(failed)?;
                encoder.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(output)))
    }

    /// Ends the stream: the rest of the output and the coding's trailer.
    pub fn finish(self) -> Result<Bytes, Error> {
        let output = match self {
            Self::Gzip(encoder) => encoder.finish().map_err(failed)?,
            Self::Brotli(encoder) => encoder.into_inner(),
            Self::Zstd(encoder) => encoder.finish().map_err(failed)?,
        };
        Ok(Bytes::from(output))
    }
}

/// Writing into a `Vec` does not fail; an encoder error is a bug, reported as an abort.
fn failed(_: std::io::Error) -> Error {
    Error::aborted()
}

/// All of `data` in `codec`, finished. The size is known, so zstd and brotli size their
/// window and tables to it (a stream's encoder is set up for any size: for a 4 KiB body,
/// several times slower to create than to run).
pub fn whole(codec: Codec, data: &[u8]) -> Result<Bytes, Error> {
    match codec {
        Codec::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).map(Bytes::from).map_err(failed),
        Codec::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: BROTLI_QUALITY as i32,
                lgwin: window_for(data.len()) as i32,
                size_hint: data.len(),
                ..Default::default()
            };
            let mut encoder = brotli::CompressorWriter::with_params(Vec::new(), BROTLI_BUFFER, &params);
            encoder.write_all(data).map_err(failed)?;
            Ok(Bytes::from(encoder.into_inner()))
        }
        Codec::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
            encoder.write_all(data).map_err(failed)?;
            encoder.finish().map(Bytes::from).map_err(failed)
        }
    }
}

/// Brotli's window (log2 of bytes) for `length` bytes: no larger than the data, from 10 to
/// `BROTLI_WINDOW`.
fn window_for(length: usize) -> u32 {
    let bits = usize::BITS - length.saturating_sub(1).leading_zeros();
    bits.clamp(10, BROTLI_WINDOW)
}

/// A streamed body, compressed as it goes.
pub struct Compressing<B> {
    inner: B,
    /// None once finished (the coding's trailer sent).
    encoder: Option<Encoder>,
    /// The app's trailers, sent after the coding's trailer.
    trailers: Option<HeaderMap>,
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Compressing<B> {
    pub fn new(inner: B, encoder: Encoder) -> Self {
        Self { inner, encoder: Some(encoder), trailers: None }
    }

    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            let Some(encoder) = self.encoder.as_mut() else {
                return Poll::Ready(self.trailers.take().map(|fields| Ok(Frame::trailers(fields))));
            };
            let data = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => encoder.encode(&data),
                    Err(frame) => {
                        self.trailers = frame.into_trailers().ok();
                        self.finish()
                    }
                },
                Some(Err(error)) => {
                    self.encoder = None;
                    return Poll::Ready(Some(Err(error)));
                }
                None => self.finish(),
            };
            match data {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Err(error) => {
                    self.encoder = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Bytes, Error> {
        self.encoder.take().map_or(Ok(Bytes::new()), Encoder::finish)
    }

    pub fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }

    pub fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn decode(codec: Codec, data: &[u8]) -> Vec<u8> {
        let mut output = Vec::new();
        match codec {
            Codec::Gzip => flate2::read::GzDecoder::new(data).read_to_end(&mut output).map(|_| ()),
            Codec::Brotli => brotli::Decompressor::new(data, 4096).read_to_end(&mut output).map(|_| ()),
            Codec::Zstd => {
                zstd::stream::read::Decoder::new(data).and_then(|mut d| d.read_to_end(&mut output)).map(|_| ())
            }
        }
        .expect("decodes");
        output
    }

    /// A partial stream decoded as far as it goes (what a client has after each frame).
    fn decode_prefix(codec: Codec, data: &[u8]) -> Vec<u8> {
        let mut output = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut reader: Box<dyn Read> = match codec {
            Codec::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
            Codec::Brotli => Box::new(brotli::Decompressor::new(data, 4096)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(data).expect("decoder")),
        };
        while let Ok(count) = reader.read(&mut buffer) {
            if count == 0 {
                break;
            }
            output.extend_from_slice(&buffer[..count]);
        }
        output
    }

    #[test]
    fn each_frame_decodes_as_it_arrives_and_the_whole_round_trips() {
        let chunks: Vec<Vec<u8>> = (0..5).map(|n| format!("data: event {n}\n\n").repeat(n + 1).into_bytes()).collect();
        for codec in [Codec::Gzip, Codec::Brotli, Codec::Zstd] {
            let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<Frame<Bytes>, Error>>();
            let inner = http_body_util::StreamBody::new(receiver);
            let mut body = Compressing::new(inner, Encoder::new(codec).expect("encoder"));
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let mut sent = Vec::new();
            let mut wire = Vec::new();
            for chunk in &chunks {
                sender.unbounded_send(Ok(Frame::data(Bytes::from(chunk.clone())))).expect("room");
                sent.extend_from_slice(chunk);
                let Poll::Ready(Some(Ok(frame))) = body.poll_frame(&mut cx) else {
                    panic!("{codec:?}: a frame for each chunk");
                };
                wire.extend_from_slice(frame.data_ref().expect("data"));
                assert_eq!(decode_prefix(codec, &wire), sent, "{codec:?}: flushed");
                assert!(body.poll_frame(&mut cx).is_pending(), "{codec:?}: waits for the app");
            }
            drop(sender);
            while let Poll::Ready(Some(frame)) = body.poll_frame(&mut cx) {
                wire.extend_from_slice(frame.expect("frame").data_ref().expect("data"));
            }
            assert!(body.is_end_stream());
            assert_eq!(decode(codec, &wire), sent, "{codec:?}: whole");
            assert!(wire.len() < sent.len(), "{codec:?}: smaller");
        }
    }

    #[test]
    fn the_apps_trailers_follow_the_codings_end() {
        let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<Frame<Bytes>, Error>>();
        let mut body =
            Compressing::new(http_body_util::StreamBody::new(receiver), Encoder::new(Codec::Gzip).expect("gzip"));
        let mut fields = HeaderMap::new();
        fields.insert("x-checksum", http::HeaderValue::from_static("abc"));
        sender.unbounded_send(Ok(Frame::data(Bytes::from_static(b"hello, hello, hello")))).expect("room");
        sender.unbounded_send(Ok(Frame::trailers(fields.clone()))).expect("room");
        drop(sender);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut wire = Vec::new();
        let mut trailers = None;
        while let Poll::Ready(Some(frame)) = body.poll_frame(&mut cx) {
            let frame = frame.expect("frame");
            assert!(trailers.is_none(), "nothing after the trailers");
            match frame.into_data() {
                Ok(data) => wire.extend_from_slice(&data),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        assert_eq!(decode(Codec::Gzip, &wire), b"hello, hello, hello");
        assert_eq!(trailers, Some(fields));
        assert!(body.is_end_stream());
    }

    #[test]
    fn brotli_windows_fit_the_data() {
        assert_eq!(window_for(0), 10);
        assert_eq!(window_for(4096), 12);
        assert_eq!(window_for(4097), 13);
        assert_eq!(window_for(1 << 30), 18);
    }

    #[test]
    fn a_whole_body_round_trips() {
        for data in [b"{\"key\": \"value\"}".repeat(200), b"tiny".to_vec(), (0..=255).cycle().take(300_000).collect()] {
            for codec in [Codec::Gzip, Codec::Brotli, Codec::Zstd] {
                let compressed = whole(codec, &data).expect("compressed");
                assert!(compressed.len() < data.len() / 4 || data.len() < 100, "{codec:?}");
                assert_eq!(decode(codec, &compressed), data, "{codec:?}");
            }
        }
    }
}
