//! Resolution: 100 strategies against 150,000 pods in the Manager's slim
//! `PodCache`, through the code the reconciler runs: `PodCache::query` per
//! strategy (a full recompute), the reconciler's full pass over the embedded
//! redb store, and its `apply_events` for one relabelled pod: the intents
//! recomputed and stored, and the node's push queued.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerAdapter, DecisionMakerEndpoint, DmClientError, K8sAdapter, K8sError, NodeInfo,
    ObjectId, PodEvent, PodInfo, Repository, ScheduleStrategy, StrategySpec,
};
use gthulhu_domain::{DeleteIntents, Intent, Selector};
use gthulhu_k8s_adapter::{PodCache, SlimPod};
use gthulhu_manager_service::{
    DeliverySettings, NodePusher, NodeStatusBoard, PassOutcome, Reconciler, ReconcilerSettings, RuntimeConfigs,
};
use gthulhu_store_redb::RedbRepository;
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

use super::{ManagerArgs, Row, human, percentile};
use crate::bench::interrupt;

const PART: &str = "resolution";
const FULL_RECOMPUTE_GOAL: Duration = Duration::from_secs(1);
const EVENT_GOAL: Duration = Duration::from_millis(1);

/// Tiers, teams and app names the pods' labels are drawn from.
const TIERS: [&str; 4] = ["web", "api", "batch", "db"];
const TEAMS: usize = 25;
const APPS: usize = 300;

/// A deterministic scramble of the pod index (splitmix64), so labels do not
/// follow the namespace or node.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Pod `i` of the bench cluster: on node `i % nodes`, in namespace
/// `i % namespaces`, with four or five labels of a Deployment's pod.
pub fn pod(i: usize, nodes: usize, namespaces: usize) -> PodInfo {
    let h = mix(i as u64);
    let app = (h % APPS as u64) as usize;
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), format!("app-{app}"));
    labels.insert("tier".to_string(), TIERS[((h >> 16) % 4) as usize].to_string());
    labels.insert("team".to_string(), format!("team-{}", (h >> 24) % TEAMS as u64));
    labels.insert(
        "pod-template-hash".to_string(),
        format!("{:010x}", (h >> 8) & 0xff_ffff_ffff),
    );
    if (h >> 40).is_multiple_of(10) {
        labels.insert("gthulhu.io/latency-sensitive".to_string(), "true".to_string());
    }
    PodInfo {
        uid: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            i,
            h & 0xffff,
            (h >> 16) & 0xfff,
            (h >> 28) & 0xfff,
            h >> 16
        ),
        name: format!("app-{app}-{:05x}-{i}", (h >> 8) & 0xfffff),
        namespace: format!("ns-{}", i % namespaces),
        labels,
        node_name: format!("node-{}", i % nodes),
        phase: "Running".to_string(),
    }
}

fn sel(key: &str, value: impl Into<String>) -> Selector {
    Selector {
        key: key.to_string(),
        value: value.into(),
    }
}

/// Strategy `s`: a mix of what users write (one namespace and an app, an
/// app across namespaces, a team in a few namespaces, a tier in one
/// namespace) plus two broad ones (a label that only has to exist, and a
/// tier cluster-wide).
fn strategy(s: usize, namespaces: usize) -> ScheduleStrategy {
    let ns = |k: usize| format!("ns-{}", k % namespaces);
    let (k8s_namespaces, label_selectors) = match s {
        3 => (vec![], vec![sel("gthulhu.io/latency-sensitive", "")]),
        7 => (vec![], vec![sel("tier", "web")]),
        _ => match s % 4 {
            0 => (vec![ns(s)], vec![sel("app", format!("app-{}", (s * 7) % APPS))]),
            1 => (
                vec![],
                vec![
                    sel("app", format!("app-{}", (s * 13) % APPS)),
                    sel("tier", TIERS[s % 4]),
                ],
            ),
            2 => (
                vec![ns(s), ns(s + 1), ns(s + 2)],
                vec![sel("team", format!("team-{}", s % TEAMS))],
            ),
            _ => (vec![ns(s * 3)], vec![sel("tier", TIERS[(s / 4) % 4])]),
        },
    };
    ScheduleStrategy {
        id: ObjectId::new(),
        spec: StrategySpec {
            strategy_namespace: "default".to_string(),
            label_selectors,
            k8s_namespaces,
            command_regex: ".*".to_string(),
            priority: (s % 20) as i64,
            execution_time: 20_000_000,
        },
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        created_time: 1,
        updated_time: 1,
    }
}

/// The cluster port over a synced `PodCache`, as `KubeAdapter` answers it
/// (without the watch feeding it).
struct CacheCluster {
    cache: PodCache,
}

