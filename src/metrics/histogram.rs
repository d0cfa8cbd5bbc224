//! A request-duration histogram made of atomics, so that recording a request takes a few
//! relaxed atomic adds and no lock (`prometheus-client`'s own `Histogram` takes a mutex per
//! observation). It is encoded by `prometheus-client`, like its own metrics, through
//! `EncodeMetric`.
//!
//! The buckets are OpenTelemetry's defaults for `http.server.request.duration`. The sum is
//! kept in whole nanoseconds (an integer add, no compare-and-swap loop on an `f64`), and
//! the count a scrape shows is the sum of the buckets it read, so `_count` always equals the
//! `+Inf` bucket even while requests are being recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// OpenTelemetry's default bucket bounds for HTTP request durations, in seconds.
pub const BOUNDS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// The bounds in nanoseconds, for comparing a `Duration` without floating point.
const BOUNDS_NANOS: [u64; 14] = {
    let mut nanos = [0; 14];
    let mut index = 0;
    while index < BOUNDS.len() {
        nanos[index] = (BOUNDS[index] * 1e9) as u64;
        index += 1;
    }
    nanos
};

#[derive(Debug, Default)]
struct Inner {
    /// One count per bound, then `+Inf`; not cumulative (the encoder adds them up).
    buckets: [AtomicU64; 15],
    sum_nanos: AtomicU64,
}

/// A histogram of durations; clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct DurationHistogram {
    inner: Arc<Inner>,
}

impl DurationHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let index = BOUNDS_NANOS.iter().position(|&bound| nanos <= bound).unwrap_or(BOUNDS.len());
        if let Some(bucket) = self.inner.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many durations were observed.
    pub fn count(&self) -> u64 {
        self.inner.buckets.iter().map(|count| count.load(Ordering::Relaxed)).sum()
    }

    /// (per-bucket counts with their upper bounds, total count, sum in seconds)
    fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let buckets: Vec<(f64, u64)> = BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.inner.buckets)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, count)| count).sum();
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (buckets, count, sum)
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (buckets, count, sum) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let histogram = DurationHistogram::default();
        histogram.observe(Duration::from_millis(5)); // on the bound: le="0.005"
        histogram.observe(Duration::from_micros(5001)); // just past: le="0.01"
        histogram.observe(Duration::from_secs(11)); // past the last bound: +Inf
        let (buckets, count, sum) = histogram.snapshot();
        assert_eq!(count, 3);
        assert_eq!(buckets[0], (0.005, 1));
        assert_eq!(buckets[1], (0.01, 1));
        assert_eq!(buckets[14], (f64::INFINITY, 1));
        assert!((sum - 11.010_001).abs() < 1e-9, "{sum}");
    }
}
