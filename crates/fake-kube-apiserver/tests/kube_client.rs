//! The fake driven by the real `kube` client and `kube::runtime::watcher`, the way the adapter uses it.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use gthulhu_fake_kube_apiserver::{FakeApiServer, node, pod};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

const WAIT: Duration = Duration::from_secs(10);

/// A client without kube's default retry layer, which would retry a 503 for minutes before failing.
fn client(server: &FakeApiServer) -> Client {
    let mut config = kube::Config::new(server.url().parse().expect("the URL parses"));
    config.default_retry = false;
    Client::try_from(config).expect("a client for a plain-HTTP server")
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the stream produced an item in time")
        .expect("the stream did not end")
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

fn api_code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_list_get_with_label_and_field_selectors() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pod(pod(
        "a",
        "web-1",
        "uid-1",
        Some("n1"),
        &[("app", "web"), ("tier", "front")],
        "Running",
    ));
    server.upsert_pod(pod("a", "web-2", "", Some("n2"), &[("app", "web")], "Running"));
    server.upsert_pod(pod("a", "db-1", "", Some("n1"), &[("app", "db")], "Pending"));
    server.upsert_pod(pod("b", "web-3", "", None, &[("app", "web")], "Pending"));
    server.upsert_node(node("n1", true));
    server.upsert_node(node("n2", false));
    let client = client(&server);
    let all: Api<Pod> = Api::all(client.clone());
    let in_a: Api<Pod> = Api::namespaced(client.clone(), "a");

    let list = |lp: ListParams| {
        let all = all.clone();
        async move { names(&all.list(&lp).await.unwrap().items) }
    };
    assert_eq!(list(ListParams::default()).await, ["db-1", "web-1", "web-2", "web-3"]);
    assert_eq!(
        list(ListParams::default().labels("app=web").fields("spec.nodeName=n1")).await,
        ["web-1"]
    );
    assert_eq!(list(ListParams::default().labels("app==web,tier")).await, ["web-1"]);
    assert_eq!(list(ListParams::default().labels("app!=web")).await, ["db-1"]);
    assert_eq!(
        list(ListParams::default().labels("!tier,app in (web, db)")).await,
        ["db-1", "web-2", "web-3"]
    );
    assert_eq!(list(ListParams::default().labels("app notin (web)")).await, ["db-1"]);
    assert_eq!(list(ListParams::default().fields("spec.nodeName=")).await, ["web-3"]);
    assert_eq!(
        list(ListParams::default().fields("spec.nodeName!=n1,metadata.namespace=a")).await,
        ["web-2"]
    );
    assert_eq!(
        list(ListParams::default().fields("status.phase=Pending")).await,
        ["db-1", "web-3"]
    );
    assert_eq!(
        names(&in_a.list(&ListParams::default()).await.unwrap().items),
        ["db-1", "web-1", "web-2"]
    );

    let listed = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.metadata.resource_version.as_deref(), Some("6"));
    let web1 = in_a.get("web-1").await.unwrap();
    assert_eq!(web1.metadata.uid.as_deref(), Some("uid-1"));
    assert_eq!(web1.resource_version().as_deref(), Some("1"));
    assert!(web1.metadata.creation_timestamp.is_some());
    let generated = in_a.get("web-2").await.unwrap();
    assert!(
        generated.metadata.uid.is_some_and(|u| u.len() == 36),
        "a uid is generated"
    );

    let err = in_a.get("nope").await.unwrap_err();
    assert_eq!(api_code(&err), 404);
    let kube::Error::Api(status) = err else { unreachable!() };
    assert_eq!(status.reason, "NotFound");
    let err = all.list(&ListParams::default().labels("app in web")).await.unwrap_err();
    assert_eq!(api_code(&err), 400);
    let err = all
        .list(&ListParams::default().fields("spec.schedulerName=x"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 400);

    let nodes: Api<Node> = Api::all(client);
    let node_names: Vec<_> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(node_names, ["n1", "n2"]);
    let n2 = nodes.get("n2").await.unwrap();
    assert_eq!(n2.status.unwrap().conditions.unwrap()[0].status, "False");
    assert!(server.delete_node("n2"));
    assert_eq!(api_code(&nodes.get("n2").await.unwrap_err()), 404);
    server.stop().await;
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pods((0..5).map(|i| pod("ns", &format!("p{i}"), "", Some("n1"), &[], "Running")));
    let api: Api<Pod> = Api::all(client(&server));
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first.items), ["p0", "p1"]);
    let token = first.metadata.continue_.clone().expect("a continue token");
    server.upsert_pod(pod("ns", "p5", "", None, &[], "Running"));
    let second = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second.items), ["p2", "p3", "p4", "p5"]);
    assert!(second.metadata.continue_.is_none());
    assert_eq!(
        second.metadata.resource_version, first.metadata.resource_version,
        "pages keep the first page's version"
    );
    server.stop().await;
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted_in_order() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pod(pod("ns", "a", "", Some("n1"), &[], "Running"));
    let api: Api<Pod> = Api::namespaced(client(&server), "ns");
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    assert!(matches!(next(&mut events).await.unwrap(), Event::Init));
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitApply(p) if p.name_any() == "a"));
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));

    server.upsert_pod(pod("ns", "b", "", None, &[], "Pending"));
    server.upsert_pod(pod("other", "ignored", "", None, &[], "Pending"));
    let rv = server.upsert_pod(pod("ns", "b", "", Some("n1"), &[], "Running"));
    assert!(server.delete_pod("ns", "a"));
    assert!(!server.delete_pod("ns", "a"));

    let added = match next(&mut events).await.unwrap() {
        Event::Apply(p) => p,
        other => panic!("expected b added, got {other:?}"),
    };
    assert_eq!((added.name_any().as_str(), added.spec.unwrap().node_name), ("b", None));
    let modified = match next(&mut events).await.unwrap() {
        Event::Apply(p) => p,
        other => panic!("expected b modified, got {other:?}"),
    };
    assert_eq!(modified.resource_version(), Some(rv));
    assert_eq!(modified.spec.unwrap().node_name.as_deref(), Some("n1"));
    assert_eq!(modified.metadata.uid, added.metadata.uid, "the uid survives updates");
    match next(&mut events).await.unwrap() {
        Event::Delete(p) => assert_eq!(p.name_any(), "a"),
        other => panic!("expected a deleted, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn raw_watch_events_bookmarks_and_timeout() {
    let server = FakeApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let rv = server.upsert_pod(pod("ns", "a", "", None, &[], "Pending"));
    let api: Api<Pod> = Api::namespaced(client(&server), "ns");

    // Replay from an older version, then live events, with bookmarks carrying the latest version.
    let mut stream = api.watch(&WatchParams::default(), "0").await.unwrap().boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(p) if p.name_any() == "a"));
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(bm) => assert_eq!(bm.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    let rv2 = server.upsert_pod(pod("ns", "a", "", Some("n1"), &[], "Running"));
    // A bookmark due just before the change may still carry the old version.
    let modified = loop {
        match next(&mut stream).await.unwrap() {
            WatchEvent::Bookmark(bm) if bm.metadata.resource_version == rv => {}
            other => break other,
        }
    };
    assert!(matches!(modified, WatchEvent::Modified(p) if p.resource_version() == Some(rv2.clone())));
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(bm) => assert_eq!(bm.metadata.resource_version, rv2),
        other => panic!("expected a bookmark, got {other:?}"),
    }

    // From a resourceVersion: only later events, filtered by the selector.
    let mut from_rv = api
        .watch(
            &WatchParams::default().fields("spec.nodeName=n2").disable_bookmarks(),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    server.upsert_pod(pod("ns", "b", "", Some("n2"), &[], "Running"));
    assert!(matches!(next(&mut from_rv).await.unwrap(), WatchEvent::Added(p) if p.name_any() == "b"));

    // timeoutSeconds ends the stream.
    let mut short = api
        .watch(&WatchParams::default().timeout(1), &rv2)
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(WAIT, async { while short.next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the watch ended after timeoutSeconds");
    server.stop().await;
}

#[tokio::test]
async fn watch_from_expired_version_gets_410_and_watcher_relists() {
    let server = FakeApiServer::start().await.unwrap();
    let first = server.upsert_pod(pod("ns", "a", "", None, &[], "Pending"));
    server.upsert_pod(pod("ns", "b", "", None, &[], "Pending"));
    let api: Api<Pod> = Api::namespaced(client(&server), "ns");

    let mut watcher_events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    let mut seen = BTreeSet::new();
    loop {
        match next(&mut watcher_events).await.unwrap() {
            Event::InitApply(p) => drop(seen.insert(p.name_any())),
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, BTreeSet::from(["a".to_owned(), "b".to_owned()]));

    // While the watcher is not looking: its stream ends, the world changes and the history is lost.
    server.set_available(false);
    assert!(server.delete_pod("ns", "a"));
    server.upsert_pod(pod("ns", "c", "", None, &[], "Pending"));
    server.expire_history();
    server.set_available(true);

    let mut raw = api.watch(&WatchParams::default(), &first).await.unwrap().boxed();
    match next(&mut raw).await.unwrap() {
        WatchEvent::Error(status) => assert_eq!((status.code, status.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    assert!(raw.next().await.is_none(), "the stream ends after the error");

    // The watcher resumes from its old version, gets 410 and relists into the current state.
    let mut got_gone = false;
    let mut relisted = BTreeSet::new();
    loop {
        match next(&mut watcher_events).await {
            Err(watcher::Error::WatchError(status)) if status.code == 410 => got_gone = true,
            Ok(Event::Init) => relisted.clear(),
            Ok(Event::InitApply(p)) => drop(relisted.insert(p.name_any())),
            Ok(Event::InitDone) if got_gone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(relisted, BTreeSet::from(["b".to_owned(), "c".to_owned()]));
    server.upsert_pod(pod("ns", "d", "", None, &[], "Pending"));
    assert!(matches!(next(&mut watcher_events).await.unwrap(), Event::Apply(p) if p.name_any() == "d"));
    server.stop().await;
}

#[tokio::test]
async fn streaming_list_watcher() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pods((0..3).map(|i| pod("ns", &format!("p{i}"), "", Some("n1"), &[("app", "x")], "Running")));
    server.upsert_pod(pod("ns", "other", "", Some("n1"), &[("app", "y")], "Running"));
    let api: Api<Pod> = Api::namespaced(client(&server), "ns");
    let config = watcher::Config::default().streaming_lists().labels("app=x");
    let mut events = watcher::watcher(api.clone(), config).boxed();
    let mut initial = Vec::new();
    loop {
        match next(&mut events).await.unwrap() {
            Event::InitApply(p) => initial.push(p.name_any()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, ["p0", "p1", "p2"]);
    server.upsert_pod(pod("ns", "p3", "", None, &[("app", "x")], "Pending"));
    assert!(matches!(next(&mut events).await.unwrap(), Event::Apply(p) if p.name_any() == "p3"));

    // On the wire: the end of the initial events is a bookmark annotated as such.
    let wp = WatchParams::default().initial_events().labels("app=x");
    let raw: Vec<_> = api.watch(&wp, "0").await.unwrap().take(5).try_collect().await.unwrap();
    assert!(raw[..4].iter().all(|e| matches!(e, WatchEvent::Added(_))));
    match &raw[4] {
        WatchEvent::Bookmark(bm) => {
            assert_eq!(
                bm.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .map(String::as_str),
                Some("true")
            );
            assert_eq!(bm.metadata.resource_version, "5");
        }
        other => panic!("expected the initial-events-end bookmark, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn watcher_pages_through_many_pods() {
    let server = FakeApiServer::start().await.unwrap();
    let count = 5_000;
    server.upsert_pods((0..count).map(|i| pod("ns", &format!("p{i:05}"), "", Some("n1"), &[], "Running")));
    let api: Api<Pod> = Api::all(client(&server));
    let mut events = watcher::watcher(api, watcher::Config::default().page_size(500)).boxed();
    let requests_before = server.requests();
    let mut seen = 0;
    loop {
        match next(&mut events).await.unwrap() {
            Event::InitApply(_) => seen += 1,
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, count);
    assert!(
        server.requests() - requests_before >= 10,
        "the watcher listed in pages of 500"
    );
    server.stop().await;
}

#[tokio::test]
async fn lease_create_replace_conflict_delete() {
    let server = FakeApiServer::start().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client(&server), "kube-system");
    let mut lease = Lease::default();
    lease.metadata.name = Some("gthulhu-manager".into());
    lease.spec = Some(k8s_openapi::api::coordination::v1::LeaseSpec {
        holder_identity: Some("manager-a".into()),
        lease_duration_seconds: Some(15),
        ..Default::default()
    });

    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(created.namespace().as_deref(), Some("kube-system"));
    assert!(created.resource_version().is_some() && created.uid().is_some());
    let err = leases.create(&PostParams::default(), &lease).await.unwrap_err();
    assert_eq!(api_code(&err), 409);

    let mut taken = created.clone();
    taken.spec.as_mut().unwrap().holder_identity = Some("manager-b".into());
    let replaced = leases
        .replace("gthulhu-manager", &PostParams::default(), &taken)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), created.resource_version());
    assert_eq!(replaced.uid(), created.uid());

    // A second writer still holding the old version loses.
    let err = leases
        .replace("gthulhu-manager", &PostParams::default(), &created)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 409);
    let kube::Error::Api(status) = err else { unreachable!() };
    assert_eq!(status.reason, "Conflict");
    let current = leases.get("gthulhu-manager").await.unwrap();
    assert_eq!(
        current.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("manager-b")
    );

    leases
        .delete("gthulhu-manager", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_code(&leases.get("gthulhu-manager").await.unwrap_err()), 404);
    let err = leases
        .replace("gthulhu-manager", &PostParams::default(), &current)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 404);
    server.stop().await;
}

#[tokio::test]
async fn unavailable_answers_503_ends_watches_and_recovers() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pod(pod("ns", "a", "", None, &[], "Pending"));
    let api: Api<Pod> = Api::all(client(&server));
    let mut stream = api
        .watch(&WatchParams::default().disable_bookmarks(), "1")
        .await
        .unwrap()
        .boxed();
    let before = server.requests();

    server.set_available(false);
    let ended = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the open watch ended");
    assert!(ended.is_none());
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_code(&err), 503);
    // kube reports a refused watch as the stream's first item, parsed from the `Status` body.
    let mut refused = api.watch(&WatchParams::default(), "1").await.unwrap().boxed();
    assert_eq!(api_code(&next(&mut refused).await.unwrap_err()), 503);
    assert!(server.requests() >= before + 2, "refused requests are counted too");

    server.set_available(true);
    assert_eq!(names(&api.list(&ListParams::default()).await.unwrap().items), ["a"]);

    // With kube's default retry layer a short outage is invisible to the caller.
    let retrying = Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let retrying: Api<Pod> = Api::all(retrying);
    server.set_available(false);
    let pending = tokio::spawn(async move { retrying.list(&ListParams::default()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.set_available(true);
    let listed = tokio::time::timeout(WAIT, pending).await.unwrap().unwrap().unwrap();
    assert_eq!(names(&listed.items), ["a"]);
    server.stop().await;
}

#[tokio::test]
async fn kubeconfig_points_kube_at_the_server() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_node(node("n1", true));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), server.url());
    let nodes: Api<Node> = Api::all(Client::try_from(config).unwrap());
    assert_eq!(nodes.get("n1").await.unwrap().name_any(), "n1");
    assert!(server.requests() >= 1);
    server.stop().await;
}
