//! The weighted canary's metrics (`server/canary.rs` decides and records): its current
//! weight in percent, `amphicorn_canary_weight{mount,canary}`, and how many times it was
//! rolled back, `amphicorn_canary_rollbacks_total{mount,canary}`. Both are labelled by the
//! two mounts' labels, fixed at start. Which mount answered each request is in the request
//! metrics of `mod.rs`, under that mount.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `mount` (the primary), `canary`.
type Labels = [(&'static str, String); 2];

/// The two families, registered with the other metrics.
#[derive(Clone, Default)]
pub struct CanaryFamilies {
    weight: Family<Labels, Gauge<f64, AtomicU64>>,
    rollbacks: Family<Labels, Counter>,
}

/// One canary's handles.
#[derive(Clone, Debug, Default)]
pub struct CanaryMetrics {
    /// Percent of the mount's requests the canary takes now.
    pub weight: Gauge<f64, AtomicU64>,
    pub rollbacks: Counter,
}

impl CanaryFamilies {
    pub fn register(registry: &mut Registry) -> Self {
        let families = Self::default();
        registry.register(
            "amphicorn_canary_weight",
            "Percent of a mount's requests its canary mount takes now (0 after a rollback)",
            families.weight.clone(),
        );
        registry.register(
            "amphicorn_canary_rollbacks",
            "Times a canary's weight was dropped to 0 because its error rate passed canary-max-error-rate",
            families.rollbacks.clone(),
        );
        families
    }

    /// The handles of the canary `canary` of `mount`, registered now (shown from the first scrape).
    pub fn canary(&self, mount: &str, canary: &str) -> CanaryMetrics {
        let labels: Labels = [("mount", mount.to_owned()), ("canary", canary.to_owned())];
        CanaryMetrics {
            weight: self.weight.get_or_create_owned(&labels),
            rollbacks: self.rollbacks.get_or_create_owned(&labels),
        }
    }
}
