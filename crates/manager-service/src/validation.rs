//! Input validation at the API boundary (manager.md 4.4, 5, 6, 7.1). Every
//! failure is a 422 whose message names the field.

use gthulhu_domain::Selector;
use gthulhu_domain::comm_regex::{self, MAX_PATTERN_BYTES};
use gthulhu_domain::manager::{ObjectId, PERMISSIONS, RolePolicy, ServiceError, StrategySpec, UserStatus};

use crate::passwords::MAX_PASSWORD_BYTES;

const MAX_PRIORITY: i64 = 20;
const MAX_EXECUTION_TIME_NS: i64 = 1_000_000_000;
const MAX_STRATEGY_NAMESPACE_BYTES: usize = 253;
const MAX_USERNAME_BYTES: usize = 256;
const MAX_ROLE_NAME_BYTES: usize = 128;
// Bounds on what one request may store (issue 9): generous for real use,
// small enough that no document or intent set balloons.
pub(crate) const MAX_ROLE_DESCRIPTION_BYTES: usize = 1024;
pub(crate) const MAX_POLICIES_PER_ROLE: usize = 256;
const MAX_POLICY_NAMESPACE_BYTES: usize = 253;
pub(crate) const MAX_ROLES_PER_USER: usize = 64;
const MAX_NAMESPACES_PER_STRATEGY: usize = 256;
const MAX_SELECTORS_PER_STRATEGY: usize = 64;

