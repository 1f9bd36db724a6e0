//! The Decision Maker application: configuration in, a running service
//! out. `main` parses the configuration, starts telemetry, builds and
//! runs; tests and benchmarks build the same [`Application`].

mod app;
pub mod cli;
mod identity;
mod pod_metadata;

pub use app::{Application, Overrides};
