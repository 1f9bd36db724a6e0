//! The HTTP surface: routes, list and watch handlers, lease writes and `Status` errors.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::selector::Selector;
use crate::store::{ApiError, Continue, Event, Kind, PutMode, Shared, Stored};

/// How many objects or events a watch stream writes per chunk (and per read-lock acquisition), so that
/// replaying 150,000 pods neither holds the lock long nor sends 150,000 tiny chunks.
const WATCH_BATCH: usize = 512;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    const LEASES: &str = "/apis/coordination.k8s.io/v1";
    cfg.route("/version", web::get().to(version))
        .route("/api", web::get().to(api_versions))
        .route("/apis", web::get().to(api_groups))
        .route("/api/v1/pods", web::get().to(collection(Kind::Pod, false)))
        .route(
            "/api/v1/namespaces/{ns}/pods",
            web::get().to(collection(Kind::Pod, true)),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            web::get().to(get_namespaced(Kind::Pod)),
        )
        .route("/api/v1/nodes", web::get().to(collection(Kind::Node, false)))
        .route("/api/v1/nodes/{name}", web::get().to(get_node))
        .route(
            &format!("{LEASES}/leases"),
            web::get().to(collection(Kind::Lease, false)),
        )
        .service(
            web::resource(format!("{LEASES}/namespaces/{{ns}}/leases"))
                .route(web::get().to(collection(Kind::Lease, true)))
                .route(web::post().to(create_lease)),
        )
        .service(
            web::resource(format!("{LEASES}/namespaces/{{ns}}/leases/{{name}}"))
                .route(web::get().to(get_namespaced(Kind::Lease)))
                .route(web::put().to(replace_lease))
                .route(web::delete().to(delete_lease)),
        )
        .default_service(web::to(|req: HttpRequest| async move {
            error(&ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({} {})",
                    req.method(),
                    req.path()
                ),
            ))
        }));
}

/// Counts every request and, while the server is "down", answers all of them with 503.
pub(crate) async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let shared = req
        .app_data::<Data<Shared>>()
        .cloned()
        .expect("Shared is registered as app data");
    shared.count_request();
    if !shared.available() {
        return Ok(req.into_response(error(&ApiError::new(
            503,
            "ServiceUnavailable",
            "the fake API server is unavailable",
        ))));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn error(err: &ApiError) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(err.status_json())
}

fn object(status: StatusCode, obj: &Stored) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(obj.json.clone())
}

/// The query parameters of list and watch requests, all kept as strings so that bad values become
/// Kubernetes-style 400s rather than actix's plain-text ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    watch: Option<String>,
    resource_version: Option<String>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    limit: Option<String>,
    #[serde(rename = "continue")]
    continue_token: Option<String>,
    allow_watch_bookmarks: Option<String>,
    timeout_seconds: Option<String>,
    send_initial_events: Option<String>,
}

fn flag(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("true" | "1"))
}

fn number<T: std::str::FromStr>(name: &str, value: &Option<String>) -> Result<Option<T>, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid {name}: {v:?}")))
        })
        .transpose()
}

type CollectionFuture = std::pin::Pin<Box<dyn std::future::Future<Output = HttpResponse>>>;

/// A list-or-watch handler for one resource type, namespaced by the `{ns}` path segment or not.
fn collection(
    kind: Kind,
    namespaced: bool,
) -> impl Fn(Data<Shared>, HttpRequest, web::Query<ListQuery>) -> CollectionFuture + Clone + 'static {
    move |shared, req, query| {
        let namespace = namespaced.then(|| req.match_info().get("ns").unwrap_or_default().to_owned());
        Box::pin(async move {
            let result = if flag(&query.watch) {
                watch(shared.into_inner(), kind, namespace, &query)
            } else {
                list(&shared, kind, namespace.as_deref(), &query)
            };
            result.unwrap_or_else(|e| error(&e))
        })
    }
}

