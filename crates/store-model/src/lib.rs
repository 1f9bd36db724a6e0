//! The stored documents of manager.md 14.2, one model for every store:
//! MongoDB keeps them as BSON, redb as JSON, both through serde.
//!
//! Every id (`_id` included) is its 24-hex string: some MongoDB wire
//! servers cannot match ObjectId-typed fields other than `_id`, and a
//! string compares in the same order, so sorting by `_id` stays creation
//! order. Integers decode from either width (some servers narrow small
//! int64 values to int32).

mod audit;
mod identity;
mod runtime;
mod schedule;
mod session;

pub use audit::AuditDoc;
pub use identity::{PermissionDoc, RoleDoc, UserDoc, rename_role};
pub use runtime::RuntimeConfigDoc;
pub use schedule::{IntentDoc, LabelDoc, StrategyDoc};
pub use session::SessionDoc;
