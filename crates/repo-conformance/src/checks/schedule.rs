//! Strategies and their intents.

use std::collections::BTreeMap;
use std::sync::Arc;

use gthulhu_domain::manager::{IntentChanges, IntentState, ObjectId, RepoError, Repository, ScheduleIntent};

use super::conflict;
use crate::fixtures::{T0, intent, strategy};

const PAIR: &str = "strategyId+podId";

pub async fn strategies_insert_get_and_list(repo: Arc<dyn Repository>) {
    assert!(repo.list_strategies().await.unwrap().is_empty());
    let c1 = ObjectId::new();
    let c2 = ObjectId::new();
    let s1 = strategy(&c1);
    let i1 = intent(&s1, "p1", "n1");
    let i2 = intent(&s1, "p2", "n2");
    let mut s2 = strategy(&c2);
    s2.spec.label_selectors.clear();
    s2.spec.k8s_namespaces.clear();
    s2.spec.command_regex.clear();
    let s3 = strategy(&c1);
    let i3 = intent(&s3, "p1", "n1");
    repo.insert_strategy(&s1, &[i1.clone(), i2.clone()]).await.unwrap();
    repo.insert_strategy(&s3, std::slice::from_ref(&i3)).await.unwrap();
    repo.insert_strategy(&s2, &[]).await.unwrap();

    assert_eq!(repo.get_strategy(&s1.id).await.unwrap(), s1);
    assert_eq!(repo.get_strategy(&s2.id).await.unwrap(), s2);
    assert_eq!(
        repo.list_strategies().await.unwrap(),
        vec![s1.clone(), s2.clone(), s3.clone()]
    );
    assert_eq!(
        repo.list_strategies_by_creator(&c1).await.unwrap(),
        vec![s1.clone(), s3]
    );
    assert_eq!(repo.list_strategies_by_creator(&c2).await.unwrap(), vec![s2.clone()]);
    assert!(
        repo.list_strategies_by_creator(&ObjectId::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.list_intents_by_strategy(&s1.id).await.unwrap(),
        vec![i1.clone(), i2.clone()]
    );
    assert!(repo.list_intents_by_strategy(&s2.id).await.unwrap().is_empty());
    assert_eq!(repo.list_intents().await.unwrap(), vec![i1, i2, i3]);
}

pub async fn strategies_insert_is_atomic(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let s = strategy(&creator);
    let dup = [intent(&s, "p1", "n1"), intent(&s, "p1", "n2")];
    assert_eq!(repo.insert_strategy(&s, &dup).await, Err(conflict(PAIR)));
    assert_eq!(repo.get_strategy(&s.id).await, Err(RepoError::NotFound));
    assert!(repo.list_strategies().await.unwrap().is_empty());
    assert!(repo.list_intents().await.unwrap().is_empty());

    // A clash with an intent already stored undoes the whole insert too.
    let kept = strategy(&creator);
    let kept_intent = intent(&kept, "p1", "n1");
    repo.insert_strategy(&kept, std::slice::from_ref(&kept_intent))
        .await
        .unwrap();
    let late = strategy(&creator);
    let clash = [intent(&late, "p1", "n1"), intent(&kept, "p1", "n3")];
    assert_eq!(repo.insert_strategy(&late, &clash).await, Err(conflict(PAIR)));
    assert_eq!(repo.get_strategy(&late.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.list_strategies().await.unwrap(), vec![kept]);
    assert_eq!(repo.list_intents().await.unwrap(), vec![kept_intent.clone()]);
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![kept_intent]);
    assert!(repo.list_intents_by_node("n3").await.unwrap().is_empty());

    // Nothing of the failed attempts lingers in an index.
    let retry = [intent(&s, "p1", "n1"), intent(&s, "p2", "n2")];
    repo.insert_strategy(&s, &retry).await.unwrap();
    assert_eq!(repo.list_intents_by_strategy(&s.id).await.unwrap(), retry.to_vec());
}

pub async fn strategies_replace_swaps_all_intents(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let s = strategy(&creator);
    let i1 = intent(&s, "p1", "n1");
    let i2 = intent(&s, "p2", "n1");
    let other = strategy(&creator);
    let io = intent(&other, "p1", "n1");
    repo.insert_strategy(&s, &[i1.clone(), i2.clone()]).await.unwrap();
    repo.insert_strategy(&other, std::slice::from_ref(&io)).await.unwrap();

    let mut s2 = s.clone();
    s2.spec.priority = 20;
    s2.spec.k8s_namespaces = vec!["team-a".into()];
    s2.updater_id = ObjectId::new();
    s2.updated_time = T0 + 1_000;
    // Keeps i1's id on another node; reuses i2's pod with a new intent.
    let mut k1 = i1.clone();
    k1.node_id = "n3".into();
    k1.priority = 20;
    let j1 = intent(&s, "p2", "n2");
    let j2 = intent(&s, "p3", "n1");
    repo.replace_strategy(&s2, &[k1.clone(), j1.clone(), j2.clone()])
        .await
        .unwrap();

    assert_eq!(repo.get_strategy(&s.id).await.unwrap(), s2);
    assert_eq!(
        repo.list_intents_by_strategy(&s.id).await.unwrap(),
        vec![k1.clone(), j1.clone(), j2.clone()]
    );
    assert_eq!(
        repo.get_intents(&[i1.id.clone(), i2.id.clone()]).await.unwrap(),
        vec![k1.clone()]
    );
    assert_eq!(
        repo.list_intents_by_node("n1").await.unwrap(),
        vec![io.clone(), j2.clone()]
    );
    assert_eq!(repo.list_intents_by_node("n2").await.unwrap(), vec![j1.clone()]);
    assert_eq!(repo.list_intents_by_node("n3").await.unwrap(), vec![k1.clone()]);
    assert_eq!(
        repo.list_intents_by_strategy(&other.id).await.unwrap(),
        vec![io.clone()]
    );
    assert_eq!(
        repo.list_intents_by_creator(&creator).await.unwrap(),
        vec![k1, io, j1, j2]
    );
    assert_eq!(repo.list_strategies().await.unwrap(), vec![s2, other]);

    // Replacing with no intents leaves none.
    repo.replace_strategy(&s, &[]).await.unwrap();
    assert!(repo.list_intents_by_strategy(&s.id).await.unwrap().is_empty());
    assert_eq!(repo.get_strategy(&s.id).await.unwrap(), s);
}

pub async fn strategies_replace_is_atomic(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let s = strategy(&creator);
    let i1 = intent(&s, "p1", "n1");
    repo.insert_strategy(&s, std::slice::from_ref(&i1)).await.unwrap();
    let mut s2 = s.clone();
    s2.spec.priority = 99;
    let dup = [intent(&s, "p7", "n2"), intent(&s, "p7", "n2")];
    assert_eq!(repo.replace_strategy(&s2, &dup).await, Err(conflict(PAIR)));
    assert_eq!(repo.get_strategy(&s.id).await.unwrap(), s);
    assert_eq!(repo.list_intents().await.unwrap(), vec![i1.clone()]);
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![i1]);
    assert!(repo.list_intents_by_node("n2").await.unwrap().is_empty());
}

