//! Leader election on a `coordination.k8s.io` Lease (manager.md 12.2): with
//! several Manager replicas every one serves the API, and only the Lease
//! holder runs the intent pipeline and the reconciler. Same protocol as
//! client-go's leader election: the holder renews `renewTime`; anyone may
//! take a Lease whose `renewTime + leaseDurationSeconds` has passed, and
//! `resourceVersion` preconditions make concurrent takeovers lose with 409.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, Error};
use tokio::sync::watch;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's name in `holderIdentity` (the pod name).
    pub identity: String,
    /// How long a holder that stopped renewing keeps the Lease (whole
    /// seconds: `leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How often the holder renews and the others check.
    pub retry_period: Duration,
}

impl LeaseSettings {
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        Self {
            name: name.to_string(),
            namespace: namespace.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What to write, given the Lease as read (`None`: it does not exist).
#[derive(Debug, PartialEq)]
enum Step {
    Create(Lease),
    Replace(Lease),
    /// Someone else holds a live Lease.
    Follow,
}

fn micro(ms: i64) -> Option<MicroTime> {
    Timestamp::from_millisecond(ms).ok().map(MicroTime)
}

fn next_step(current: Option<&Lease>, settings: &LeaseSettings, now_ms: i64) -> Step {
    let duration_s = i32::try_from(settings.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let mine = |acquire: Option<MicroTime>, transitions: i32, metadata: ObjectMeta| Lease {
        metadata,
        spec: Some(LeaseSpec {
            holder_identity: Some(settings.identity.clone()),
            lease_duration_seconds: Some(duration_s),
            acquire_time: acquire,
            renew_time: micro(now_ms),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    };
    let Some(lease) = current else {
        let metadata = ObjectMeta {
            name: Some(settings.name.clone()),
            namespace: Some(settings.namespace.clone()),
            ..ObjectMeta::default()
        };
        return Step::Create(mine(micro(now_ms), 0, metadata));
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let transitions = spec.lease_transitions.unwrap_or(0);
    if holder == settings.identity {
        return Step::Replace(mine(spec.acquire_time, transitions, lease.metadata.clone()));
    }
    let renewed_ms = spec.renew_time.as_ref().map(|t| t.0.as_millisecond()).unwrap_or(0);
    let held_for_ms = i64::from(spec.lease_duration_seconds.unwrap_or(duration_s)) * 1000;
    if !holder.is_empty() && renewed_ms + held_for_ms > now_ms {
        return Step::Follow;
    }
    Step::Replace(mine(micro(now_ms), transitions + 1, lease.metadata.clone()))
}

/// One round: `Ok(true)` when this replica holds the Lease afterwards.
async fn try_acquire_or_renew(api: &Api<Lease>, settings: &LeaseSettings) -> Result<bool, Error> {
    let current = api.get_opt(&settings.name).await?;
    let written = match next_step(current.as_ref(), settings, Timestamp::now().as_millisecond()) {
        Step::Follow => return Ok(false),
        Step::Create(lease) => api.create(&PostParams::default(), &lease).await,
        // The read resourceVersion travels in the metadata: a concurrent
        // writer makes this fail with 409 instead of both winning.
        Step::Replace(lease) => api.replace(&settings.name, &PostParams::default(), &lease).await,
    };
    match written {
        Ok(_) => Ok(true),
        Err(Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// Starts electing in the background; the receiver says whether this
/// replica leads. A leader that cannot renew for a whole lease duration
/// steps down, since another replica may have taken over by then.
pub fn start_leader_election(client: Client, settings: LeaseSettings) -> watch::Receiver<bool> {
    let (leader, is_leader) = watch::channel(false);
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    tokio::spawn(async move {
        let mut last_renewed: Option<tokio::time::Instant> = None;
        loop {
            let leads = match try_acquire_or_renew(&api, &settings).await {
                Ok(true) => {
                    last_renewed = Some(tokio::time::Instant::now());
                    true
                }
                Ok(false) => false,
                Err(error) => {
                    tracing::warn!(%error, lease = %settings.name, "leader election: Lease update failed");
                    last_renewed.is_some_and(|t| t.elapsed() < settings.lease_duration)
                }
            };
            if !leads {
                last_renewed = None;
            }
            leader.send_if_modified(|current| {
                let changed = *current != leads;
                if changed {
                    tracing::info!(
                        lease = %settings.name,
                        identity = %settings.identity,
                        leader = leads,
                        "leader election: leadership changed"
                    );
                }
                *current = leads;
                changed
            });
            if leader.is_closed() {
                return;
            }
            tokio::time::sleep(settings.retry_period).await;
        }
    });
    is_leader
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(identity: &str) -> LeaseSettings {
        LeaseSettings::new("gthulhu-manager", "gthulhu", identity)
    }

    fn held_by(holder: &str, renewed_ms: i64, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("gthulhu-manager".into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                acquire_time: micro(1_000),
                renew_time: micro(renewed_ms),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    fn spec_of(step: Step) -> (LeaseSpec, ObjectMeta, bool) {
        match step {
            Step::Create(l) => (l.spec.unwrap(), l.metadata, true),
            Step::Replace(l) => (l.spec.unwrap(), l.metadata, false),
            Step::Follow => panic!("expected a write"),
        }
    }

    #[test]
    fn a_missing_lease_is_created_with_this_replica_as_holder() {
        let (spec, meta, created) = spec_of(next_step(None, &settings("a"), 50_000));
        assert!(created);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.renew_time, micro(50_000));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(
            (meta.name.as_deref(), meta.namespace.as_deref()),
            (Some("gthulhu-manager"), Some("gthulhu"))
        );
    }

    #[test]
    fn the_holder_renews_keeping_acquire_time_and_resource_version() {
        let lease = held_by("a", 40_000, 2);
        let (spec, meta, created) = spec_of(next_step(Some(&lease), &settings("a"), 50_000));
        assert!(!created);
        assert_eq!(spec.renew_time, micro(50_000));
        assert_eq!(spec.acquire_time, micro(1_000));
        assert_eq!(spec.lease_transitions, Some(2));
        assert_eq!(
            meta.resource_version.as_deref(),
            Some("7"),
            "the precondition for the replace"
        );
    }

    #[test]
    fn a_live_lease_of_another_replica_is_followed() {
        let lease = held_by("b", 40_000, 0);
        assert_eq!(next_step(Some(&lease), &settings("a"), 54_999), Step::Follow);
    }

    #[test]
    fn an_expired_or_released_lease_is_taken_over() {
        for lease in [held_by("b", 40_000, 3), held_by("", 49_000, 3)] {
            let (spec, meta, _) = spec_of(next_step(Some(&lease), &settings("a"), 55_001));
            assert_eq!(spec.holder_identity.as_deref(), Some("a"));
            assert_eq!(spec.acquire_time, micro(55_001));
            assert_eq!(spec.lease_transitions, Some(4));
            assert_eq!(meta.resource_version.as_deref(), Some("7"));
        }
    }
}
