//! A WSGI mount's pool as the metrics see it: its threads busy and idle, its queue's depth,
//! and how long jobs waited in the queue for a thread.
//!
//! The pool (`wsgi/pool.rs`) counts a thread busy while it runs a job (`PoolFigures::take`:
//! one atomic add, one subtract, and the queue wait's observation, on the pool thread) and
//! stamps each job when it is queued. The queue's depth is not counted at all: a scrape
//! reads it from the channel itself, as idle threads are the pool's size less the busy
//! ones. Both gauges are sampled by `PoolCollector` at each scrape.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::histogram::DurationHistogram;
use crate::sync::lock;

/// One pool's figures.
pub struct PoolFigures {
    label: Arc<str>,
    size: usize,
    busy: AtomicUsize,
    /// Reads the queue's depth.
    depth: Box<dyn Fn() -> usize + Send + Sync>,
    queue_wait: DurationHistogram,
}

impl PoolFigures {
    /// A thread takes a job queued at `queued`: busy until the guard is dropped.
    pub fn take(&self, queued: Option<Instant>) -> Busy<'_> {
        if let Some(queued) = queued {
            self.queue_wait.observe(queued.elapsed());
        }
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self)
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed).min(self.size)
    }

    pub fn idle(&self) -> usize {
        self.size - self.busy()
    }

    pub fn queue_depth(&self) -> usize {
        (self.depth)()
    }
}

/// A pool thread running a job.
pub struct Busy<'a>(&'a PoolFigures);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every pool of the process, for the scrape to sample.
pub struct Pools {
    pools: Mutex<Vec<Arc<PoolFigures>>>,
    queue_wait: Family<[(&'static str, String); 1], DurationHistogram>,
}

impl Pools {
    pub(super) fn register(registry: &mut Registry) -> Arc<Self> {
        let pools = Arc::new(Self { pools: Mutex::default(), queue_wait: Family::default() });
        registry.register(
            "amphicorn_wsgi_queue_wait_seconds",
            "Time WSGI requests waited in their mount's queue for a thread",
            pools.queue_wait.clone(),
        );
        registry.register_collector(Box::new(PoolCollector(pools.clone())));
        pools
    }

    pub(super) fn add(
        &self,
        label: &Arc<str>,
        size: usize,
        depth: Box<dyn Fn() -> usize + Send + Sync>,
    ) -> Arc<PoolFigures> {
        let queue_wait = self.queue_wait.get_or_create_owned(&[("mount", label.to_string())]);
        let figures =
            Arc::new(PoolFigures { label: label.clone(), size, busy: AtomicUsize::new(0), depth, queue_wait });
        lock(&self.pools).push(figures.clone());
        figures
    }
}

/// Samples the pools' threads and queues at each scrape.
struct PoolCollector(Arc<Pools>);

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("PoolCollector").finish_non_exhaustive()
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = lock(&self.0.pools).clone();
        let help = "Threads of each WSGI mount's pool, by state (busy: running a request)";
        let mut threads = encoder.encode_descriptor("amphicorn_wsgi_threads", help, None, MetricType::Gauge)?;
        for pool in &pools {
            for (state, count) in [("busy", pool.busy()), ("idle", pool.idle())] {
                let labels = [("mount", &*pool.label), ("state", state)];
                ConstGauge::new(count as i64).encode(threads.encode_family(&labels)?)?;
            }
        }
        let help = "Requests waiting in each WSGI mount's queue for a thread";
        let mut depth = encoder.encode_descriptor("amphicorn_wsgi_queue_depth", help, None, MetricType::Gauge)?;
        for pool in &pools {
            let labels = [("mount", &*pool.label)];
            ConstGauge::new(pool.queue_depth() as i64).encode(depth.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
