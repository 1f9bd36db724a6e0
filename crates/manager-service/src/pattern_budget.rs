//! The cluster-wide budget of distinct `commandRegex` patterns. A node's
//! Decision Maker refuses a set with more than
//! [`MAX_DISTINCT_PER_SET`] distinct patterns (the whole push fails, so
//! the node would get no intents at all); a node's patterns are a subset
//! of all strategies' patterns, so keeping the cluster-wide count within
//! the DM's limit means no push is ever refused for it, and the user who
//! goes over it gets the error at create time instead.
//!
//! Two concurrent creates can each see 255 and both pass; the DM's own
//! check still bounds what it compiles.

use std::collections::HashSet;

use gthulhu_domain::comm_regex::MAX_DISTINCT_PER_SET;
use gthulhu_domain::manager::{ObjectId, Repository, ServiceError, ServiceResult};

/// Ok when `pattern` is empty, already used by another strategy, or fits
/// in the budget. `replacing` is the strategy being updated, whose current
/// pattern is given back.
pub(crate) async fn check(repo: &dyn Repository, pattern: &str, replacing: Option<&ObjectId>) -> ServiceResult<()> {
    if pattern.is_empty() {
        return Ok(());
    }
    let strategies = repo.list_strategies().await?;
    let others: HashSet<&str> = strategies
        .iter()
        .filter(|s| Some(&s.id) != replacing)
        .map(|s| s.spec.command_regex.as_str())
        .filter(|p| !p.is_empty())
        .collect();
    if others.contains(pattern) || others.len() < MAX_DISTINCT_PER_SET {
        return Ok(());
    }
    Err(ServiceError::Validation(format!(
        "commandRegex: the strategies already use {MAX_DISTINCT_PER_SET} distinct patterns, the most a \
         Decision Maker accepts in one node's set; reuse one of them or delete a strategy"
    )))
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{MockRepository, ScheduleStrategy, StrategySpec};

    use super::*;

    fn strategy(n: usize, pattern: String) -> ScheduleStrategy {
        ScheduleStrategy {
            id: ObjectId::parse(&format!("{n:024x}")).unwrap(),
            spec: StrategySpec {
                command_regex: pattern,
                ..StrategySpec::default()
            },
            creator_id: ObjectId::ZERO,
            updater_id: ObjectId::ZERO,
            created_time: 0,
            updated_time: 0,
        }
    }

    /// `distinct` strategies with patterns `p0`, `p1`, … plus one with no
    /// pattern (which does not count).
    fn repo_with(distinct: usize) -> MockRepository {
        let mut all: Vec<_> = (0..distinct).map(|n| strategy(n + 1, format!("p{n}"))).collect();
        all.push(strategy(distinct + 1, String::new()));
        let mut repo = MockRepository::new();
        repo.expect_list_strategies().returning(move || Ok(all.clone()));
        repo
    }

    #[tokio::test]
    async fn a_new_pattern_past_the_budget_is_refused() {
        let full = repo_with(MAX_DISTINCT_PER_SET);
        assert!(matches!(
            check(&full, "new", None).await,
            Err(ServiceError::Validation(m)) if m.contains("256 distinct patterns")
        ));
        assert_eq!(check(&full, "p7", None).await, Ok(()), "a used pattern costs nothing");
        assert_eq!(check(&repo_with(MAX_DISTINCT_PER_SET - 1), "new", None).await, Ok(()));
    }

    #[tokio::test]
    async fn an_update_gives_back_its_own_pattern() {
        let full = repo_with(MAX_DISTINCT_PER_SET);
        let first = ObjectId::parse(&format!("{:024x}", 1)).unwrap();
        assert_eq!(check(&full, "changed", Some(&first)).await, Ok(()));
    }

    #[tokio::test]
    async fn an_empty_pattern_never_reads_the_store() {
        assert_eq!(check(&MockRepository::new(), "", None).await, Ok(()));
    }
}
