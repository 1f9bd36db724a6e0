//! Validation shared by the pod-intent and node-intent sets: regexes
//! compiled once per distinct pattern (reusing the current set's), and
//! `expiresAt` parsed, with the array name in every message.

use std::collections::HashMap;
use std::sync::Arc;

use gthulhu_domain::comm_regex::{self, MAX_DISTINCT_PER_SET, MAX_INTENTS_PER_SET};
use gthulhu_domain::{DmError, parse_rfc3339_secs};
use regex::bytes::Regex;

/// One compiled program per intent, `None` for an empty pattern. Intents
/// sharing a pattern share one program and its match cache: a cloned
/// `Regex` would carry a cache pool of its own (~2 KiB each once used),
/// which at 50,000 intents is ~100 MiB.
pub type Compiled = Vec<Option<Arc<Regex>>>;

/// Compiles `patterns` (one per intent of `array`), reusing the programs
/// of the set being replaced (`previous`: its patterns with their programs).
pub fn compile<'a>(
    array: &str,
    patterns: impl ExactSizeIterator<Item = &'a str>,
    previous: impl Iterator<Item = (&'a str, &'a Option<Arc<Regex>>)>,
) -> Result<Compiled, DmError> {
    let previous: HashMap<&str, &Option<Arc<Regex>>> = previous.collect();
    if patterns.len() > MAX_INTENTS_PER_SET {
        return Err(DmError::Validation(format!(
            "{array}: at most {MAX_INTENTS_PER_SET} intents per node (got {})",
            patterns.len()
        )));
    }
    let mut compiled: HashMap<&str, Option<Arc<Regex>>> = HashMap::new();
    let mut out = Vec::with_capacity(patterns.len());
    for (i, pattern) in patterns.enumerate() {
        if let Some(regex) = compiled.get(pattern) {
            out.push(regex.clone());
            continue;
        }
        if compiled.len() >= MAX_DISTINCT_PER_SET {
            return Err(DmError::Validation(format!(
                "{array}: at most {MAX_DISTINCT_PER_SET} distinct commandRegex values per node"
            )));
        }
        let regex = match previous.get(pattern) {
            Some(reused) => (*reused).clone(),
            None => comm_regex::compile(pattern)
                .map_err(|detail| {
                    DmError::Validation(format!(
                        "{array}[{i}].commandRegex: invalid regular expression: {detail}"
                    ))
                })?
                .map(Arc::new),
        };
        compiled.insert(pattern, regex.clone());
        out.push(regex);
    }
    Ok(out)
}

/// Unix seconds of each intent's `expiresAt`.
pub fn expiries<'a>(array: &str, values: impl Iterator<Item = Option<&'a str>>) -> Result<Vec<Option<i64>>, DmError> {
    values
        .enumerate()
        .map(|(i, value)| match value {
            None => Ok(None),
            Some(text) => parse_rfc3339_secs(text)
                .map(Some)
                .ok_or_else(|| DmError::Validation(format!("{array}[{i}].expiresAt: invalid RFC 3339 time"))),
        })
        .collect()
}

/// The earliest expiry still ahead of `now`: when the answer must be
/// re-resolved next.
pub fn next_expiry(expiries: &[Option<i64>], now: i64) -> Option<i64> {
    expiries.iter().flatten().copied().filter(|&at| at > now).min()
}
