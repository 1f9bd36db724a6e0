//! The cluster adapter while no cluster can be reached yet (manager.md
//! 15.2: no kubeconfig yet, no service account token, ...): the Manager
//! serves its API, `/ready` says what failed, and the connection is retried
//! with backoff. Until then it answers as [`NoCluster`](crate::NoCluster)
//! does; once connected it delegates every call to the real adapter.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerEndpoint, K8sAdapter, K8sError, NodeInfo, PodEvent, PodInfo,
};
use rand::Rng;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Connects to the cluster once; the error says why it could not.
pub type ConnectFn = Box<dyn FnMut() -> BoxFuture<'static, Result<Arc<dyn K8sAdapter>, String>> + Send>;

/// Pod events buffered for slow receivers (as the pod cache's own channel;
/// a receiver that falls further behind recomputes everything).
const EVENT_CAPACITY: usize = 4096;

/// Backoff between connection attempts: `initial`, doubling per failure up
/// to `max`, plus up to 10 % jitter so that replicas do not retry in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRetry {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for ConnectRetry {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
        }
    }
}

impl ConnectRetry {
    /// The wait after the `failures`-th consecutive failure (from 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponential = self
            .initial
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(self.max.max(self.initial));
        exponential.mul_f64(rand::thread_rng().gen_range(1.0..1.1))
    }
}