#[async_trait]
impl K8sAdapter for CacheCluster {
    async fn query_pods(&self, namespaces: &[String], selectors: &[Selector]) -> Result<Vec<PodInfo>, K8sError> {
        Ok(self.cache.query(namespaces, selectors))
    }

    async fn get_pod(&self, uid: &str) -> Result<Option<PodInfo>, K8sError> {
        Ok(self.cache.get(uid))
    }

    async fn list_decision_makers(&self) -> Result<Vec<DecisionMakerEndpoint>, K8sError> {
        Ok(self.cache.decision_makers())
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, K8sError> {
        Ok(vec![])
    }

    fn status(&self) -> ClusterStatus {
        ClusterStatus::Ready
    }

    fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        self.cache.subscribe()
    }
}

/// Decision Makers that accept everything (none are listed anyway: the
/// resolution figures leave delivery out).
struct NoDecisionMakers;

#[async_trait]
impl DecisionMakerAdapter for NoDecisionMakers {
    async fn push_intents(&self, _: &DecisionMakerEndpoint, _: &[Intent]) -> Result<(), DmClientError> {
        Ok(())
    }

    async fn delete_intents(&self, _: &DecisionMakerEndpoint, _: &DeleteIntents) -> Result<(), DmClientError> {
        Ok(())
    }

    async fn merkle_root(&self, _: &DecisionMakerEndpoint) -> Result<String, DmClientError> {
        Ok(gthulhu_domain::merkle::root(&[] as &[Intent]))
    }

    async fn pods_pids(&self, _: &DecisionMakerEndpoint) -> Result<serde_json::Value, DmClientError> {
        Ok(serde_json::Value::Null)
    }

    async fn apply_runtime_config(
        &self,
        _: &DecisionMakerEndpoint,
        _: &gthulhu_domain::runtime_config::RuntimeSchedulerConfig,
    ) -> Result<(), DmClientError> {
        Ok(())
    }

    async fn runtime_config(
        &self,
        _: &DecisionMakerEndpoint,
    ) -> Result<gthulhu_domain::runtime_config::RuntimeStatus, DmClientError> {
        Ok(Default::default())
    }
}

fn completed(outcome: PassOutcome, what: &str) -> anyhow::Result<gthulhu_manager_service::PassReport> {
    match outcome {
        PassOutcome::Completed(report) => Ok(report),
        other => anyhow::bail!("{what}: {other:?}"),
    }
}

