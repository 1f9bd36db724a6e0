//! THROWAWAY: timing experiment, deleted after measuring.
#![allow(clippy::regex_creation_in_loops)]
use std::time::{Duration, Instant};

use gthulhu_proc_scanner::{ProcScanner, ScannerConfig};
use prometheus_client::registry::Registry;

fn main() {
    let scanner = ProcScanner::new(ScannerConfig::default(), &mut Registry::default());
    let t = Instant::now();
    let first = scanner.refresh().unwrap();
    println!(
        "first refresh: {:?} pods={} procs={} mode={:?}",
        t.elapsed(),
        first.pods,
        first.processes,
        first.mode
    );
    let mut times = Vec::new();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(20));
        let t = Instant::now();
        let o = scanner.refresh().unwrap();
        times.push(t.elapsed());
        assert!(!o.changed);
    }
    times.sort();
    println!(
        "no-change refresh: min {:?} median {:?} max {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );

    if std::env::var_os("LONG").is_some() {
        std::thread::sleep(Duration::from_secs(31));
        let mut all = Vec::new();
        for i in 0..75 {
            let t = Instant::now();
            let o = scanner.refresh().unwrap();
            let e = t.elapsed();
            assert!(!o.changed);
            all.push(e);
            if i % 5 == 4 {
                let mut w = all[i - 4..=i].to_vec();
                w.sort();
                println!(
                    "t+{:>2}s after YOUNG: last 5 refreshes min {:?} median {:?} max {:?}",
                    i + 1,
                    w[0],
                    w[2],
                    w[4]
                );
            }
            std::thread::sleep(Duration::from_secs(1).saturating_sub(e));
        }
        let mut steady = all[1..].to_vec();
        steady.sort();
        println!(
            "after YOUNG (excluding the first, full re-read): median {:?} p90 {:?} max {:?}",
            steady[steady.len() / 2],
            steady[steady.len() * 9 / 10],
            steady[steady.len() - 1]
        );
    }

    // Upstream-style full walk: cgroup, comm, stat for every PID, regex compiled per process.
    let mut walks = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut n = 0;
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let p = e.path();
            let _ = std::fs::read_to_string(p.join("cgroup"));
            let _ = std::fs::read_to_string(p.join("comm"));
            let _ = std::fs::read_to_string(p.join("stat"));
            let _ = regex::Regex::new(
                "pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})",
            );
            n += 1;
        }
        walks.push((t.elapsed(), n));
    }
    walks.sort();
    println!(
        "upstream-style full /proc walk: min {:?} median {:?} ({} pids)",
        walks[0].0, walks[2].0, walks[2].1
    );
}
