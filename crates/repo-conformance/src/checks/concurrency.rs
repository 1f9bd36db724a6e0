//! Concurrent writers: unique indexes and atomic operations hold under
//! contention.

use std::sync::Arc;

use gthulhu_domain::manager::{ObjectId, RepoError, Repository};
use tokio::task::JoinSet;

use crate::fixtures::{intent, strategy, user};

pub async fn concurrent_distinct_users_all_succeed(repo: Arc<dyn Repository>) {
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move { repo.create_user(&user(&format!("user-{i}"), &["ops"])).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("create_user");
    }
    let users = repo.list_users().await.unwrap();
    assert_eq!(users.len(), 20);
    assert!(users.windows(2).all(|w| w[0].id < w[1].id), "not in id order");
    for i in 0..20 {
        let name = format!("user-{i}");
        assert_eq!(repo.get_user_by_username(&name).await.unwrap().username, name);
    }
    assert_eq!(repo.count_users_with_role("ops").await.unwrap(), 20);
}

pub async fn concurrent_same_username_one_wins(repo: Arc<dyn Repository>) {
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move {
            let candidate = user("same", &[]);
            repo.create_user(&candidate).await.map(|()| candidate.id)
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(id) => winners.push(id),
            Err(e) => assert_eq!(e, RepoError::Conflict("username".into())),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create_user succeeds");
    let stored = repo.list_users().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, winners[0]);
    assert_eq!(repo.get_user_by_username("same").await.unwrap().id, winners[0]);
}

pub async fn concurrent_strategy_inserts_are_isolated(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let repo = Arc::clone(&repo);
        let creator = creator.clone();
        tasks.spawn(async move {
            let s = strategy(&creator);
            let intents = ["p1", "p2", "p3"].map(|pod| intent(&s, pod, "shared"));
            repo.insert_strategy(&s, &intents).await.map(|()| s)
        });
    }
    let mut strategies = Vec::new();
    while let Some(result) = tasks.join_next().await {
        strategies.push(result.expect("task").expect("insert_strategy"));
    }
    strategies.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(repo.list_strategies().await.unwrap(), strategies);
    assert_eq!(repo.list_intents_by_node("shared").await.unwrap().len(), 30);

    // Half are deleted, half replaced with one intent each, all at once.
    let mut tasks = JoinSet::new();
    for (i, s) in strategies.iter().cloned().enumerate() {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move {
            if i % 2 == 0 {
                repo.delete_strategy(&s.id)
                    .await
                    .map(|deleted| assert_eq!(deleted.len(), 3))
            } else {
                repo.replace_strategy(&s, &[intent(&s, "p1", "other")]).await
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("delete or replace");
    }
    let kept: Vec<_> = strategies.into_iter().skip(1).step_by(2).collect();
    assert_eq!(repo.list_strategies().await.unwrap(), kept);
    assert!(repo.list_intents_by_node("shared").await.unwrap().is_empty());
    let remaining = repo.list_intents().await.unwrap();
    assert_eq!(remaining.len(), 5);
    assert!(remaining.iter().all(|i| kept.iter().any(|s| s.id == i.strategy_id)));
}
