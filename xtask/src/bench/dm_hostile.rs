//! `cargo xtask bench dm-hostile`: the real release DM under the hostile
//! intent body of the issue 9 security report (3,000 intents whose
//! `commandRegex` is like `\w{20}N`, which took the DM from 11 MB to 3.4 GB
//! and stalled `/health` for up to 19 s before `comm_regex`'s limits), posted
//! again and again as the Manager's pushes would, while `/health` is probed
//! every few milliseconds. Runs over a generated `/proc` and cgroup tree, so
//! it needs no root.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;
use gthulhu_domain::comm_regex::MAX_DISTINCT_PER_SET;
use serde::Serialize;
use serde_json::json;
use tokio::time::MissedTickBehavior;

use super::dm::build_dm_binary;
use super::dm_server::DmServer;
use super::report::Target;
use super::stats::{human, percentile};
use super::workload::{self, Shape};
use super::{interrupt, target_dir};

#[derive(Debug, Args)]
pub struct DmHostileArgs {
    /// Intents in each hostile body.
    #[arg(long, default_value_t = 3_000)]
    intents: usize,
    /// Times each body is posted (the Manager pushes a node's full set again and again).
    #[arg(long, default_value_t = 20)]
    posts: usize,
    /// Pods of the generated tree (the intents' podIDs go round-robin over them).
    #[arg(long, default_value_t = 50)]
    pods: usize,
    /// Pod processes of the generated tree.
    #[arg(long, default_value_t = 500)]
    processes: usize,
    /// Gap between the starts of two `/health` requests, ms.
    #[arg(long, default_value_t = 2)]
    health_interval_ms: u64,
    /// How long `/health` is probed with no posts, for the baseline.
    #[arg(long, default_value_t = 2_000)]
    idle_ms: u64,
}

/// The report's pattern: 20 word characters then `N`. A `comm` has at most
/// 15 bytes, so it never matches anything; it only costs the DM.
const HOSTILE_PATTERN: &str = r"\w{20}N";
/// Targets while the bodies are applied.
const MAX_RSS_KIB: u64 = 64 * 1024;
const MAX_HEALTH_P99: Duration = Duration::from_millis(10);

/// One hostile body.
struct Scenario {
    key: &'static str,
    label: String,
    /// Pattern sets as (first suffix, distinct patterns); the bodies are
    /// posted in turn, so with two disjoint sets every post changes them all.
    sets: Vec<(usize, usize)>,
    /// The status every post should get.
    expected_status: u16,
    /// Text the reply must contain (the refused limit), if any.
    expected_reply: Option<String>,
}

#[derive(Serialize)]
struct Report {
    mode: &'static str,
    processes: usize,
    pods: usize,
    intents_per_body: usize,
    posts_per_scenario: usize,
    health_interval_ms: u64,
    idle_rss_kib: u64,
    /// VmHWM before the first scenario: start-up and first index build.
    startup_peak_rss_kib: u64,
    idle_health: Health,
    scenarios: Vec<ScenarioFigures>,
    targets: Vec<Target>,
}

#[derive(Serialize)]
struct ScenarioFigures {
    key: &'static str,
    label: String,
    /// Distinct patterns in each body.
    distinct_patterns: usize,
    /// Bodies posted in turn (2: every post replaces every pattern).
    bodies: usize,
    body_bytes: usize,
    expected_status: u16,
    /// HTTP status → number of posts that got it.
    statuses: BTreeMap<u16, usize>,
    /// The first reply that was not a plain success, shortened.
    first_refusal: Option<String>,
    replies_as_expected: bool,
    /// The first post: the one that compiles the patterns (A, B).
    first_post_us: f64,
    post_median_us: f64,
    post_p99_us: f64,
    post_max_us: f64,
    health: Health,
    /// VmRSS right after the last post was answered.
    rss_after_kib: u64,
    /// VmHWM since the scenario started (reset through clear_refs), or the
    /// lifetime VmHWM where the reset was refused.
    peak_rss_kib: u64,
    peak_is_lifetime: bool,
}

/// `/health` as seen by one sequential, kept-alive client.
#[derive(Clone, Serialize)]
struct Health {
    requests: usize,
    /// Non-200 answers and transport errors.
    failures: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    /// Requests slower than the p99 target...
    over_target: usize,
    /// ...and how many of them overlapped a post.
    over_target_during_post: usize,
}

