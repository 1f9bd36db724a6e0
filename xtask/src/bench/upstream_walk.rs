//! The baseline: what upstream's Decision Maker did on **every** poll
//! (spec 10.1, 10.5), reimplemented faithfully so both sides run in one
//! process on the same tree.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::Path;

use gthulhu_domain::{Intent, SchedulingDecision, Selector};
use gthulhu_proc_scanner::cgroup::parse_cgroup_file;
use regex::Regex;

struct UpstreamProcess {
    pid: u32,
    command: String,
}

/// Walks the whole proc root, groups pod processes by UID, then resolves
/// the intents, compiling each intent's regex once per process as upstream did.
pub fn poll(proc_root: &Path, intents: &[Intent]) -> anyhow::Result<Vec<SchedulingDecision>> {
    let pods = scan(proc_root)?;
    resolve(&pods, intents)
}

/// Reads `cgroup`, `comm` and `stat` of every PID without parsing them:
/// the floor of any full walk. Returns the PIDs visited.
pub fn plain_walk(proc_root: &Path) -> io::Result<usize> {
    let mut visited = 0;
    for name in sorted_pid_dirs(proc_root)? {
        let dir = proc_root.join(&name);
        for file in ["cgroup", "comm", "stat"] {
            // A process that exits mid-walk is simply skipped, as upstream did.
            let _ = fs::read(dir.join(file));
        }
        visited += 1;
    }
    Ok(visited)
}

/// The numeric directories of the proc root in `os.ReadDir` order: sorted
/// by name as strings (`1000` before `2`).
pub fn sorted_pid_dirs(proc_root: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(proc_root)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.parse::<u32>().is_ok())
        .collect();
    names.sort_unstable();
    Ok(names)
}

/// Pod UID → its processes in walk order (spec 10.1 steps 1–5).
fn scan(proc_root: &Path) -> io::Result<HashMap<String, Vec<UpstreamProcess>>> {
    let mut pods: HashMap<String, Vec<UpstreamProcess>> = HashMap::new();
    for name in sorted_pid_dirs(proc_root)? {
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let dir = proc_root.join(&name);
        let Ok(cgroup) = fs::read_to_string(dir.join("cgroup")) else {
            continue;
        };
        let Some(identity) = parse_cgroup_file(&cgroup) else {
            continue;
        };
        let Ok(comm) = fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        // Upstream read the ppid as the 4th whitespace field of `stat`; the
        // value is unused here but the read and split are part of the cost.
        let ppid: u32 = fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|stat| stat.split_whitespace().nth(3)?.parse().ok())
            .unwrap_or(0);
        std::hint::black_box(ppid);
        pods.entry(identity.pod_uid).or_default().push(UpstreamProcess {
            pid,
            command: comm.trim().to_string(),
        });
    }
    Ok(pods)
}

/// Compiles the intent's regex once per process on purpose: upstream did,
/// and that cost is part of what is measured.
fn resolve(
    pods: &HashMap<String, Vec<UpstreamProcess>>,
    intents: &[Intent],
) -> anyhow::Result<Vec<SchedulingDecision>> {
    let mut entries = Vec::new();
    for intent in intents {
        let Some(processes) = pods.get(&intent.pod_id) else {
            continue;
        };
        for process in processes {
            if process.command == "pause" {
                continue;
            }
            if !intent.command_regex.is_empty() && !Regex::new(&intent.command_regex)?.is_match(&process.command) {
                continue;
            }
            entries.push(SchedulingDecision {
                priority: intent.priority,
                execution_time: u64::try_from(intent.execution_time).unwrap_or(0),
                pid: process.pid,
                selectors: selectors(&intent.pod_labels),
                command_regex: intent.command_regex.clone(),
            });
        }
    }
    Ok(entries)
}

fn selectors(labels: &BTreeMap<String, String>) -> Vec<Selector> {
    labels
        .iter()
        .map(|(key, value)| Selector {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}
