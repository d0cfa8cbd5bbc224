//! The canary's recent answers, for its automatic rollback (`canary.rs`): how many it gave
//! and how many failed over the last `canary-window` seconds.
//!
//! The window is cut into `BUCKETS` slices; each slice counts the answers and failures of
//! its stretch of time with atomics, and is reset by the first answer that lands in it after
//! the window has moved past it. Recording is two atomic adds (plus, once per slice, a swap
//! and two stores); reading sums the slices still inside the window. A window of 60 s has
//! slices of 6 s, so the rate covers between 54 and 60 s of answers.
//!
//! Counting races are tolerated: an answer recorded while another thread resets its slice
//! may be lost. The figure is a rate over many answers; one lost in a few hundred does not
//! change a decision. What to do with the rate is `canary.rs`'s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BUCKETS: u64 = 10;

/// Answers and failures over a sliding window of time.
#[derive(Debug)]
pub struct Window {
    origin: Instant,
    /// Milliseconds per slice (at least 1).
    slice: u64,
    buckets: [Bucket; BUCKETS as usize],
}

#[derive(Debug, Default)]
struct Bucket {
    /// The slice number it counts (from 1; 0: never used).
    epoch: AtomicU64,
    answers: AtomicU64,
    failures: AtomicU64,
}

/// What the window holds: answers, of which failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub answers: u64,
    pub failures: u64,
}

impl Counts {
    /// Failures per answer (0 with no answers).
    pub fn rate(self) -> f64 {
        if self.answers == 0 {
            0.0
        } else {
            self.failures as f64 / self.answers as f64
        }
    }
}

impl Window {
    pub fn new(length: Duration) -> Self {
        let millis = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
        Self { origin: Instant::now(), slice: (millis / BUCKETS).max(1), buckets: Default::default() }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let elapsed = u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX);
        elapsed / self.slice + 1
    }

    fn bucket(&self, epoch: u64) -> Option<&Bucket> {
        usize::try_from(epoch % BUCKETS).ok().and_then(|index| self.buckets.get(index))
    }

    /// Counts one answer at `now`, failed or not; returns what the window holds after it.
    pub fn record(&self, failed: bool, now: Instant) -> Counts {
        let epoch = self.epoch(now);
        if let Some(bucket) = self.bucket(epoch) {
            if bucket.epoch.load(Ordering::Acquire) != epoch && bucket.epoch.swap(epoch, Ordering::AcqRel) != epoch {
                bucket.answers.store(0, Ordering::Release);
                bucket.failures.store(0, Ordering::Release);
            }
            bucket.answers.fetch_add(1, Ordering::AcqRel);
            if failed {
                bucket.failures.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.counts(now)
    }

    /// What the window holds at `now`.
    pub fn counts(&self, now: Instant) -> Counts {
        let epoch = self.epoch(now);
        let oldest = epoch.saturating_sub(BUCKETS - 1);
        let mut counts = Counts::default();
        for bucket in &self.buckets {
            let at = bucket.epoch.load(Ordering::Acquire);
            if at != 0 && (oldest..=epoch).contains(&at) {
                counts.answers += bucket.answers.load(Ordering::Acquire);
                counts.failures += bucket.failures.load(Ordering::Acquire);
            }
        }
        counts
    }

    /// Forgets every answer (the weight was set anew).
    pub fn clear(&self) {
        for bucket in &self.buckets {
            bucket.epoch.store(0, Ordering::Release);
            bucket.answers.store(0, Ordering::Release);
            bucket.failures.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answers_inside_the_window_only() {
        let window = Window::new(Duration::from_secs(10));
        let start = window.origin;
        for _ in 0..3 {
            window.record(false, start);
        }
        let counts = window.record(true, start + Duration::from_secs(4));
        assert_eq!(counts, Counts { answers: 4, failures: 1 });
        assert!((counts.rate() - 0.25).abs() < f64::EPSILON);
        // 10.5 s later the first three have left the window; the failure has not.
        assert_eq!(window.counts(start + Duration::from_millis(10_500)), Counts { answers: 1, failures: 1 });
        // A slice reused a whole window later starts from zero.
        let later = start + Duration::from_secs(20);
        assert_eq!(window.record(false, later), Counts { answers: 1, failures: 0 });
        window.clear();
        assert_eq!(window.counts(later), Counts::default());
        assert!(Counts::default().rate().abs() < f64::EPSILON);
    }

    #[test]
    fn a_tiny_window_still_has_slices() {
        let window = Window::new(Duration::from_millis(3));
        assert_eq!(window.slice, 1);
        assert_eq!(window.record(true, window.origin).failures, 1);
    }
}