pub fn run(args: DmHostileArgs) -> anyhow::Result<()> {
    ensure!(
        args.pods >= 1 && args.processes >= args.pods,
        "need at least one process per pod"
    );
    ensure!(
        args.intents >= 1 && args.posts >= 1,
        "need at least one intent and one post"
    );
    ensure!(args.health_interval_ms >= 1, "the /health interval is at least 1 ms");
    print_header(&args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    interrupt::install(&runtime)?;
    let dm_binary = build_dm_binary()?;
    let out_dir = target_dir().join("bench");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let shape = Shape {
        processes: args.processes,
        pods: args.pods,
    };
    // Always the generated tree: no root needed, and the scan is not what is measured.
    let workload = workload::create(shape, true)?;
    let pod_uids = workload.pod_uids();
    let server_log = out_dir.join("dm-hostile-server.log");
    let all = scenarios(args.intents);

    let report = runtime.block_on(async {
        let server = DmServer::start(&dm_binary, workload.proc_root(), workload.cgroup_root(), &server_log).await?;
        // Let the first index build finish before "idle" is read.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let idle_rss_kib = server.rss_kib()?;
        let startup_peak_rss_kib = server.peak_rss_kib()?;
        println!(
            "\n[1/{}] idle: VmRSS {}, VmHWM {}; /health alone for {} ms",
            all.len() + 1,
            mib(idle_rss_kib),
            mib(startup_peak_rss_kib),
            args.idle_ms
        );
        let probe = HealthProbe::start(server.base_url(), args.health_interval_ms)?;
        tokio::time::sleep(Duration::from_millis(args.idle_ms)).await;
        let idle_health = probe.finish(&[]).await?;
        println!("      {}", idle_health.line());

        let mut figures = Vec::new();
        for (n, scenario) in all.iter().enumerate() {
            interrupt::check()?;
            println!("\n[{}/{}] {}: {}", n + 2, all.len() + 1, scenario.key, scenario.label);
            figures.push(run_scenario(&server, scenario, &pod_uids, &args).await?);
        }
        let targets = targets(&figures);
        anyhow::Ok(Report {
            mode: workload.kind(),
            processes: args.processes,
            pods: args.pods,
            intents_per_body: args.intents,
            posts_per_scenario: args.posts,
            health_interval_ms: args.health_interval_ms,
            idle_rss_kib,
            startup_peak_rss_kib,
            idle_health,
            scenarios: figures,
            targets,
        })
    })?;
    report.print();
    write_json(&report, &out_dir.join("dm-hostile.json"))?;
    drop(workload);
    Ok(())
}

fn print_header(args: &DmHostileArgs) {
    println!(
        "== cargo xtask bench dm-hostile: {} intents per body, each body posted {} times, /health every {} ms ==",
        args.intents, args.posts, args.health_interval_ms
    );
    println!(
        "the release gthulhu-decisionmaker over a generated tree of {} pod processes in {} pods; \
         the intents' podIDs go round-robin over those pods",
        args.processes, args.pods
    );
    println!(
        "targets while the bodies are applied: DM RSS (VmRSS after, VmHWM during) < {}, /health p99 < {}\n",
        mib(MAX_RSS_KIB),
        human(MAX_HEALTH_P99)
    );
}

/// A: the report's body; B: as many distinct patterns as a set may hold;
/// C: one distinct pattern per intent, which the DM must refuse; D: two
/// disjoint sets of B's size in turn, so no post can reuse a compiled
/// pattern (what an attacker who varies the body gets, beyond the report).
fn scenarios(intents: usize) -> Vec<Scenario> {
    let b = MAX_DISTINCT_PER_SET.min(intents);
    let refused = intents > MAX_DISTINCT_PER_SET;
    vec![
        Scenario {
            key: "A",
            label: format!("{intents} intents, all commandRegex = {HOSTILE_PATTERN}"),
            sets: vec![(0, 1)],
            expected_status: 200,
            expected_reply: None,
        },
        Scenario {
            key: "B",
            label: format!(
                r"{intents} intents over {b} distinct patterns \w{{20}}N0 … \w{{20}}N{}",
                b - 1
            ),
            sets: vec![(0, b)],
            expected_status: 200,
            expected_reply: None,
        },
        Scenario {
            key: "C",
            label: format!(
                r"{intents} intents, {intents} distinct patterns \w{{20}}N0 … \w{{20}}N{} (limit {MAX_DISTINCT_PER_SET})",
                intents - 1
            ),
            sets: vec![(0, intents)],
            expected_status: if refused { 422 } else { 200 },
            expected_reply: refused.then(|| format!("at most {MAX_DISTINCT_PER_SET} distinct commandRegex values")),
        },
        Scenario {
            key: "D",
            label: format!(
                r"B alternating with a disjoint set (\w{{20}}N{b} … \w{{20}}N{}): every post compiles {b} patterns",
                2 * b - 1
            ),
            sets: vec![(b, b), (0, b)],
            expected_status: 200,
            expected_reply: None,
        },
    ]
}

/// `{"intents":[{"podID":…,"commandRegex":…},…]}`: only what the attack
/// needs, as in the report (≈150 KB for 3,000 intents). One distinct
/// pattern is the report's own; more are it with suffixes from `first`.
fn body(intents: usize, (first, distinct): (usize, usize), pod_uids: &[String]) -> anyhow::Result<Vec<u8>> {
    let intents: Vec<_> = (0..intents)
        .map(|i| {
            let pattern = if distinct <= 1 {
                HOSTILE_PATTERN.to_string()
            } else {
                format!("{HOSTILE_PATTERN}{}", first + i % distinct)
            };
            json!({ "podID": pod_uids[i % pod_uids.len()], "commandRegex": pattern })
        })
        .collect();
    Ok(serde_json::to_vec(&json!({ "intents": intents }))?)
}

async fn run_scenario(
    server: &DmServer,
    scenario: &Scenario,
    pod_uids: &[String],
    args: &DmHostileArgs,
) -> anyhow::Result<ScenarioFigures> {
    let bodies = scenario
        .sets
        .iter()
        .map(|&set| body(args.intents, set, pod_uids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let peak_is_lifetime = match server.reset_peak_rss() {
        Ok(()) => false,
        Err(e) => {
            println!("      cannot reset VmHWM ({e:#}); the peak below is the lifetime one");
            true
        }
    };
    println!(
        "      body {:.1} KB; {} posts{} while /health is probed",
        bodies[0].len() as f64 / 1e3,
        args.posts,
        if bodies.len() > 1 { ", the bodies in turn" } else { "" }
    );
    let probe = HealthProbe::start(server.base_url(), args.health_interval_ms)?;
    let mut statuses = BTreeMap::new();
    let mut first_refusal = None;
    let mut replies_as_expected = true;
    let mut posts = Vec::with_capacity(args.posts);
    for n in 0..args.posts {
        interrupt::check()?;
        let body = bodies[n % bodies.len()].clone();
        let started = Instant::now();
        let (status, reply) = server.post_intents_body(body).await?;
        posts.push(Span {
            start: started - probe.epoch,
            took: started.elapsed(),
        });
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
        let reply_ok = scenario
            .expected_reply
            .as_ref()
            .is_none_or(|text| reply.contains(text.as_str()));
        replies_as_expected &= status.as_u16() == scenario.expected_status && reply_ok;
        if !status.is_success() && first_refusal.is_none() {
            first_refusal = Some(reply.trim().chars().take(300).collect());
        }
    }
    let rss_after_kib = server.rss_kib()?;
    let peak_rss_kib = server.peak_rss_kib()?;
    let health = probe.finish(&posts).await?;
    let first_post_us = micros(posts[0].took);
    let mut took: Vec<Duration> = posts.iter().map(|p| p.took).collect();
    took.sort_unstable();
    let figures = ScenarioFigures {
        key: scenario.key,
        label: scenario.label.clone(),
        distinct_patterns: scenario.sets[0].1,
        bodies: bodies.len(),
        body_bytes: bodies[0].len(),
        expected_status: scenario.expected_status,
        statuses,
        first_refusal,
        replies_as_expected,
        first_post_us,
        post_median_us: micros(percentile(&took, 0.5)),
        post_p99_us: micros(percentile(&took, 0.99)),
        post_max_us: micros(percentile(&took, 1.0)),
        health,
        rss_after_kib,
        peak_rss_kib,
        peak_is_lifetime,
    };
    println!(
        "      HTTP {}; post first {} median {} p99 {}; VmRSS after {}, VmHWM {}",
        statuses_line(&figures.statuses),
        human_us(figures.first_post_us),
        human_us(figures.post_median_us),
        human_us(figures.post_p99_us),
        mib(rss_after_kib),
        mib(peak_rss_kib)
    );
    if let Some(reply) = &figures.first_refusal {
        println!("      reply: {reply}");
    }
    println!("      {}", figures.health.line());
    Ok(figures)
}

/// One request: when it started (from the probe's epoch) and how long it took.
#[derive(Clone, Copy)]
struct Span {
    start: Duration,
    took: Duration,
}

impl Span {
    fn overlaps(&self, other: &Span) -> bool {
        self.start < other.start + other.took && other.start < self.start + self.took
    }
}

/// A task that GETs `/health` on its own kept-alive client, a new request
/// every `interval` (or at once when the previous one took longer), and
/// records each latency. A stall shows as one long request, not as many.
struct HealthProbe {
    epoch: Instant,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<(Vec<Span>, usize)>>,
}

impl HealthProbe {
    fn start(base: &str, interval_ms: u64) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1)
            .build()?;
        let url = format!("{base}/health");
        let epoch = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(interval_ms));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut spans = Vec::new();
            let mut failures = 0;
            while !stopped.load(Ordering::Relaxed) && !interrupt::interrupted() {
                ticks.tick().await;
                let started = Instant::now();
                let ok = match client.get(&url).send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                spans.push(Span {
                    start: started - epoch,
                    took: started.elapsed(),
                });
                failures += usize::from(!ok);
            }
            anyhow::Ok((spans, failures))
        });
        Ok(Self { epoch, stop, task })
    }

    /// Stops the probe; `posts` (from the same epoch) tell which slow requests overlapped one.
    async fn finish(self, posts: &[Span]) -> anyhow::Result<Health> {
        self.stop.store(true, Ordering::Relaxed);
        let (spans, failures) = self.task.await??;
        interrupt::check()?;
        ensure!(!spans.is_empty(), "no /health request completed");
        let slow: Vec<&Span> = spans.iter().filter(|s| s.took >= MAX_HEALTH_P99).collect();
        let over_target_during_post = slow.iter().filter(|s| posts.iter().any(|p| s.overlaps(p))).count();
        let mut took: Vec<Duration> = spans.iter().map(|s| s.took).collect();
        took.sort_unstable();
        Ok(Health {
            requests: took.len(),
            failures,
            p50_us: micros(percentile(&took, 0.5)),
            p99_us: micros(percentile(&took, 0.99)),
            max_us: micros(percentile(&took, 1.0)),
            over_target: slow.len(),
            over_target_during_post,
        })
    }
}

