use std::time::SystemTime;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

pub use gthulhu_domain::rfc3339;

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