pub fn run(args: &ManagerArgs, runtime: &Runtime) -> anyhow::Result<Vec<Row>> {
    let (n_pods, n_strategies) = (args.pods, args.strategies);
    println!(
        "\n== resolution: {n_strategies} strategies against {n_pods} pods on {} nodes in {} namespaces ==",
        args.nodes, args.namespaces
    );
    let started = Instant::now();
    let cache = PodCache::default();
    cache.replace_all(
        (0..n_pods)
            .map(|i| SlimPod {
                info: pod(i, args.nodes, args.namespaces),
                dm: None,
            })
            .collect(),
    );
    let strategies: Vec<ScheduleStrategy> = (0..n_strategies).map(|s| strategy(s, args.namespaces)).collect();
    println!("cache built in {}", human(started.elapsed()));
    let mut rows = Vec::new();

    // (a) Full recompute: every strategy's query, as refresh_all runs them.
    let mut samples = Vec::with_capacity(args.iterations);
    let mut matched = 0;
    for _ in 0..args.iterations.max(1) {
        interrupt::check()?;
        let t = Instant::now();
        matched = 0;
        for s in &strategies {
            let pods = cache.query(&s.spec.k8s_namespaces, &s.spec.label_selectors);
            matched += std::hint::black_box(pods).len();
        }
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let median = percentile(&samples, 0.5);
    rows.push(Row::goal(
        PART,
        format!("full recompute: {n_strategies} PodCache::query ({matched} matches), median"),
        human(median),
        "< 1 s",
        median < FULL_RECOMPUTE_GOAL,
    ));
    rows.push(Row::info(
        PART,
        format!("full recompute: max of {} runs", samples.len()),
        human(*samples.last().unwrap_or(&Duration::ZERO)),
    ));

    // The reconciler itself, over redb in a temporary directory.
    let dir = tempfile::tempdir()?;
    let repo = Arc::new(RedbRepository::open(&dir.path().join("manager.redb"))?);
    let cluster = Arc::new(CacheCluster { cache });
    let dms: Arc<dyn DecisionMakerAdapter> = Arc::new(NoDecisionMakers);
    let board = Arc::new(NodeStatusBoard::default());
    let pusher = Arc::new(NodePusher::new(
        repo.clone(),
        cluster.clone(),
        dms.clone(),
        board.clone(),
        DeliverySettings::default(),
    ));
    // No desired runtime configs are stored: step 3 reads an empty list.
    let runtime_configs = Arc::new(RuntimeConfigs::new(
        repo.clone(),
        cluster.clone(),
        dms.clone(),
        board.clone(),
        64,
    ));
    let reconciler = Reconciler::new(
        repo.clone(),
        cluster.clone(),
        dms,
        pusher,
        board,
        runtime_configs,
        ReconcilerSettings::default(),
    );
    runtime.block_on(async {
        for s in &strategies {
            repo.insert_strategy(s, &[]).await?;
        }
        anyhow::Ok(())
    })?;
    let t = Instant::now();
    let first = completed(runtime.block_on(reconciler.run_pass()), "first pass")?;
    let cold = t.elapsed();
    rows.push(Row::info(
        PART,
        format!("reconciler first pass (stores {} intents in redb)", first.inserted),
        human(cold),
    ));
    let mut samples = Vec::new();
    for _ in 0..3 {
        interrupt::check()?;
        let t = Instant::now();
        let report = completed(runtime.block_on(reconciler.run_pass()), "steady pass")?;
        samples.push(t.elapsed());
        anyhow::ensure!(
            report.inserted + report.updated + report.deleted == 0,
            "a pass over unchanged pods changed intents: {report:?}"
        );
    }
    samples.sort_unstable();
    let steady = percentile(&samples, 0.5);
    rows.push(Row::goal(
        PART,
        "reconciler full pass step 1, nothing changed (redb), median of 3",
        human(steady),
        "< 1 s",
        steady < FULL_RECOMPUTE_GOAL,
    ));

    // (b) One pod event: a relabel that moves the pod between strategies.
    let mut samples = Vec::with_capacity(args.events);
    let mut match_samples = Vec::with_capacity(args.events);
    let mut push_samples = Vec::with_capacity(args.events);
    let (mut changed, mut checks) = (0usize, 0usize);
    for e in 0..args.events {
        interrupt::check()?;
        let i = (mix(e as u64 + 1_000_003) % n_pods as u64) as usize;
        let Some(previous) = cluster.cache.get(&pod(i, args.nodes, args.namespaces).uid) else {
            anyhow::bail!("pod {i} is not in the cache");
        };
        let mut current = previous.clone();
        let app = format!("app-{}", (mix(e as u64) % APPS as u64) as usize);
        current.labels.insert("app".to_string(), app);
        current.labels.insert("tier".to_string(), TIERS[e % 4].to_string());
        cluster.cache.apply(SlimPod {
            info: current.clone(),
            dm: None,
        });
        // Pure matching: what the event path evaluates per strategy.
        let t = Instant::now();
        let selecting = strategies
            .iter()
            .filter(|s| {
                let pod = std::hint::black_box(&current);
                pod.is_schedulable() && pod.matches(&s.spec.k8s_namespaces, &s.spec.label_selectors)
            })
            .count();
        match_samples.push(t.elapsed());
        checks += selecting;
        let event = PodEvent::Applied {
            previous: Some(previous),
            current,
        };
        let t = Instant::now();
        let report = runtime.block_on(async {
            let report = reconciler.apply_events(vec![event]).await;
            samples.push(t.elapsed());
            // Not part of the figure: the pushes run in the background, but
            // must not overlap the next sample.
            reconciler.pushes_drained().await;
            push_samples.push(t.elapsed());
            completed(report, "pod event")
        })?;
        changed += report.inserted + report.updated + report.deleted;
    }
    samples.sort_unstable();
    push_samples.sort_unstable();
    match_samples.sort_unstable();
    let (median, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    rows.push(Row::goal(
        PART,
        format!(
            "one pod event: Reconciler::apply_events (redb), median of {}",
            samples.len()
        ),
        human(median),
        "< 1 ms",
        median < EVENT_GOAL,
    ));
    rows.push(Row::goal(
        PART,
        format!("one pod event: Reconciler::apply_events (redb), p99 ({changed} intent writes)"),
        human(p99),
        "< 1 ms",
        p99 < EVENT_GOAL,
    ));
    rows.push(Row::info(
        PART,
        "one pod event through its node's push (no DM listening), median",
        human(percentile(&push_samples, 0.5)),
    ));
    rows.push(Row::info(
        PART,
        format!("one pod event: matching against {n_strategies} strategies only, median ({checks} hits)"),
        human(percentile(&match_samples, 0.5)),
    ));
    rows.push(Row::info(
        PART,
        "one pod event: matching only, p99",
        human(percentile(&match_samples, 0.99)),
    ));
    Ok(rows)
}
