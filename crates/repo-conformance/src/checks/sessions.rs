//! Session families and token versions (sessions-and-runtime.md 11.2).

use std::sync::Arc;

use gthulhu_domain::manager::{ObjectId, RepoError, Repository, RevokeReason, SessionRotation};
use tokio::task::JoinSet;

use super::conflict;
use crate::fixtures::{T0, session, user};

fn rotation(expected: &str, new: &str, now: i64) -> SessionRotation {
    SessionRotation {
        expected_jti: expected.into(),
        new_jti: new.into(),
        new_hash: format!("{:x>64}", new),
        new_expires_at: now + 3_600_000,
        now,
    }
}

pub async fn sessions_insert_get_and_unknown_ids(repo: Arc<dyn Repository>) {
    let owner = ObjectId::new();
    let s = session(&owner, T0);
    repo.insert_session(&s).await.unwrap();
    assert_eq!(repo.get_session(&s.id).await.unwrap(), s);
    assert_eq!(repo.insert_session(&s).await, Err(conflict("id")));
    let unknown = ObjectId::new();
    assert_eq!(repo.get_session(&unknown).await, Err(RepoError::NotFound));
    assert_eq!(
        repo.rotate_session(&unknown, &rotation("a", "b", T0)).await,
        Err(RepoError::NotFound)
    );
    assert_eq!(
        repo.revoke_session(&unknown, RevokeReason::Logout, T0).await,
        Err(RepoError::NotFound)
    );
}

pub async fn sessions_rotate_is_a_compare_and_set(repo: Arc<dyn Repository>) {
    let s = session(&ObjectId::new(), T0);
    repo.insert_session(&s).await.unwrap();
    let now = T0 + 1_000;
    repo.rotate_session(&s.id, &rotation(&s.jti, "second", now))
        .await
        .unwrap();
    let mut expected = s.clone();
    expected.jti = "second".into();
    expected.token_hash = format!("{:x>64}", "second");
    expected.expires_at = now + 3_600_000;
    expected.last_used_time = now;
    assert_eq!(repo.get_session(&s.id).await.unwrap(), expected);
    // The old jti lost: nothing changes.
    assert_eq!(
        repo.rotate_session(&s.id, &rotation(&s.jti, "third", now + 1)).await,
        Err(conflict("jti"))
    );
    assert_eq!(repo.get_session(&s.id).await.unwrap(), expected);
    // A revoked family does not rotate, even with the current jti.
    repo.revoke_session(&s.id, RevokeReason::Reuse, now + 2).await.unwrap();
    assert_eq!(
        repo.rotate_session(&s.id, &rotation("second", "fourth", now + 3)).await,
        Err(conflict("revoked"))
    );
    assert_eq!(repo.get_session(&s.id).await.unwrap().jti, "second");
}

pub async fn sessions_revoke_is_idempotent_and_keeps_the_first_reason(repo: Arc<dyn Repository>) {
    let s = session(&ObjectId::new(), T0);
    repo.insert_session(&s).await.unwrap();
    repo.revoke_session(&s.id, RevokeReason::Reuse, T0 + 5).await.unwrap();
    repo.revoke_session(&s.id, RevokeReason::Logout, T0 + 9).await.unwrap();
    let stored = repo.get_session(&s.id).await.unwrap();
    assert!(stored.revoked);
    assert_eq!(stored.revoked_reason, Some(RevokeReason::Reuse));
    assert_eq!(stored.revoked_time, Some(T0 + 5));
    assert_eq!((stored.jti, stored.token_hash), (s.jti, s.token_hash));
}

pub async fn sessions_revoke_every_family_of_a_user_but_one(repo: Arc<dyn Repository>) {
    let (alice, bob) = (ObjectId::new(), ObjectId::new());
    let mine = [session(&alice, T0), session(&alice, T0), session(&alice, T0)];
    let theirs = session(&bob, T0);
    for s in mine.iter().chain([&theirs]) {
        repo.insert_session(s).await.unwrap();
    }
    repo.revoke_session(&mine[2].id, RevokeReason::Logout, T0)
        .await
        .unwrap();
    let revoked = repo
        .revoke_user_sessions(&alice, Some(mine[0].id.clone()), RevokeReason::PasswordChange, T0 + 7)
        .await
        .unwrap();
    assert_eq!(revoked, 1, "only the live family other than the kept one");
    assert!(!repo.get_session(&mine[0].id).await.unwrap().revoked);
    let second = repo.get_session(&mine[1].id).await.unwrap();
    assert_eq!(
        (second.revoked, second.revoked_reason, second.revoked_time),
        (true, Some(RevokeReason::PasswordChange), Some(T0 + 7))
    );
    assert_eq!(
        repo.get_session(&mine[2].id).await.unwrap().revoked_reason,
        Some(RevokeReason::Logout)
    );
    assert!(!repo.get_session(&theirs.id).await.unwrap().revoked);
    let all = repo
        .revoke_user_sessions(&alice, None, RevokeReason::LogoutAll, T0 + 8)
        .await
        .unwrap();
    assert_eq!(all, 1);
    assert!(repo.list_user_sessions(&alice, T0).await.unwrap().is_empty());
    assert_eq!(repo.list_user_sessions(&bob, T0).await.unwrap(), vec![theirs]);
}

