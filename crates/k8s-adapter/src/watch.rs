//! The pod watch loop shared by the Manager's and the Decision Maker's
//! adapters: events go to a sink, failures and recoveries to a `LinkState`.

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};

use crate::link::LinkState;

/// Where a watch's events go. `Init`…`InitDone` bracket a full list (the
/// first one, and every relist after 410 Gone or a reconnect).
pub(crate) trait PodSink: Send {
    fn init(&mut self);
    fn init_apply(&mut self, pod: Pod);
    fn init_done(&mut self);
    fn apply(&mut self, pod: Pod);
    fn delete(&mut self, pod: Pod);
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    /// While the watch fails, how often a one-item list checks whether the
    /// API answers again: the watcher itself may sit in a 30 s backoff, and
    /// a resumed watch yields nothing until a pod changes.
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

/// A relist after 410 Gone is the watcher's normal way of catching up,
/// not an outage: it must not flip the status.
fn is_outage(error: &watcher::Error) -> bool {
    !matches!(error, watcher::Error::WatchError(status) if status.code == 410)
}

/// A one-line reason for `/ready` and logs: an API `Status` is reduced to
/// its code and message (its `Display` is a full debug dump).
fn outage_reason(error: &watcher::Error) -> String {
    let status = match error {
        watcher::Error::WatchError(status) => Some(status.as_ref()),
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.as_ref()),
        _ => None,
    };
    match status {
        Some(status) => format!("API server answered {}: {}", status.code, status.message),
        None => error.to_string(),
    }
}

pub(crate) async fn run(
    api: Api<Pod>,
    config: watcher::Config,
    link: &LinkState,
    probe: Probe,
    sink: &mut impl PodSink,
) {
    let probe_params = ListParams {
        field_selector: config.field_selector.clone(),
        label_selector: config.label_selector.clone(),
        ..ListParams::default()
    }
    .limit(1);
    let mut events = pin!(watcher(api.clone(), config).default_backoff());
    let mut tick = tokio::time::interval(probe.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Init)) => sink.init(),
                Some(Ok(Event::InitApply(pod))) => sink.init_apply(pod),
                Some(Ok(Event::InitDone)) => {
                    sink.init_done();
                    link.up();
                }
                Some(Ok(Event::Apply(pod))) => {
                    sink.apply(pod);
                    link.up();
                }
                Some(Ok(Event::Delete(pod))) => {
                    sink.delete(pod);
                    link.up();
                }
                Some(Err(error)) if is_outage(&error) => link.down(outage_reason(&error)),
                Some(Err(error)) => tracing::info!(%error, "pod watch expired; relisting"),
                // The watcher never ends; if it did, nothing would update the data again.
                None => {
                    link.down("pod watch ended".into());
                    return;
                }
            },
            _ = tick.tick(), if link.is_down() => {
                let answer = tokio::time::timeout(probe.timeout, api.list(&probe_params)).await;
                if matches!(answer, Ok(Ok(_))) {
                    link.up();
                }
            }
        }
    }
}
