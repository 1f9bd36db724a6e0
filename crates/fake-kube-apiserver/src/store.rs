//! The object store: every object serialized once per change, one global resourceVersion counter and a
//! bounded history of change events that watches replay from.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use actix_web::web::Bytes;
use serde_json::{Map, Value, json};

use crate::selector::Selector;

/// The resource types the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pod,
    Node,
    Lease,
}

impl Kind {
    const ALL: usize = 3;

    fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn api_version(self) -> &'static str {
        match self {
            Kind::Pod | Kind::Node => "v1",
            Kind::Lease => "coordination.k8s.io/v1",
        }
    }

    pub(crate) fn kind(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Node => "Node",
            Kind::Lease => "Lease",
        }
    }

    pub(crate) fn list_kind(self) -> &'static str {
        match self {
            Kind::Pod => "PodList",
            Kind::Node => "NodeList",
            Kind::Lease => "LeaseList",
        }
    }

    /// The name Kubernetes uses in error messages and `Status.details.kind`.
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Node => "nodes",
            Kind::Lease => "leases.coordination.k8s.io",
        }
    }

    fn namespaced(self) -> bool {
        !matches!(self, Kind::Node)
    }
}

/// One stored object: its serialized JSON plus the few fields selectors and bookkeeping need, extracted
/// once so that listing and filtering 150,000 pods never re-parses them.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub(crate) rv: u64,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) created: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// `spec.nodeName`, empty when absent (that is what `spec.nodeName=` selects).
    pub(crate) node_name: String,
    /// `status.phase`, empty when absent.
    pub(crate) phase: String,
    pub(crate) json: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    rv: u64,
    kind: Kind,
    pub(crate) ty: EventType,
    pub(crate) obj: Arc<Stored>,
}

/// A failed request, rendered as a Kubernetes `Status` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    details: Option<(String, Kind)>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn not_found(kind: Kind, name: &str) -> Self {
        ApiError {
            details: Some((name.to_owned(), kind)),
            ..ApiError::new(404, "NotFound", format!("{} \"{name}\" not found", kind.resource()))
        }
    }

    pub(crate) fn expired(rv: u64) -> Self {
        ApiError::new(410, "Expired", format!("too old resource version: {rv}"))
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub(crate) fn status_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some((name, kind)) = &self.details {
            let (group, kind_name) = match kind.resource().split_once('.') {
                Some((plural, group)) => (group, plural),
                None => ("", kind.resource()),
            };
            status["details"] = json!({ "name": name, "group": group, "kind": kind_name });
        }
        status
    }
}

/// How a write treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutMode {
    /// Test-control writes: create or overwrite, whatever is there.
    Upsert,
    /// `POST`: 409 AlreadyExists if present.
    Create,
    /// `PUT`: 404 if absent, 409 Conflict if the body's `metadata.resourceVersion` is stale.
    Replace,
}

/// Where a paged list continues: the list's resourceVersion and the last key already returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Continue {
    pub(crate) rv: u64,
    key: (String, String),
}

impl Continue {
    pub(crate) fn encode(&self) -> String {
        format!("{}/{}/{}", self.rv, self.key.0, self.key.1)
    }

    pub(crate) fn decode(token: &str) -> Option<Continue> {
        let mut parts = token.splitn(3, '/');
        let rv = parts.next()?.parse().ok()?;
        let key = (parts.next()?.to_owned(), parts.next()?.to_owned());
        Some(Continue { rv, key })
    }
}

type Key = (String, String);

pub(crate) struct State {
    rv: u64,
    objects: [BTreeMap<Key, Arc<Stored>>; Kind::ALL],
    history: VecDeque<Event>,
    /// Every event with a resourceVersion above this one is still in `history`.
    floor: u64,
    history_limit: usize,
}

impl State {
    fn new(history_limit: usize) -> Self {
        State {
            rv: 0,
            objects: Default::default(),
            history: VecDeque::new(),
            floor: 0,
            history_limit: history_limit.max(1),
        }
    }

    pub(crate) fn rv(&self) -> u64 {
        self.rv
    }

