//! The `commandRegex` rules both services apply (issue 9). A pattern only
//! ever matches a task's `comm` (at most 15 bytes), so tight limits cost a
//! real user nothing and bound what a hostile intent set can make a DM
//! allocate: the DM went from 11 MB to 3.4 GB on 3,000 Unicode-class
//! regexes before these limits.
//!
//! Perl classes (`\w`, `\d`, `\s`), `.` and `(?i)` are ASCII/byte-wise, as in
//! upstream's Go regexp; a pattern that needs Unicode (`\pL`) is compiled
//! with Unicode semantics, under the same size limit.

use regex::bytes::{Regex, RegexBuilder};

/// Longest accepted pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Cap on one compiled program (`RegexBuilder::size_limit`).
pub const COMPILED_SIZE_LIMIT: usize = 64 * 1024;
/// Cap on one regex's lazy-DFA cache (`RegexBuilder::dfa_size_limit`).
pub const DFA_CACHE_LIMIT: usize = 64 * 1024;
/// Distinct non-empty patterns in one node's intent set (each is compiled
/// once, however many intents share it).
pub const MAX_DISTINCT_PER_SET: usize = 256;
/// Intents in one node's set.
pub const MAX_INTENTS_PER_SET: usize = 50_000;

fn build(pattern: &str, unicode: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(unicode)
        .size_limit(COMPILED_SIZE_LIMIT)
        .dfa_size_limit(DFA_CACHE_LIMIT)
        .build()
}

/// Compiles a `comm` regex (unanchored search). Empty means "match all"
/// and compiles to `None`. The error is the regex crate's last line
/// (e.g. `Compiled regex exceeds size limit of 65536 bytes.`).
pub fn compile(pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!("pattern is longer than {MAX_PATTERN_BYTES} bytes"));
    }
    let compiled = match build(pattern, false) {
        Err(regex::Error::Syntax(_)) => build(pattern, true),
        other => other,
    };
    compiled
        .map(Some)
        .map_err(|e| e.to_string().lines().last().unwrap_or_default().trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_and_unicode_classes_still_work() {
        let word = compile(r"^\w{20}N$").unwrap().unwrap();
        assert!(word.is_match(b"aaaaaaaaaaaaaaaaaaaaN"));
        assert!(!word.is_match("ééééééééééééééééééééN".as_bytes()));
        let letters = compile(r"^\pL+$").unwrap().unwrap();
        assert!(letters.is_match("héllo".as_bytes()));
        assert!(
            compile(r"(?i)^CUDA-EvtHandlr$")
                .unwrap()
                .unwrap()
                .is_match(b"cuda-evthandlr")
        );
        assert!(compile("").unwrap().is_none());
    }

    #[test]
    fn oversized_and_invalid_patterns_are_refused_with_the_reason() {
        assert_eq!(
            compile(r"\pL{8}").unwrap_err(),
            format!("Compiled regex exceeds size limit of {COMPILED_SIZE_LIMIT} bytes.")
        );
        assert_eq!(
            compile("a{1000}{1000}").unwrap_err(),
            format!("Compiled regex exceeds size limit of {COMPILED_SIZE_LIMIT} bytes.")
        );
        assert!(compile("(").unwrap_err().contains("unclosed group"));
        assert_eq!(
            compile(&"a".repeat(MAX_PATTERN_BYTES + 1)).unwrap_err(),
            "pattern is longer than 1024 bytes"
        );
    }
}
