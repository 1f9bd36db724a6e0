//! The Manager's HTTP API, spawned for real on a random loopback port with
//! the real services over the embedded redb store (no cluster).

mod bodies;
mod conformance;
mod flow;
mod helpers;
mod http;
mod nodes;
mod rbac;
mod reconcile;
mod runtime_config;
mod session_helpers;
mod sessions;
mod sessions_more;
mod slow_clients;
