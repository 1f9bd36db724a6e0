//! `cargo xtask bench dm --host-tasks` (targeting.md 18): what the host
//! task table costs to keep (B2), what one resolution with node intents
//! costs (B5) and how much memory the table takes (B6), on a generated
//! `/proc` of 10,000 processes with two extra threads each in 300 pods.
//! B1, B3, B4 and B7–B9 are not measured yet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use gthulhu_dm_service::{DecisionMaker, NoPodMetadata, ResolveSettings};
use gthulhu_domain::{HostTaskScope, HostTaskTable, Intent, IntentService, NodeIntent, SchedulingService};
use gthulhu_proc_scanner::fixture::{FixtureTree, container_id, pod_uid, systemd_container_path};
use gthulhu_proc_scanner::{HostTable, HostTableConfig, ProcScanner};
use prometheus_client::registry::Registry;

use super::stats::{self, Summary, human};

const PROCESSES: u32 = 10_000;
const PODS: u32 = 300;
const EXTRA_THREADS: u32 = 2;
/// Host daemons and kernel threads besides the pods.
const SYSTEM_PROCESSES: u32 = 2_000;
const NODE_INTENTS: usize = 5;
/// Tasks the five node intents match together.
const NODE_MATCHES: u32 = 50;
/// Targets of targeting.md 18.
const MAX_UPKEEP_FRACTION: f64 = 0.15;
const MAX_RESOLUTION: Duration = Duration::from_millis(10);
const MAX_TABLE_KIB: u64 = 16 * 1024;

pub fn run(iterations: usize) -> anyhow::Result<()> {
    ensure!(iterations >= 1, "need at least one iteration");
    println!(
        "bench dm --host-tasks: generated /proc ({PROCESSES} pod processes with {EXTRA_THREADS} extra threads each \
         in {PODS} pods, {SYSTEM_PROCESSES} system processes; real processes are not used by this bench)"
    );
    let tree = generate();

    println!("\n[1/3] B2: periodic upkeep against one full walk (defaults: a pass every 1 s, every TGID within 10 s)");
    let full = stats::time_with_setup(
        iterations,
        || Ok(table(&tree)),
        |table| {
            table.set_scope(HostTaskScope::Host);
            table.pass()?;
            Ok(table)
        },
    )?;
    let kept = table(&tree);
    kept.set_scope(HostTaskScope::Host);
    kept.pass()?;
    let pass = stats::time(iterations.max(20), || Ok(kept.pass()?))?;
    // One pass per second: the upkeep per second is one pass.
    let fraction = pass.median.as_secs_f64() / full.median.as_secs_f64();
    report("one full walk", &full);
    report("one periodic pass (no change)", &pass);
    verdict(
        &format!("upkeep per second / full walk = {fraction:.3}"),
        fraction <= MAX_UPKEEP_FRACTION,
        &format!("<= {MAX_UPKEEP_FRACTION}"),
    );

    println!(
        "\n[2/3] B5: one resolution, {} threads, {NODE_INTENTS} node intents, {PODS} pod intents",
        threads()
    );
    let dm = decision_maker(&tree, kept.clone())?;
    let resolve = stats::time(iterations.max(20), || {
        dm.resolve();
        Ok(())
    })?;
    let entries = dm.decisions()?.len();
    report(&format!("resolution ({entries} entries)"), &resolve);
    verdict(
        "median resolution",
        resolve.median <= MAX_RESOLUTION,
        &format!("<= {}", human(MAX_RESOLUTION)),
    );

    println!("\n[3/3] B6: memory of the table (this process's RSS with the table on, then off)");
    let on = rss_kib()?;
    kept.set_scope(HostTaskScope::Off);
    kept.pass()?;
    drop(dm);
    let off = rss_kib()?;
    let table_kib = on.saturating_sub(off);
    println!("      RSS with the table {on} KiB, after releasing it {off} KiB");
    verdict(
        &format!("table memory ≈ {table_kib} KiB"),
        table_kib <= MAX_TABLE_KIB,
        &format!("<= {MAX_TABLE_KIB} KiB"),
    );
    Ok(())
}

