//! Strategies (manager.md 7) and their pod matching (9). Every change stores
//! the strategy together with one intent per matched pod, then pushes the
//! full intent set of each affected node; a failed push never fails the
//! request (the reconciler delivers later).

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use gthulhu_domain::manager::{
    Caller, IntentState, K8sError, ObjectId, PodInfo, RepoError, ScheduleIntent, ScheduleStrategy, ServiceError,
    ServiceResult, StrategyApplied, StrategyService, StrategySpec, now_ms,
};

use crate::ManagerServices;
use crate::pattern_budget;
use crate::scope::Scope;
use crate::validation;

const CREATE_KEY: &str = "schedule_strategy.create";
const UPDATE_KEY: &str = "schedule_strategy.update";

fn not_found(action: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "strategy not found or you don't have permission to {action} it"
    ))
}

/// The pods of a match that get an intent: schedulable ones, each UID once.
pub fn intent_pods<'a>(pods: impl IntoIterator<Item = &'a PodInfo>) -> Vec<&'a PodInfo> {
    let mut seen = HashSet::new();
    pods.into_iter()
        .filter(|pod| pod.is_schedulable() && seen.insert(pod.uid.as_str()))
        .collect()
}

/// The intent of `strategy` for `pod` (manager.md 9 step 5), state
/// Initialized, creator and updater from the strategy.
pub fn intent_for_pod(strategy: &ScheduleStrategy, pod: &PodInfo, now_ms: i64) -> ScheduleIntent {
    ScheduleIntent {
        id: ObjectId::new(),
        strategy_id: strategy.id.clone(),
        pod_id: pod.uid.clone(),
        pod_name: pod.name.clone(),
        node_id: pod.node_name.clone(),
        k8s_namespace: pod.namespace.clone(),
        command_regex: strategy.spec.command_regex.clone(),
        priority: strategy.spec.priority,
        execution_time: strategy.spec.execution_time,
        pod_labels: pod.labels.clone(),
        state: IntentState::Initialized,
        creator_id: strategy.creator_id.clone(),
        updater_id: strategy.updater_id.clone(),
        created_time: now_ms,
        updated_time: now_ms,
    }
}

fn nodes_of<'a>(intents: impl IntoIterator<Item = &'a ScheduleIntent>) -> BTreeSet<String> {
    intents.into_iter().map(|i| i.node_id.clone()).collect()
}

impl ManagerServices {
    /// Pods selected by namespaces and labels, scheduled and unfinished,
    /// once each. No cluster configured means no pods: strategies are
    /// declarative, and the reconciler applies them when pods appear.
    /// `None` while the pod cache has not synced (issue 9): the strategy is
    /// stored without intents, and the reconciler's pass on the first sync
    /// computes them.
    async fn matching_pods(&self, spec: &StrategySpec) -> ServiceResult<Option<Vec<PodInfo>>> {
        let pods = match self.k8s.query_pods(&spec.k8s_namespaces, &spec.label_selectors).await {
            Ok(pods) => pods,
            Err(K8sError::NotConfigured(_)) => vec![],
            Err(K8sError::NotSynced(detail)) => {
                tracing::info!(%detail, "pod cache not synced: the strategy's intents are computed once it is");
                return Ok(None);
            }
            Err(K8sError::Unavailable(detail)) => {
                tracing::warn!(%detail, "matching pods failed");
                return Err(ServiceError::Unavailable("kubernetes API unavailable".into()));
            }
        };
        Ok(Some(intent_pods(&pods).into_iter().cloned().collect()))
    }

