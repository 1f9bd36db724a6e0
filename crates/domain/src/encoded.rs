//! Reply bodies built once per change and shared by every request that
//! reads them, and the wire's timestamp format.

use std::time::SystemTime;

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One JSON reply body in both encodings a client may ask for: `identity`
/// is sent as is, `gzip` (the same bytes compressed) to a client that
/// accepts it. Clones share the buffers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedJson {
    pub identity: Bytes,
    pub gzip: Bytes,
}

/// RFC3339 in UTC with whole seconds and a `Z` suffix, whatever `TZ` says
/// (decision-maker.md 2).
pub fn rfc3339(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Unix seconds of an RFC 3339 time with any offset, fractions dropped;
/// `None` when it does not parse.
pub fn parse_rfc3339_secs(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
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

    #[test]
    fn parses_offsets_and_drops_fractions() {
        assert_eq!(parse_rfc3339_secs("2026-03-11T08:00:00Z"), Some(1_773_216_000));
        assert_eq!(parse_rfc3339_secs("2026-03-11T09:00:00.9+01:00"), Some(1_773_216_000));
        assert_eq!(parse_rfc3339_secs("tomorrow"), None);
    }
}
