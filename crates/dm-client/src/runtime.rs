//! The DM's runtime-config routes as the Manager calls them
//! (sessions-and-runtime.md 15.5, 16): every key of the config is sent,
//! booleans included, and replies of upstream DMs (no `data` on a POST,
//! `false` booleans omitted on a GET) are read as ours.

use gthulhu_domain::manager::{DecisionMakerEndpoint, DmClientError};
use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::{HttpDecisionMakerClient, read_json, to_json};

const PATH: &str = "/api/v1/runtime-config";

impl HttpDecisionMakerClient {
    pub(crate) async fn post_runtime_config(
        &self,
        dm: &DecisionMakerEndpoint,
        config: &RuntimeSchedulerConfig,
    ) -> Result<(), DmClientError> {
        let response = self.call(dm, Method::POST, PATH, Some(to_json(config)?)).await?;
        ok_or_refusal(response).await.map(drop)
    }

    pub(crate) async fn get_runtime_config(&self, dm: &DecisionMakerEndpoint) -> Result<RuntimeStatus, DmClientError> {
        let response = ok_or_refusal(self.call(dm, Method::GET, PATH, None).await?).await?;
        let mut body = read_json(response).await?;
        let data = match body.get_mut("data").map(Value::take) {
            Some(data @ Value::Object(_)) => data,
            _ => return Err(DmClientError::InvalidResponse("response has no data object".into())),
        };
        parse_status(data)
    }
}

/// A 200 as is; any other status as the DM's JSON `error` text when it
/// sent one (e.g. `scheduler daemon unavailable`), else the bare status.
async fn ok_or_refusal(response: Response) -> Result<Response, DmClientError> {
    let status = response.status();
    if status == StatusCode::OK {
        return Ok(response);
    }
    let text = response
        .json::<Value>()
        .await
        .ok()
        .and_then(|body| body.get("error").and_then(Value::as_str).map(str::to_string))
        .filter(|text| !text.is_empty());
    Err(match text {
        Some(text) => DmClientError::Refused(text),
        None => DmClientError::Status(status.as_u16()),
    })
}

fn parse_status(data: Value) -> Result<RuntimeStatus, DmClientError> {
    let mut status: RuntimeStatus =
        serde_json::from_value(data).map_err(|e| DmClientError::InvalidResponse(format!("runtime config: {e}")))?;
    if status.config_available {
        status.config = status.config.normalized();
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_upstream_reply_without_false_booleans_reads_them_as_false() {
        let status = parse_status(json!({
            "configVersion": "v1", "applied": true, "appliedAt": "2026-03-10T08:00:01Z",
            "configAvailable": true, "mode": "gthulhu", "sliceNsDefault": 20_000_000, "kernelMode": true,
        }))
        .unwrap();
        assert!(status.applied);
        assert_eq!(status.restart_count, 0);
        assert!(status.config.kernel_mode && status.config.scheduler_enabled);
        assert!(!status.config.max_time_watchdog && !status.config.monitoring_enabled);
        assert_eq!(status.config.config_version, "v1");
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_invalid() {
        assert!(matches!(
            parse_status(json!({"applied": "yes"})),
            Err(DmClientError::InvalidResponse(_))
        ));
    }
}