impl Health {
    fn line(&self) -> String {
        format!(
            "/health: {} requests, {} failed; p50 {} p99 {} max {}; {} took >= {} ({} of them during a post)",
            self.requests,
            self.failures,
            human_us(self.p50_us),
            human_us(self.p99_us),
            human_us(self.max_us),
            self.over_target,
            human(MAX_HEALTH_P99),
            self.over_target_during_post
        )
    }
}

fn targets(scenarios: &[ScenarioFigures]) -> Vec<Target> {
    let mut targets = Vec::new();
    for s in scenarios {
        let peak = s.peak_rss_kib.max(s.rss_after_kib);
        targets.push(Target {
            name: format!("{}: posts answered as expected", s.key),
            value: s.statuses.get(&s.expected_status).copied().unwrap_or(0) as f64,
            goal: format!("{}×{}", s.expected_status, s.statuses.values().sum::<usize>()),
            pass: s.replies_as_expected,
            note: format!("got {}", statuses_line(&s.statuses)),
        });
        targets.push(Target {
            name: format!("{}: DM peak RSS, MiB", s.key),
            value: peak as f64 / 1024.0,
            goal: format!("< {}", MAX_RSS_KIB / 1024),
            pass: peak < MAX_RSS_KIB,
            note: format!(
                "VmHWM {}{}; VmRSS after {}",
                mib(s.peak_rss_kib),
                if s.peak_is_lifetime { " (lifetime)" } else { "" },
                mib(s.rss_after_kib)
            ),
        });
        targets.push(Target {
            name: format!("{}: /health p99, ms", s.key),
            value: s.health.p99_us / 1e3,
            goal: format!("< {}", MAX_HEALTH_P99.as_millis()),
            pass: s.health.p99_us < micros(MAX_HEALTH_P99) && s.health.failures == 0,
            note: format!(
                "max {}; {} requests, {} failed",
                human_us(s.health.max_us),
                s.health.requests,
                s.health.failures
            ),
        });
    }
    targets
}

