//! The `self` and `k8sNamespace` scope of a caller's grants (manager.md 4.4).
//!
//! A grant applies to a target when it is not `self`-only or the caller owns
//! the target. The namespaces granted for a target are the union over the
//! applying grants; one applying grant with an empty namespace grants all.
//! A target is within scope when all namespaces are granted, or when its
//! namespace set is non-empty and entirely granted (a strategy's empty list
//! means "every namespace", so only an unrestricted grant covers it).

use std::collections::BTreeSet;

use gthulhu_domain::manager::{ObjectId, RolePolicy, ServiceError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    AllNamespaces,
    Namespaces(BTreeSet<String>),
}

impl Scope {
    /// The caller's scope over a target owned by `owner`; `None` when no
    /// grant applies (the target is invisible to the caller).
    pub(crate) fn for_target(grants: &[RolePolicy], caller: &ObjectId, owner: &ObjectId) -> Option<Self> {
        let mut applying = grants.iter().filter(|g| !g.self_only || caller == owner).peekable();
        applying.peek()?;
        let mut namespaces = BTreeSet::new();
        for grant in applying {
            if grant.k8s_namespace.is_empty() {
                return Some(Self::AllNamespaces);
            }
            namespaces.insert(grant.k8s_namespace.clone());
        }
        Some(Self::Namespaces(namespaces))
    }

    /// Whether a target whose namespace set is `namespaces` is within scope.
    pub(crate) fn covers<S: AsRef<str>>(&self, namespaces: &[S]) -> bool {
        match self {
            Self::AllNamespaces => true,
            Self::Namespaces(granted) => {
                !namespaces.is_empty() && namespaces.iter().all(|ns| granted.contains(ns.as_ref()))
            }
        }
    }

    /// `covers`, as a 403 naming the first ungranted namespace.
    pub(crate) fn require(&self, namespaces: &[String], permission_key: &str) -> Result<(), ServiceError> {
        let Self::Namespaces(granted) = self else {
            return Ok(());
        };
        if namespaces.is_empty() {
            return Err(ServiceError::Forbidden(
                "k8sNamespace must list only granted namespaces".into(),
            ));
        }
        match namespaces.iter().find(|ns| !granted.contains(*ns)) {
            Some(ns) => Err(ServiceError::Forbidden(format!(
                "namespace \"{ns}\" is outside the namespaces granted for {permission_key}"
            ))),
            None => Ok(()),
        }
    }
}

/// Whether any grant applies to a target owned by `owner`.
pub(crate) fn applies(grants: &[RolePolicy], caller: &ObjectId, owner: &ObjectId) -> bool {
    grants.iter().any(|g| !g.self_only || caller == owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(self_only: bool, ns: &str) -> RolePolicy {
        RolePolicy {
            permission_key: "schedule_strategy.delete".into(),
            self_only,
            k8s_namespace: ns.into(),
            policy_namespace: String::new(),
        }
    }

    fn set(names: &[&str]) -> Scope {
        Scope::Namespaces(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn scope_for_target_table() {
        let me = ObjectId::new();
        let other = ObjectId::new();
        // (grants, owner, expected scope)
        let cases: Vec<(Vec<RolePolicy>, &ObjectId, Option<Scope>)> = vec![
            (vec![], &me, None),
            (vec![grant(false, "")], &other, Some(Scope::AllNamespaces)),
            (vec![grant(true, "")], &me, Some(Scope::AllNamespaces)),
            (vec![grant(true, "")], &other, None),
            (vec![grant(false, "a")], &other, Some(set(&["a"]))),
            (
                vec![grant(false, "a"), grant(false, "b")],
                &other,
                Some(set(&["a", "b"])),
            ),
            (
                vec![grant(false, "a"), grant(true, "")],
                &me,
                Some(Scope::AllNamespaces),
            ),
            (vec![grant(false, "a"), grant(true, "")], &other, Some(set(&["a"]))),
            (vec![grant(true, "a"), grant(true, "b")], &other, None),
            (
                vec![grant(false, "a"), grant(false, ""), grant(false, "b")],
                &other,
                Some(Scope::AllNamespaces),
            ),
        ];
        for (i, (grants, owner, want)) in cases.into_iter().enumerate() {
            assert_eq!(Scope::for_target(&grants, &me, owner), want, "case {i}");
            assert_eq!(applies(&grants, &me, owner), want.is_some(), "case {i}");
        }
    }

    #[test]
    fn covers_table() {
        let cases: Vec<(Scope, Vec<&str>, bool)> = vec![
            (Scope::AllNamespaces, vec![], true),
            (Scope::AllNamespaces, vec!["x"], true),
            (set(&["a"]), vec![], false),
            (set(&["a"]), vec!["a"], true),
            (set(&["a"]), vec!["a", "b"], false),
            (set(&["a", "b"]), vec!["b", "a"], true),
            (set(&[]), vec!["a"], false),
        ];
        for (i, (scope, target, want)) in cases.into_iter().enumerate() {
            assert_eq!(scope.covers(&target), want, "case {i}");
        }
    }

    #[test]
    fn require_messages() {
        let key = "schedule_strategy.create";
        let ns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Scope::AllNamespaces.require(&[], key).is_ok());
        assert!(set(&["team-a"]).require(&ns(&["team-a"]), key).is_ok());
        assert_eq!(
            set(&["team-a"]).require(&ns(&["team-a", "team-b"]), key),
            Err(ServiceError::Forbidden(
                "namespace \"team-b\" is outside the namespaces granted for schedule_strategy.create".into()
            ))
        );
        assert_eq!(
            set(&["team-a"]).require(&[], key),
            Err(ServiceError::Forbidden(
                "k8sNamespace must list only granted namespaces".into()
            ))
        );
    }
}
