//! Intents (manager.md 8): listing the caller's own, and the short-term
//! override of deleting some (the reconciler re-creates those whose pods
//! still match).

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use gthulhu_domain::manager::{Caller, ScheduleIntent, ScheduleIntentService, ServiceError, ServiceResult};

use crate::ManagerServices;
use crate::scope::Scope;
use crate::validation;

fn permitted(caller: &Caller, intent: &ScheduleIntent) -> bool {
    Scope::for_target(&caller.grants, &caller.user.id, &intent.creator_id)
        .is_some_and(|scope| scope.covers(&[&intent.k8s_namespace]))
}

#[async_trait]
impl ScheduleIntentService for ManagerServices {
    /// Own intents within scope, by strategy creation (ids grow with time)
    /// and then pod name.
    async fn list_own_intents(&self, caller: &Caller) -> ServiceResult<Vec<ScheduleIntent>> {
        let mut own = self.repo.list_intents_by_creator(&caller.user.id).await?;
        own.retain(|i| permitted(caller, i));
        own.sort_by(|a, b| (&a.strategy_id, &a.pod_name).cmp(&(&b.strategy_id, &b.pod_name)));
        Ok(own)
    }

    /// All or nothing: one unknown or unpermitted id deletes none.
    async fn delete_intents(&self, caller: &Caller, intent_ids: &[String]) -> ServiceResult<()> {
        let mut ids = validation::parse_intent_ids(intent_ids)?;
        let mut seen = HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        let found = self.repo.get_intents(&ids).await?;
        let all_permitted = found.len() == ids.len()
            && ids
                .iter()
                .all(|id| found.iter().any(|i| &i.id == id && permitted(caller, i)));
        if !all_permitted {
            return Err(ServiceError::NotFound(
                "one or more intents not found or you don't have permission to delete them".into(),
            ));
        }
        self.repo.delete_intents(&ids).await?;
        let nodes: BTreeSet<String> = found.into_iter().map(|i| i.node_id).collect();
        self.pusher.push_nodes(nodes).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{IntentState, ObjectId};

    use super::*;
    use crate::testutil::*;

    const DELETE_KEY: &str = "schedule_intent.delete";

    fn intent_of(strategy: &ObjectId, owner: &ObjectId, pod: &str, ns: &str, node: &str) -> ScheduleIntent {
        let mut i = stored_intent(pod, node, &[]);
        i.strategy_id = strategy.clone();
        i.creator_id = owner.clone();
        i.k8s_namespace = ns.into();
        i.state = IntentState::Sent;
        i
    }

    fn not_found() -> ServiceResult<()> {
        Err(ServiceError::NotFound(
            "one or more intents not found or you don't have permission to delete them".into(),
        ))
    }

    #[tokio::test]
    async fn list_own_orders_by_strategy_then_pod_and_filters_scope() {
        let me = caller(vec![policy("schedule_intent.read", false, "team-a")]);
        let (s1, s2) = (ObjectId::new(), ObjectId::new());
        let world = World::default();
        let stored = [
            intent_of(&s2, &me.user.id, "a", "team-a", "n"),
            intent_of(&s1, &me.user.id, "z", "team-a", "n"),
            intent_of(&s1, &me.user.id, "b", "team-a", "n"),
            intent_of(&s1, &me.user.id, "hidden", "team-b", "n"),
            intent_of(&s1, &ObjectId::new(), "theirs", "team-a", "n"),
        ];
        world.seed(&[], &stored).await;
        let svc = services_over(world.repo.clone(), cluster(vec![], &[]), dm_client(&world, &[]));
        let names: Vec<String> = svc
            .list_own_intents(&me)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.pod_name)
            .collect();
        assert_eq!(names, ["b", "z", "a"]);
    }

    #[tokio::test]
    async fn delete_is_all_or_nothing_and_re_pushes_the_node() {
        let owner = ObjectId::new();
        let s = ObjectId::new();
        let keep = intent_of(&s, &owner, "keep", "team-a", "n1");
        let drop1 = intent_of(&s, &owner, "drop1", "team-a", "n1");
        let other_ns = intent_of(&s, &owner, "other-ns", "team-b", "n1");
        let world = World::default();
        world.seed(&[], &[keep.clone(), drop1.clone(), other_ns.clone()]).await;
        let svc = services_over(world.repo.clone(), cluster(vec![], &["n1"]), dm_client(&world, &[]));
        let ids = |v: &[&ScheduleIntent]| v.iter().map(|i| i.id.to_string()).collect::<Vec<_>>();

        let team_a = caller(vec![policy(DELETE_KEY, false, "team-a")]);
        let self_only = caller(vec![policy(DELETE_KEY, true, "")]);
        let cases = [
            (&team_a, ids(&[&drop1, &other_ns])),
            (&team_a, vec![drop1.id.to_string(), ObjectId::new().to_string()]),
            (&self_only, ids(&[&drop1])),
        ];
        for (who, request) in cases {
            assert_eq!(svc.delete_intents(who, &request).await, not_found());
        }
        assert_eq!(world.intents().await.len(), 3);
        assert!(world.pushes().is_empty());

        assert_eq!(
            svc.delete_intents(&team_a, &[]).await,
            Err(ServiceError::Validation(
                "intentIds: at least one intent ID is required".into()
            ))
        );
        // Duplicates (in any case) count once.
        let request = vec![drop1.id.to_string(), drop1.id.to_string().to_uppercase()];
        svc.delete_intents(&team_a, &request).await.unwrap();
        let intents = world.intents().await;
        let left: Vec<_> = intents.iter().map(|i| i.pod_name.as_str()).collect();
        assert_eq!(left, ["keep", "other-ns"]);
        let pushes = world.pushes();
        assert_eq!(pushes.len(), 1);
        let pushed: Vec<_> = pushes[0].1.iter().map(|i| i.pod_name.as_str()).collect();
        assert_eq!(pushed, ["keep", "other-ns"]);
    }
}
