use gthulhu_domain::manager::ServiceError;

use crate::ApiError;

/// The one place service errors become HTTP statuses (manager.md 1.2).
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unauthorized(m) => Self::Unauthenticated(m),
            ServiceError::Forbidden(m) => Self::Forbidden(m),
            ServiceError::NotFound(m) => Self::NotFoundWith(m),
            ServiceError::Conflict(m) => Self::Conflict(m),
            ServiceError::Validation(m) => Self::Validation(m),
            ServiceError::TooManyRequests(m) => Self::TooManyRequests(m),
            ServiceError::Unavailable(m) => Self::Unavailable(m),
            ServiceError::StorageUnavailable => Self::StorageUnavailable,
            ServiceError::Internal(detail) => {
                // The detail may name internals; it is logged, never sent.
                tracing::error!(%detail, "internal error");
                Self::Internal("Internal Server Error")
            }
        }
    }
}

/// Whether a 503 is about storage (for the storage-error counter).
pub(crate) fn is_storage_outage(error: &ApiError) -> bool {
    matches!(error, ApiError::StorageUnavailable)
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    #[test]
    fn every_service_error_maps_to_its_status_and_message() {
        let cases = [
            (
                ServiceError::Unauthorized("user is inactive".into()),
                401,
                "user is inactive",
            ),
            (
                ServiceError::Forbidden("permission denied".into()),
                403,
                "permission denied",
            ),
            (ServiceError::NotFound("role not found".into()), 404, "role not found"),
            (
                ServiceError::Conflict("role name already exists".into()),
                409,
                "role name already exists",
            ),
            (
                ServiceError::Validation("name is required".into()),
                422,
                "name is required",
            ),
            (
                ServiceError::TooManyRequests("too many login attempts".into()),
                429,
                "too many login attempts",
            ),
            (ServiceError::StorageUnavailable, 503, "storage unavailable"),
            (
                ServiceError::Unavailable("kubernetes API unavailable".into()),
                503,
                "kubernetes API unavailable",
            ),
            (
                ServiceError::Internal("redb: table corrupt at /secret/path".into()),
                500,
                "Internal Server Error",
            ),
        ];
        for (service_error, status, message) in cases {
            let api: ApiError = service_error.into();
            assert_eq!(api.status_code().as_u16(), status, "{api:?}");
            assert_eq!(api.to_string(), message);
        }
        assert!(is_storage_outage(&ServiceError::StorageUnavailable.into()));
        assert!(!is_storage_outage(&ApiError::Unavailable(
            "kubernetes API unavailable".into()
        )));
    }
}
