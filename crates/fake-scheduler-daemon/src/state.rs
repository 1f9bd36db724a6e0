//! The daemon's state machine (sessions-and-runtime.md 18), without HTTP.

use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus, SCX_SCHEDULERS};
use serde_json::{Map, Value, json};

/// The booleans a POST overlays only when present (a missing one keeps
/// its value: the behaviour that made upstream unable to turn a flag off).
const OVERLAID_FLAGS: [&str; 5] = [
    "kernelMode",
    "maxTimeWatchdog",
    "earlyProcessing",
    "builtinIdle",
    "monitoringEnabled",
];

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// `None` when the body is empty or not JSON.
    pub json: Option<Value>,
}

/// An answer: HTTP status and JSON body.
pub(crate) type Answer = (u16, Value);

#[derive(Debug)]
pub(crate) struct State {
    pub installed: Vec<String>,
    pub status: RuntimeStatus,
    pub requests: Vec<Recorded>,
    pub fail_next_post: Option<(u16, String)>,
    /// After every successful change, put the previous config back (a
    /// daemon whose config keeps reverting, for drift tests).
    pub revert_after_apply: bool,
}

impl State {
    pub fn new(installed: Vec<String>, initial: RuntimeSchedulerConfig) -> Self {
        Self {
            installed,
            status: bootstrap_status(initial, 0),
            requests: Vec::new(),
            fail_next_post: None,
            revert_after_apply: false,
        }
    }

    /// As after a daemon restart: version `bootstrap`, not applied, the
    /// config kept (the runtime YAML survives), optionally one more restart.
    pub fn reset_to_bootstrap(&mut self, count_restart: bool) {
        let restarts = self.status.restart_count + u64::from(count_restart);
        self.status = bootstrap_status(self.status.config.clone(), restarts);
    }

    /// `GET /api/v1/status` (`omit_zero_restarts` for `GET
    /// /api/v1/runtime-config`, which leaves out `restartCount` when 0).
    pub fn status_answer(&self, omit_zero_restarts: bool) -> Answer {
        let mut data = self.status.to_json();
        if omit_zero_restarts
            && self.status.restart_count == 0
            && let Some(map) = data.as_object_mut()
        {
            map.remove("restartCount");
        }
        (200, json!({"success": true, "data": data}))
    }

