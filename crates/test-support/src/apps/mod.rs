//! The two services in-process through their composition roots (feature
//! `apps`), so that every test runs the wiring `main` runs.

pub mod dm;
pub mod manager;
