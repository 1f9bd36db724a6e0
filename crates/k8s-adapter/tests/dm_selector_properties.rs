//! Property tests of the Decision Maker label selector parser
//! (`k8s.decision_maker_selector`, manager.md 11.1).

use gthulhu_k8s_adapter::{DmSelector, DmSelectorError};
use proptest::prelude::*;

const LABEL: &str = "[A-Za-z0-9._-]{1,20}";

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        LABEL.prop_map(String::from),
        (LABEL, LABEL).prop_map(|(prefix, name)| format!("{prefix}/{name}")),
    ]
}

fn value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{0,20}"
}

/// Text that is not a label character (`=` aside, which splits), nor
/// whitespace (Unicode's, such as U+0085, too), which the parser trims
/// around the key and the value.
fn foreign() -> impl Strategy<Value = String> {
    "[^A-Za-z0-9._=/\\s-]{1,3}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(text in any::<String>()) {
        let _ = DmSelector::parse(&text);
    }

    #[test]
    fn key_value_parses_to_itself(key in key(), value in value(), pad in "[ \t]{0,2}") {
        let text = format!("{pad}{key}{pad}={pad}{value}{pad}");
        prop_assert_eq!(DmSelector::parse(&text), Ok(DmSelector { key: key.clone(), value: value.clone() }));
    }

    #[test]
    fn bare_key_matches_any_value(key in key()) {
        prop_assert_eq!(DmSelector::parse(&key), Ok(DmSelector { key, value: String::new() }));
    }

    #[test]
    fn parsed_selector_round_trips(text in any::<String>()) {
        if let Ok(selector) = DmSelector::parse(&text) {
            let again = DmSelector::parse(&format!("{}={}", selector.key, selector.value));
            prop_assert_eq!(again, Ok(selector));
        }
    }

    #[test]
    fn foreign_characters_in_the_value_are_refused(key in key(), head in value(), bad in foreign(), tail in value()) {
        let text = format!("{key}={head}{bad}{tail}");
        prop_assert_eq!(
            DmSelector::parse(&text),
            Err(DmSelectorError::InvalidValue(format!("{head}{bad}{tail}")))
        );
    }

    #[test]
    fn foreign_characters_in_the_key_are_refused(head in LABEL, bad in foreign(), value in value()) {
        let text = format!("{head}{bad}={value}");
        prop_assert_eq!(DmSelector::parse(&text), Err(DmSelectorError::InvalidKey(format!("{head}{bad}"))));
    }

    #[test]
    fn an_empty_key_is_refused(value in value(), pad in "[ \t]{0,2}") {
        prop_assert_eq!(DmSelector::parse(&format!("{pad}={value}")), Err(DmSelectorError::EmptyKey));
    }
}
