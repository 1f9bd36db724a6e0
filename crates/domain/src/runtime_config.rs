//! The scheduler runtime configuration (sessions-and-runtime.md 13): the
//! same object on every hop (client → Manager → DM → scheduler daemon),
//! its normalisation, validation and content equality. Shared by both
//! services so they refuse exactly the same configs.

use serde::{Deserialize, Serialize};

/// The sched_ext schedulers the daemon can run (its allow-list). The web
/// UI keeps a copy that a test compares with this one.
pub const SCX_SCHEDULERS: [&str; 17] = [
    "scx_beerland",
    "scx_bpfland",
    "scx_cake",
    "scx_chaos",
    "scx_cosmos",
    "scx_flash",
    "scx_lavd",
    "scx_layered",
    "scx_mitosis",
    "scx_p2dq",
    "scx_pandemonium",
    "scx_rlfifo",
    "scx_rustland",
    "scx_rusty",
    "scx_tickless",
    "scx_timely",
    "scx_wd40",
];

/// Longest accepted slice, in ns (1 s).
pub const MAX_SLICE_NS: u64 = 1_000_000_000;
const MAX_VERSION_BYTES: usize = 128;

/// Every key is always serialised, `false` and 0 included: the daemon
/// reads a missing boolean as "keep the current value", so an omitted
/// `false` could never turn a flag off (upstream's `omitempty` bug). A
/// missing key on input is `false`/0/empty, which is what an upstream
/// Manager that omitted it meant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeSchedulerConfig {
    pub config_version: String,
    /// `none`, `gthulhu`, `simple` or `scx`.
    pub mode: String,
    /// Only for `scx`.
    pub scheduler_name: String,
    /// 0 = leave the daemon's current value.
    pub slice_ns_default: u64,
    /// 0 = leave the daemon's current value.
    pub slice_ns_min: u64,
    pub kernel_mode: bool,
    pub max_time_watchdog: bool,
    pub early_processing: bool,
    pub builtin_idle: bool,
    /// Derived from `mode` by [`RuntimeSchedulerConfig::normalized`].
    pub scheduler_enabled: bool,
    pub monitoring_enabled: bool,
}

impl RuntimeSchedulerConfig {
    /// Applied before validation, storage, sending and comparison.
    pub fn normalized(mut self) -> Self {
        self.mode = self.mode.trim().to_string();
        self.scheduler_name = self.scheduler_name.trim().to_string();
        if self.mode.is_empty() {
            self.mode = if self.scheduler_enabled { "gthulhu" } else { "none" }.into();
        }
        match self.mode.as_str() {
            "none" => {
                self.scheduler_enabled = false;
                self.scheduler_name.clear();
            }
            "gthulhu" | "simple" => {
                self.scheduler_enabled = true;
                self.scheduler_name.clear();
            }
            "scx" => self.scheduler_enabled = true,
            _ => {}
        }
        self
    }

    /// The first rule a (normalised) config breaks, with field names
    /// behind `prefix` (`config.` on the Manager, empty on the DM).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        let version = &self.config_version;
        if version.is_empty() {
            return Err(format!("{prefix}configVersion is required"));
        }
        if version.len() > MAX_VERSION_BYTES || !version.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(format!(
                "{prefix}configVersion must be 1-{MAX_VERSION_BYTES} printable ASCII characters"
            ));
        }
        if !matches!(self.mode.as_str(), "none" | "gthulhu" | "simple" | "scx") {
            return Err(format!("{prefix}mode must be one of none, gthulhu, simple, scx"));
        }
        if self.mode == "scx" && !SCX_SCHEDULERS.contains(&self.scheduler_name.as_str()) {
            return Err(format!(
                "{prefix}schedulerName: unknown scx scheduler {:?}",
                self.scheduler_name
            ));
        }
        for (name, value) in [
            ("sliceNsDefault", self.slice_ns_default),
            ("sliceNsMin", self.slice_ns_min),
        ] {
            if value > MAX_SLICE_NS {
                return Err(format!("{prefix}{name} must be <= {MAX_SLICE_NS}"));
            }
        }
        if self.slice_ns_default != 0 && self.slice_ns_min != 0 && self.slice_ns_min > self.slice_ns_default {
            return Err(format!("{prefix}sliceNsMin must be <= {prefix}sliceNsDefault"));
        }
        Ok(())
    }

    /// Whether `actual` runs this (desired) config: everything but the
    /// version equal, and each slice equal or 0 here (0 = "leave as is").
    pub fn content_matches(&self, actual: &Self) -> bool {
        let slice = |desired: u64, actual: u64| desired == 0 || desired == actual;
        self.mode == actual.mode
            && self.scheduler_name == actual.scheduler_name
            && self.scheduler_enabled == actual.scheduler_enabled
            && self.monitoring_enabled == actual.monitoring_enabled
            && self.kernel_mode == actual.kernel_mode
            && self.max_time_watchdog == actual.max_time_watchdog
            && self.early_processing == actual.early_processing
            && self.builtin_idle == actual.builtin_idle
            && slice(self.slice_ns_default, actual.slice_ns_default)
            && slice(self.slice_ns_min, actual.slice_ns_min)
    }
}

/// What the scheduler daemon reports about itself (`GET /api/v1/status`,
/// sessions-and-runtime.md 17.2). The config keys mean something only when
/// `config_available`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeStatus {
    pub applied: bool,
    pub applied_at: String,
    pub restart_count: u64,
    pub last_error: String,
    pub config_available: bool,
    #[serde(flatten)]
    pub config: RuntimeSchedulerConfig,
}

