use std::collections::BTreeMap;

/// What the DM knows of a pod beyond its cgroup-derived UID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodMeta {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// Whether pod names and labels can be resolved, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodMetadataStatus {
    /// Labels are current.
    Ready,
    /// A source exists but is failing; the last good data keeps being used.
    Degraded(String),
    /// No source is configured: selector templates match nothing.
    NotConfigured(String),
}
