//! The DM's two polled replies, serialised once per change: the body is
//! what `json!` + `serde_json::to_vec` + a newline gave per request, with
//! the `timestamp` of the change (decision-maker.md 5, 8.3).

use std::io::Write;
use std::time::SystemTime;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use gthulhu_domain::{EncodedJson, SchedulingDecision, rfc3339};
use serde::Serialize;

const INTERNAL_ERROR: &[u8] = b"{\"success\":false,\"error\":\"Internal Server Error\"}\n";

#[derive(Serialize)]
struct StrategiesBody<'a> {
    success: bool,
    message: &'static str,
    timestamp: &'a str,
    scheduling: &'a [SchedulingDecision],
}

#[derive(Serialize)]
struct MerkleBody<'a> {
    success: bool,
    data: RootHash<'a>,
    timestamp: &'a str,
}

#[derive(Serialize)]
struct RootHash<'a> {
    #[serde(rename = "rootHash")]
    root_hash: &'a str,
    /// Ours (targeting.md 8.2); the Manager compares it only when present.
    #[serde(rename = "extendedRootHash")]
    extended_root_hash: &'a str,
}

pub fn strategies(decisions: &[SchedulingDecision], at: SystemTime) -> EncodedJson {
    encode(&StrategiesBody {
        success: true,
        message: "Scheduling intents retrieved successfully",
        timestamp: &rfc3339(at),
        scheduling: decisions,
    })
}

pub fn merkle(root: &str, extended_root: &str, at: SystemTime) -> EncodedJson {
    encode(&MerkleBody {
        success: true,
        data: RootHash {
            root_hash: root,
            extended_root_hash: extended_root,
        },
        timestamp: &rfc3339(at),
    })
}

fn encode(body: &impl Serialize) -> EncodedJson {
    let identity = match serde_json::to_vec(body) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            bytes
        }
        Err(error) => {
            tracing::error!(%error, "serialising a reply body");
            INTERNAL_ERROR.to_vec()
        }
    };
    let gzip = gzip(&identity);
    EncodedJson {
        identity: Bytes::from(identity),
        gzip: Bytes::from(gzip),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 8), Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::{Duration, UNIX_EPOCH};

    use flate2::read::GzDecoder;
    use gthulhu_domain::Selector;
    use serde_json::json;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    /// The bytes the REST layer built per request before the cache.
    fn per_request(body: serde_json::Value) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(&body).unwrap();
        bytes.push(b'\n');
        bytes
    }

    #[test]
    fn strategies_body_is_the_json_macro_body_and_gzip_decodes_to_it() {
        let at = UNIX_EPOCH + Duration::from_secs(1_773_129_605);
        let decisions = vec![
            SchedulingDecision {
                priority: 10,
                execution_time: 20_000_000,
                pid: 1234,
                selectors: vec![Selector {
                    key: "app".into(),
                    value: "nginx \"quoted\"".into(),
                }],
                command_regex: "nginx|worker".into(),
            },
            SchedulingDecision {
                priority: -1,
                execution_time: u64::MAX,
                ..Default::default()
            },
        ];
        let encoded = strategies(&decisions, at);
        let expected = per_request(json!({
            "success": true,
            "message": "Scheduling intents retrieved successfully",
            "timestamp": "2026-03-10T08:00:05Z",
            "scheduling": decisions,
        }));
        assert_eq!(encoded.identity.as_ref(), expected.as_slice());
        assert_eq!(gunzip(&encoded.gzip), expected);
        assert!(encoded.gzip.len() < encoded.identity.len());
    }

    #[test]
    fn merkle_body_is_the_success_envelope() {
        let at = UNIX_EPOCH + Duration::from_secs(1_773_129_600);
        let root = gthulhu_domain::merkle::EMPTY_ROOT;
        let encoded = merkle(root, root, at);
        let expected = per_request(json!({
            "success": true,
            "data": {"rootHash": root, "extendedRootHash": root},
            "timestamp": "2026-03-10T08:00:00Z",
        }));
        assert_eq!(encoded.identity.as_ref(), expected.as_slice());
        assert_eq!(gunzip(&encoded.gzip), expected);
    }
}