pub async fn sessions_list_live_least_recently_used_first(repo: Arc<dyn Repository>) {
    let owner = ObjectId::new();
    let mut recent = session(&owner, T0);
    recent.last_used_time = T0 + 50;
    let old = session(&owner, T0);
    let mut tie = session(&owner, T0);
    tie.last_used_time = T0 + 50;
    let mut expired = session(&owner, T0);
    expired.expires_at = T0 + 10;
    let revoked = session(&owner, T0);
    let other = session(&ObjectId::new(), T0);
    for s in [&tie, &recent, &old, &expired, &revoked, &other] {
        repo.insert_session(s).await.unwrap();
    }
    repo.revoke_session(&revoked.id, RevokeReason::Logout, T0)
        .await
        .unwrap();
    // recent was created before tie: equal times keep id order.
    assert_eq!(
        repo.list_user_sessions(&owner, T0 + 20).await.unwrap(),
        vec![old, recent, tie]
    );
    assert!(repo.list_user_sessions(&ObjectId::new(), T0).await.unwrap().is_empty());
}

pub async fn sessions_delete_expired_revoked_or_not(repo: Arc<dyn Repository>) {
    let owner = ObjectId::new();
    let mut gone = session(&owner, T0);
    gone.expires_at = T0 + 10;
    let mut gone_revoked = session(&owner, T0);
    gone_revoked.expires_at = T0 + 10;
    let kept_revoked = session(&owner, T0);
    let kept = session(&owner, T0);
    for s in [&gone, &gone_revoked, &kept_revoked, &kept] {
        repo.insert_session(s).await.unwrap();
    }
    repo.revoke_session(&gone_revoked.id, RevokeReason::Logout, T0)
        .await
        .unwrap();
    repo.revoke_session(&kept_revoked.id, RevokeReason::Logout, T0)
        .await
        .unwrap();
    assert_eq!(repo.delete_expired_sessions(T0 + 10).await.unwrap(), 2);
    assert_eq!(repo.get_session(&gone.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.get_session(&gone_revoked.id).await, Err(RepoError::NotFound));
    assert!(repo.get_session(&kept_revoked.id).await.unwrap().revoked);
    assert_eq!(repo.list_user_sessions(&owner, T0 + 10).await.unwrap(), vec![kept]);
    assert_eq!(repo.delete_expired_sessions(T0 + 10).await.unwrap(), 0);
}

pub async fn concurrent_rotations_of_one_jti_one_wins(repo: Arc<dyn Repository>) {
    let s = session(&ObjectId::new(), T0);
    repo.insert_session(&s).await.unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..10 {
        let (repo, id, old) = (Arc::clone(&repo), s.id.clone(), s.jti.clone());
        tasks.spawn(async move {
            let new = format!("rotated-{i}");
            repo.rotate_session(&id, &rotation(&old, &new, T0 + i))
                .await
                .map(|()| new)
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(jti) => winners.push(jti),
            Err(e) => assert_eq!(e, conflict("jti")),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation of a jti succeeds");
    assert_eq!(repo.get_session(&s.id).await.unwrap().jti, winners[0]);
}

pub async fn users_token_version_bumps_atomically_and_survives_updates(repo: Arc<dyn Repository>) {
    let u = user("alice", &[]);
    repo.create_user(&u).await.unwrap();
    assert_eq!(repo.get_user(&u.id).await.unwrap().token_version, 0);
    assert_eq!(repo.bump_token_version(&u.id).await.unwrap(), 1);
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (repo, id) = (Arc::clone(&repo), u.id.clone());
        tasks.spawn(async move { repo.bump_token_version(&id).await });
    }
    let mut seen = Vec::new();
    while let Some(result) = tasks.join_next().await {
        seen.push(result.expect("task").expect("bump"));
    }
    seen.sort_unstable();
    assert_eq!(seen, (2..=11).collect::<Vec<i64>>(), "every bump sees its own value");
    // update_user never writes the version, whatever the caller holds.
    let mut stale = u.clone();
    stale.roles = vec!["ops".into()];
    stale.token_version = 0;
    repo.update_user(&stale).await.unwrap();
    let stored = repo.get_user(&u.id).await.unwrap();
    assert_eq!((stored.token_version, stored.roles), (11, vec!["ops".to_string()]));
    assert_eq!(repo.get_user_by_username("alice").await.unwrap().token_version, 11);
    assert_eq!(
        repo.bump_token_version(&ObjectId::new()).await,
        Err(RepoError::NotFound)
    );
}
