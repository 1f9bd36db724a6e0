//! proptest strategies for request bodies: arbitrary JSON, and a valid
//! body with one field replaced by arbitrary JSON or removed. The keys of
//! arbitrary objects are drawn mostly from the route's own field names,
//! so the typed decoders behind each key are reached, not just the
//! "unknown field" path.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Any JSON value up to a few levels deep; object keys come from `keys`
/// (and now and then from anywhere).
pub fn any_json(keys: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-25i64..25).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::String),
        "[0-9a-f]{24}".prop_map(Value::String),
        Just(Value::String(String::new())),
    ];
    let key = if keys.is_empty() {
        ".{0,12}".boxed()
    } else {
        prop_oneof![4 => proptest::sample::select(keys), 1 => ".{0,12}"].boxed()
    };
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `valid` itself, `valid` with one top-level field replaced by arbitrary
/// JSON or removed, or arbitrary JSON built from `valid`'s keys.
pub fn body_near(valid: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = match &valid {
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let field = if keys.is_empty() {
        Just(String::new()).boxed()
    } else {
        proptest::sample::select(keys.clone()).boxed()
    };
    let replaced = {
        let valid = valid.clone();
        (field.clone(), any_json(keys.clone())).prop_map(move |(key, value)| with_field(&valid, &key, Some(value)))
    };
    let removed = {
        let valid = valid.clone();
        field.prop_map(move |key| with_field(&valid, &key, None))
    };
    prop_oneof![1 => Just(valid), 4 => replaced, 1 => removed, 2 => any_json(keys)]
}

fn with_field(valid: &Value, key: &str, value: Option<Value>) -> Value {
    let mut body = valid.clone();
    if let Value::Object(map) = &mut body {
        match value {
            Some(value) => {
                map.insert(key.to_string(), value);
            }
            None => {
                map.remove(key);
            }
        }
    }
    body
}
