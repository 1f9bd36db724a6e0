//! The DM's OpenAPI description (issue 9), written by hand from the spec
//! (`openapi.json` beside this file): the DM's wire contract is fixed by
//! upstream, so the document follows it rather than the code generating
//! it. A test checks it lists exactly the routes served.

use std::sync::LazyLock;

use serde_json::Value;

const DOCUMENT: &str = include_str!("openapi.json");

static PLAIN: LazyLock<Value> = LazyLock::new(|| filtered(false));
static STANDALONE: LazyLock<Value> = LazyLock::new(|| filtered(true));

/// The document for a DM in this mode: operations marked `x-standalone`
/// only when standalone.
pub fn document(standalone: bool) -> &'static Value {
    if standalone { &STANDALONE } else { &PLAIN }
}

fn filtered(standalone: bool) -> Value {
    let mut doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON");
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            if let Some(operations) = item.as_object_mut() {
                operations.retain(|_, op| standalone || op.get("x-standalone") != Some(&Value::Bool(true)));
            }
        }
        paths.retain(|_, item| item.as_object().is_some_and(|ops| !ops.is_empty()));
    }
    doc
}

/// `(METHOD, path)` of every operation in `doc`.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops: Vec<(String, String)> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, _)| (method.to_uppercase(), path.clone()))
        })
        .collect();
    ops.sort();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_operations_appear_only_in_standalone_mode() {
        let plain = operations(document(false));
        let standalone = operations(document(true));
        assert_eq!(plain.len(), 16, "{plain:?}");
        assert_eq!(standalone.len(), 19, "{standalone:?}");
        assert!(!plain.iter().any(|(m, p)| m == "GET" && p == "/"));
        assert!(
            standalone
                .iter()
                .any(|(m, p)| m == "POST" && p == "/api/v1/scheduling/strategies")
        );
    }
}
