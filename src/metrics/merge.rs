//! One exposition from several processes' expositions: what the supervisor's admin listener
//! answers `GET /metrics` with under `--workers N` (`server/admin_workers.rs` gathers them).
//!
//! Each worker exposes its own metrics in the Prometheus text format (`Metrics::encode`);
//! they are read here, family by family, and added up series by series (a series is a sample
//! line up to its value: name and labels, which every worker writes alike):
//! - counters and histograms are summed, and so are the gauges of the requests in flight
//!   (a total over the workers is what a dashboard wants);
//! - gauges named `*_info` (the build) are the same in every worker: the largest is kept;
//! - the `process_*` figures describe one process each, and a canary's weight is a setting
//!   each worker holds (two workers at 10% send 10% to the canary, not 20%): these are not
//!   summed but kept apart under a `worker` label (the worker's slot, which a replacement
//!   reuses; so the label stays bounded by the worker count).
//!
//! What a worker counted must outlive it, or counters would go backwards when a worker is
//! replaced: `counted` keeps the counters and histograms of a worker's last exposition
//! (gauges describe only the living), and the supervisor adds that to every later answer.
//!
//! Only the text format's own lines are read: `# HELP`, `# TYPE` and samples (with an
//! optional timestamp, dropped). A line that is none of those is skipped.

use std::collections::HashMap;
use std::fmt::Write;

/// A metric family's type, as far as adding up goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Counters and histograms: they count, so a gone worker's figures are kept.
    Counting,
    /// Describes the moment: summed over the living workers only.
    Gauge,
    /// A constant with labels (`*_info`): the largest value.
    Info,
}

/// One family: its `# HELP` and `# TYPE` lines and its series in first-seen order.
#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: Option<String>,
    kind_text: String,
    kind: Kind,
    series: Vec<(String, f64)>,
    index: HashMap<String, usize>,
}

impl Family {
    fn new(name: &str, help: Option<String>, kind_text: &str) -> Self {
        let kind = match kind_text {
            "counter" | "histogram" | "summary" => Kind::Counting,
            "gauge" if name.ends_with("_info") => Kind::Info,
            _ => Kind::Gauge,
        };
        Self {
            name: name.to_owned(),
            help,
            kind_text: kind_text.to_owned(),
            kind,
            series: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn add(&mut self, series: &str, value: f64) {
        match self.index.get(series) {
            Some(&at) => {
                let total = &mut self.series[at].1;
                *total = if self.kind == Kind::Info { total.max(value) } else { *total + value };
            }
            None => {
                self.index.insert(series.to_owned(), self.series.len());
                self.series.push((series.to_owned(), value));
            }
        }
    }

    /// One process's own figures (`process_*`, a canary's weight): kept apart by worker,
    /// never summed.
    fn per_process(&self) -> bool {
        self.name.starts_with("process_") || self.name == "amphicorn_canary_weight"
    }
}

/// A parsed exposition, or the sum of several: families in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

impl Exposition {
    /// Reads a Prometheus text exposition.
    pub fn parse(text: &str) -> Self {
        let mut exposition = Self::default();
        let mut help: Option<(String, String)> = None;
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                help = Some((name.to_owned(), text.to_owned()));
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
                let help_text = help.take().filter(|(named, _)| named == name).map(|(_, text)| text);
                current = Some(exposition.family(name, help_text, kind.trim()));
            } else if !line.starts_with('#') {
                if let Some((series, value)) = sample(line) {
                    let at = match current {
                        Some(at) if series.starts_with(&exposition.families[at].name) => at,
                        _ => exposition.family(series_name(series), None, "untyped"),
                    };
                    exposition.families[at].add(series, value);
                }
            }
        }
        exposition
    }

    /// The family called `name`, made with `help` and `kind` when new; its index.
    fn family(&mut self, name: &str, help: Option<String>, kind: &str) -> usize {
        if let Some(&at) = self.index.get(name) {
            return at;
        }
        self.index.insert(name.to_owned(), self.families.len());
        self.families.push(Family::new(name, help, kind));
        self.families.len() - 1
    }

    /// The counters and histograms only, less the per-process ones: what stays of a worker
    /// once it is gone.
    pub fn counted(&self) -> Self {
        let mut kept = Self::default();
        for family in self.families.iter().filter(|family| family.kind == Kind::Counting && !family.per_process()) {
            kept.index.insert(family.name.clone(), kept.families.len());
            kept.families.push(family.clone());
        }
        kept
    }

    /// Adds `other`'s samples into this one; the per-process families under
    /// `worker="<worker>"`.
    pub fn absorb(&mut self, other: &Self, worker: &str) {
        for family in &other.families {
            let at = self.family(&family.name, family.help.clone(), &family.kind_text);
            for (series, value) in &family.series {
                if family.per_process() {
                    self.families[at].add(&with_label(series, "worker", worker), *value);
                } else {
                    self.families[at].add(series, *value);
                }
            }
        }
    }

    /// The Prometheus text format (0.0.4) of it.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8192);
        for family in &self.families {
            if let Some(help) = &family.help {
                let _ = writeln!(text, "# HELP {} {}", family.name, help);
            }
            let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind_text);
            for (series, value) in &family.series {
                let _ = writeln!(text, "{series} {}", number(*value));
            }
        }
        text
    }
}