impl Report {
    fn print(&self) {
        println!();
        println!(
            "== bench dm-hostile: {} mode, {} pod processes in {} pods; {} intents per body, {} posts each; \
             /health every {} ms ==",
            self.mode,
            self.processes,
            self.pods,
            self.intents_per_body,
            self.posts_per_scenario,
            self.health_interval_ms
        );
        println!(
            "idle: VmRSS {}, VmHWM after start-up {}; {}",
            mib(self.idle_rss_kib),
            mib(self.startup_peak_rss_kib),
            self.idle_health.line()
        );
        println!(
            "{:<3} {:>9} {:>9} {:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "",
            "patterns",
            "body",
            "HTTP",
            "post 1st",
            "post p50",
            "post p99",
            "health p50",
            "health p99",
            "health max",
            "RSS after",
            "RSS peak"
        );
        for s in &self.scenarios {
            println!(
                "{:<3} {:>9} {:>9} {:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                s.key,
                if s.bodies > 1 {
                    format!("{}×{}", s.bodies, s.distinct_patterns)
                } else {
                    s.distinct_patterns.to_string()
                },
                format!("{:.0} KB", s.body_bytes as f64 / 1e3),
                statuses_line(&s.statuses),
                human_us(s.first_post_us),
                human_us(s.post_median_us),
                human_us(s.post_p99_us),
                human_us(s.health.p50_us),
                human_us(s.health.p99_us),
                human_us(s.health.max_us),
                mib(s.rss_after_kib),
                mib(s.peak_rss_kib)
            );
        }
        println!();
        println!("{:<36} {:>10} {:>9} {:>6}  note", "target", "value", "goal", "result");
        for t in &self.targets {
            let result = if t.pass { "PASS" } else { "FAIL" };
            println!("{:<36} {:>10.2} {:>9} {result:>6}  {}", t.name, t.value, t.goal, t.note);
        }
    }
}