/// Calls `connect` until it succeeds, waiting [`ConnectRetry::delay`]
/// between attempts; logs every failure with the next delay and tells
/// `on_failure` (error, delay).
pub async fn connect_with_retry<T, F>(
    what: &str,
    retry: ConnectRetry,
    mut connect: impl FnMut() -> F,
    mut on_failure: impl FnMut(&str, Duration),
) -> T
where
    F: Future<Output = Result<T, String>>,
{
    let mut failures = 0;
    loop {
        match connect().await {
            Ok(connected) => return connected,
            Err(error) => {
                failures += 1;
                let delay = retry.delay(failures);
                tracing::warn!(
                    what,
                    %error,
                    failures,
                    retry_in_s = delay.as_secs_f64(),
                    "cannot connect to the cluster; retrying"
                );
                on_failure(&error, delay);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

struct Shared {
    inner: OnceLock<Arc<dyn K8sAdapter>>,
    /// Why there is no cluster yet (the `NotConfigured` reason).
    reason: Mutex<String>,
    /// Receivers taken before the connection must see the inner adapter's
    /// events too, so every receiver is on this channel and a task relays.
    events: broadcast::Sender<PodEvent>,
}

impl Shared {
    fn not_connected(&self) -> String {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct DeferredCluster {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for DeferredCluster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DeferredCluster {
    /// Tries `connect` at once, then with `retry`'s backoff until it works.
    pub fn start(connect: ConnectFn, retry: ConnectRetry) -> Arc<Self> {
        let shared = Arc::new(Shared {
            inner: OnceLock::new(),
            reason: Mutex::new("connecting to the cluster".into()),
            events: broadcast::Sender::new(EVENT_CAPACITY),
        });
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                let inner = connect_with_retry("cluster", retry, connect, |error, delay| {
                    *shared.reason.lock().unwrap_or_else(|e| e.into_inner()) =
                        format!("{error}; retrying in {:.1}s", delay.as_secs_f64());
                })
                .await;
                let events = inner.pod_events();
                let _ = shared.inner.set(inner);
                // Whatever the adapter emitted before `events` existed is
                // covered: from no cluster to a cluster, everything changed.
                let _ = shared.events.send(PodEvent::Resynced);
                relay(events, &shared.events).await;
            }
        });
        Arc::new(Self { shared, task })
    }

    fn connected(&self) -> Result<&Arc<dyn K8sAdapter>, K8sError> {
        self.shared
            .inner
            .get()
            .ok_or_else(|| K8sError::NotConfigured(self.shared.not_connected()))
    }
}

async fn relay(mut from: broadcast::Receiver<PodEvent>, to: &broadcast::Sender<PodEvent>) {
    loop {
        let event = match from.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "pod event relay lagged; asking for a full recompute");
                PodEvent::Resynced
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // No receiver right now is fine: later ones start from the cache.
        let _ = to.send(event);
    }
}

#[async_trait]
impl K8sAdapter for DeferredCluster {
    async fn query_pods(&self, namespaces: &[String], selectors: &[Selector]) -> Result<Vec<PodInfo>, K8sError> {
        self.connected()?.query_pods(namespaces, selectors).await
    }

    async fn get_pod(&self, uid: &str) -> Result<Option<PodInfo>, K8sError> {
        self.connected()?.get_pod(uid).await
    }

    /// No cluster yet, no Decision Makers: pushes find nobody to call.
    async fn list_decision_makers(&self) -> Result<Vec<DecisionMakerEndpoint>, K8sError> {
        match self.shared.inner.get() {
            Some(inner) => inner.list_decision_makers().await,
            None => Ok(vec![]),
        }
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, K8sError> {
        self.connected()?.list_nodes().await
    }

    fn status(&self) -> ClusterStatus {
        match self.shared.inner.get() {
            Some(inner) => inner.status(),
            None => ClusterStatus::NotConfigured(self.shared.not_connected()),
        }
    }

    fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        self.shared.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use gthulhu_domain::manager::{DmState, MockK8sAdapter};

    use super::*;

    fn pod(uid: &str) -> PodInfo {
        PodInfo {
            uid: uid.into(),
            name: format!("pod-{uid}"),
            namespace: "prod".into(),
            ..PodInfo::default()
        }
    }

    /// A connected cluster: one pod, one DM, one node, events from `events`.
    fn cluster(events: &broadcast::Sender<PodEvent>) -> Arc<dyn K8sAdapter> {
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_query_pods().returning(|_, _| Ok(vec![pod("u1")]));
        k8s.expect_get_pod().returning(|uid| Ok(Some(pod(uid))));
        k8s.expect_list_decision_makers().returning(|| {
            Ok(vec![DecisionMakerEndpoint {
                node_name: "n1".into(),
                pod_name: "dm-1".into(),
                pod_uid: String::new(),
                host: "10.0.0.1".into(),
                port: 8080,
                state: DmState::Online,
            }])
        });
        k8s.expect_list_nodes().returning(|| Ok(vec![]));
        k8s.expect_status().returning(|| ClusterStatus::Ready);
        let events = events.clone();
        k8s.expect_pod_events().times(1).returning(move || events.subscribe());
        Arc::new(k8s)
    }

    /// Fails `failures` times ("no kubeconfig found #n"), then connects to
    /// `cluster`; counts attempts.
    fn connect_after(failures: u32, cluster: Arc<dyn K8sAdapter>, attempts: Arc<AtomicU32>) -> ConnectFn {
        Box::new(move || {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let cluster = cluster.clone();
            Box::pin(async move {
                if n <= failures {
                    Err(format!("no kubeconfig found #{n}"))
                } else {
                    Ok(cluster)
                }
            })
        })
    }

    const RETRY: ConnectRetry = ConnectRetry {
        initial: Duration::from_secs(5),
        max: Duration::from_secs(60),
    };

    /// Polls every 10 ms of (paused) time, for up to 100 s.
    async fn wait_until(mut done: impl FnMut() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_a_little_jitter() {
        for (failures, base) in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (6, 60), (100, 60)] {
            let delay = RETRY.delay(failures);
            let base = Duration::from_secs(base);
            assert!(delay >= base && delay < base.mul_f64(1.1), "{failures}: {delay:?}");
        }
        let slow_start = ConnectRetry {
            initial: Duration::from_secs(90),
            ..RETRY
        };
        assert!(
            slow_start.delay(3) >= Duration::from_secs(90),
            "the cap never undercuts initial"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn not_configured_until_connected_retrying_with_backoff() {
        let (events, _) = broadcast::channel(16);
        let attempts = Arc::new(AtomicU32::new(0));
        let start = tokio::time::Instant::now();
        let deferred = DeferredCluster::start(connect_after(3, cluster(&events), attempts.clone()), RETRY);
        let count = || attempts.load(Ordering::SeqCst);

        wait_until(|| count() == 1).await;
        let ClusterStatus::NotConfigured(reason) = deferred.status() else {
            panic!("{:?}", deferred.status());
        };
        assert!(reason.starts_with("no kubeconfig found #1; retrying in 5."), "{reason}");
        // Exactly as NoCluster meanwhile, with the reason.
        assert_eq!(
            deferred.query_pods(&[], &[]).await,
            Err(K8sError::NotConfigured(reason.clone()))
        );
        assert_eq!(
            deferred.get_pod("u1").await,
            Err(K8sError::NotConfigured(reason.clone()))
        );
        assert_eq!(deferred.list_nodes().await, Err(K8sError::NotConfigured(reason)));
        assert_eq!(deferred.list_decision_makers().await, Ok(vec![]));

        // Retries at ~5 s, then ~10 s later, then ~20 s later (+ ≤ 10 %;
        // seen within the 10 ms polling).
        let mut at = Vec::new();
        for n in 2..=4 {
            wait_until(|| count() == n).await;
            at.push(start.elapsed().as_secs_f64());
        }
        let within = |t: f64, from: f64, to: f64| t >= from && t < to;
        assert!(within(at[0], 5.0, 5.52), "{at:?}");
        assert!(within(at[1] - at[0], 9.98, 11.02), "{at:?}");
        assert!(within(at[2] - at[1], 19.98, 22.02), "{at:?}");

        // Connected on the 4th attempt: no more attempts, everything delegated.
        wait_until(|| deferred.status() == ClusterStatus::Ready).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(count(), 4);
        assert_eq!(deferred.query_pods(&[], &[]).await.unwrap(), [pod("u1")]);
        assert_eq!(deferred.get_pod("u2").await.unwrap(), Some(pod("u2")));
        assert_eq!(deferred.list_decision_makers().await.unwrap().len(), 1);
        assert_eq!(deferred.list_nodes().await.unwrap(), []);
    }

    #[tokio::test(start_paused = true)]
    async fn events_reach_receivers_taken_before_the_connection() {
        let (events, _) = broadcast::channel(16);
        let attempts = Arc::new(AtomicU32::new(0));
        let deferred = DeferredCluster::start(connect_after(1, cluster(&events), attempts), RETRY);
        let mut early = deferred.pod_events();
        assert!(early.try_recv().is_err(), "nothing before the connection");

        // The connection itself means "recompute everything".
        let first = tokio::time::timeout(Duration::from_secs(10), early.recv()).await;
        assert_eq!(first.unwrap(), Ok(PodEvent::Resynced));
        let mut late = deferred.pod_events();
        events.send(PodEvent::Deleted(pod("u1"))).unwrap();
        assert_eq!(early.recv().await, Ok(PodEvent::Deleted(pod("u1"))));
        assert_eq!(late.recv().await, Ok(PodEvent::Deleted(pod("u1"))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_relay_asks_for_a_full_recompute() {
        // The inner channel holds 2 events; 5 are sent before the relay runs.
        let (events, _) = broadcast::channel(2);
        let attempts = Arc::new(AtomicU32::new(0));
        let deferred = DeferredCluster::start(connect_after(0, cluster(&events), attempts), RETRY);
        let mut rx = deferred.pod_events();
        assert_eq!(rx.recv().await, Ok(PodEvent::Resynced), "connected");
        for uid in ["u1", "u2", "u3", "u4", "u5"] {
            events.send(PodEvent::Deleted(pod(uid))).unwrap();
        }
        assert_eq!(rx.recv().await, Ok(PodEvent::Resynced), "events were lost");
        assert_eq!(rx.recv().await, Ok(PodEvent::Deleted(pod("u4"))));
        assert_eq!(rx.recv().await, Ok(PodEvent::Deleted(pod("u5"))));
    }
}
