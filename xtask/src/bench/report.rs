//! The bench's result: printed as a table and written as JSON.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::stats::{Summary, human};

#[derive(Serialize)]
pub struct Report {
    /// `"real"` or `"fixture"`.
    pub mode: &'static str,
    pub processes: usize,
    pub pods: usize,
    /// PIDs a full walk visits (pod and non-pod processes).
    pub pids_walked: usize,
    /// What our index holds (pods anyone else runs on the host included).
    pub index_pods: usize,
    pub index_processes: usize,
    /// Entries both answers list (one per pod process).
    pub entries: usize,
    pub iterations: usize,
    pub measurements: Vec<Measurement>,
    pub targets: Vec<Target>,
    pub dm: DmFigures,
}

#[derive(Serialize)]
pub struct Measurement {
    pub key: &'static str,
    pub label: String,
    /// Median and p95 in µs.
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Serialize)]
pub struct Target {
    pub name: String,
    pub value: f64,
    /// Human form of the goal, e.g. `>= 50`.
    pub goal: String,
    pub pass: bool,
    /// Context for the reader (other ratios).
    pub note: String,
}

#[derive(Serialize)]
pub struct DmFigures {
    pub idle_rss_kib: u64,
    pub polling_peak_rss_kib: u64,
    /// VmRSS once the pollers stopped: what polling left behind.
    pub after_polling_rss_kib: u64,
    /// VmHWM at the end: the peak since start (first index build included).
    pub lifetime_peak_rss_kib: u64,
    pub pollers: usize,
    pub polls: usize,
    pub polling_seconds: f64,
    pub polls_per_second: f64,
}

impl Report {
    pub fn print(&self) {
        println!();
        println!(
            "== bench dm: {} mode, {} pod processes in {} pods, {} PIDs walked, index {} processes in {} pods, \
             {} entries; {} iterations ==",
            self.mode,
            self.processes,
            self.pods,
            self.pids_walked,
            self.index_processes,
            self.index_pods,
            self.entries,
            self.iterations
        );
        let baseline = self.measurements.first().map(|m| m.summary.median);
        println!(
            "{:<62} {:>11} {:>11} {:>11} {:>13}",
            "measurement", "median", "p95", "p99", "speed vs (a)"
        );
        for m in &self.measurements {
            let speed = baseline.map_or(String::new(), |b| {
                format!("{:.1}x", b.as_secs_f64() / m.summary.median.as_secs_f64())
            });
            let (p95, p99) = if m.summary.samples > 1 {
                (human(m.summary.p95), human(m.summary.p99))
            } else {
                ("(1 run)".to_string(), String::new())
            };
            println!(
                "{:<62} {:>11} {p95:>11} {p99:>11} {speed:>13}",
                m.label,
                human(m.summary.median)
            );
        }
        println!();
        println!(
            "{:<44} {:>10} {:>9} {:>6}  note",
            "target (medians)", "value", "goal", "result"
        );
        for t in &self.targets {
            let result = if t.pass { "PASS" } else { "FAIL" };
            println!("{:<44} {:>10.4} {:>9} {result:>6}  {}", t.name, t.value, t.goal, t.note);
        }
        println!();
        let d = &self.dm;
        println!(
            "DM RSS: idle {} | under {} pollers peak {}, after them {} | lifetime peak (VmHWM) {}",
            mib(d.idle_rss_kib),
            d.pollers,
            mib(d.polling_peak_rss_kib),
            mib(d.after_polling_rss_kib),
            mib(d.lifetime_peak_rss_kib)
        );
        println!(
            "DM throughput: {} polls in {:.1} s = {:.0} polls/s ({} concurrent pollers, loopback, full body read)",
            d.polls, d.polling_seconds, d.polls_per_second, d.pollers
        );
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
        Ok(())
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
