//! Fixtures shared by the unit tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gthulhu_domain::manager::{
    Caller, DecisionMakerEndpoint, DmClientError, DmState, IntentState, K8sError, MockDecisionMakerAdapter,
    MockK8sAdapter, MockRepository, ObjectId, PodInfo, Repository, Role, RolePolicy, ScheduleIntent, ScheduleStrategy,
    User, UserStatus,
};
use gthulhu_domain::{Intent, merkle};
use gthulhu_store_memory::MemoryRepository;

use crate::{JwtKeys, ManagerServices, ServiceDeps, ServiceSettings, passwords};

pub const TEST_KEY_PKCS1: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;

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
    services_over(Arc::new(repo), k8s, dms)
}

/// Services over any repository, e.g. a [`World`]'s.
pub fn services_over(
    repo: Arc<dyn Repository>,
    k8s: MockK8sAdapter,
    dms: MockDecisionMakerAdapter,
) -> Arc<ManagerServices> {
    ManagerServices::new(ServiceDeps {
        repo,
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

/// The stored strategies and intents, kept by the real in-memory repository
/// (its contract: conflicts, NotFound, all-or-nothing writes), and what the
/// DMs received. Clones share both.
#[derive(Clone, Default)]
pub struct World {
    pub repo: Arc<MemoryRepository>,
    /// In push order.
    pub pushes: Arc<Mutex<Vec<Push>>>,
}

/// (DM pod name, intents pushed).
pub type Push = (String, Vec<Intent>);

impl World {
    /// Stored strategies, in id order.
    pub async fn strategies(&self) -> Vec<ScheduleStrategy> {
        self.repo.list_strategies().await.unwrap()
    }

    /// Stored intents, in id order.
    pub async fn intents(&self) -> Vec<ScheduleIntent> {
        self.repo.list_intents().await.unwrap()
    }

    /// The pushes so far.
    pub fn pushes(&self) -> Vec<Push> {
        self.pushes.lock().unwrap().clone()
    }

    /// Stores `strategies` (each without intents), then `intents` in one
    /// write, as the repository accepts them.
    pub async fn seed(&self, strategies: &[&ScheduleStrategy], intents: &[ScheduleIntent]) {
        for s in strategies {
            self.repo.insert_strategy(s, &[]).await.unwrap();
        }
        self.repo.insert_intents(intents).await.unwrap();
    }
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
pub fn dm_client(world: &World, failing: &[&str]) -> MockDecisionMakerAdapter {
    let mut dms = MockDecisionMakerAdapter::new();
    let w = world.pushes.clone();
    let failing: Vec<String> = failing.iter().map(|s| s.to_string()).collect();
    dms.expect_push_intents().returning(move |dm, intents| {
        w.lock().unwrap().push((dm.pod_name.clone(), intents.to_vec()));
        if failing.contains(&dm.pod_name) {
            Err(DmClientError::Status(500))
        } else {
            Ok(())
        }
    });
    let w = world.pushes.clone();
    dms.expect_merkle_root().returning(move |dm| {
        let w = w.lock().unwrap();
        let held = w.iter().rev().find(|(pod, _)| *pod == dm.pod_name);
        Ok(merkle::root(held.map(|(_, set)| set.as_slice()).unwrap_or_default()))
    });
    dms
}
