//! A fake Kubernetes API server for tests and benchmarks.
//!
//! The Manager watches pods and nodes and elects a leader with a `Lease`; testing that against a real
//! cluster needs Docker or kind, which CI machines do not have, and mocking the `kube` client would not
//! exercise its watcher (relists on `410 Gone`, bookmarks, streaming lists, paging). This crate serves
//! the small part of the API those code paths use, over plain HTTP on `127.0.0.1`, so the real `kube`
//! client talks to it unchanged:
//!
//! * core/v1 pods and nodes: get, list (label and field selectors, `limit`/`continue`) and watch
//!   (replay from a bounded event history, `410 Expired`, bookmarks, `timeoutSeconds`,
//!   `sendInitialEvents`);
//! * coordination.k8s.io/v1 leases: get, list, create, replace with `resourceVersion` optimistic
//!   concurrency, delete;
//! * one global resourceVersion, and errors as Kubernetes `Status` objects.
//!
//! Tests drive the cluster state through [`FakeApiServer`]'s synchronous methods. Objects are
//! serialized once per change, so 150,000 pods are cheap to hold, list and watch.

mod builders;
mod http;
mod selector;
mod store;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;

pub use builders::{node, pod};

use store::{Kind, PutMode, Shared};

/// Configures a [`FakeApiServer`] before starting it.
#[derive(Debug, Clone)]
pub struct Builder {
    port: u16,
    history_limit: usize,
    bookmark_interval: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            port: 0,
            // Enough to replay a full 150,000-pod load to a watcher that fell behind.
            history_limit: 200_000,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

impl Builder {
    /// The port on 127.0.0.1; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How many change events watches can replay; a watch from an older version gets `410 Expired`.
    pub fn history_limit(mut self, events: usize) -> Self {
        self.history_limit = events;
        self
    }

    /// How often watches that allow bookmarks receive a `BOOKMARK`.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    pub async fn start(self) -> std::io::Result<FakeApiServer> {
        let shared = Arc::new(Shared::new(self.history_limit, self.bookmark_interval));
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(middleware::from_fn(http::gate))
                .configure(http::routes)
        })
        .workers(2)
        // Tests and the binary decide themselves when the server stops.
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(FakeApiServer {
            shared,
            port,
            handle,
            task: Some(task),
        })
    }
}

/// A running fake API server; see the [crate docs](crate).
pub struct FakeApiServer {
    shared: Arc<Shared>,
    port: u16,
    handle: actix_web::dev::ServerHandle,
    /// Taken by [`stop`](FakeApiServer::stop); still present when the server is merely dropped.
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl FakeApiServer {
    /// Starts a server with the default settings on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<FakeApiServer> {
        Builder::default().start().await
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig whose current context `fake` points at this server without authentication.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: fake
  user: {{}}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
",
            url = self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Creates or replaces a pod (an `ADDED` or `MODIFIED` event) and returns its new resourceVersion.
    /// The namespace defaults to `default`; uid and creationTimestamp are generated when absent and kept
    /// across updates.
    pub fn upsert_pod(&self, pod: Pod) -> String {
        self.upsert(Kind::Pod, &pod)
    }

    /// [`upsert_pod`](Self::upsert_pod) for many pods under one lock, for loading large clusters.
    pub fn upsert_pods(&self, pods: impl IntoIterator<Item = Pod>) -> String {
        let values: Vec<_> = pods.into_iter().map(|p| to_value(&p)).collect();
        self.shared.write(|s| {
            for value in values {
                s.put(Kind::Pod, value, PutMode::Upsert).expect(UPSERT_NEEDS_NAME);
            }
            s.rv().to_string()
        })
    }

    /// Deletes a pod (a `DELETED` event); false if it did not exist.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> bool {
        self.shared.write(|s| s.delete(Kind::Pod, namespace, name)).is_some()
    }

    /// Creates or replaces a node and returns its new resourceVersion.
    pub fn upsert_node(&self, node: Node) -> String {
        self.upsert(Kind::Node, &node)
    }

    /// Deletes a node; false if it did not exist.
    pub fn delete_node(&self, name: &str) -> bool {
        self.shared.write(|s| s.delete(Kind::Node, "", name)).is_some()
    }

    /// Forgets the event history: watches from any resourceVersion before now get `410 Expired`, as
    /// after an API server restart or etcd compaction.
    pub fn expire_history(&self) {
        self.shared.write(store::State::expire_history);
    }

    /// `false`: every request answers 503 and open watch streams end; `true`: back to normal.
    pub fn set_available(&self, available: bool) {
        self.shared.set_available(available);
    }

    /// How many HTTP requests arrived so far (including the ones refused with 503).
    pub fn requests(&self) -> u64 {
        self.shared.requests()
    }

    /// Ends every watch stream and stops the server.
    pub async fn stop(mut self) {
        self.shared.set_available(false);
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            // The task ends with the server; its result carries nothing more to report.
            let _ = task.await;
        }
    }

    fn upsert(&self, kind: Kind, obj: &impl Serialize) -> String {
        let value = to_value(obj);
        self.shared
            .write(|s| s.put(kind, value, PutMode::Upsert))
            .expect(UPSERT_NEEDS_NAME)
            .rv
            .to_string()
    }
}

impl Drop for FakeApiServer {
    /// A test that forgets `stop` must not leave the server's worker threads listening.
    fn drop(&mut self) {
        if self.task.is_some() {
            self.shared.set_available(false);
            // `stop` sends the command before returning its future, so not awaiting it is fine.
            drop(self.handle.stop(false));
        }
    }
}

const UPSERT_NEEDS_NAME: &str = "upserted objects need metadata.name";

fn to_value(obj: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(obj).expect("k8s-openapi objects serialize to JSON")
}
