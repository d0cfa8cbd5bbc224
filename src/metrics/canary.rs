//! The weighted canary's metrics (`server/canary.rs` decides and records): its current
//! weight in percent, `amphicorn_canary_weight{mount,canary}`; how many times it was rolled
//! back, `amphicorn_canary_rollbacks_total{mount,canary}`; and which variant answered each of
//! the mount's requests, `amphicorn_canary_requests_total{mount,canary,variant,status_class}`
//! (`variant`: `stable` or `canary`; `status_class`: `1xx` to `5xx`, a client that left before
//! the answer counted as `4xx`, as the 499 of the request metrics). All are labelled by the two
//! mounts' labels, fixed at start, so a canary has at most ten request series, all made at
//! start: counting an answer is one atomic add. The request metrics of `mod.rs` count the
//! same request under the mount that answered; these tell the primary's traffic apart from
//! what the canary mount serves at its own prefix.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Map, Value};

use super::labels::{by_class, class_index, CLASSES, CLIENT_CLOSED_REQUEST};

/// `mount` (the primary), `canary`.
type Labels = [(&'static str, String); 2];
/// `mount`, `canary`, `variant`, `status_class`.
type RequestLabels = [(&'static str, String); 4];

/// The variants, as the `variant` label and `/status` name them: the primary mount's, then
/// the canary's (`server/canary.rs`'s `Variant` in that order).
pub const VARIANTS: [&str; 2] = ["stable", "canary"];

/// The families, registered with the other metrics.
#[derive(Clone, Default)]
pub struct CanaryFamilies {
    weight: Family<Labels, Gauge<f64, AtomicU64>>,
    rollbacks: Family<Labels, Counter>,
    requests: Family<RequestLabels, Counter>,
}

/// One canary's handles.
#[derive(Clone, Debug, Default)]
pub struct CanaryMetrics {
    /// Percent of the mount's requests the canary takes now.
    pub weight: Gauge<f64, AtomicU64>,
    pub rollbacks: Counter,
    /// By variant (`VARIANTS`), then status class (`CLASSES`).
    requests: [[Counter; CLASSES.len()]; VARIANTS.len()],
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
        registry.register(
            "amphicorn_canary_requests",
            "Requests to a mount with a canary, by the variant that answered them and the answer's status class",
            families.requests.clone(),
        );
        families
    }

    /// The handles of the canary `canary` of `mount`, registered now (shown from the first scrape).
    pub fn canary(&self, mount: &str, canary: &str) -> CanaryMetrics {
        let labels: Labels = [("mount", mount.to_owned()), ("canary", canary.to_owned())];
        let requests = VARIANTS.map(|variant| {
            CLASSES.map(|class| {
                let [mount, canary] = labels.clone();
                self.requests.get_or_create_owned(&[
                    mount,
                    canary,
                    ("variant", variant.to_owned()),
                    ("status_class", class.to_owned()),
                ])
            })
        });
        CanaryMetrics {
            weight: self.weight.get_or_create_owned(&labels),
            rollbacks: self.rollbacks.get_or_create_owned(&labels),
            requests,
        }
    }
}

impl CanaryMetrics {
    /// Counts one answer of the variant at `variant` (in `VARIANTS`) with `status` (None: the
    /// client left before it, counted as a 499); a status past 599 is not counted.
    pub fn answered(&self, variant: usize, status: Option<u16>) {
        let status = status.unwrap_or(CLIENT_CLOSED_REQUEST);
        let counter = class_index(status).and_then(|class| self.requests.get(variant)?.get(class));
        if let Some(counter) = counter {
            counter.inc();
        }
    }

    /// The answers so far, for `/status` and `/canary`: `{"stable": {"total", "1xx", ..},
    /// "canary": {..}}`.
    pub fn describe(&self) -> Value {
        let variants = VARIANTS.iter().zip(&self.requests);
        let described = variants
            .map(|(variant, counters)| ((*variant).to_owned(), by_class(counters.each_ref().map(Counter::get))));
        Value::Object(described.collect::<Map<_, _>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_counted_by_variant_and_class_in_both_views() -> Result<(), std::fmt::Error> {
        let mut registry = Registry::default();
        let families = CanaryFamilies::register(&mut registry);
        let metrics = families.canary("/shop", "/_next");
        for (variant, status) in
            [(0, Some(200)), (0, Some(200)), (1, Some(503)), (1, None), (1, Some(101)), (1, Some(799))]
        {
            metrics.answered(variant, status);
        }
        let described = metrics.describe();
        assert_eq!(described["stable"], json!({"total": 2, "1xx": 0, "2xx": 2, "3xx": 0, "4xx": 0, "5xx": 0}));
        assert_eq!(described["canary"], json!({"total": 3, "1xx": 1, "2xx": 0, "3xx": 0, "4xx": 1, "5xx": 1}));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        let series =
            r#"amphicorn_canary_requests_total{mount="/shop",canary="/_next",variant="canary",status_class="5xx"} 1"#;
        assert!(text.contains(series), "{text}");
        // Every series shows from the start, at 0.
        assert!(text.contains(&series.replace("5xx", "3xx").replace("} 1", "} 0")), "{text}");
        Ok(())
    }
}