fn list(shared: &Shared, kind: Kind, namespace: Option<&str>, q: &ListQuery) -> Result<HttpResponse, ApiError> {
    let selector =
        Selector::parse(q.label_selector.as_deref(), q.field_selector.as_deref()).map_err(ApiError::bad_request)?;
    let limit = number::<usize>("limit", &q.limit)?.filter(|&l| l > 0);
    let after = match q.continue_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Some(Continue::decode(token).ok_or_else(|| ApiError::bad_request("invalid continue token"))?),
        None => None,
    };
    let (rv, items, next) = {
        let state = shared.read();
        let (items, next) = state.list(kind, namespace, &selector, after.as_ref(), limit);
        // Every page reports the first page's version, so a watch started after the last page replays
        // whatever changed while paging.
        (after.as_ref().map_or(state.rv(), |c| c.rv), items, next)
    };
    let continue_part = next.map_or_else(String::new, |c| format!(",\"continue\":{}", json!(c.encode())));
    let mut body = Vec::with_capacity(items.iter().map(|o| o.json.len() + 1).sum::<usize>() + 160);
    body.extend_from_slice(
        format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{rv}\"{continue_part}}},\"items\":[",
            kind.list_kind(),
            kind.api_version()
        )
        .as_bytes(),
    );
    for (i, obj) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&obj.json);
    }
    body.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

fn watch(shared: Arc<Shared>, kind: Kind, namespace: Option<String>, q: &ListQuery) -> Result<HttpResponse, ApiError> {
    let selector =
        Selector::parse(q.label_selector.as_deref(), q.field_selector.as_deref()).map_err(ApiError::bad_request)?;
    let timeout = number::<u64>("timeoutSeconds", &q.timeout_seconds)?;
    let send_initial_events = flag(&q.send_initial_events);
    let from = q.resource_version.as_deref().unwrap_or_default();
    // "" and "0" mean "start from the current state", which the real server delivers as ADDED events.
    let start_rv = match from {
        "" | "0" => None,
        rv => Some(number::<u64>("resourceVersion", &Some(rv.to_owned()))?.unwrap_or_default()),
    };
    let (cursor, initial) = if send_initial_events || start_rv.is_none() {
        let state = shared.read();
        let (items, _) = state.list(kind, namespace.as_deref(), &selector, None, None);
        (state.rv(), items)
    } else {
        (start_rv.unwrap_or_default(), Vec::new())
    };
    let now = Instant::now();
    let stream = WatchStream {
        changed: shared.subscribe(),
        kind,
        namespace,
        selector,
        cursor,
        initial: initial.into_iter(),
        initial_end_bookmark: send_initial_events,
        bookmarks: flag(&q.allow_watch_bookmarks).then(|| now + shared.bookmark_interval),
        deadline: timeout.map(|t| now + Duration::from_secs(t)),
        finished: false,
        shared,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(chunk), s))
    });
    Ok(HttpResponse::Ok().content_type("application/json").streaming(body))
}

/// The state of one open watch: first the initial objects, then live events from the history.
struct WatchStream {
    shared: Arc<Shared>,
    changed: tokio::sync::watch::Receiver<u64>,
    kind: Kind,
    namespace: Option<String>,
    selector: Selector,
    /// The resourceVersion this watcher has seen everything up to.
    cursor: u64,
    initial: std::vec::IntoIter<Arc<Stored>>,
    initial_end_bookmark: bool,
    /// When the next BOOKMARK is due; `None` when the client did not allow bookmarks.
    bookmarks: Option<Instant>,
    deadline: Option<Instant>,
    finished: bool,
}

impl WatchStream {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.finished || !self.shared.available() || self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let mut buf = Vec::new();
            for obj in self.initial.by_ref().take(WATCH_BATCH) {
                push_event(&mut buf, "ADDED", &obj.json);
            }
            if !buf.is_empty() {
                return Some(Bytes::from(buf));
            }
            if self.initial_end_bookmark {
                self.initial_end_bookmark = false;
                return Some(self.bookmark(true));
            }

            // Mark the notification seen before reading, so a change landing after the read still wakes us.
            self.changed.borrow_and_update();
            let events = self.shared.read().events_after(
                self.kind,
                self.namespace.as_deref(),
                &self.selector,
                &mut self.cursor,
                WATCH_BATCH,
            );
            match events {
                Err(expired) => {
                    self.finished = true;
                    let mut buf = Vec::new();
                    push_event(&mut buf, "ERROR", expired.status_json().to_string().as_bytes());
                    return Some(Bytes::from(buf));
                }
                Ok((events, _)) if !events.is_empty() => {
                    for Event { ty, obj, .. } in &events {
                        push_event(&mut buf, ty.as_str(), &obj.json);
                    }
                    return Some(Bytes::from(buf));
                }
                // A full batch of events of other kinds or not matching the selector: keep scanning.
                Ok((_, false)) => continue,
                Ok((_, true)) => {}
            }