    /// The stored strategy if the caller may act on it (a grant applies and
    /// it is within scope), with the caller's scope over it; else the
    /// route's 404.
    async fn permitted_strategy(
        &self,
        caller: &Caller,
        id: &ObjectId,
        action: &str,
    ) -> ServiceResult<(ScheduleStrategy, Scope)> {
        let stored = match self.repo.get_strategy(id).await {
            Err(RepoError::NotFound) => return Err(not_found(action)),
            other => other?,
        };
        match Scope::for_target(&caller.grants, &caller.user.id, &stored.creator_id) {
            Some(scope) if scope.covers(&stored.spec.k8s_namespaces) => Ok((stored, scope)),
            _ => Err(not_found(action)),
        }
    }
}

#[async_trait]
impl StrategyService for ManagerServices {
    async fn create_strategy(&self, caller: &Caller, spec: StrategySpec) -> ServiceResult<StrategyApplied> {
        let spec = validation::strategy_spec(spec)?;
        // The caller owns what it creates, so every grant applies.
        Scope::for_target(&caller.grants, &caller.user.id, &caller.user.id)
            .ok_or_else(|| ServiceError::Forbidden("permission denied".into()))?
            .require(&spec.k8s_namespaces, CREATE_KEY)?;
        pattern_budget::check(self.repo.as_ref(), &spec.command_regex, None).await?;
        let pods = self.matching_pods(&spec).await?;
        let now = now_ms();
        let strategy = ScheduleStrategy {
            id: ObjectId::new(),
            spec,
            creator_id: caller.user.id.clone(),
            updater_id: caller.user.id.clone(),
            created_time: now,
            updated_time: now,
        };
        let intents: Vec<_> = pods
            .iter()
            .flatten()
            .map(|pod| intent_for_pod(&strategy, pod, now))
            .collect();
        self.repo.insert_strategy(&strategy, &intents).await?;
        self.pusher.push_nodes(nodes_of(&intents)).await;
        Ok(StrategyApplied {
            strategy_id: strategy.id,
            matched_pods: pods.map(|_| intents.len()),
        })
    }

    async fn update_strategy(
        &self,
        caller: &Caller,
        strategy_id: &str,
        spec: StrategySpec,
    ) -> ServiceResult<StrategyApplied> {
        let id = validation::parse_strategy_id(strategy_id)?;
        let (stored, scope) = self.permitted_strategy(caller, &id, "update").await?;
        let spec = validation::strategy_spec(spec)?;
        scope.require(&spec.k8s_namespaces, UPDATE_KEY)?;
        pattern_budget::check(self.repo.as_ref(), &spec.command_regex, Some(&id)).await?;
        let old_intents = self.repo.list_intents_by_strategy(&id).await?;
        let pods = self.matching_pods(&spec).await?;
        let now = now_ms();
        let strategy = ScheduleStrategy {
            spec,
            updater_id: caller.user.id.clone(),
            updated_time: now,
            ..stored
        };
        let intents: Vec<_> = pods
            .iter()
            .flatten()
            .map(|pod| intent_for_pod(&strategy, pod, now))
            .collect();
        match self.repo.replace_strategy(&strategy, &intents).await {
            Err(RepoError::NotFound) => return Err(not_found("update")),
            other => other?,
        }
        let mut nodes = nodes_of(&old_intents);
        nodes.extend(nodes_of(&intents));
        self.pusher.push_nodes(nodes).await;
        Ok(StrategyApplied {
            strategy_id: strategy.id,
            matched_pods: pods.map(|_| intents.len()),
        })
    }

    async fn delete_strategy(&self, caller: &Caller, strategy_id: &str) -> ServiceResult<()> {
        let id = validation::parse_strategy_id(strategy_id)?;
        self.permitted_strategy(caller, &id, "delete").await?;
        let deleted = match self.repo.delete_strategy(&id).await {
            Err(RepoError::NotFound) => return Err(not_found("delete")),
            other => other?,
        };
        self.pusher.push_nodes(nodes_of(&deleted)).await;
        Ok(())
    }

