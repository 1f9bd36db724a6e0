//! The Manager application: configuration in, a running service out.
//! `main` parses the configuration, starts telemetry, builds and runs;
//! tests and benchmarks build the same [`Application`].

mod app;
pub mod cli;
mod cluster;
mod keys;
mod storage;

pub use app::{Application, Overrides};
