//! Fixtures shared by the unit tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gthulhu_domain::manager::{
    Caller, DecisionMakerEndpoint, DmClientError, DmState, IntentState, K8sError, MockDecisionMakerAdapter,
    MockK8sAdapter, MockRepository, ObjectId, PodInfo, RepoError, Role, RolePolicy, ScheduleIntent, ScheduleStrategy,
    User, UserStatus,
};
use gthulhu_domain::{Intent, merkle};

use crate::{JwtKeys, ManagerServices, ServiceDeps, ServiceSettings, passwords};

pub const TEST_KEY_PKCS1: &str = include_str!("../../dm-service/testdata/dm_key_pkcs1.pem");

pub fn test_keys() -> JwtKeys {
    JwtKeys::from_pem(TEST_KEY_PKCS1).unwrap()
}

pub fn test_settings() -> ServiceSettings {
    ServiceSettings {
        bcrypt_cost: 4,
        ..ServiceSettings::default()
    }
}

/// Services over `repo`, with a cluster and DM client that must not be called.
pub fn services(repo: MockRepository) -> Arc<ManagerServices> {
    services_with(repo, |_| {})
}

pub fn services_with(repo: MockRepository, tweak: impl FnOnce(&mut ServiceSettings)) -> Arc<ManagerServices> {
    let mut settings = test_settings();
    tweak(&mut settings);
    ManagerServices::new(ServiceDeps {
        repo: Arc::new(repo),
        k8s: Arc::new(MockK8sAdapter::new()),
        dms: Arc::new(MockDecisionMakerAdapter::new()),
        jwt: test_keys(),
        settings,
    })
}

pub fn services_full(repo: MockRepository, k8s: MockK8sAdapter, dms: MockDecisionMakerAdapter) -> Arc<ManagerServices> {
    ManagerServices::new(ServiceDeps {
        repo: Arc::new(repo),
        k8s: Arc::new(k8s),
        dms: Arc::new(dms),
        jwt: test_keys(),
        settings: test_settings(),
    })
}

pub fn user(name: &str, status: UserStatus, roles: &[&str]) -> User {
    User {
        id: ObjectId::new(),
        username: name.into(),
        password_hash: "not-a-hash".into(),
        status,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        created_time: 1,
        updated_time: 1,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        token_version: 0,
    }
}

pub async fn user_with_password(name: &str, password: &str, status: UserStatus) -> User {
    User {
        password_hash: passwords::hash(password, 4).await.unwrap(),
        ..user(name, status, &[])
    }
}

pub fn policy(key: &str, self_only: bool, ns: &str) -> RolePolicy {
    RolePolicy {
        permission_key: key.into(),
        self_only,
        k8s_namespace: ns.into(),
        policy_namespace: String::new(),
    }
}

pub fn role(name: &str, policies: Vec<RolePolicy>) -> Role {
    Role {
        id: ObjectId::new(),
        name: name.into(),
        description: String::new(),
        policies,
        created_time: 1,
        updated_time: 1,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
    }
}

/// An active caller holding `grants` for the route's key.
pub fn caller(grants: Vec<RolePolicy>) -> Caller {
    Caller {
        user: user("caller", UserStatus::Active, &[]),
        grants,
        session_id: None,
    }
}

pub fn stored_intent(pod: &str, node: &str, labels: &[(&str, &str)]) -> ScheduleIntent {
    ScheduleIntent {
        id: ObjectId::new(),
        strategy_id: ObjectId::new(),
        pod_id: format!("uid-{pod}"),
        pod_name: pod.into(),
        node_id: node.into(),
        k8s_namespace: "default".into(),
        command_regex: String::new(),
        priority: 1,
        execution_time: 0,
        pod_labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        state: IntentState::Initialized,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        created_time: 0,
        updated_time: 0,
    }
}

pub fn dm(node: &str, pod: &str, state: DmState) -> DecisionMakerEndpoint {
    DecisionMakerEndpoint {
        node_name: node.into(),
        pod_name: pod.into(),
        pod_uid: format!("uid-{pod}"),
        host: "10.0.0.1".into(),
        port: 8080,
        state,
    }
}

