//! Shadow traffic's figures (`server/shadow.rs` runs and compares): the comparisons of each
//! mount pair by result, `amphicorn_shadow_comparisons_total{mount,shadow,result}` with
//! `result` one of `match`, `differ`, `shadow_error`, `skipped`, and for `GET /status` the
//! skips by reason and the most recent differences (`ShadowFigures::describe`, shown under
//! the mount's `shadow` entry by `status.rs`).
//!
//! The shadow requests themselves are not request metrics: they are in neither mount's
//! duration histogram, in-flight gauges, refusals or body bytes, so the primary's figures
//! count clients only and the shadow mount's its own clients only.

use std::collections::VecDeque;
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use crate::sync::lock;

/// How many differences `GET /status` lists per mount pair.
pub const RECENT_DIFFERENCES: usize = 20;

/// `mount`, `shadow`, `result`.
type Labels = [(&'static str, String); 3];

/// What one comparison came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowResult {
    Match,
    Differ,
    /// The shadow gave no whole answer: it failed, or took longer than the shadow timeout.
    ShadowError,
    /// Not compared, for a `SkipReason`.
    Skipped(SkipReason),
}

/// Why a sampled request was not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `shadow-max-concurrency` comparisons of the pair were under way.
    Busy,
    /// The shadow mount was at its concurrency limit, or its body limit refused the body.
    ShadowLimits,
    /// The request body was streamed, not held in full: it cannot be sent twice.
    StreamedBody,
    /// A body passed the cap, and status and headers agreed.
    BodyTooLarge,
    /// The primary's answer did not reach its end (it failed, or the client left).
    PrimaryIncomplete,
}

impl SkipReason {
    const ALL: [Self; 5] =
        [Self::Busy, Self::ShadowLimits, Self::StreamedBody, Self::BodyTooLarge, Self::PrimaryIncomplete];

    pub fn label(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::ShadowLimits => "shadow_limits",
            Self::StreamedBody => "streamed_body",
            Self::BodyTooLarge => "body_too_large",
            Self::PrimaryIncomplete => "primary_incomplete",
        }
    }
}

/// The family, registered with the other metrics.
#[derive(Clone, Default)]
pub struct ShadowFamilies {
    comparisons: Family<Labels, Counter>,
}

impl ShadowFamilies {
    pub fn register(registry: &mut Registry) -> Self {
        let families = Self::default();
        registry.register(
            "amphicorn_shadow_comparisons",
            "Requests of a mount also run on its shadow mount, by what the comparison of the answers found",
            families.comparisons.clone(),
        );
        families
    }

    /// The figures of the pair `mount` → `shadow`, registered now (shown as 0 from the start).
    pub fn pair(&self, mount: &str, shadow: &str) -> ShadowFigures {
        let counter = |result: &str| {
            self.comparisons.get_or_create_owned(&[
                ("mount", mount.to_owned()),
                ("shadow", shadow.to_owned()),
                ("result", result.to_owned()),
            ])
        };
        ShadowFigures {
            shadow: shadow.to_owned(),
            matched: counter("match"),
            differ: counter("differ"),
            shadow_error: counter("shadow_error"),
            skipped: counter("skipped"),
            skipped_by: SkipReason::ALL.map(|_| Counter::default()),
            recent: Mutex::default(),
        }
    }
}

/// One mount pair's figures.
#[derive(Debug)]
pub struct ShadowFigures {
    shadow: String,
    matched: Counter,
    differ: Counter,
    shadow_error: Counter,
    skipped: Counter,
    /// By `SkipReason::ALL`, for `/status` only (the metric has one `skipped`).
    skipped_by: [Counter; SkipReason::ALL.len()],
    /// The last `RECENT_DIFFERENCES`, oldest first.
    recent: Mutex<VecDeque<Value>>,
}

impl ShadowFigures {
    /// Counts one comparison's result.
    pub fn count(&self, result: ShadowResult) {
        match result {
            ShadowResult::Match => self.matched.inc(),
            ShadowResult::Differ => self.differ.inc(),
            ShadowResult::ShadowError => self.shadow_error.inc(),
            ShadowResult::Skipped(reason) => {
                if let Some(position) = SkipReason::ALL.iter().position(|known| *known == reason) {
                    if let Some(counter) = self.skipped_by.get(position) {
                        counter.inc();
                    }
                }
                self.skipped.inc()
            }
        };
    }

    /// Keeps a difference (or a shadow error) for `/status`, dropping the oldest past the bound.
    pub fn remember(&self, difference: Value) {
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT_DIFFERENCES {
            recent.pop_front();
        }
        recent.push_back(difference);
    }

    /// The mount's `shadow` entry in `GET /status`.
    pub fn describe(&self) -> Value {
        let skipped_by: serde_json::Map<String, Value> = SkipReason::ALL
            .iter()
            .zip(&self.skipped_by)
            .map(|(reason, counter)| (reason.label().to_owned(), json!(counter.get())))
            .collect();
        json!({
            "mount": self.shadow,
            "match": self.matched.get(),
            "differ": self.differ.get(),
            "shadow_error": self.shadow_error.get(),
            "skipped": self.skipped.get(),
            "skipped_by_reason": skipped_by,
            "recent_differences": lock(&self.recent).iter().cloned().collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_result_and_keeps_the_last_differences() {
        let mut registry = Registry::default();
        let families = ShadowFamilies::register(&mut registry);
        let figures = families.pair("/shop", "/_next");
        figures.count(ShadowResult::Match);
        figures.count(ShadowResult::Skipped(SkipReason::Busy));
        for index in 0..RECENT_DIFFERENCES + 5 {
            figures.count(ShadowResult::Differ);
            figures.remember(json!({"path": format!("/{index}")}));
        }
        let described = figures.describe();
        assert_eq!((described["match"].clone(), described["differ"].clone()), (json!(1), json!(25)));
        assert_eq!(described["skipped_by_reason"]["busy"], json!(1));
        let recent = described["recent_differences"].as_array().cloned().unwrap_or_default();
        assert_eq!(recent.len(), RECENT_DIFFERENCES);
        assert_eq!(recent.first().map(|first| first["path"].clone()), Some(json!("/5")));
        let mut text = String::new();
        assert!(prometheus_client::encoding::text::encode(&mut text, &registry).is_ok());
        assert!(
            text.contains(r#"amphicorn_shadow_comparisons_total{mount="/shop",shadow="/_next",result="skipped"} 1"#),
            "{text}"
        );
    }
}
