//! Tests whose precondition is missing (root, a database, a browser) say
//! so, and fail under CI, which provides every precondition: a test there
//! never passes without having run.

/// Whether this runs under CI (`CI` set and non-empty).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// Prints `SKIPPED <reason>`; panics instead when [`in_ci`].
pub fn skip_or_fail(reason: &str) {
    assert!(!in_ci(), "precondition missing under CI: {reason}");
    skip(reason);
}

/// Prints `SKIPPED <reason>`, under CI too: for extra coverage that CI
/// does not provide (e.g. a Docker engine).
pub fn skip(reason: &str) {
    println!("SKIPPED {reason}");
}