pub fn pod(name: &str, namespace: &str, node: &str, labels: &[(&str, &str)]) -> PodInfo {
    PodInfo {
        uid: format!("uid-{name}"),
        name: name.into(),
        namespace: namespace.into(),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        node_name: node.into(),
        phase: "Running".into(),
    }
}

/// Stored strategies and intents, and what the DMs received.
#[derive(Default)]
pub struct World {
    pub strategies: Vec<ScheduleStrategy>,
    pub intents: Vec<ScheduleIntent>,
    /// (DM pod name, intents pushed), in push order.
    pub pushes: Vec<(String, Vec<Intent>)>,
}

pub type SharedWorld = Arc<Mutex<World>>;

/// A repository mock that keeps strategies and intents in `world`.
pub fn world_repo(world: &SharedWorld) -> MockRepository {
    let mut repo = MockRepository::new();
    // No node has a desired runtime config (runtime_configs has its own tests).
    repo.expect_list_runtime_configs().returning(|| Ok(vec![]));
    let w = world.clone();
    repo.expect_insert_strategy().returning(move |s, intents| {
        let mut w = w.lock().unwrap();
        w.strategies.push(s.clone());
        w.intents.extend_from_slice(intents);
        Ok(())
    });
    let w = world.clone();
    repo.expect_get_strategy().returning(move |id| {
        w.lock()
            .unwrap()
            .strategies
            .iter()
            .find(|s| s.id == *id)
            .cloned()
            .ok_or(RepoError::NotFound)
    });
    let w = world.clone();
    repo.expect_list_strategies()
        .returning(move || Ok(w.lock().unwrap().strategies.clone()));
    let w = world.clone();
    repo.expect_list_strategies_by_creator().returning(move |creator| {
        Ok(w.lock()
            .unwrap()
            .strategies
            .iter()
            .filter(|s| s.creator_id == *creator)
            .cloned()
            .collect())
    });
    let w = world.clone();
    repo.expect_replace_strategy().returning(move |s, intents| {
        let mut w = w.lock().unwrap();
        let stored = w
            .strategies
            .iter_mut()
            .find(|x| x.id == s.id)
            .ok_or(RepoError::NotFound)?;
        *stored = s.clone();
        w.intents.retain(|i| i.strategy_id != s.id);
        w.intents.extend_from_slice(intents);
        Ok(())
    });
    let w = world.clone();
    repo.expect_delete_strategy().returning(move |id| {
        let mut w = w.lock().unwrap();
        let before = w.strategies.len();
        w.strategies.retain(|s| s.id != *id);
        if w.strategies.len() == before {
            return Err(RepoError::NotFound);
        }
        let (gone, kept) = w.intents.drain(..).partition(|i| i.strategy_id == *id);
        w.intents = kept;
        Ok(gone)
    });
    let w = world.clone();
    repo.expect_get_intents().returning(move |ids| {
        Ok(w.lock()
            .unwrap()
            .intents
            .iter()
            .filter(|i| ids.contains(&i.id))
            .cloned()
            .collect())
    });
    let w = world.clone();
    repo.expect_list_intents_by_strategy().returning(move |id| {
        Ok(w.lock()
            .unwrap()
            .intents
            .iter()
            .filter(|i| i.strategy_id == *id)
            .cloned()
            .collect())
    });
    let w = world.clone();
    repo.expect_list_intents_by_creator().returning(move |id| {
        Ok(w.lock()
            .unwrap()
            .intents
            .iter()
            .filter(|i| i.creator_id == *id)
            .cloned()
            .collect())
    });
    let w = world.clone();
    repo.expect_list_intents_by_node().returning(move |node| {
        Ok(w.lock()
            .unwrap()
            .intents
            .iter()
            .filter(|i| i.node_id == node)
            .cloned()
            .collect())
    });
    let w = world.clone();
    repo.expect_list_intents_by_pods().returning(move |pods| {
        Ok(w.lock()
            .unwrap()
            .intents
            .iter()
            .filter(|i| pods.contains(&i.pod_id))
            .cloned()
            .collect())
    });
    let w = world.clone();
    repo.expect_list_intents()
        .returning(move || Ok(w.lock().unwrap().intents.clone()));
    let w = world.clone();
    repo.expect_insert_intents().returning(move |intents| {
        w.lock().unwrap().intents.extend_from_slice(intents);
        Ok(())
    });
    let w = world.clone();
    repo.expect_update_intents().returning(move |intents| {
        for stored in w.lock().unwrap().intents.iter_mut() {
            if let Some(new) = intents.iter().find(|i| i.id == stored.id) {
                *stored = new.clone();
            }
        }
        Ok(())
    });
    repo.expect_ping().returning(|| Ok(()));
    let w = world.clone();
    repo.expect_delete_intents().returning(move |ids| {
        w.lock().unwrap().intents.retain(|i| !ids.contains(&i.id));
        Ok(())
    });
    let w = world.clone();
    repo.expect_apply_intent_changes().returning(move |changes| {
        let mut w = w.lock().unwrap();
        w.intents.retain(|i| !changes.delete.contains(&i.id));
        for stored in w.intents.iter_mut() {
            if let Some(new) = changes.update.iter().find(|i| i.id == stored.id) {
                *stored = new.clone();
            }
        }
        w.intents.extend_from_slice(&changes.insert);
        Ok(())
    });
    let w = world.clone();
    repo.expect_set_intent_state().returning(move |ids, state| {
        for i in w.lock().unwrap().intents.iter_mut().filter(|i| ids.contains(&i.id)) {
            i.state = state;
        }
        Ok(())
    });
    repo
}