    async fn list_own_strategies(&self, caller: &Caller) -> ServiceResult<Vec<ScheduleStrategy>> {
        let Some(scope) = Scope::for_target(&caller.grants, &caller.user.id, &caller.user.id) else {
            return Ok(vec![]);
        };
        let mut own = self.repo.list_strategies_by_creator(&caller.user.id).await?;
        own.retain(|s| scope.covers(&s.spec.k8s_namespaces));
        Ok(own)
    }

    async fn list_strategies(&self, caller: &Caller) -> ServiceResult<Vec<ScheduleStrategy>> {
        let mut all = self.repo.list_strategies().await?;
        all.retain(|s| {
            Scope::for_target(&caller.grants, &caller.user.id, &s.creator_id)
                .is_some_and(|scope| scope.covers(&s.spec.k8s_namespaces))
        });
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gthulhu_domain::Selector;
    use gthulhu_domain::manager::{MockDecisionMakerAdapter, MockK8sAdapter};

    use super::*;
    use crate::testutil::*;
    use crate::{NoCluster, ServiceDeps};

    fn spec(namespaces: &[&str], labels: &[(&str, &str)]) -> StrategySpec {
        StrategySpec {
            label_selectors: labels
                .iter()
                .map(|(k, v)| Selector {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            k8s_namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            priority: 10,
            execution_time: 100,
            ..Default::default()
        }
    }

    fn grant(key: &str, self_only: bool, ns: &str) -> Caller {
        caller(vec![policy(key, self_only, ns)])
    }

    fn pods() -> Vec<PodInfo> {
        vec![
            pod("web-1", "default", "test", &[("test", "test")]),
            pod("db-1", "team-a", "test", &[("app", "db")]),
            pod("db-2", "team-b", "other", &[("app", "db")]),
        ]
    }

    #[tokio::test]
    async fn create_stores_intents_and_pushes_the_full_node_set() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster(pods(), &["test"]), dm_client(&world, &[]));
        let admin = grant(CREATE_KEY, false, "");
        let applied = svc
            .create_strategy(&admin, spec(&[], &[("test", "test")]))
            .await
            .unwrap();
        assert_eq!(applied.matched_pods, Some(1));
        {
            let (strategies, intents, pushes) = (world.strategies().await, world.intents().await, world.pushes());
            assert_eq!(strategies[0].id, applied.strategy_id);
            assert_eq!(strategies[0].creator_id, admin.user.id);
            let i = &intents[0];
            assert_eq!(
                (
                    i.pod_id.as_str(),
                    i.pod_name.as_str(),
                    i.node_id.as_str(),
                    i.k8s_namespace.as_str()
                ),
                ("uid-web-1", "web-1", "test", "default")
            );
            assert_eq!((i.priority, i.execution_time), (10, 100));
            assert_eq!((&i.creator_id, &i.updater_id), (&admin.user.id, &admin.user.id));
            assert_eq!(i.state, IntentState::Sent);
            assert_eq!(pushes.len(), 1);
            assert_eq!(pushes[0].0, "dm-test");
            assert_eq!(pushes[0].1, vec![i.to_dm_intent()]);
        }

        // A second strategy on the same node: the push carries both.
        let applied = svc.create_strategy(&admin, spec(&["team-a"], &[])).await.unwrap();
        assert_eq!(applied.matched_pods, Some(1));
        let pushes = world.pushes();
        assert_eq!(pushes.len(), 2);
        let names: Vec<_> = pushes[1].1.iter().map(|i| i.pod_name.as_str()).collect();
        assert_eq!(names, ["db-1", "web-1"]);
        assert!(world.intents().await.iter().all(|i| i.state == IntentState::Sent));
    }

    #[tokio::test]
    async fn unscheduled_finished_and_duplicate_pods_are_skipped() {
        let mut unscheduled = pod("pending", "default", "", &[("app", "x")]);
        unscheduled.phase = "Pending".into();
        let mut done = pod("done", "default", "n1", &[("app", "x")]);
        done.phase = "Succeeded".into();
        let mut failed = pod("failed", "default", "n1", &[("app", "x")]);
        failed.phase = "Failed".into();
        let live = pod("live", "default", "n1", &[("app", "x")]);
        let world = World::default();
        let svc = services_over(
            world.repo.clone(),
            cluster(vec![unscheduled, done, failed, live.clone(), live], &[]),
            dm_client(&world, &[]),
        );
        let applied = svc
            .create_strategy(&grant(CREATE_KEY, false, ""), spec(&[], &[("app", "")]))
            .await
            .unwrap();
        assert_eq!(applied.matched_pods, Some(1));
        let intents = world.intents().await;
        assert_eq!(intents[0].pod_name, "live");
        // No DM on n1: nothing pushed, the intent waits for the reconciler.
        assert_eq!(intents[0].state, IntentState::Initialized);
        assert!(world.pushes().is_empty());
    }

    #[tokio::test]
    async fn no_match_and_no_cluster_still_create() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster(pods(), &["test"]), dm_client(&world, &[]));
        let admin = grant(CREATE_KEY, false, "");
        let applied = svc.create_strategy(&admin, spec(&[], &[("nope", "")])).await.unwrap();
        assert_eq!(applied.matched_pods, Some(0));

