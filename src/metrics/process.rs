//! The process metrics every exporter built on an official client library
//! serves, named and defined as the client-library guidelines define them
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), so
//! that generic dashboards and alerts (restarts, memory, file descriptors)
//! read this exporter too. Read from `/proc` at each scrape; a value that
//! cannot be read is left out. On a system without `/proc`, none.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use std::fmt;

/// The process metrics of this process.
#[derive(Debug, Default)]
pub struct ProcessMetrics;

impl prometheus_client::collector::Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        encode(&mut encoder)
    }
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<&Unit>, value: f64) -> fmt::Result {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, unit, MetricType::Gauge)?)
}

#[cfg(target_os = "linux")]
fn encode(e: &mut DescriptorEncoder) -> fmt::Result {
    use procfs::process::{LimitValue, Process};
    let Ok(me) = Process::myself() else {
        return Ok(());
    };
    if let Ok(stat) = me.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        let cpu = (stat.utime + stat.stime) as f64 / ticks;
        let name = "process_cpu";
        let help = "Total user and system CPU time spent in seconds";
        ConstCounter::new(cpu).encode(e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Counter)?)?;
        let resident = (stat.rss * procfs::page_size()) as f64;
        gauge(
            e,
            "process_resident_memory",
            "Resident memory size in bytes",
            Some(&Unit::Bytes),
            resident,
        )?;
        let size = stat.vsize as f64;
        gauge(
            e,
            "process_virtual_memory",
            "Virtual memory size in bytes",
            Some(&Unit::Bytes),
            size,
        )?;
        if let Ok(boot) = procfs::boot_time_secs() {
            let start = boot as f64 + stat.starttime as f64 / ticks;
            let help = "Start time of the process since unix epoch in seconds";
            gauge(e, "process_start_time", help, Some(&Unit::Seconds), start)?;
        }
        gauge(
            e,
            "process_threads",
            "Number of OS threads in the process",
            None,
            stat.num_threads as f64,
        )?;
    }
    if let Ok(open) = me.fd_count() {
        gauge(
            e,
            "process_open_fds",
            "Number of open file descriptors",
            None,
            open as f64,
        )?;
    }
    if let Ok(limits) = me.limits() {
        if let LimitValue::Value(max) = limits.max_open_files.soft_limit {
            gauge(
                e,
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                max as f64,
            )?;
        }
        let max = match limits.max_address_space.soft_limit {
            LimitValue::Value(max) => max as f64,
            // As client_golang reports no limit: the largest value.
            LimitValue::Unlimited => u64::MAX as f64,
        };
        let help = "Maximum amount of virtual memory available in bytes";
        gauge(e, "process_virtual_memory_max", help, Some(&Unit::Bytes), max)?;
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn encode(_: &mut DescriptorEncoder) -> fmt::Result {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn serves_the_process_metrics_of_the_client_library_guidelines() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessMetrics));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in\n{text}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(value("process_cpu_seconds_total") > 0.0);
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_virtual_memory_max_bytes") > 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(start <= now && start > now - 3600.0, "started {start}, now {now}");
        assert!(text.contains("# TYPE process_cpu_seconds counter\n"), "{text}");
    }
}