/// A cluster mock that filters `pods` by namespaces and selectors, as the
/// pod cache does, with one Online DM per name in `dm_nodes`.
pub fn cluster(pods: Vec<PodInfo>, dm_nodes: &[&str]) -> MockK8sAdapter {
    live_cluster(&Arc::new(Mutex::new(pods)), dm_nodes)
}

/// `cluster`, over pods a test may change between calls.
pub fn live_cluster(pods: &Arc<Mutex<Vec<PodInfo>>>, dm_nodes: &[&str]) -> MockK8sAdapter {
    let mut k8s = MockK8sAdapter::new();
    let pods = pods.clone();
    k8s.expect_query_pods().returning(move |namespaces, selectors| {
        Ok(pods
            .lock()
            .unwrap()
            .iter()
            .filter(|p| namespaces.is_empty() || namespaces.contains(&p.namespace))
            .filter(|p| {
                selectors.iter().all(|s| match p.labels.get(&s.key) {
                    Some(v) => s.value.is_empty() || *v == s.value,
                    None => false,
                })
            })
            .cloned()
            .collect())
    });
    let dms: Vec<_> = dm_nodes
        .iter()
        .map(|n| dm(n, &format!("dm-{n}"), DmState::Online))
        .collect();
    k8s.expect_list_decision_makers().returning(move || Ok(dms.clone()));
    k8s
}

/// A cluster whose API is down.
pub fn cluster_down() -> MockK8sAdapter {
    let mut k8s = MockK8sAdapter::new();
    k8s.expect_query_pods()
        .returning(|_, _| Err(K8sError::Unavailable("connection refused".into())));
    k8s
}

/// A DM client mock recording pushes in `world`; DMs named in `failing`
/// answer 500. A DM's Merkle root is the root of the last set pushed to it
/// (the empty root before any), as a real DM's.
pub fn dm_client(world: &SharedWorld, failing: &[&str]) -> MockDecisionMakerAdapter {
    let mut dms = MockDecisionMakerAdapter::new();
    let w = world.clone();
    let failing: Vec<String> = failing.iter().map(|s| s.to_string()).collect();
    dms.expect_push_intents().returning(move |dm, intents| {
        w.lock().unwrap().pushes.push((dm.pod_name.clone(), intents.to_vec()));
        if failing.contains(&dm.pod_name) {
            Err(DmClientError::Status(500))
        } else {
            Ok(())
        }
    });
    let w = world.clone();
    dms.expect_merkle_root().returning(move |dm| {
        let w = w.lock().unwrap();
        let held = w.pushes.iter().rev().find(|(pod, _)| *pod == dm.pod_name);
        Ok(merkle::root(held.map(|(_, set)| set.as_slice()).unwrap_or_default()))
    });
    dms
}