/// A sample line's series (name and labels) and value; None for anything else.
fn sample(line: &str) -> Option<(&str, f64)> {
    let line = line.trim_end();
    let end = match line.find('{') {
        Some(open) => open + labels_length(&line[open..])?,
        None => line.find(' ')?,
    };
    let (series, rest) = line.split_at(end);
    let value = rest.split_whitespace().next()?;
    Some((series, parse_number(value)?))
}

/// The length of `{...}` at the start of `text`, quotes and escapes honoured.
fn labels_length(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return Some(at + 1),
            _ => {}
        }
    }
    None
}

fn series_name(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok().filter(|value: &f64| value.is_finite()),
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// `series` with one more label.
fn with_label(series: &str, name: &str, value: &str) -> String {
    match series.strip_suffix('}') {
        Some(open) if open.ends_with('{') => format!("{open}{name}=\"{value}\"}}"),
        Some(open) => format!("{open},{name}=\"{value}\"}}"),
        None => format!("{series}{{{name}=\"{value}\"}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: &str = r#"# HELP requests_total Requests.
# TYPE requests_total counter
requests_total{mount="/a",reason="x y"} 3
requests_total{mount="/b}\"",reason=""} 1
# HELP latency Latency.
# TYPE latency histogram
latency_bucket{mount="/a",le="0.5"} 2
latency_bucket{mount="/a",le="+Inf"} 3
latency_sum{mount="/a"} 0.75
latency_count{mount="/a"} 3
# TYPE active gauge
active{mount="/a"} 2
# TYPE amphicorn_build_info gauge
amphicorn_build_info{version="1.0"} 1
# HELP process_cpu_seconds_total CPU.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 0.5
# TYPE process_open_fds gauge
process_open_fds 12.0
# TYPE amphicorn_canary_weight gauge
amphicorn_canary_weight{mount="/a",canary="/b"} 10.0
garbage line
"#;

    fn value(exposition: &Exposition, series: &str) -> Option<f64> {
        exposition
            .families
            .iter()
            .find_map(|family| family.series.iter().find(|(name, _)| name == series).map(|(_, value)| *value))
    }

    #[test]
    fn workers_add_up_and_keep_their_process_figures_apart() {
        let one = Exposition::parse(WORKER);
        let mut total = Exposition::default();
        total.absorb(&one, "0");
        total.absorb(&one, "1");
        assert_eq!(value(&total, r#"requests_total{mount="/a",reason="x y"}"#), Some(6.0));
        assert_eq!(value(&total, r#"requests_total{mount="/b}\"",reason=""}"#), Some(2.0));
        assert_eq!(value(&total, r#"latency_bucket{mount="/a",le="+Inf"}"#), Some(6.0));
        assert_eq!(value(&total, r#"latency_sum{mount="/a"}"#), Some(1.5));
        assert_eq!(value(&total, r#"active{mount="/a"}"#), Some(4.0));
        assert_eq!(value(&total, r#"amphicorn_build_info{version="1.0"}"#), Some(1.0));
        assert_eq!(value(&total, r#"process_cpu_seconds_total{worker="1"}"#), Some(0.5));
        assert_eq!(value(&total, r#"process_open_fds{worker="0"}"#), Some(12.0));
        assert_eq!(value(&total, "process_open_fds"), None);
        assert_eq!(value(&total, r#"amphicorn_canary_weight{mount="/a",canary="/b",worker="1"}"#), Some(10.0));
        let text = total.render();
        assert!(text.starts_with("# HELP requests_total Requests.\n# TYPE requests_total counter\n"), "{text}");
        assert!(text.contains("latency_sum{mount=\"/a\"} 1.5\n"), "{text}");
        assert!(text.contains("latency_count{mount=\"/a\"} 6\n"), "{text}");
        assert!(!text.contains("garbage"), "{text}");
        // What the sum says reads back the same.
        let again = Exposition::parse(&text);
        assert_eq!(value(&again, r#"requests_total{mount="/b}\"",reason=""}"#), Some(2.0));
    }

    #[test]
    fn a_gone_worker_leaves_its_counts_not_its_gauges() {
        let kept = Exposition::parse(WORKER).counted();
        assert_eq!(value(&kept, r#"latency_count{mount="/a"}"#), Some(3.0));
        assert_eq!(value(&kept, r#"active{mount="/a"}"#), None);
        assert_eq!(value(&kept, "process_cpu_seconds_total"), None);
        assert_eq!(value(&kept, r#"amphicorn_build_info{version="1.0"}"#), None);
    }

    #[test]
    fn labels_are_added_to_any_series() {
        assert_eq!(with_label("a", "worker", "2"), r#"a{worker="2"}"#);
        assert_eq!(with_label("a{}", "worker", "2"), r#"a{worker="2"}"#);
        assert_eq!(with_label(r#"a{b="c"}"#, "worker", "2"), r#"a{b="c",worker="2"}"#);
        assert_eq!(sample("a 1 1700000000"), Some(("a", 1.0)));
        assert_eq!(sample("a{b=\"c\"} NaN").map(|(_, value)| value.is_nan()), Some(true));
        assert_eq!(sample("a{b=\"c\" 1"), None);
        assert_eq!(sample("a x"), None);
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
