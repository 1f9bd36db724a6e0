use serde::{Deserialize, Serialize};

/// A pod label condition, `{"key","value"}` on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Selector {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// One PID-level entry served to the scheduler by
/// `GET /api/v1/scheduling/strategies`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulingDecision {
    /// Always an integer: the scheduler fails the whole reply otherwise.
    pub priority: i64,
    /// Nanoseconds, never negative on the wire.
    pub execution_time: u64,
    /// Host TGID; omitted when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<Selector>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command_regex: String,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}
