use std::time::SystemTime;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC3339 in UTC with whole seconds and a `Z` suffix, whatever `TZ` says.
pub fn rfc3339(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// `application/json` with the trailing newline upstream bodies have.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    let mut bytes = serde_json::to_vec(body)
        .unwrap_or_else(|_| b"{\"success\":false,\"error\":\"Internal Server Error\"}".to_vec());
    bytes.push(b'\n');
    HttpResponse::build(status).content_type("application/json").body(bytes)
}

/// `{"success":true,"data":…,"timestamp":…}`; `data` absent when `None`.
pub fn success(data: Option<Value>) -> HttpResponse {
    let body = match data {
        Some(data) => json!({"success": true, "data": data, "timestamp": now()}),
        None => json!({"success": true, "timestamp": now()}),
    };
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn whole_seconds_utc_z() {
        let t = UNIX_EPOCH + Duration::from_millis(1_773_129_600_999);
        assert_eq!(rfc3339(t), "2026-03-10T08:00:00Z");
    }
}
