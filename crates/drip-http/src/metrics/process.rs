//! The standard `process_*` metrics every Prometheus client exposes (CPU time, memory, file
//! descriptors, threads, start time), read from /proc on each scrape as client_golang's
//! process collector does.

use std::fmt;

use procfs::process::{LimitValue, Process};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Reads this process's figures from /proc at scrape time. What cannot be read (a /proc
/// file missing in a sandbox) is left out of the scrape and logged at debug level.
#[derive(Debug)]
pub(super) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let me = match Process::myself() {
            Ok(me) => me,
            Err(why) => {
                tracing::debug!(error = %why, "process metrics: /proc/self is unreadable");
                return Ok(());
            }
        };
        match me.stat() {
            Ok(stat) => {
                let ticks = procfs::ticks_per_second() as f64;
                let cpu = (stat.utime as f64 + stat.stime as f64) / ticks;
                let cpu_help = "Total user and system CPU time spent in seconds.";
                let counter = ConstCounter::new(cpu);
                counter.encode(encoder.encode_descriptor(
                    "process_cpu",
                    cpu_help,
                    Some(&Unit::Seconds),
                    counter.metric_type(),
                )?)?;
                let resident = stat.rss * procfs::page_size();
                gauge(
                    &mut encoder,
                    "process_resident_memory",
                    "Resident memory size in bytes.",
                    Some(&Unit::Bytes),
                    resident,
                )?;
                gauge(
                    &mut encoder,
                    "process_virtual_memory",
                    "Virtual memory size in bytes.",
                    Some(&Unit::Bytes),
                    stat.vsize,
                )?;
                gauge(
                    &mut encoder,
                    "process_threads",
                    "Number of OS threads in the process.",
                    None,
                    stat.num_threads,
                )?;
                match procfs::boot_time_secs() {
                    Ok(boot) => {
                        let start = boot as f64 + stat.starttime as f64 / ticks;
                        let help = "Start time of the process since unix epoch in seconds.";
                        gauge(&mut encoder, "process_start_time", help, Some(&Unit::Seconds), start)?;
                    }
                    Err(why) => tracing::debug!(error = %why, "process metrics: no boot time in /proc/stat"),
                }
            }
            Err(why) => tracing::debug!(error = %why, "process metrics: /proc/self/stat is unreadable"),
        }
        match me.fd_count() {
            Ok(open) => {
                gauge(&mut encoder, "process_open_fds", "Number of open file descriptors.", None, open)?
            }
            Err(why) => tracing::debug!(error = %why, "process metrics: /proc/self/fd is unreadable"),
        }
        match me.limits() {
            Ok(limits) => {
                let fds = limit(limits.max_open_files.soft_limit);
                gauge(
                    &mut encoder,
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    None,
                    fds,
                )?;
                let memory = limit(limits.max_address_space.soft_limit);
                let help = "Maximum amount of virtual memory available in bytes.";
                gauge(&mut encoder, "process_virtual_memory_max", help, Some(&Unit::Bytes), memory)?;
            }
            Err(why) => tracing::debug!(error = %why, "process metrics: /proc/self/limits is unreadable"),
        }
        Ok(())
    }
}

/// Writes one gauge family with one sample.
fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)
}

/// A resource limit as client_golang reports it: `unlimited` is `RLIM_INFINITY` (`u64::MAX`).
fn limit(value: LimitValue) -> u64 {
    match value {
        LimitValue::Value(n) => n,
        LimitValue::Unlimited => u64::MAX,
    }
}
