//! `labelSelector` and `fieldSelector` query parameters, parsed the way the API server does.

use std::collections::BTreeMap;

use crate::store::Stored;

/// One requirement of a label selector; a selector matches when all of them do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl LabelReq {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            // As in Kubernetes, `k!=v` also matches objects without the label.
            LabelReq::NotEq(k, v) => labels.get(k) != Some(v),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        }
    }
}

/// The object fields a `fieldSelector` may name; anything else is rejected like the real server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Namespace,
    NodeName,
    Phase,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldReq {
    field: Field,
    value: String,
    equal: bool,
}

/// A parsed pair of label and field selectors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

impl Selector {
    /// Parses both selectors; the error is the message of a 400 BadRequest.
    pub(crate) fn parse(label_selector: Option<&str>, field_selector: Option<&str>) -> Result<Self, String> {
        let mut selector = Selector::default();
        for term in split_top_level(label_selector.unwrap_or_default()) {
            selector.labels.push(parse_label_term(term)?);
        }
        for term in split_top_level(field_selector.unwrap_or_default()) {
            selector.fields.push(parse_field_term(term)?);
        }
        Ok(selector)
    }

    pub(crate) fn matches(&self, obj: &Stored) -> bool {
        self.labels.iter().all(|r| r.matches(&obj.labels))
            && self.fields.iter().all(|r| {
                let actual = match r.field {
                    Field::Name => obj.name.as_str(),
                    Field::Namespace => obj.namespace.as_str(),
                    Field::NodeName => obj.node_name.as_str(),
                    Field::Phase => obj.phase.as_str(),
                };
                (actual == r.value) == r.equal
            })
    }
}

/// Splits on commas that are not inside `( … )`, so `k in (a,b),x=y` gives two terms.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms.into_iter().map(str::trim).filter(|t| !t.is_empty()).collect()
}

fn parse_label_term(term: &str) -> Result<LabelReq, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelReq::NotExists(valid_key(key.trim(), term)?));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(LabelReq::NotEq(valid_key(k.trim(), term)?, v.trim().to_owned()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(LabelReq::Eq(valid_key(k.trim(), term)?, v.trim().to_owned()));
    }
    if let Some(open) = term.find('(') {
        let close = term
            .rfind(')')
            .filter(|&c| c > open && term[c + 1..].trim().is_empty())
            .ok_or_else(|| format!("unable to parse requirement: {term:?}"))?;
        let values: Vec<String> = term[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let mut head = term[..open].split_whitespace();
        let (key, op) = (head.next().unwrap_or_default(), head.next().unwrap_or_default());
        if head.next().is_some() {
            return Err(format!("unable to parse requirement: {term:?}"));
        }
        let key = valid_key(key, term)?;
        return match op {
            "in" => Ok(LabelReq::In(key, values)),
            "notin" => Ok(LabelReq::NotIn(key, values)),
            _ => Err(format!("unable to parse requirement: {term:?}")),
        };
    }
    Ok(LabelReq::Exists(valid_key(term, term)?))
}

fn valid_key(key: &str, term: &str) -> Result<String, String> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        Err(format!("unable to parse requirement: {term:?}"))
    } else {
        Ok(key.to_owned())
    }
}

fn parse_field_term(term: &str) -> Result<FieldReq, String> {
    let (key, value, equal) = if let Some((k, v)) = term.split_once("!=") {
        (k, v, false)
    } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        (k, v, true)
    } else {
        return Err(format!("invalid selector: {term:?}; can't understand it"));
    };
    let field = match key.trim() {
        "metadata.name" => Field::Name,
        "metadata.namespace" => Field::Namespace,
        "spec.nodeName" => Field::NodeName,
        "status.phase" => Field::Phase,
        other => return Err(format!("field label not supported: {other}")),
    };
    Ok(FieldReq {
        field,
        value: value.trim().to_owned(),
        equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(labels: &[(&str, &str)], node: &str) -> Stored {
        Stored {
            namespace: "ns".into(),
            name: "p".into(),
            node_name: node.into(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ..Stored::default()
        }
    }

    fn sel(labels: &str) -> Selector {
        Selector::parse(Some(labels), None).unwrap()
    }

    #[test]
    fn label_operators() {
        let o = obj(&[("app", "web"), ("tier", "front")], "");
        assert!(sel("app=web").matches(&o));
        assert!(sel("app==web").matches(&o));
        assert!(!sel("app=db").matches(&o));
        assert!(sel("app!=db").matches(&o));
        assert!(!sel("app!=web").matches(&o));
        assert!(sel("missing!=x").matches(&o), "!= matches absent labels");
        assert!(sel("tier").matches(&o));
        assert!(!sel("missing").matches(&o));
        assert!(sel("!missing").matches(&o));
        assert!(!sel("!app").matches(&o));
        assert!(sel("app in (db, web)").matches(&o));
        assert!(!sel("app in (db)").matches(&o));
        assert!(sel("app notin (db)").matches(&o));
        assert!(!sel("app notin (db,web)").matches(&o));
        assert!(sel("missing notin (x)").matches(&o));
        assert!(sel("app in (db,web),tier=front,!missing").matches(&o));
        assert!(!sel("app in (db,web),tier=back").matches(&o));
        assert!(sel("").matches(&o));
    }

    #[test]
    fn label_syntax_errors() {
        for bad in ["app in db", "app within (a)", "a b", "=x", "app in (a) x"] {
            assert!(Selector::parse(Some(bad), None).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn field_selectors() {
        let o = obj(&[], "node-1");
        let f = |s: &str| Selector::parse(None, Some(s)).unwrap().matches(&o);
        assert!(f("spec.nodeName=node-1"));
        assert!(f("spec.nodeName==node-1,metadata.namespace=ns,metadata.name=p"));
        assert!(!f("spec.nodeName=node-2"));
        assert!(f("spec.nodeName!=node-2"));
        assert!(!f("spec.nodeName="), "the unscheduled filter excludes scheduled pods");
        assert!(f("spec.nodeName!="));
        assert!(f("status.phase="));
        assert!(Selector::parse(None, Some("spec.unknown=x")).is_err());
        assert!(Selector::parse(None, Some("nonsense")).is_err());
    }
}
