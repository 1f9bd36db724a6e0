use actix_web::web::{BytesMut, Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Reads the whole body up to `limit` bytes (413 beyond) and decodes it as
/// JSON whatever the `Content-Type` says: the scheduler and the upstream
/// Manager do not always send one.
pub async fn read_json<T: DeserializeOwned>(mut payload: Payload, limit: usize) -> Result<T, ApiError> {
    let bytes = read_limited(&mut payload, limit).await?;
    if !is_object(&bytes) {
        return Err(ApiError::InvalidPayload);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        tracing::debug!(error = %e, "request body rejected");
        ApiError::InvalidPayload
    })
}

/// Like [`read_json`], with the decoder's detail in the error (legacy wording).
pub async fn read_json_detailed<T: DeserializeOwned>(mut payload: Payload, limit: usize) -> Result<T, ApiError> {
    let bytes = read_limited(&mut payload, limit).await?;
    if !is_object(&bytes) {
        return Err(ApiError::InvalidPayloadDetail("expected a JSON object".into()));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidPayloadDetail(e.to_string()))
}

/// Every body of these APIs is a JSON object; serde would also accept an
/// array for a struct, which upstream's decoder rejects.
fn is_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

async fn read_limited(payload: &mut Payload, limit: usize) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "reading request body failed");
            ApiError::InvalidPayload
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
