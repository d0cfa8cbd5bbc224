//! The standard `process_*` metrics (as the official Go and Python clients name them), read
//! from `/proc/self` at each scrape: CPU seconds, resident and virtual memory, open and
//! maximum file descriptors, start time. On a system without `/proc` they are left out.

#[cfg(test)]
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What `/proc/self/stat` says, in the units exposed.
#[derive(Debug, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    virtual_bytes: f64,
    resident_bytes: f64,
    /// Seconds after boot.
    started_after_boot: f64,
}

/// Parses `/proc/self/stat` (fields after the parenthesised command name, which may itself
/// hold spaces and parentheses).
fn parse_stat(text: &str, ticks_per_second: f64, page_size: f64) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field N is fields[N - 3].
    let field = |number: usize| fields.get(number - 3).and_then(|value| value.parse::<f64>().ok());
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) / ticks_per_second,
        started_after_boot: field(22)? / ticks_per_second,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
    })
}

/// The boot time, from the `btime` line of `/proc/stat`.
fn boot_time(text: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|value| value.trim().parse().ok())
}

#[derive(Debug)]
pub struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
}

impl ProcessCollector {
    pub fn new() -> Self {
        // SAFETY: sysconf only reads a configuration value.
        #[allow(unsafe_code)]
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        Self { ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 }, page_size: page.max(1) as f64 }
    }
}

/// This process's resident memory, in bytes (None without `/proc`): for `GET /status`.
pub fn resident_memory_bytes() -> Option<f64> {
    let collector = ProcessCollector::new();
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&text, collector.ticks_per_second, collector.page_size).map(|stat| stat.resident_bytes)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse_stat(&text, self.ticks_per_second, self.page_size));
        if let Some(stat) = stat {
            let cpu = ConstCounter::new(stat.cpu_seconds);
            let help = "Total user and system CPU time spent in seconds";
            cpu.encode(encoder.encode_descriptor("process_cpu_seconds", help, None, cpu.metric_type())?)?;
            gauge(&mut encoder, "process_resident_memory_bytes", "Resident memory size in bytes", stat.resident_bytes)?;
            gauge(&mut encoder, "process_virtual_memory_bytes", "Virtual memory size in bytes", stat.virtual_bytes)?;
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|text| boot_time(&text));
            if let Some(boot) = boot {
                let help = "Start time of the process since unix epoch in seconds";
                gauge(&mut encoder, "process_start_time_seconds", help, boot + stat.started_after_boot)?;
            }
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            // The directory listing itself holds one descriptor while it is read.
            let open = entries.count().saturating_sub(1);
            gauge(&mut encoder, "process_open_fds", "Number of open file descriptors", open as f64)?;
        }
        if let Some(limit) = crate::fds::open_files_limit() {
            gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors", limit as f64)?;
        }
        Ok(())
    }
}

/// Seconds since the epoch now: for checking the start time in tests.
#[cfg(test)]
fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_past_a_command_name_with_spaces() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 2048 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stat = parse_stat(line, 100.0, 4096.0);
        let expected = Stat {
            cpu_seconds: 3.0,
            started_after_boot: 10.0,
            virtual_bytes: 123_456_789.0,
            resident_bytes: 2048.0 * 4096.0,
        };
        assert_eq!(stat, Some(expected));
        assert_eq!(parse_stat("garbage", 100.0, 4096.0), None);
        assert_eq!(boot_time("cpu 1 2 3\nbtime 1700000000\n"), Some(1_700_000_000.0));
    }

    #[test]
    fn this_process_started_in_the_past() {
        let collector = ProcessCollector::new();
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse_stat(&text, collector.ticks_per_second, collector.page_size));
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|text| boot_time(&text));
        if let (Some(stat), Some(boot)) = (stat, boot) {
            assert!(boot + stat.started_after_boot <= now() + 1.0);
            assert!(stat.resident_bytes > 0.0);
        }
    }
}
