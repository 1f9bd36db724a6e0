//! The Decision Maker's HTTP API, spawned for real on a random loopback
//! port with the real services over a mocked process index.

mod auth;
mod bodies;
mod encoding;
mod errors;
mod helpers;
mod hostile;
mod intents;
mod legacy;
mod mtls;
mod node_intents;
mod pods;
mod roles;
mod runtime_config;
mod scheduler_client;
mod slow_clients;
