use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use gthulhu_domain::{AuthError, DmError};
use serde_json::json;

use crate::envelope::json_response;

/// Every error the REST layer answers with. Bodies are always
/// `{"success":false,"error":…}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Invalid request payload")]
    InvalidPayload,
    /// The legacy BSS wording, which carries the decoder's detail.
    #[error("Invalid request payload: {0}")]
    InvalidPayloadDetail(String),
    #[error("{0}")]
    Unauthorized(AuthError),
    /// Verbatim upstream message, trailing space included.
    #[error("Public key verification failed ")]
    PublicKeyRejected,
    #[error("Not Found")]
    NotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("Request body too large")]
    PayloadTooLarge,
    /// The client stopped sending its body (`server.client_request_timeout_ms`).
    #[error("request body not received in time")]
    RequestTimeout,
    #[error("{0}")]
    Validation(String),
    /// A server-side failure; the message is the public one, details are logged.
    #[error("{0}")]
    Internal(&'static str),
    /// The Manager's wording of a malformed body (manager.md 1.2).
    #[error("Invalid request body")]
    InvalidBody,
    #[error("Invalid request body: {0}")]
    InvalidBodyDetail(String),
    /// 400 with a route's own message (`refreshToken is required`).
    #[error("{0}")]
    BadRequest(String),
    /// 401 with the Manager's message (`user is inactive`, …).
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// 404 with a route's own message.
    #[error("{0}")]
    NotFoundWith(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency is down (Kubernetes, a node's DM, the scheduler daemon).
    #[error("{0}")]
    Unavailable(String),
    /// The Manager's store is down (counted by `storage_errors_total`).
    #[error("storage unavailable")]
    StorageUnavailable,
}

impl ApiError {
    /// Maps a service error, with the route's own public 500 message.
    pub fn from_dm(error: DmError, internal_message: &'static str) -> Self {
        match error {
            DmError::Validation(message) => Self::Validation(message),
            DmError::IndexUnavailable(reason) => {
                tracing::error!(%reason, "process index unavailable");
                Self::Internal(internal_message)
            }
            DmError::Conflict(message) => Self::Conflict(message),
            DmError::DaemonUnavailable(ref detail) => {
                tracing::warn!(%detail, "scheduler daemon unavailable");
                Self::Unavailable(error.to_string())
            }
            DmError::DaemonRejected(_) => Self::Validation(error.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidPayload | Self::InvalidPayloadDetail(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::PublicKeyRejected => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidBody | Self::InvalidBodyDetail(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFoundWith(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        json_response(
            self.status_code(),
            &json!({"success": false, "error": self.to_string()}),
        )
    }
}