            let far = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                changed = self.changed.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(self.bookmarks.unwrap_or(far)), if self.bookmarks.is_some() => {
                    self.bookmarks = Some(Instant::now() + self.shared.bookmark_interval);
                    return Some(self.bookmark(false));
                }
                () = tokio::time::sleep_until(self.deadline.unwrap_or(far)), if self.deadline.is_some() => {
                    return None;
                }
            }
        }
    }

    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": self.cursor.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object = json!({ "kind": self.kind.kind(), "apiVersion": self.kind.api_version(), "metadata": metadata });
        let mut buf = Vec::new();
        push_event(&mut buf, "BOOKMARK", object.to_string().as_bytes());
        Bytes::from(buf)
    }
}

fn push_event(buf: &mut Vec<u8>, ty: &str, object: &[u8]) {
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(ty.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    buf.extend_from_slice(object);
    buf.extend_from_slice(b"}\n");
}

fn get_namespaced(kind: Kind) -> impl Fn(Data<Shared>, web::Path<(String, String)>) -> CollectionFuture + Clone {
    move |shared, path| {
        let (namespace, name) = path.into_inner();
        Box::pin(async move { get(&shared, kind, &namespace, &name) })
    }
}

async fn get_node(shared: Data<Shared>, name: web::Path<String>) -> HttpResponse {
    get(&shared, Kind::Node, "", &name)
}

fn get(shared: &Shared, kind: Kind, namespace: &str, name: &str) -> HttpResponse {
    match shared.read().get(kind, namespace, name) {
        Some(obj) => object(StatusCode::OK, &obj),
        None => error(&ApiError::not_found(kind, name)),
    }
}

/// Parses a write's body and checks its namespace against the path, as the real server does.
fn lease_body(body: &[u8], namespace: &str, name: Option<&str>) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Err(ApiError::new(422, "Invalid", "metadata is required"));
    };
    match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns != namespace => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        _ => {
            meta.insert("namespace".into(), namespace.into());
        }
    }
    if let Some(name) = name
        && meta.get("name").and_then(Value::as_str) != Some(name)
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(value)
}

async fn create_lease(shared: Data<Shared>, namespace: web::Path<String>, body: Bytes) -> HttpResponse {
    lease_body(&body, &namespace, None)
        .and_then(|value| shared.write(|s| s.put(Kind::Lease, value, PutMode::Create)))
        .map_or_else(|e| error(&e), |obj| object(StatusCode::CREATED, &obj))
}

async fn replace_lease(shared: Data<Shared>, path: web::Path<(String, String)>, body: Bytes) -> HttpResponse {
    let (namespace, name) = path.into_inner();
    lease_body(&body, &namespace, Some(&name))
        .and_then(|value| shared.write(|s| s.put(Kind::Lease, value, PutMode::Replace)))
        .map_or_else(|e| error(&e), |obj| object(StatusCode::OK, &obj))
}

async fn delete_lease(shared: Data<Shared>, path: web::Path<(String, String)>) -> HttpResponse {
    let (namespace, name) = path.into_inner();
    match shared.write(|s| s.delete(Kind::Lease, &namespace, &name)) {
        Some(obj) => object(StatusCode::OK, &obj),
        None => error(&ApiError::not_found(Kind::Lease, &name)),
    }
}

async fn version() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

async fn api_versions(req: HttpRequest) -> HttpResponse {
    let address = req.connection_info().host().to_owned();
    HttpResponse::Ok().json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": address }],
    }))
}

async fn api_groups() -> HttpResponse {
    let version = json!({ "groupVersion": "coordination.k8s.io/v1", "version": "v1" });
    HttpResponse::Ok().json(json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [{ "name": "coordination.k8s.io", "versions": [version], "preferredVersion": version }],
    }))
}
