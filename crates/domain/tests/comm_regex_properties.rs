//! Property tests of the `commandRegex` compiler both services share: any
//! text either compiles within the limits or is refused with a message,
//! never a panic; a literal always finds itself in a `comm`.

use gthulhu_domain::comm_regex::{MAX_PATTERN_BYTES, compile};
use proptest::prelude::*;

/// Text built from regex syntax, so that nesting, repetition and classes
/// (the expensive constructs) come up far more often than in `any::<String>`.
fn regex_soup() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        "[a-z]{1,3}",
        Just(r"\w".to_string()),
        Just(r"\d".to_string()),
        Just(r"\pL".to_string()),
        Just(".".to_string()),
        Just("[^a]".to_string()),
        Just("(?i)".to_string()),
        Just("^".to_string()),
        Just("$".to_string()),
    ];
    let piece = (atom, "|\\*|\\+|\\?|\\{[0-9]{1,3}\\}").prop_map(|(a, r)| format!("{a}{r}"));
    proptest::collection::vec(piece, 1..8)
        .prop_recursive(3, 24, 4, |inner| {
            (inner, "\\{[0-9]{1,3}\\}|\\*|").prop_map(|(parts, rep)| vec![format!("({}){rep}", parts.concat())])
        })
        .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_compiles_or_is_refused(pattern in any::<String>()) {
        if let Err(message) = compile(&pattern) {
            prop_assert!(!message.is_empty());
        }
    }

    #[test]
    fn regex_soup_compiles_within_limits_or_is_refused(pattern in regex_soup(), comm in "[ -~]{0,15}") {
        match compile(&pattern) {
            // Matching a 15-byte comm is bounded whatever the pattern.
            Ok(Some(regex)) => { let _ = regex.is_match(comm.as_bytes()); }
            Ok(None) => prop_assert!(pattern.is_empty()),
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn a_literal_finds_itself(comm in "[ -~]{1,15}") {
        let regex = compile(&regex::escape(&comm)).unwrap().unwrap();
        prop_assert!(regex.is_match(comm.as_bytes()));
    }

    #[test]
    fn patterns_past_the_length_limit_are_refused(extra in 1usize..64) {
        let pattern = "a".repeat(MAX_PATTERN_BYTES + extra);
        prop_assert_eq!(compile(&pattern).unwrap_err(), format!("pattern is longer than {MAX_PATTERN_BYTES} bytes"));
    }
}
