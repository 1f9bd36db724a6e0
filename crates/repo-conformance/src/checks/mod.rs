//! One `pub async fn` per rule of the repository contract; each expects a
//! fresh, empty repository and panics on a violation.

mod audit;
mod concurrency;
mod identity;
mod runtime_configs;
mod schedule;
mod sessions;

pub use audit::*;
pub use concurrency::*;
pub use identity::*;
pub use runtime_configs::*;
pub use schedule::*;
pub use sessions::*;

use gthulhu_domain::manager::RepoError;

fn conflict(field: &str) -> RepoError {
    RepoError::Conflict(field.into())
}

fn names(list: &[impl AsRef<str>]) -> Vec<String> {
    list.iter().map(|s| s.as_ref().to_owned()).collect()
}