        let svc = ManagerServices::new(ServiceDeps {
            repo: world.repo.clone(),
            k8s: Arc::new(NoCluster),
            dms: Arc::new(MockDecisionMakerAdapter::new()),
            jwt: test_keys(),
            settings: test_settings(),
        });
        let applied = svc.create_strategy(&admin, spec(&[], &[])).await.unwrap();
        assert_eq!(applied.matched_pods, Some(0));
        assert_eq!(world.strategies().await.len(), 2);
        assert!(world.intents().await.is_empty() && world.pushes().is_empty());
    }

    #[tokio::test]
    async fn kubernetes_down_is_503_and_stores_nothing() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster_down(), dm_client(&world, &[]));
        assert_eq!(
            svc.create_strategy(&grant(CREATE_KEY, false, ""), spec(&[], &[])).await,
            Err(ServiceError::Unavailable("kubernetes API unavailable".into()))
        );
        assert!(world.strategies().await.is_empty());
    }

    #[tokio::test]
    async fn before_the_pod_cache_syncs_a_strategy_is_stored_pending() {
        let world = World::default();
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_query_pods()
            .returning(|_, _| Err(K8sError::NotSynced("pod cache not synced yet".into())));
        k8s.expect_list_decision_makers().returning(|| Ok(vec![]));
        let svc = services_over(world.repo.clone(), k8s, dm_client(&world, &[]));
        let owner = grant(UPDATE_KEY, false, "");
        let applied = svc
            .create_strategy(&grant(CREATE_KEY, false, ""), spec(&[], &[]))
            .await
            .unwrap();
        assert_eq!(applied.matched_pods, None);
        let id = applied.strategy_id.to_string();
        let updated = svc.update_strategy(&owner, &id, spec(&["default"], &[])).await.unwrap();
        assert_eq!(updated.matched_pods, None);
        let strategies = world.strategies().await;
        assert_eq!(strategies.len(), 1);
        assert_eq!(strategies[0].spec.k8s_namespaces, vec!["default".to_string()]);
        assert!(world.intents().await.is_empty() && world.pushes().is_empty());
    }

    // Paused time: the push retries' backoff elapses at once.
    #[tokio::test(start_paused = true)]
    async fn failed_push_does_not_fail_the_request() {
        let world = World::default();
        let svc = services_over(
            world.repo.clone(),
            cluster(pods(), &["test"]),
            dm_client(&world, &["dm-test"]),
        );
        let applied = svc
            .create_strategy(&grant(CREATE_KEY, false, ""), spec(&["default"], &[]))
            .await
            .unwrap();
        assert_eq!(applied.matched_pods, Some(1));
        assert_eq!(world.pushes().len(), 3, "every attempt failed");
        assert_eq!(world.intents().await[0].state, IntentState::Initialized);
    }

    #[tokio::test]
    async fn create_checks_namespace_scope_and_validation() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster(pods(), &[]), dm_client(&world, &[]));
        let team_a = grant(CREATE_KEY, false, "team-a");
        assert_eq!(
            svc.create_strategy(&team_a, spec(&["team-a"], &[]))
                .await
                .unwrap()
                .matched_pods,
            Some(1)
        );
        assert_eq!(
            svc.create_strategy(&team_a, spec(&["team-a", "team-b"], &[])).await,
            Err(ServiceError::Forbidden(
                "namespace \"team-b\" is outside the namespaces granted for schedule_strategy.create".into()
            ))
        );
        assert_eq!(
            svc.create_strategy(&team_a, spec(&[], &[])).await,
            Err(ServiceError::Forbidden(
                "k8sNamespace must list only granted namespaces".into()
            ))
        );
        let mut bad = spec(&[], &[]);
        bad.command_regex = "(".into();
        assert!(matches!(
            svc.create_strategy(&grant(CREATE_KEY, false, ""), bad).await,
            Err(ServiceError::Validation(m)) if m.starts_with("commandRegex: invalid regular expression")
        ));
        assert_eq!(world.strategies().await.len(), 1);
    }

    /// Stores a strategy as `owner` through the service.
    async fn create_as(svc: &ManagerServices, owner: &Caller, s: StrategySpec) -> ObjectId {
        let mut creator = owner.clone();
        creator.grants = vec![policy(CREATE_KEY, false, "")];
        svc.create_strategy(&creator, s).await.unwrap().strategy_id
    }

    #[tokio::test]
    async fn update_replaces_and_pushes_old_and_new_nodes() {
        let world = World::default();
        let svc = services_over(
            world.repo.clone(),
            cluster(pods(), &["test", "other"]),
            dm_client(&world, &[]),
        );
        let owner = grant(UPDATE_KEY, false, "");
        let id = create_as(&svc, &owner, spec(&["team-a"], &[])).await;
        let created = world.strategies().await[0].clone();
        world.pushes.lock().unwrap().clear();

        let editor = grant(UPDATE_KEY, false, "");
        let applied = svc
            .update_strategy(&editor, &id.to_string(), spec(&["team-b"], &[]))
            .await
            .unwrap();
        assert_eq!(
            applied,
            StrategyApplied {
                strategy_id: id.clone(),
                matched_pods: Some(1)
            }
        );
        let (strategies, intents) = (world.strategies().await, world.intents().await);
        let s = &strategies[0];
        assert_eq!((&s.creator_id, s.created_time), (&owner.user.id, created.created_time));
        assert_eq!(s.updater_id, editor.user.id);
        assert_eq!(s.spec.k8s_namespaces, vec!["team-b".to_string()]);
        assert_eq!(intents.len(), 1);
        assert_eq!(
            (intents[0].pod_name.as_str(), &intents[0].creator_id),
            ("db-2", &owner.user.id)
        );
        let mut pushed: Vec<(String, usize)> = world.pushes().iter().map(|(dm, set)| (dm.clone(), set.len())).collect();
        pushed.sort();
        // Node "test" lost its only intent and gets an empty set.
        assert_eq!(pushed, [("dm-other".to_string(), 1), ("dm-test".to_string(), 0)]);
    }

    #[tokio::test]
    async fn update_errors() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster(pods(), &[]), dm_client(&world, &[]));
        let owner = grant(UPDATE_KEY, false, "");
        let id = create_as(&svc, &owner, spec(&["team-a"], &[])).await.to_string();
        let not_found = Err(not_found("update"));

        assert_eq!(
            svc.update_strategy(&owner, "", spec(&[], &[])).await,
            Err(ServiceError::Validation("strategyId is required".into()))
        );
        assert_eq!(
            svc.update_strategy(&owner, "zz", spec(&[], &[])).await,
            Err(ServiceError::Validation("invalid strategyId".into()))
        );
        assert_eq!(
            svc.update_strategy(&owner, &ObjectId::new().to_string(), spec(&[], &[]))
                .await,
            not_found
        );
        // A self-only grant does not reach someone else's strategy.
        assert_eq!(
            svc.update_strategy(&grant(UPDATE_KEY, true, ""), &id, spec(&[], &[]))
                .await,
            not_found
        );
        // Stored strategy outside the caller's namespaces: invisible.
        assert_eq!(
            svc.update_strategy(&grant(UPDATE_KEY, false, "team-b"), &id, spec(&["team-b"], &[]))
                .await,
            not_found
        );
        // New strategy outside the namespaces: 403.
        assert_eq!(
            svc.update_strategy(&grant(UPDATE_KEY, false, "team-a"), &id, spec(&["team-b"], &[]))
                .await,
            Err(ServiceError::Forbidden(
                "namespace \"team-b\" is outside the namespaces granted for schedule_strategy.update".into()
            ))
        );
        let mut bad = spec(&[], &[]);
        bad.priority = 21;
        assert_eq!(
            svc.update_strategy(&owner, &id, bad).await,
            Err(ServiceError::Validation("priority must be between 0 and 20".into()))
        );
        assert_eq!(world.strategies().await[0].updater_id, owner.user.id);
    }

    #[tokio::test]
    async fn delete_pushes_the_emptied_node_and_respects_self() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster(pods(), &["test"]), dm_client(&world, &[]));
        let owner = grant("schedule_strategy.delete", false, "");
        let id = create_as(&svc, &owner, spec(&["default"], &[])).await.to_string();
        world.pushes.lock().unwrap().clear();

        assert_eq!(
            svc.delete_strategy(&grant("schedule_strategy.delete", true, ""), &id)
                .await,
            Err(not_found("delete"))
        );
        assert_eq!(
            svc.delete_strategy(&owner, &ObjectId::new().to_string()).await,
            Err(not_found("delete"))
        );
        // self:false lets another user delete it.
        svc.delete_strategy(&grant("schedule_strategy.delete", false, ""), &id)
            .await
            .unwrap();
        assert!(world.strategies().await.is_empty() && world.intents().await.is_empty());
        assert_eq!(world.pushes(), vec![("dm-test".to_string(), vec![])]);
    }

    #[tokio::test]
    async fn lists_are_scope_filtered() {
        let world = World::default();
        let svc = services_over(world.repo.clone(), cluster(vec![], &[]), dm_client(&world, &[]));
        let me = grant("schedule_strategy.read", false, "team-a");
        let someone = grant("schedule_strategy.read", false, "");
        let mine_a = create_as(&svc, &me, spec(&["team-a"], &[])).await;
        create_as(&svc, &me, spec(&["team-b"], &[])).await;
        create_as(&svc, &me, spec(&[], &[])).await;
        let theirs_a = create_as(&svc, &someone, spec(&["team-a"], &[])).await;
        let ids = |v: Vec<ScheduleStrategy>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();

        assert_eq!(ids(svc.list_own_strategies(&me).await.unwrap()), vec![mine_a.clone()]);
        assert_eq!(
            ids(svc.list_strategies(&me).await.unwrap()),
            vec![mine_a.clone(), theirs_a]
        );
        let own_only = Caller {
            grants: vec![policy("schedule_strategy.read", true, "")],
            ..me.clone()
        };
        assert_eq!(svc.list_strategies(&own_only).await.unwrap().len(), 3);
        assert_eq!(svc.list_own_strategies(&someone).await.unwrap().len(), 1);
        assert!(svc.list_own_strategies(&caller(vec![])).await.unwrap().is_empty());
    }
}
