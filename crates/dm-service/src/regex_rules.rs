use regex::{Regex, RegexBuilder};

/// Compiled-size cap: a pathological pattern is rejected at the boundary
/// instead of eating the DM's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a `comm` regex (unanchored search). Empty means "match all"
/// and compiles to `None`.
pub fn compile(pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(Some)
        .map_err(|e| e.to_string().lines().last().unwrap_or_default().trim().to_string())
}
