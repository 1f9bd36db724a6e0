//! The embedded Manager store (manager.md 14.3): one redb file, one table
//! per collection plus secondary-index tables, JSON values. Each repository
//! operation is one redb transaction, run on the blocking thread pool.

mod audit;
mod database;
mod durability;
mod error;
mod repository;
mod runtime_configs;
mod sessions;
mod strategy_cache;
mod tables;

pub use database::RedbRepository;