fn write_json(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn statuses_line(statuses: &BTreeMap<u16, usize>) -> String {
    statuses
        .iter()
        .map(|(status, n)| format!("{status}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn human_us(us: f64) -> String {
    human(Duration::from_secs_f64(us / 1e6))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn patterns(body: &[u8]) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        value["intents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["commandRegex"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn bodies_hold_the_scenarios_patterns() {
        let uids = vec!["u0".to_string(), "u1".to_string()];
        let all = scenarios(3_000);
        let distinct = |set| {
            patterns(&body(3_000, set, &uids).unwrap())
                .into_iter()
                .collect::<HashSet<_>>()
        };
        assert_eq!(distinct(all[0].sets[0]), HashSet::from([HOSTILE_PATTERN.to_string()]));
        assert_eq!(distinct(all[1].sets[0]).len(), MAX_DISTINCT_PER_SET);
        assert_eq!((distinct(all[2].sets[0]).len(), all[2].expected_status), (3_000, 422));
        let (first, second) = (distinct(all[3].sets[0]), distinct(all[3].sets[1]));
        assert!(first.is_disjoint(&second) && first.len() == MAX_DISTINCT_PER_SET);
    }

    #[test]
    fn spans_overlap_only_when_they_share_time() {
        let span = |start, took| Span {
            start: Duration::from_millis(start),
            took: Duration::from_millis(took),
        };
        assert!(span(0, 10).overlaps(&span(5, 10)));
        assert!(span(5, 1).overlaps(&span(0, 10)));
        assert!(!span(0, 10).overlaps(&span(10, 5)));
    }
}
