use serde::{Deserialize, Deserializer, Serialize};

use crate::Selector;
use crate::serde_util::null_as_empty;

/// A legacy template's `priority`: a boolean (legacy clients) or an
/// integer. Converted to an integer when resolved, because the current
/// scheduler rejects booleans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LegacyPriority {
    Flag(bool),
    Level(i64),
}

impl Default for LegacyPriority {
    fn default() -> Self {
        Self::Level(0)
    }
}

impl<'de> Deserialize<'de> for LegacyPriority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Ok(Self::Flag(b)),
            serde_json::Value::Number(n) => n.as_i64().map(Self::Level).ok_or_else(|| {
                D::Error::invalid_value(Unexpected::Other(&n.to_string()), &"a boolean or a 64-bit integer")
            }),
            other => Err(D::Error::invalid_type(
                Unexpected::Other(json_type(&other)),
                &"a boolean or an integer",
            )),
        }
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        _ => "value",
    }
}

/// A legacy BSS strategy template (`POST /api/v1/scheduling/strategies`,
/// standalone mode).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyTemplate {
    #[serde(default)]
    pub priority: LegacyPriority,
    #[serde(default)]
    pub execution_time: u64,
    #[serde(default)]
    pub pid: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub selectors: Vec<Selector>,
    #[serde(default)]
    pub command_regex: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_accepts_bool_and_int_only() {
        let t: StrategyTemplate = serde_json::from_str(r#"{"priority":true}"#).unwrap();
        assert_eq!(t.priority, LegacyPriority::Flag(true));
        let t: StrategyTemplate = serde_json::from_str(r#"{"priority":3}"#).unwrap();
        assert_eq!(t.priority, LegacyPriority::Level(3));
        for bad in [r#"{"priority":"1"}"#, r#"{"priority":1.5}"#, r#"{"priority":null}"#] {
            assert!(serde_json::from_str::<StrategyTemplate>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn execution_time_takes_full_u64_and_rejects_negative() {
        let t: StrategyTemplate = serde_json::from_str(r#"{"execution_time":18446744073709551615}"#).unwrap();
        assert_eq!(t.execution_time, u64::MAX);
        assert!(serde_json::from_str::<StrategyTemplate>(r#"{"execution_time":-1}"#).is_err());
    }
}