fn threads() -> u32 {
    PROCESSES * (1 + EXTRA_THREADS) + SYSTEM_PROCESSES
}

fn generate() -> FixtureTree {
    let started = Instant::now();
    let tree = FixtureTree::new();
    for pid in 1..=SYSTEM_PROCESSES {
        if pid % 4 == 0 {
            tree.add_kernel_thread(pid, &format!("kworker/{pid}"), u64::from(pid));
        } else {
            tree.add_process(pid, 1, &format!("svc-{pid}"), u64::from(pid), &["0::/system.slice"]);
        }
    }
    let paths: Vec<String> = (0..PODS)
        .map(|p| systemd_container_path(&pod_uid(p), &container_id(p)))
        .collect();
    let mut tid = SYSTEM_PROCESSES + PROCESSES + 1;
    for i in 0..PROCESSES {
        let pid = SYSTEM_PROCESSES + 1 + i;
        tree.add_pod_process(pid, 1, "sleep", u64::from(pid), &paths[(i % PODS) as usize]);
        for t in 0..EXTRA_THREADS {
            // The first NODE_MATCHES extra threads carry the names the node intents target.
            let comm = if tid - (SYSTEM_PROCESSES + PROCESSES) <= NODE_MATCHES {
                format!("gpu-worker-{}", tid % NODE_INTENTS as u32)
            } else {
                format!("sleep-t{t}")
            };
            tree.add_task(pid, tid, &comm);
            tid += 1;
        }
    }
    println!(
        "      generated in {:.1?} under {}",
        started.elapsed(),
        tree.path().display()
    );
    tree
}

fn table(tree: &FixtureTree) -> Arc<HostTable> {
    HostTable::new(
        HostTableConfig {
            proc_root: tree.proc_root().to_path_buf(),
            ..HostTableConfig::default()
        },
        &mut Registry::default(),
    )
}

fn decision_maker(tree: &FixtureTree, table: Arc<HostTable>) -> anyhow::Result<Arc<DecisionMaker>> {
    let scanner = ProcScanner::new(tree.config(), &mut Registry::default());
    scanner.refresh()?;
    let dm = DecisionMaker::new(
        scanner,
        Arc::new(NoPodMetadata::new("bench: no pod metadata")),
        table.clone(),
        ResolveSettings::default(),
    );
    let intents: Vec<Intent> = (0..PODS)
        .map(|p| Intent {
            pod_name: format!("pod-{p}"),
            pod_id: pod_uid(p),
            node_id: "bench-node".into(),
            k8s_namespace: "bench".into(),
            command_regex: "^sleep$".into(),
            priority: 1,
            execution_time: 20_000_000,
            ..Default::default()
        })
        .collect();
    dm.replace(intents)?;
    let node_intents: Vec<NodeIntent> = (0..NODE_INTENTS)
        .map(|n| NodeIntent {
            policy_id: format!("65f00000000000000000000{n}"),
            node_id: "bench-node".into(),
            command_regex: format!("^gpu-worker-{n}$"),
            priority: 3,
            ..Default::default()
        })
        .collect();
    dm.replace_node_intents(node_intents)?;
    // Turned on by the node intents: one pass publishes the table.
    table.pass()?;
    dm.resolve();
    let entries = dm.decisions()?.len();
    ensure!(
        entries == (PROCESSES + NODE_MATCHES) as usize,
        "resolved {entries} entries, expected {}",
        PROCESSES + NODE_MATCHES
    );
    Ok(dm)
}

fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))
}

fn report(what: &str, s: &Summary) {
    println!(
        "      {what}: median {}, p95 {} ({} runs)",
        human(s.median),
        human(s.p95),
        s.samples
    );
}

fn verdict(what: &str, met: bool, target: &str) {
    println!(
        "      {what} (target {target}): {}",
        if met { "met" } else { "NOT met" }
    );
}