impl RuntimeStatus {
    /// The DM's answer body: the status keys always, the config keys (all
    /// booleans explicit) only when the daemon has a config.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if !self.config_available
            && let Some(map) = value.as_object_mut()
        {
            let config_keys = serde_json::to_value(RuntimeSchedulerConfig::default()).unwrap_or_default();
            for key in config_keys.as_object().into_iter().flat_map(|m| m.keys()) {
                if key != "configVersion" {
                    map.remove(key);
                }
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: &str) -> RuntimeSchedulerConfig {
        RuntimeSchedulerConfig {
            config_version: "v1".into(),
            mode: mode.into(),
            ..Default::default()
        }
        .normalized()
    }

    #[test]
    fn normalisation_derives_enabled_and_clears_names() {
        let c = RuntimeSchedulerConfig {
            mode: " gthulhu ".into(),
            scheduler_name: "scx_lavd".into(),
            ..Default::default()
        }
        .normalized();
        assert_eq!(
            (c.mode.as_str(), c.scheduler_name.as_str(), c.scheduler_enabled),
            ("gthulhu", "", true)
        );
        let c = RuntimeSchedulerConfig {
            scheduler_enabled: true,
            ..Default::default()
        }
        .normalized();
        assert_eq!(c.mode, "gthulhu");
        let c = config("");
        assert_eq!((c.mode.as_str(), c.scheduler_enabled), ("none", false));
        let mut scx = config("scx");
        scx.scheduler_name = " scx_lavd ".into();
        let scx = scx.normalized();
        assert_eq!((scx.scheduler_name.as_str(), scx.scheduler_enabled), ("scx_lavd", true));
    }

    #[test]
    fn validation_names_the_field_behind_the_prefix() {
        let cases = [
            (
                RuntimeSchedulerConfig {
                    config_version: String::new(),
                    ..config("none")
                },
                "config.configVersion is required",
            ),
            (
                RuntimeSchedulerConfig {
                    config_version: "é".into(),
                    ..config("none")
                },
                "config.configVersion must be 1-128 printable ASCII characters",
            ),
            (
                RuntimeSchedulerConfig {
                    config_version: "v".repeat(129),
                    ..config("none")
                },
                "config.configVersion must be 1-128 printable ASCII characters",
            ),
            (config("fifo"), "config.mode must be one of none, gthulhu, simple, scx"),
            (
                RuntimeSchedulerConfig {
                    scheduler_name: "scx_foo".into(),
                    ..config("scx")
                },
                "config.schedulerName: unknown scx scheduler \"scx_foo\"",
            ),
            (
                RuntimeSchedulerConfig {
                    slice_ns_min: MAX_SLICE_NS + 1,
                    ..config("gthulhu")
                },
                "config.sliceNsMin must be <= 1000000000",
            ),
            (
                RuntimeSchedulerConfig {
                    slice_ns_default: 10,
                    slice_ns_min: 20,
                    ..config("gthulhu")
                },
                "config.sliceNsMin must be <= config.sliceNsDefault",
            ),
        ];
        for (c, error) in cases {
            assert_eq!(c.validate("config."), Err(error.to_string()), "{c:?}");
        }
        assert_eq!(
            config("fifo").validate(""),
            Err("mode must be one of none, gthulhu, simple, scx".into())
        );
        let ok = RuntimeSchedulerConfig {
            scheduler_name: "scx_lavd".into(),
            slice_ns_min: 20,
            ..config("scx")
        };
        assert_eq!(ok.validate(""), Ok(()), "a min slice with the default left as is");
    }

    #[test]
    fn content_ignores_the_version_and_desired_zero_slices() {
        let desired = RuntimeSchedulerConfig {
            kernel_mode: true,
            slice_ns_default: 0,
            ..config("gthulhu")
        };
        let actual = RuntimeSchedulerConfig {
            config_version: "other".into(),
            slice_ns_default: 5_000_000,
            ..desired.clone()
        };
        assert!(desired.content_matches(&actual));
        assert!(!actual.content_matches(&desired), "a non-zero desired slice must match");
        let flag_off = RuntimeSchedulerConfig {
            kernel_mode: false,
            ..actual.clone()
        };
        assert!(!desired.content_matches(&flag_off));
    }

    #[test]
    fn every_boolean_is_serialised_and_missing_ones_are_false() {
        let text = serde_json::to_string(&config("gthulhu")).unwrap();
        for key in [
            "kernelMode",
            "maxTimeWatchdog",
            "earlyProcessing",
            "builtinIdle",
            "schedulerEnabled",
            "monitoringEnabled",
        ] {
            assert!(text.contains(&format!("\"{key}\":")), "{key} in {text}");
        }
        assert!(text.contains("\"kernelMode\":false"));
        let c: RuntimeSchedulerConfig = serde_json::from_str(r#"{"configVersion":"v","mode":"simple"}"#).unwrap();
        assert!(!c.kernel_mode && !c.monitoring_enabled);
        assert!(serde_json::from_str::<RuntimeSchedulerConfig>(r#"{"kernelMode":"yes"}"#).is_err());
    }

    #[test]
    fn status_without_a_config_shows_only_the_status_keys() {
        let status = RuntimeStatus {
            config: config("gthulhu"),
            ..Default::default()
        };
        let json = status.to_json();
        assert_eq!(json["configVersion"], "v1");
        assert_eq!(json["applied"], false);
        assert!(json.get("mode").is_none() && json.get("kernelMode").is_none(), "{json}");
        let json = RuntimeStatus {
            config_available: true,
            ..status
        }
        .to_json();
        assert_eq!(
            (json["mode"].as_str(), json["kernelMode"].as_bool()),
            (Some("gthulhu"), Some(false))
        );
    }
}
