//! Body bytes held in memory as the frames they arrived in.
//!
//! hyper hands a body over in frames (slices of its read buffer, no copy). Joining them into
//! one buffer would copy every byte once more, and the bridges copy them into a Python
//! `bytes` anyway; so the pre-read keeps the frames, `wsgi.input` buffers them, and the one
//! copy happens when Python asks for bytes (`buffers::frames_to_py`). Measured on the WSGI
//! echo benchmark, the join was 7% of the server's CPU.
//!
//! For example, frames `"ab"`, `"cde"`: `take(3)` gives `"ab"`, `"c"` and leaves `"de"`;
//! `position(b'd')` is 3.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

#[derive(Debug, Clone, Default)]
pub struct Frames {
    frames: VecDeque<Bytes>,
    len: usize,
}

impl Frames {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a frame (empty ones are dropped).
    pub fn push(&mut self, frame: Bytes) {
        if !frame.is_empty() {
            self.len += frame.len();
            self.frames.push_back(frame);
        }
    }

    /// Splits off the first `count` bytes (all, if there are fewer).
    pub fn take(&mut self, count: usize) -> Frames {
        let mut taken = Frames::default();
        while taken.len < count {
            let Some(mut frame) = self.frames.pop_front() else {
                break;
            };
            let wanted = count - taken.len;
            if frame.len() > wanted {
                let rest = frame.split_off(wanted);
                self.frames.push_front(rest);
            }
            self.len -= frame.len();
            taken.push(frame);
        }
        taken
    }

    /// The offset of the first `byte` at or after `from`.
    pub fn position(&self, byte: u8, from: usize) -> Option<usize> {
        let mut start = 0;
        for frame in &self.frames {
            let end = start + frame.len();
            if end > from {
                let skip = from.saturating_sub(start);
                if let Some(found) = frame[skip..].iter().position(|&candidate| candidate == byte) {
                    return Some(start + skip + found);
                }
            }
            start = end;
        }
        None
    }

    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.frames.iter()
    }

    /// One buffer: the frame itself when there is one, else a copy of them all.
    pub fn into_bytes(mut self) -> Bytes {
        if self.frames.len() <= 1 {
            return self.frames.pop_front().unwrap_or_default();
        }
        let mut joined = BytesMut::with_capacity(self.len);
        for frame in &self.frames {
            joined.extend_from_slice(frame);
        }
        joined.freeze()
    }
}

impl From<Bytes> for Frames {
    fn from(frame: Bytes) -> Self {
        let mut frames = Frames::default();
        frames.push(frame);
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&'static str]) -> Frames {
        let mut frames = Frames::default();
        for part in parts {
            frames.push(Bytes::from_static(part.as_bytes()));
        }
        frames
    }

    #[test]
    fn take_splits_across_frames() {
        let mut body = frames(&["ab", "", "cde", "f"]);
        assert_eq!(body.len(), 6);
        let first = body.take(3);
        assert_eq!(first.iter().map(|frame| &frame[..]).collect::<Vec<_>>(), [&b"ab"[..], &b"c"[..]]);
        assert_eq!(body.len(), 3);
        assert_eq!(body.clone().into_bytes(), Bytes::from_static(b"def"));
        assert_eq!(body.take(100).into_bytes(), Bytes::from_static(b"def"));
        assert!(body.is_empty());
        assert!(body.take(1).is_empty());
    }

    #[test]
    fn positions_count_from_the_start() {
        let body = frames(&["a\nb", "cd\n", "\n"]);
        assert_eq!(body.position(b'\n', 0), Some(1));
        assert_eq!(body.position(b'\n', 2), Some(5));
        assert_eq!(body.position(b'\n', 6), Some(6));
        assert_eq!(body.position(b'\n', 7), None);
        assert_eq!(body.position(b'z', 0), None);
    }

    #[test]
    fn one_frame_is_not_copied() {
        let frame = Bytes::from(vec![1, 2, 3]);
        let pointer = frame.as_ptr();
        assert_eq!(Frames::from(frame).into_bytes().as_ptr(), pointer);
    }
}