pub async fn strategies_unknown_ids_are_not_found(repo: Arc<dyn Repository>) {
    let ghost = strategy(&ObjectId::new());
    assert_eq!(repo.get_strategy(&ghost.id).await, Err(RepoError::NotFound));
    assert_eq!(
        repo.replace_strategy(&ghost, &[intent(&ghost, "p1", "n1")]).await,
        Err(RepoError::NotFound)
    );
    assert_eq!(repo.delete_strategy(&ghost.id).await, Err(RepoError::NotFound));
    assert!(repo.list_strategies().await.unwrap().is_empty());
    assert!(repo.list_intents().await.unwrap().is_empty());
}

pub async fn strategies_delete_returns_its_intents(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let s = strategy(&creator);
    let i1 = intent(&s, "p1", "n1");
    let i2 = intent(&s, "p2", "n2");
    let other = strategy(&creator);
    let io = intent(&other, "p1", "n1");
    repo.insert_strategy(&s, &[i1.clone(), i2.clone()]).await.unwrap();
    repo.insert_strategy(&other, std::slice::from_ref(&io)).await.unwrap();

    assert_eq!(repo.delete_strategy(&s.id).await.unwrap(), vec![i1.clone(), i2.clone()]);
    assert_eq!(repo.get_strategy(&s.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.delete_strategy(&s.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.list_strategies().await.unwrap(), vec![other.clone()]);
    assert_eq!(
        repo.list_strategies_by_creator(&creator).await.unwrap(),
        vec![other.clone()]
    );
    assert_eq!(repo.list_intents().await.unwrap(), vec![io.clone()]);
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![io.clone()]);
    assert!(repo.list_intents_by_node("n2").await.unwrap().is_empty());
    assert_eq!(repo.list_intents_by_creator(&creator).await.unwrap(), vec![io]);
    assert!(repo.list_intents_by_strategy(&s.id).await.unwrap().is_empty());

    // Its id and (strategy, pod) pairs are free again.
    repo.insert_strategy(&s, &[i1, i2]).await.unwrap();
    let emptied = strategy(&creator);
    repo.insert_strategy(&emptied, &[]).await.unwrap();
    assert!(repo.delete_strategy(&emptied.id).await.unwrap().is_empty());
}

pub async fn intents_get_skips_unknown(repo: Arc<dyn Repository>) {
    let s = strategy(&ObjectId::new());
    let all = [intent(&s, "p1", "n1"), intent(&s, "p2", "n1"), intent(&s, "p3", "n2")];
    repo.insert_strategy(&s, &all).await.unwrap();
    let asked = [all[2].id.clone(), ObjectId::new(), all[0].id.clone(), all[0].id.clone()];
    assert_eq!(
        repo.get_intents(&asked).await.unwrap(),
        vec![all[0].clone(), all[2].clone()]
    );
    assert!(repo.get_intents(&[]).await.unwrap().is_empty());
    assert!(repo.get_intents(&[ObjectId::new()]).await.unwrap().is_empty());
}

pub async fn intents_list_by_creator_strategy_and_node(repo: Arc<dyn Repository>) {
    let c1 = ObjectId::new();
    let c2 = ObjectId::new();
    let s1 = strategy(&c1);
    let s2 = strategy(&c2);
    let a = intent(&s1, "p1", "n1");
    let b = intent(&s1, "p2", "n2");
    let c = intent(&s2, "p1", "n1");
    let d = intent(&s2, "p3", "n2");
    // A node whose name extends another's must not leak into its list.
    let e = intent(&s2, "p4", "n10");
    let f = intent(&s1, "p4", "n1");
    repo.insert_strategy(&s1, &[a.clone(), b.clone()]).await.unwrap();
    repo.insert_strategy(&s2, &[c.clone(), d.clone(), e.clone()])
        .await
        .unwrap();
    repo.insert_intents(std::slice::from_ref(&f)).await.unwrap();

    assert_eq!(
        repo.list_intents_by_creator(&c1).await.unwrap(),
        vec![a.clone(), b.clone(), f.clone()]
    );
    assert_eq!(
        repo.list_intents_by_creator(&c2).await.unwrap(),
        vec![c.clone(), d.clone(), e.clone()]
    );
    assert!(repo.list_intents_by_creator(&ObjectId::new()).await.unwrap().is_empty());
    assert_eq!(
        repo.list_intents_by_strategy(&s1.id).await.unwrap(),
        vec![a.clone(), b.clone(), f.clone()]
    );
    assert_eq!(
        repo.list_intents_by_node("n1").await.unwrap(),
        vec![a.clone(), c.clone(), f.clone()]
    );
    assert_eq!(
        repo.list_intents_by_node("n2").await.unwrap(),
        vec![b.clone(), d.clone()]
    );
    assert_eq!(repo.list_intents_by_node("n10").await.unwrap(), vec![e.clone()]);
    assert!(repo.list_intents_by_node("n").await.unwrap().is_empty());
    assert!(repo.list_intents_by_node("").await.unwrap().is_empty());
    assert_eq!(repo.list_intents().await.unwrap(), vec![a, b, c, d, e, f]);
}

pub async fn intents_list_by_pods(repo: Arc<dyn Repository>) {
    let s1 = strategy(&ObjectId::new());
    let s2 = strategy(&ObjectId::new());
    let a = intent(&s1, "p1", "n1");
    let b = intent(&s1, "p2", "n1");
    let c = intent(&s2, "p1", "n1");
    // A pod whose UID extends another's must not leak into its list.
    let d = intent(&s2, "p10", "n2");
    repo.insert_strategy(&s1, &[a.clone(), b.clone()]).await.unwrap();
    repo.insert_strategy(&s2, &[c.clone(), d.clone()]).await.unwrap();

    let pods = |ids: &[&str]| ids.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(
        repo.list_intents_by_pods(&pods(&["p1"])).await.unwrap(),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(
        repo.list_intents_by_pods(&pods(&["p10", "p2", "p1", "gone"]))
            .await
            .unwrap(),
        vec![a.clone(), b.clone(), c.clone(), d.clone()]
    );
    assert!(repo.list_intents_by_pods(&[]).await.unwrap().is_empty());
    assert!(repo.list_intents_by_pods(&pods(&["p"])).await.unwrap().is_empty());

    // Updates move an intent between pods; deletes drop it.
    let mut moved = b.clone();
    moved.pod_id = "p3".into();
    repo.update_intents(std::slice::from_ref(&moved)).await.unwrap();
    repo.delete_intents(std::slice::from_ref(&a.id)).await.unwrap();
    assert_eq!(repo.list_intents_by_pods(&pods(&["p1", "p2"])).await.unwrap(), vec![c]);
    assert_eq!(repo.list_intents_by_pods(&pods(&["p3"])).await.unwrap(), vec![moved]);
    repo.delete_strategy(&s2.id).await.unwrap();
    assert!(
        repo.list_intents_by_pods(&pods(&["p1", "p10"]))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn intents_apply_changes(repo: Arc<dyn Repository>) {
    let s = strategy(&ObjectId::new());
    let old = intent(&s, "p1", "n1");
    let kept = intent(&s, "p2", "n1");
    repo.insert_strategy(&s, &[old.clone(), kept.clone()]).await.unwrap();

    let mut relabelled = kept.clone();
    relabelled.pod_labels.insert("tier".into(), "web".into());
    relabelled.updated_time = T0 + 1;
    // The deleted intent's pair is reused by an insert of the same batch.
    let replacement = intent(&s, "p1", "n2");
    let added = intent(&s, "p3", "n2");
    let changes = IntentChanges {
        delete: vec![old.id.clone(), ObjectId::new()],
        update: vec![relabelled.clone()],
        insert: vec![replacement.clone(), added.clone()],
    };
    repo.apply_intent_changes(&changes).await.unwrap();
    repo.apply_intent_changes(&IntentChanges::default()).await.unwrap();
    assert_eq!(
        repo.list_intents().await.unwrap(),
        vec![relabelled.clone(), replacement.clone(), added.clone()]
    );
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![relabelled.clone()]);
    assert_eq!(
        repo.list_intents_by_node("n2").await.unwrap(),
        vec![replacement.clone(), added.clone()]
    );

    // A taken pair fails the batch with the insert's conflict, and the
    // conflicting intent is not stored.
    let clash = intent(&s, "p3", "n3");
    let changes = IntentChanges {
        insert: vec![clash.clone()],
        ..IntentChanges::default()
    };
    assert_eq!(repo.apply_intent_changes(&changes).await, Err(conflict(PAIR)));
    assert!(repo.get_intents(&[clash.id]).await.unwrap().is_empty());
    assert_eq!(repo.list_intents().await.unwrap(), vec![relabelled, replacement, added]);
}

pub async fn strategies_list_follows_every_write(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let s1 = strategy(&creator);
    let s2 = strategy(&creator);
    assert!(repo.list_strategies().await.unwrap().is_empty());
    repo.insert_strategy(&s1, &[]).await.unwrap();
    assert_eq!(repo.list_strategies().await.unwrap(), vec![s1.clone()]);
    repo.insert_strategy(&s2, &[]).await.unwrap();
    assert_eq!(repo.list_strategies().await.unwrap(), vec![s1.clone(), s2.clone()]);
    let mut changed = s1.clone();
    changed.spec.priority += 1;
    changed.updated_time = T0 + 9;
    repo.replace_strategy(&changed, &[]).await.unwrap();
    assert_eq!(repo.list_strategies().await.unwrap(), vec![changed.clone(), s2.clone()]);
    // A failed write leaves the list as it was.
    assert!(repo.insert_strategy(&s2, &[]).await.is_err());
    assert_eq!(repo.list_strategies().await.unwrap(), vec![changed, s2.clone()]);
    repo.delete_strategy(&s1.id).await.unwrap();
    assert_eq!(repo.list_strategies().await.unwrap(), vec![s2]);
}

pub async fn intents_insert_duplicate_pair_conflicts(repo: Arc<dyn Repository>) {
    let s = strategy(&ObjectId::new());
    let other = strategy(&ObjectId::new());
    let i1 = intent(&s, "p1", "n1");
    repo.insert_strategy(&s, std::slice::from_ref(&i1)).await.unwrap();
    repo.insert_strategy(&other, &[]).await.unwrap();

    assert_eq!(
        repo.insert_intents(&[intent(&s, "p1", "n2")]).await,
        Err(conflict(PAIR))
    );
    let twins = [intent(&s, "p2", "n1"), intent(&s, "p2", "n2")];
    assert_eq!(repo.insert_intents(&twins).await, Err(conflict(PAIR)));
    // The same pod under another strategy is a different pair.
    let w = intent(&s, "p3", "n1");
    let o = intent(&other, "p1", "n1");
    repo.insert_intents(&[w.clone(), o.clone()]).await.unwrap();
    repo.insert_intents(&[]).await.unwrap();
    assert_eq!(repo.list_intents().await.unwrap(), vec![i1, w, o]);
    assert!(repo.list_intents_by_node("n2").await.unwrap().is_empty());
}

pub async fn intents_update_replaces_fields_and_indexes(repo: Arc<dyn Repository>) {
    let c1 = ObjectId::new();
    let c2 = ObjectId::new();
    let s1 = strategy(&c1);
    let s2 = strategy(&c2);
    let i1 = intent(&s1, "p1", "n1");
    let i2 = intent(&s1, "p2", "n1");
    repo.insert_strategy(&s1, &[i1.clone(), i2.clone()]).await.unwrap();
    repo.insert_strategy(&s2, &[]).await.unwrap();

    let moved = ScheduleIntent {
        id: i1.id.clone(),
        strategy_id: s2.id.clone(),
        pod_id: "p9".into(),
        pod_name: "renamed".into(),
        node_id: "n2".into(),
        k8s_namespace: "team-b".into(),
        command_regex: "^java$".into(),
        priority: -5,
        execution_time: 1,
        pod_labels: BTreeMap::from([("version".to_string(), "2".to_string())]),
        state: IntentState::Sent,
        creator_id: c2.clone(),
        updater_id: c2.clone(),
        created_time: T0 + 1,
        updated_time: T0 + 2,
    };
    let mut relabelled = i2.clone();
    relabelled.pod_labels.clear();
    relabelled.updated_time = T0 + 3;
    repo.update_intents(&[moved.clone(), relabelled.clone()]).await.unwrap();

    assert_eq!(
        repo.get_intents(&[i1.id.clone(), i2.id.clone()]).await.unwrap(),
        vec![moved.clone(), relabelled.clone()]
    );
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![relabelled.clone()]);
    assert_eq!(repo.list_intents_by_node("n2").await.unwrap(), vec![moved.clone()]);
    assert_eq!(
        repo.list_intents_by_strategy(&s1.id).await.unwrap(),
        vec![relabelled.clone()]
    );
    assert_eq!(
        repo.list_intents_by_strategy(&s2.id).await.unwrap(),
        vec![moved.clone()]
    );
    assert_eq!(repo.list_intents_by_creator(&c1).await.unwrap(), vec![relabelled]);
    assert_eq!(repo.list_intents_by_creator(&c2).await.unwrap(), vec![moved]);
    // The old pair is free, the new one taken.
    repo.insert_intents(&[intent(&s1, "p1", "n1")]).await.unwrap();
    assert_eq!(
        repo.insert_intents(&[intent(&s2, "p9", "n1")]).await,
        Err(conflict(PAIR))
    );

    repo.update_intents(&[]).await.unwrap();
    let ghost = intent(&s1, "p5", "n5");
    let result = repo.update_intents(std::slice::from_ref(&ghost)).await;
    assert!(matches!(result, Ok(()) | Err(RepoError::NotFound)), "{result:?}");
    assert!(repo.get_intents(&[ghost.id]).await.unwrap().is_empty());
    assert!(repo.list_intents_by_node("n5").await.unwrap().is_empty());
}

pub async fn intents_update_onto_taken_pair_conflicts(repo: Arc<dyn Repository>) {
    let s = strategy(&ObjectId::new());
    let i1 = intent(&s, "p1", "n1");
    let i2 = intent(&s, "p2", "n1");
    repo.insert_strategy(&s, &[i1.clone(), i2.clone()]).await.unwrap();
    let mut clash = i2.clone();
    clash.pod_id = "p1".into();
    clash.node_id = "n2".into();
    assert_eq!(repo.update_intents(&[clash]).await, Err(conflict(PAIR)));
    assert_eq!(repo.list_intents().await.unwrap(), vec![i1, i2]);
    assert!(repo.list_intents_by_node("n2").await.unwrap().is_empty());
}

pub async fn intents_delete_skips_unknown(repo: Arc<dyn Repository>) {
    let creator = ObjectId::new();
    let s = strategy(&creator);
    let i1 = intent(&s, "p1", "n1");
    let i2 = intent(&s, "p2", "n1");
    let i3 = intent(&s, "p3", "n2");
    repo.insert_strategy(&s, &[i1.clone(), i2.clone(), i3.clone()])
        .await
        .unwrap();
    repo.delete_intents(&[i2.id.clone(), ObjectId::new()]).await.unwrap();
    repo.delete_intents(&[]).await.unwrap();
    assert_eq!(repo.list_intents().await.unwrap(), vec![i1.clone(), i3.clone()]);
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![i1.clone()]);
    assert_eq!(
        repo.list_intents_by_strategy(&s.id).await.unwrap(),
        vec![i1.clone(), i3.clone()]
    );
    assert_eq!(repo.list_intents_by_creator(&creator).await.unwrap(), vec![i1, i3]);
    assert!(repo.get_intents(std::slice::from_ref(&i2.id)).await.unwrap().is_empty());
    // Its pair is free again.
    repo.insert_intents(&[intent(&s, "p2", "n1")]).await.unwrap();
    // The strategy itself stays.
    assert_eq!(repo.get_strategy(&s.id).await.unwrap(), s);
}

pub async fn intents_set_state(repo: Arc<dyn Repository>) {
    let s = strategy(&ObjectId::new());
    let all = [intent(&s, "p1", "n1"), intent(&s, "p2", "n1"), intent(&s, "p3", "n2")];
    repo.insert_strategy(&s, &all).await.unwrap();
    let ghost = ObjectId::new();
    repo.set_intent_state(
        &[all[0].id.clone(), all[2].id.clone(), ghost.clone()],
        IntentState::Sent,
    )
    .await
    .unwrap();
    repo.set_intent_state(&[], IntentState::Unknown).await.unwrap();
    let mut expected = all.to_vec();
    expected[0].state = IntentState::Sent;
    expected[2].state = IntentState::Sent;
    assert_eq!(repo.list_intents().await.unwrap(), expected);
    assert!(repo.get_intents(&[ghost]).await.unwrap().is_empty());

    repo.set_intent_state(&[all[0].id.clone()], IntentState::Unknown)
        .await
        .unwrap();
    expected[0].state = IntentState::Unknown;
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), expected[..2].to_vec());
}