/// `field` holds at most `max` entries.
fn at_most<T>(field: &str, items: &[T], max: usize) -> Result<(), ServiceError> {
    if items.len() > max {
        return Err(invalid(format!("{field}: at most {max} entries")));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::Validation(message.into())
}

/// A 24-hex id, or a 422 with `message`.
pub(crate) fn parse_id(text: &str, message: &str) -> Result<ObjectId, ServiceError> {
    ObjectId::parse(text).ok_or_else(|| invalid(message))
}

/// A strategy id as the update and delete routes receive it.
pub(crate) fn parse_strategy_id(text: &str) -> Result<ObjectId, ServiceError> {
    if text.is_empty() {
        return Err(invalid("strategyId is required"));
    }
    parse_id(text, "invalid strategyId")
}

pub(crate) fn parse_intent_ids(ids: &[String]) -> Result<Vec<ObjectId>, ServiceError> {
    if ids.is_empty() {
        return Err(invalid("intentIds: at least one intent ID is required"));
    }
    ids.iter()
        .enumerate()
        .map(|(i, id)| parse_id(id, &format!("intentIds[{i}]: invalid intent ID")))
        .collect()
}

pub(crate) fn username(name: &str) -> Result<(), ServiceError> {
    if name.is_empty() {
        return Err(invalid("username is required"));
    }
    if name.len() > MAX_USERNAME_BYTES {
        return Err(invalid(format!("username must be at most {MAX_USERNAME_BYTES} bytes")));
    }
    Ok(())
}

/// A password about to be hashed; `field` is its request key.
pub(crate) fn new_password(field: &str, password: &str) -> Result<(), ServiceError> {
    if password.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(invalid(format!("{field} must be at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

pub(crate) fn user_status(status: i64) -> Result<UserStatus, ServiceError> {
    i32::try_from(status)
        .ok()
        .and_then(|s| UserStatus::try_from(s).ok())
        .ok_or_else(|| invalid("status must be 1, 2 or 3"))
}

pub(crate) fn role_description(description: &str) -> Result<(), ServiceError> {
    if description.len() > MAX_ROLE_DESCRIPTION_BYTES {
        return Err(invalid(format!(
            "description must be at most {MAX_ROLE_DESCRIPTION_BYTES} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn user_roles(names: &[String]) -> Result<(), ServiceError> {
    at_most("roles", names, MAX_ROLES_PER_USER)
}

pub(crate) fn role_name(name: &str) -> Result<(), ServiceError> {
    if name.is_empty() {
        return Err(invalid("name is required"));
    }
    if name.len() > MAX_ROLE_NAME_BYTES {
        return Err(invalid(format!("name must be at most {MAX_ROLE_NAME_BYTES} bytes")));
    }
    Ok(())
}

/// `field` is the list's request key (`rolePolicies` or `rolePolicy`).
pub(crate) fn policies(field: &str, policies: &[RolePolicy]) -> Result<(), ServiceError> {
    at_most(field, policies, MAX_POLICIES_PER_ROLE)?;
    for (i, policy) in policies.iter().enumerate() {
        if policy.policy_namespace.len() > MAX_POLICY_NAMESPACE_BYTES {
            return Err(invalid(format!(
                "{field}[{i}].policyNamespace must be at most {MAX_POLICY_NAMESPACE_BYTES} bytes"
            )));
        }
        if !PERMISSIONS.iter().any(|(key, ..)| *key == policy.permission_key) {
            return Err(invalid(format!(
                "{field}[{i}].permissionKey: unknown permission key \"{}\"",
                policy.permission_key
            )));
        }
        if !policy.k8s_namespace.is_empty() && !is_dns1123_label(&policy.k8s_namespace) {
            return Err(invalid(format!(
                "{field}[{i}].k8sNamespace: invalid namespace \"{}\"",
                policy.k8s_namespace
            )));
        }
    }
    Ok(())
}

/// Checks a strategy (manager.md 7.1) and returns it with the label
/// selectors whose key and value are both empty dropped.
pub(crate) fn strategy_spec(mut spec: StrategySpec) -> Result<StrategySpec, ServiceError> {
    if spec.strategy_namespace.len() > MAX_STRATEGY_NAMESPACE_BYTES {
        return Err(invalid(format!(
            "strategyNamespace must be at most {MAX_STRATEGY_NAMESPACE_BYTES} bytes"
        )));
    }
    at_most("labelSelectors", &spec.label_selectors, MAX_SELECTORS_PER_STRATEGY)?;
    at_most("k8sNamespace", &spec.k8s_namespaces, MAX_NAMESPACES_PER_STRATEGY)?;
    for (i, Selector { key, value }) in spec.label_selectors.iter().enumerate() {
        if key.is_empty() && value.is_empty() {
            continue;
        }
        if !is_label_key(key) {
            return Err(invalid(format!("labelSelectors[{i}].key: invalid label key \"{key}\"")));
        }
        if !value.is_empty() && !is_label_name(value) {
            return Err(invalid(format!(
                "labelSelectors[{i}].value: invalid label value \"{value}\""
            )));
        }
    }
    spec.label_selectors
        .retain(|s| !(s.key.is_empty() && s.value.is_empty()));
    for (i, ns) in spec.k8s_namespaces.iter().enumerate() {
        if !is_dns1123_label(ns) {
            return Err(invalid(format!("k8sNamespace[{i}]: invalid namespace \"{ns}\"")));
        }
    }
    command_regex(&spec.command_regex)?;
    if !(0..=MAX_PRIORITY).contains(&spec.priority) {
        return Err(invalid(format!("priority must be between 0 and {MAX_PRIORITY}")));
    }
    if spec.execution_time < 0 {
        return Err(invalid("executionTime must be >= 0"));
    }
    if spec.execution_time > MAX_EXECUTION_TIME_NS {
        return Err(invalid(format!("executionTime must be <= {MAX_EXECUTION_TIME_NS}")));
    }
    Ok(spec)
}

/// The DM's own rules (`comm_regex`), so a user gets the error at create
/// time rather than every push failing at the DM.
fn command_regex(pattern: &str) -> Result<(), ServiceError> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(invalid(format!(
            "commandRegex must be at most {MAX_PATTERN_BYTES} bytes"
        )));
    }
    comm_regex::compile(pattern)
        .map(drop)
        .map_err(|e| invalid(format!("commandRegex: invalid regular expression: {e}")))
}

/// A DNS-1123 label: at most 63 of `a-z`, `0-9`, `-`, alphanumeric at both ends.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 63 && alnum(b[0]) && alnum(b[b.len() - 1]) && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A label name or value: at most 63 of `[A-Za-z0-9-_.]`, alphanumeric at
/// both ends.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `[prefix/]name` with a DNS-1123 subdomain prefix.
fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug, ServiceError>) -> String {
        match r {
            Err(ServiceError::Validation(m)) => m,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn sel(key: &str, value: &str) -> Selector {
        Selector {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn label_keys_and_values() {
        for ok in [
            "app",
            "a",
            "app.kubernetes.io/name",
            "example.com/x_y-z.1",
            "A9",
            "k8s.io/Name",
        ] {
            assert!(is_label_key(ok), "{ok}");
        }
        let long_name = "a".repeat(64);
        let long_prefix = format!("{}/x", "a".repeat(254));
        for bad in [
            "",
            "-app",
            "app-",
            "a/b/c",
            "/name",
            "Example.com/x",
            "ex_ample.com/x",
            "a b",
            "é",
            &long_name,
            &long_prefix,
        ] {
            assert!(!is_label_key(bad), "{bad}");
        }
        assert!(is_label_name(&"v".repeat(63)));
        assert!(!is_label_name("v/1"));
    }

    #[test]
    fn namespaces() {
        for ok in ["default", "kube-system", "a", "team-1", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "Default", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn strategy_spec_messages_name_the_field() {
        let base = StrategySpec::default();
        let with = |f: fn(&mut StrategySpec)| {
            let mut s = base.clone();
            f(&mut s);
            strategy_spec(s)
        };
        assert_eq!(
            err(with(|s| s.label_selectors = vec![sel("ok", ""), sel("bad key", "v")])),
            "labelSelectors[1].key: invalid label key \"bad key\""
        );
        assert_eq!(
            err(with(|s| s.label_selectors = vec![sel("", "v")])),
            "labelSelectors[0].key: invalid label key \"\""
        );
        assert_eq!(
            err(with(|s| s.label_selectors = vec![sel("app", "bad value")])),
            "labelSelectors[0].value: invalid label value \"bad value\""
        );
        assert_eq!(
            err(with(|s| s.k8s_namespaces = vec!["ok".into(), "Bad".into()])),
            "k8sNamespace[1]: invalid namespace \"Bad\""
        );
        assert!(err(with(|s| s.command_regex = "(".into())).starts_with("commandRegex: invalid regular expression: "));
        assert!(err(with(|s| s.command_regex = "a{1000}{1000}".into())).starts_with("commandRegex: invalid"));
        // Over the DM's compiled-size limit: refused here, not at every push.
        assert_eq!(
            err(with(|s| s.command_regex = r"\pL{8}".into())),
            "commandRegex: invalid regular expression: Compiled regex exceeds size limit of 65536 bytes."
        );
        assert_eq!(
            err(with(|s| s.command_regex = "a".repeat(1025))),
            "commandRegex must be at most 1024 bytes"
        );
        assert_eq!(err(with(|s| s.priority = -1)), "priority must be between 0 and 20");
        assert_eq!(err(with(|s| s.priority = 21)), "priority must be between 0 and 20");
        assert_eq!(err(with(|s| s.execution_time = -1)), "executionTime must be >= 0");
        assert_eq!(
            err(with(|s| s.execution_time = 1_000_000_001)),
            "executionTime must be <= 1000000000"
        );
        assert_eq!(
            err(with(|s| s.strategy_namespace = "x".repeat(254))),
            "strategyNamespace must be at most 253 bytes"
        );
        // Every stored list is bounded (the fuzzer stored 60,000 namespaces).
        assert_eq!(
            err(with(|s| s.k8s_namespaces = vec!["a".into(); 257])),
            "k8sNamespace: at most 256 entries"
        );
        assert_eq!(
            err(with(|s| s.label_selectors = vec![sel("app", "x"); 65])),
            "labelSelectors: at most 64 entries"
        );
    }

    #[test]
    fn role_and_user_lists_and_texts_are_bounded() {
        assert_eq!(
            err(role_description(&"d".repeat(MAX_ROLE_DESCRIPTION_BYTES + 1))),
            "description must be at most 1024 bytes"
        );
        assert!(role_description(&"d".repeat(MAX_ROLE_DESCRIPTION_BYTES)).is_ok());
        let policy = RolePolicy {
            permission_key: "role.read".into(),
            self_only: false,
            k8s_namespace: String::new(),
            policy_namespace: String::new(),
        };
        assert_eq!(
            err(policies(
                "rolePolicies",
                &vec![policy.clone(); MAX_POLICIES_PER_ROLE + 1]
            )),
            "rolePolicies: at most 256 entries"
        );
        let long = RolePolicy {
            policy_namespace: "n".repeat(254),
            ..policy
        };
        assert_eq!(
            err(policies("rolePolicy", &[long])),
            "rolePolicy[0].policyNamespace must be at most 253 bytes"
        );
        assert_eq!(
            err(user_roles(&vec!["r".to_string(); MAX_ROLES_PER_USER + 1])),
            "roles: at most 64 entries"
        );
    }

    #[test]
    fn valid_spec_drops_empty_selectors() {
        let spec = StrategySpec {
            strategy_namespace: "x".repeat(253),
            label_selectors: vec![sel("", ""), sel("app", "web"), sel("tier", "")],
            k8s_namespaces: vec!["prod".into()],
            command_regex: "sleep|sh".into(),
            priority: 20,
            execution_time: 1_000_000_000,
        };
        let out = strategy_spec(spec).unwrap();
        assert_eq!(out.label_selectors, vec![sel("app", "web"), sel("tier", "")]);
        assert!(strategy_spec(StrategySpec::default()).is_ok());
    }

    #[test]
    fn users_roles_and_ids() {
        assert_eq!(err(username("")), "username is required");
        assert_eq!(err(username(&"u".repeat(257))), "username must be at most 256 bytes");
        assert!(username(&"u".repeat(256)).is_ok());
        assert_eq!(err(new_password("password", "")), "password is required");
        assert_eq!(
            err(new_password("newPassword", &"p".repeat(73))),
            "newPassword must be at most 72 bytes"
        );
        assert!(new_password("password", &"p".repeat(72)).is_ok());
        assert_eq!(err(user_status(0)), "status must be 1, 2 or 3");
        assert_eq!(err(user_status(1 << 40)), "status must be 1, 2 or 3");
        assert_eq!(user_status(3).unwrap(), UserStatus::MustChangePassword);
        assert_eq!(err(role_name("")), "name is required");
        assert_eq!(err(role_name(&"r".repeat(129))), "name must be at most 128 bytes");
        assert_eq!(err(parse_strategy_id("")), "strategyId is required");
        assert_eq!(err(parse_strategy_id("xyz")), "invalid strategyId");
        assert_eq!(
            parse_strategy_id("65F0C1D2E3F4A5B6C7D8E9F0").unwrap().to_string(),
            "65f0c1d2e3f4a5b6c7d8e9f0"
        );
        assert_eq!(
            err(parse_intent_ids(&[])),
            "intentIds: at least one intent ID is required"
        );
        assert_eq!(
            err(parse_intent_ids(&["65f0c1d2e3f4a5b6c7d8e9f0".into(), "nope".into()])),
            "intentIds[1]: invalid intent ID"
        );
    }

    #[test]
    fn policy_validation() {
        let p = |key: &str, ns: &str| RolePolicy {
            permission_key: key.into(),
            k8s_namespace: ns.into(),
            ..Default::default()
        };
        assert!(policies("rolePolicies", &[p("role.read", ""), p("audit_log.read", "team-a")]).is_ok());
        assert_eq!(
            err(policies("rolePolicies", &[p("role.read", ""), p("x", "")])),
            "rolePolicies[1].permissionKey: unknown permission key \"x\""
        );
        assert_eq!(
            err(policies("rolePolicy", &[p("role.read", "Team")])),
            "rolePolicy[0].k8sNamespace: invalid namespace \"Team\""
        );
    }
}