    pub fn post(&mut self, body: &[u8], now: String) -> Answer {
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
            return refuse(400, "invalid request body");
        };
        let Some(version) = request
            .get("configVersion")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        else {
            return refuse(400, "configVersion is required");
        };
        if let Some((status, message)) = self.fail_next_post.take() {
            self.status.last_error = message.clone();
            return refuse(status, &message);
        }
        if self.status.applied && self.status.config.config_version == version {
            return (200, json!({"success": true, "noop": true}));
        }
        let next = match overlay(&self.status.config, &request) {
            Ok(next) => next,
            Err(message) => return refuse(400, &message),
        };
        if let Err(message) = self.check_mode(&next) {
            self.status.last_error = message.clone();
            return refuse(500, &message);
        }
        let changed = !same_settings(&next, &self.status.config);
        let previous = std::mem::replace(&mut self.status.config, next);
        self.status.config.config_version = version.to_string();
        self.status.applied = true;
        self.status.config_available = true;
        if !changed {
            return (200, json!({"success": true, "noop": true}));
        }
        self.status.applied_at = now;
        self.status.last_error.clear();
        if self.revert_after_apply {
            let version = self.status.config.config_version.clone();
            self.status.config = RuntimeSchedulerConfig {
                config_version: version,
                ..previous
            };
        }
        (200, json!({"success": true, "noop": false}))
    }

    fn check_mode(&self, config: &RuntimeSchedulerConfig) -> Result<(), String> {
        match config.mode.as_str() {
            "none" | "gthulhu" | "simple" => Ok(()),
            "scx" if !SCX_SCHEDULERS.contains(&config.scheduler_name.as_str()) => {
                Err(format!("unknown scx scheduler {:?}", config.scheduler_name))
            }
            "scx" if !self.installed.contains(&config.scheduler_name) => {
                Err(format!("{} binary not found", config.scheduler_name))
            }
            "scx" => Ok(()),
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

fn bootstrap_status(config: RuntimeSchedulerConfig, restart_count: u64) -> RuntimeStatus {
    RuntimeStatus {
        applied: false,
        applied_at: String::new(),
        restart_count,
        last_error: String::new(),
        config_available: true,
        config: RuntimeSchedulerConfig {
            config_version: "bootstrap".into(),
            ..config
        },
    }
}

fn refuse(status: u16, message: &str) -> Answer {
    (status, json!({"success": false, "error": message}))
}

/// The request laid over the current config, field by field (18 step 3).
fn overlay(current: &RuntimeSchedulerConfig, request: &Map<String, Value>) -> Result<RuntimeSchedulerConfig, String> {
    let mut next = current.clone();
    let text = |key: &str| {
        request
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let mode = text("mode");
    if !mode.is_empty() {
        next.mode = mode.clone();
        next.scheduler_enabled = mode != "none";
    }
    let name = text("schedulerName");
    if !name.is_empty() {
        next.scheduler_name = name;
    }
    for (key, slot) in [
        ("sliceNsDefault", &mut next.slice_ns_default),
        ("sliceNsMin", &mut next.slice_ns_min),
    ] {
        match request.get(key) {
            None | Some(Value::Null) => {}
            Some(value) => match value.as_u64() {
                Some(0) => {}
                Some(ns) => *slot = ns,
                None => return Err("invalid request payload".into()),
            },
        }
    }
    for key in OVERLAID_FLAGS {
        if let Some(value) = request.get(key) {
            let flag = value.as_bool().ok_or("invalid request payload")?;
            match key {
                "kernelMode" => next.kernel_mode = flag,
                "maxTimeWatchdog" => next.max_time_watchdog = flag,
                "earlyProcessing" => next.early_processing = flag,
                "builtinIdle" => next.builtin_idle = flag,
                _ => next.monitoring_enabled = flag,
            }
        }
    }
    if mode.is_empty()
        && let Some(enabled) = request.get("schedulerEnabled")
    {
        next.scheduler_enabled = enabled.as_bool().ok_or("invalid request payload")?;
    }
    Ok(next)
}

/// Equal settings, whatever the versions.
fn same_settings(a: &RuntimeSchedulerConfig, b: &RuntimeSchedulerConfig) -> bool {
    let unversioned = |c: &RuntimeSchedulerConfig| RuntimeSchedulerConfig {
        config_version: String::new(),
        ..c.clone()
    };
    unversioned(a) == unversioned(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon() -> State {
        State::new(
            vec!["scx_rusty".into()],
            RuntimeSchedulerConfig {
                mode: "gthulhu".into(),
                scheduler_enabled: true,
                kernel_mode: true,
                slice_ns_default: 20_000_000,
                ..Default::default()
            },
        )
    }

    fn post(state: &mut State, body: Value) -> Answer {
        state.post(body.to_string().as_bytes(), "2026-03-10T08:00:01Z".into())
    }

    #[test]
    fn a_repeated_version_is_a_noop_without_looking_at_the_content() {
        let mut d = daemon();
        assert_eq!(
            post(&mut d, json!({"configVersion": "v1", "kernelMode": false})).1["noop"],
            false
        );
        assert!(!d.status.config.kernel_mode);
        let again = post(&mut d, json!({"configVersion": "v1", "kernelMode": true}));
        assert_eq!(again, (200, json!({"success": true, "noop": true})));
        assert!(!d.status.config.kernel_mode, "content ignored on a repeated version");
    }

    #[test]
    fn missing_booleans_keep_their_value_and_zero_slices_are_ignored() {
        let mut d = daemon();
        post(&mut d, json!({"configVersion": "v1", "sliceNsDefault": 0, "mode": ""}));
        assert!(d.status.config.kernel_mode, "a missing flag keeps its value");
        assert_eq!(d.status.config.slice_ns_default, 20_000_000);
        assert_eq!(d.status.config.config_version, "v1");
        assert!(d.status.applied);
    }

    #[test]
    fn bad_requests_and_modes_are_refused() {
        let mut d = daemon();
        assert_eq!(d.post(b"nope", String::new()).0, 400);
        assert_eq!(
            post(&mut d, json!({"mode": "simple"})).1["error"],
            "configVersion is required"
        );
        let (status, body) = post(
            &mut d,
            json!({"configVersion": "v1", "mode": "scx", "schedulerName": "scx_lavd"}),
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("scx_lavd binary not found"))
        );
        assert_eq!(d.status.last_error, "scx_lavd binary not found");
        assert!(!d.status.applied);
        d.fail_next_post = Some((500, "boom".into()));
        assert_eq!(post(&mut d, json!({"configVersion": "v2"})).0, 500);
        assert_eq!(
            post(&mut d, json!({"configVersion": "v2"})).0,
            200,
            "only the next POST fails"
        );
    }

    #[test]
    fn a_restart_goes_back_to_bootstrap_and_counts() {
        let mut d = daemon();
        post(&mut d, json!({"configVersion": "v1", "mode": "simple"}));
        d.reset_to_bootstrap(true);
        let (_, body) = d.status_answer(true);
        assert_eq!(body["data"]["configVersion"], "bootstrap");
        assert_eq!(body["data"]["applied"], false);
        assert_eq!(body["data"]["restartCount"], 1);
        assert_eq!(body["data"]["mode"], "simple", "the runtime YAML survives");
        d.reset_to_bootstrap(false);
        let mut fresh = daemon();
        fresh.reset_to_bootstrap(false);
        assert!(fresh.status_answer(true).1["data"].get("restartCount").is_none());
    }
}