    pub(crate) fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Stored>> {
        self.objects[kind.index()]
            .get(&(ns_of(kind, namespace), name.to_owned()))
            .cloned()
    }

    /// Matching objects in key order after `after`, at most `limit` of them; the bool says whether more remain.
    pub(crate) fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: &Selector,
        after: Option<&Continue>,
        limit: Option<usize>,
    ) -> (Vec<Arc<Stored>>, Option<Continue>) {
        let map = &self.objects[kind.index()];
        let start = match (after, namespace) {
            (Some(c), _) => Bound::Excluded(c.key.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut more = false;
        for (key, obj) in map.range((start, Bound::Unbounded)) {
            if namespace.is_some_and(|ns| key.0 != ns) {
                break;
            }
            if !selector.matches(obj) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(Arc::clone(obj));
        }
        let next = match (more, items.last()) {
            (true, Some(last)) => Some(Continue {
                rv: after.map_or(self.rv, |c| c.rv),
                key: (last.namespace.clone(), last.name.clone()),
            }),
            _ => None,
        };
        (items, next)
    }

    /// Events after `*cursor` for `kind`, at most `max` scanned, and advances the cursor past what was
    /// scanned; the bool says whether the scan reached the newest event. 410 Expired when events the
    /// caller has not seen were already evicted.
    pub(crate) fn events_after(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: &Selector,
        cursor: &mut u64,
        max: usize,
    ) -> Result<(Vec<Event>, bool), ApiError> {
        if *cursor < self.floor {
            return Err(ApiError::expired(*cursor));
        }
        let first = self.history.partition_point(|e| e.rv <= *cursor);
        let scanned = self.history.range(first..).take(max);
        let mut out = Vec::new();
        let mut last = None;
        for e in scanned {
            last = Some(e.rv);
            if e.kind == kind && namespace.is_none_or(|ns| e.obj.namespace == ns) && selector.matches(&e.obj) {
                out.push(e.clone());
            }
        }
        // Every change is recorded, so once the scan reached the end the cursor is the current version.
        match last {
            Some(rv) if rv < self.history.back().map_or(0, |e| e.rv) => {
                *cursor = rv;
                Ok((out, false))
            }
            _ => {
                *cursor = (*cursor).max(self.rv);
                Ok((out, true))
            }
        }
    }

    pub(crate) fn put(&mut self, kind: Kind, mut value: Value, mode: PutMode) -> Result<Arc<Stored>, ApiError> {
        let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(ApiError::new(422, "Invalid", "metadata is required"));
        };
        let name = str_field(meta, "name");
        if name.is_empty() {
            return Err(ApiError::new(
                422,
                "Invalid",
                "metadata.name: Required value: name is required",
            ));
        }
        let namespace = ns_of(kind, &str_field(meta, "namespace"));
        let key = (namespace.clone(), name.clone());
        let existing = self.objects[kind.index()].get(&key).cloned();
        match (mode, &existing) {
            (PutMode::Create, Some(_)) => {
                return Err(ApiError {
                    details: Some((name.clone(), kind)),
                    ..ApiError::new(
                        409,
                        "AlreadyExists",
                        format!("{} \"{name}\" already exists", kind.resource()),
                    )
                });
            }
            (PutMode::Replace, None) => return Err(ApiError::not_found(kind, &name)),
            (PutMode::Replace, Some(old)) => {
                let wanted = str_field(meta, "resourceVersion");
                if !wanted.is_empty() && wanted != old.rv.to_string() {
                    return Err(ApiError {
                        details: Some((name.clone(), kind)),
                        ..ApiError::new(
                            409,
                            "Conflict",
                            format!(
                                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                                 please apply your changes to the latest version and try again",
                                kind.resource()
                            ),
                        )
                    });
                }
            }
            _ => {}
        }

        self.rv += 1;
        let uid = non_empty(str_field(meta, "uid"))
            .or_else(|| existing.as_ref().map(|o| o.uid.clone()))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let created = existing
            .as_ref()
            .map(|o| o.created.clone())
            .or_else(|| non_empty(str_field(meta, "creationTimestamp")))
            .unwrap_or_else(now_rfc3339);
        meta.insert("uid".into(), uid.clone().into());
        meta.insert("creationTimestamp".into(), created.clone().into());
        meta.insert("resourceVersion".into(), self.rv.to_string().into());
        if kind.namespaced() {
            meta.insert("namespace".into(), namespace.clone().into());
        }
        let labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let obj = value.as_object_mut().expect("metadata was found in an object");
        obj.insert("apiVersion".into(), kind.api_version().into());
        obj.insert("kind".into(), kind.kind().into());
        let nested = |section: &str, field: &str| {
            value
                .get(section)
                .and_then(|s| s.get(field))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let stored = Arc::new(Stored {
            rv: self.rv,
            namespace,
            name,
            uid,
            created,
            labels,
            node_name: nested("spec", "nodeName"),
            phase: nested("status", "phase"),
            json: Bytes::from(serde_json::to_vec(&value).expect("a JSON value serializes")),
        });
        self.objects[kind.index()].insert(key, Arc::clone(&stored));
        let ty = if existing.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(kind, ty, Arc::clone(&stored));
        Ok(stored)
    }

    pub(crate) fn delete(&mut self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Stored>> {
        let old = self.objects[kind.index()].remove(&(ns_of(kind, namespace), name.to_owned()))?;
        self.rv += 1;
        // Like the real server, the DELETED object carries the deletion's resourceVersion, so a watcher's
        // bookmark moves past it.
        let mut value: Value = serde_json::from_slice(&old.json).expect("stored JSON parses");
        value["metadata"]["resourceVersion"] = self.rv.to_string().into();
        let gone = Arc::new(Stored {
            rv: self.rv,
            namespace: old.namespace.clone(),
            name: old.name.clone(),
            uid: old.uid.clone(),
            created: old.created.clone(),
            labels: old.labels.clone(),
            node_name: old.node_name.clone(),
            phase: old.phase.clone(),
            json: Bytes::from(serde_json::to_vec(&value).expect("a JSON value serializes")),
        });
        self.record(kind, EventType::Deleted, Arc::clone(&gone));
        Some(gone)
    }

    fn record(&mut self, kind: Kind, ty: EventType, obj: Arc<Stored>) {
        self.history.push_back(Event {
            rv: self.rv,
            kind,
            ty,
            obj,
        });
        while self.history.len() > self.history_limit {
            if let Some(evicted) = self.history.pop_front() {
                self.floor = evicted.rv;
            }
        }
    }

    pub(crate) fn expire_history(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }
}

fn ns_of(kind: Kind, namespace: &str) -> String {
    match (kind.namespaced(), namespace) {
        (false, _) => String::new(),
        (true, "") => "default".to_owned(),
        (true, ns) => ns.to_owned(),
    }
}

fn str_field(meta: &Map<String, Value>, field: &str) -> String {
    meta.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Kubernetes timestamps have whole seconds.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC timestamp formats as RFC 3339")
}

/// Everything the HTTP handlers and the test-control API share.
pub(crate) struct Shared {
    state: RwLock<State>,
    /// Bumped after every change (and availability flip) to wake open watch streams.
    changed: tokio::sync::watch::Sender<u64>,
    available: AtomicBool,
    requests: AtomicU64,
    pub(crate) bookmark_interval: Duration,
}

impl Shared {
    pub(crate) fn new(history_limit: usize, bookmark_interval: Duration) -> Self {
        Shared {
            state: RwLock::new(State::new(history_limit)),
            changed: tokio::sync::watch::Sender::new(0),
            available: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            bookmark_interval,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.state.write().unwrap_or_else(PoisonError::into_inner));
        self.notify();
        result
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    pub(crate) fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
        self.notify();
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn resource_versions_and_history_replay() {
        let mut s = State::new(100);
        let a = s.put(Kind::Pod, pod("a"), PutMode::Upsert).unwrap();
        let b = s.put(Kind::Pod, pod("b"), PutMode::Upsert).unwrap();
        assert_eq!((a.rv, b.rv), (1, 2));
        assert_eq!(b.node_name, "n1");
        let again = s.put(Kind::Pod, pod("a"), PutMode::Upsert).unwrap();
        assert_eq!(again.uid, a.uid, "an update keeps the uid");
        assert!(s.delete(Kind::Pod, "ns", "b").is_some());
        assert!(s.delete(Kind::Pod, "ns", "b").is_none());

        let mut cursor = 1;
        let (events, caught_up) = s
            .events_after(Kind::Pod, None, &Selector::default(), &mut cursor, 100)
            .unwrap();
        assert!(caught_up);
        let seen: Vec<_> = events.iter().map(|e| (e.ty, e.obj.name.as_str(), e.obj.rv)).collect();
        assert_eq!(
            seen,
            [
                (EventType::Added, "b", 2),
                (EventType::Modified, "a", 3),
                (EventType::Deleted, "b", 4)
            ]
        );
        assert_eq!(cursor, 4);
    }

    #[test]
    fn bounded_history_expires_old_cursors() {
        let mut s = State::new(2);
        for name in ["a", "b", "c"] {
            s.put(Kind::Pod, pod(name), PutMode::Upsert).unwrap();
        }
        let sel = Selector::default();
        assert_eq!(s.events_after(Kind::Pod, None, &sel, &mut 0, 10).unwrap_err().code, 410);
        let mut cursor = 1;
        let (events, caught_up) = s.events_after(Kind::Pod, None, &sel, &mut cursor, 1).unwrap();
        assert_eq!(
            (events.len(), caught_up, cursor),
            (1, false, 2),
            "a capped scan stops where it read"
        );
        let (events, caught_up) = s.events_after(Kind::Pod, None, &sel, &mut cursor, 1).unwrap();
        assert_eq!((events.len(), caught_up, cursor), (1, true, 3));
        s.expire_history();
        assert_eq!(s.events_after(Kind::Pod, None, &sel, &mut 2, 10).unwrap_err().code, 410);
        assert!(s.events_after(Kind::Pod, None, &sel, &mut 3, 10).unwrap().0.is_empty());
    }

    #[test]
    fn paging_follows_key_order_and_keeps_the_first_page_version() {
        let mut s = State::new(100);
        for name in ["c", "a", "b"] {
            s.put(Kind::Pod, pod(name), PutMode::Upsert).unwrap();
        }
        let sel = Selector::default();
        let (page, next) = s.list(Kind::Pod, Some("ns"), &sel, None, Some(2));
        assert_eq!(page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let next = Continue::decode(&next.unwrap().encode()).unwrap();
        s.put(Kind::Pod, pod("d"), PutMode::Upsert).unwrap();
        let (page, last) = s.list(Kind::Pod, Some("ns"), &sel, Some(&next), Some(2));
        assert_eq!(page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["c", "d"]);
        assert!(last.is_none());
        assert_eq!(next.rv, 3);
        assert!(s.list(Kind::Pod, Some("other"), &sel, None, None).0.is_empty());
    }

    #[test]
    fn create_and_replace_preconditions() {
        let mut s = State::new(10);
        let lease = |rv: Option<&str>| {
            let mut v = json!({"metadata": {"name": "l", "namespace": "ns"}, "spec": {}});
            if let Some(rv) = rv {
                v["metadata"]["resourceVersion"] = rv.into();
            }
            v
        };
        assert_eq!(s.put(Kind::Lease, lease(None), PutMode::Replace).unwrap_err().code, 404);
        let created = s.put(Kind::Lease, lease(None), PutMode::Create).unwrap();
        let err = s.put(Kind::Lease, lease(None), PutMode::Create).unwrap_err();
        assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
        let replaced = s.put(Kind::Lease, lease(Some("1")), PutMode::Replace).unwrap();
        assert_eq!((replaced.rv, &replaced.uid), (2, &created.uid));
        let err = s.put(Kind::Lease, lease(Some("1")), PutMode::Replace).unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
    }
}
