use actix_web::web::{BytesMut, Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::ApiError;
use crate::timeouts::timed_out;

/// Reads the whole body up to `limit` bytes (413 beyond) and decodes it as
/// JSON whatever the `Content-Type` says: the scheduler and the upstream
/// Manager do not always send one.
pub async fn read_json<T: DeserializeOwned>(mut payload: Payload, limit: usize) -> Result<T, ApiError> {
    let bytes = read_limited(&mut payload, limit, ApiError::InvalidPayload).await?;
    decode_json(&bytes)
}

/// The decoding half of [`read_json`], for bodies decoded off the worker thread.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if !is_object(bytes) {
        return Err(ApiError::InvalidPayload);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::debug!(error = %e, "request body rejected");
        ApiError::InvalidPayload
    })
}

/// Like [`read_json`], with the decoder's detail in the error (legacy wording).
pub async fn read_json_detailed<T: DeserializeOwned>(mut payload: Payload, limit: usize) -> Result<T, ApiError> {
    let bytes = read_limited(&mut payload, limit, ApiError::InvalidPayload).await?;
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

/// The body up to `limit` bytes (413 beyond); 408 when the client stops
/// sending before it is complete (see [`crate::timeouts`]); `malformed`
/// when the stream breaks otherwise.
pub(crate) async fn read_limited(
    payload: &mut Payload,
    limit: usize,
    malformed: ApiError,
) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) if timed_out(&e) => return Err(ApiError::RequestTimeout),
            Err(e) => {
                tracing::debug!(error = %e, "reading request body failed");
                return Err(malformed);
            }
        };
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
