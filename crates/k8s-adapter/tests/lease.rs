//! Leader election against the fake API server: one leader at a time, and
//! a takeover once the leader stops renewing.

use std::time::Duration;

use gthulhu_fake_kube_apiserver::FakeApiServer;
use gthulhu_k8s_adapter::{LeaseSettings, start_leader_election};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use tokio::sync::watch;

fn client(server: &FakeApiServer) -> Client {
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        lease_duration: Duration::from_secs(2),
        retry_period: Duration::from_millis(100),
        ..LeaseSettings::new("gthulhu-manager", "gthulhu", identity)
    }
}

async fn wait_for(rx: &mut watch::Receiver<bool>, value: bool, within: Duration) {
    tokio::time::timeout(within, rx.wait_for(|v| *v == value))
        .await
        .unwrap_or_else(|_| panic!("leadership did not become {value} within {within:?}"))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_takeover_after_the_lease_expires() {
    let server = FakeApiServer::start().await.unwrap();
    let mut a = start_leader_election(client(&server), settings("manager-a"));
    wait_for(&mut a, true, Duration::from_secs(5)).await;
    let mut b = start_leader_election(client(&server), settings("manager-b"));

    // While a renews, b never leads.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(*a.borrow(), "a keeps renewing");
    assert!(!*b.borrow(), "b must not lead while a's Lease is live");
    let leases: Api<Lease> = Api::namespaced(client(&server), "gthulhu");
    let lease = leases.get("gthulhu-manager").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("manager-a"));

    // a goes away (its task ends with its receiver): b takes over once the
    // Lease has not been renewed for its duration, not before.
    drop(a);
    let gone = tokio::time::Instant::now();
    wait_for(&mut b, true, Duration::from_secs(5)).await;
    assert!(
        gone.elapsed() >= Duration::from_millis(1700),
        "took over after {:?}",
        gone.elapsed()
    );
    let spec = leases.get("gthulhu-manager").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("manager-b"));
    assert_eq!(spec.lease_transitions, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_steps_down() {
    let server = FakeApiServer::start().await.unwrap();
    let mut a = start_leader_election(client(&server), settings("manager-a"));
    wait_for(&mut a, true, Duration::from_secs(5)).await;
    server.set_available(false);
    wait_for(&mut a, false, Duration::from_secs(5)).await;
    server.set_available(true);
    wait_for(&mut a, true, Duration::from_secs(5)).await;
}
