//! Calls of the session routes with their cookies and headers, and a
//! repository that counts reads (sessions-and-runtime.md 21).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, NodeRuntimeConfig, ObjectId, Permission, RepoResult,
    Repository, RevokeReason, Role, RuntimeApplyResult, ScheduleIntent, ScheduleStrategy, Session, SessionRotation,
    User,
};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A response's status, JSON body and `Set-Cookie` values.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub cookies: Vec<String>,
}

impl Reply {
    pub fn error(&self) -> Option<&str> {
        self.body["error"].as_str()
    }

    pub fn refresh_token(&self) -> String {
        self.body["data"]["refreshToken"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn access_token(&self) -> String {
        self.body["data"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The one `Set-Cookie` of the refresh cookie.
    pub fn refresh_cookie(&self) -> &str {
        let found: Vec<&String> = self
            .cookies
            .iter()
            .filter(|c| c.starts_with("gthulhu_refresh="))
            .collect();
        assert_eq!(found.len(), 1, "one refresh cookie: {:?}", self.cookies);
        found[0]
    }
}

/// The unverified claims of a JWT.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a compact JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Headers of a request besides its body.
#[derive(Default)]
pub struct Extra<'a> {
    pub cookie: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub bearer: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a str)>,
}

impl TestApp {
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>, extra: Extra<'_>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        if let Some(token) = extra.cookie {
            req = req.header("Cookie", format!("theme=dark; gthulhu_refresh={token}"));
        }
        if let Some(origin) = extra.origin {
            req = req.header("Origin", origin);
        }
        if let Some(token) = extra.bearer {
            req = req.bearer_auth(token);
        }
        for (name, value) in extra.headers {
            req = req.header(name, value);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let cookies = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let text = r.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            cookies,
        }
    }

    pub async fn post(&self, path: &str, body: Option<&str>, extra: Extra<'_>) -> Reply {
        self.send(reqwest::Method::POST, path, body, extra).await
    }

    pub async fn login_reply(&self, username: &str, password: &str) -> Reply {
        let body = json!({"username": username, "password": password}).to_string();
        let reply = self.post("/api/v1/auth/login", Some(&body), Extra::default()).await;
        assert_eq!(reply.status, 200, "login {username}: {}", reply.body);
        reply
    }

    /// Refresh with the token in the body (no cookie, no Origin).
    pub async fn refresh_body(&self, refresh_token: &str) -> Reply {
        let body = json!({"refreshToken": refresh_token}).to_string();
        self.post("/api/v1/auth/refresh", Some(&body), Extra::default()).await
    }

    pub async fn logout_body(&self, refresh_token: &str) -> Reply {
        let body = json!({"refreshToken": refresh_token}).to_string();
        self.post("/api/v1/auth/logout", Some(&body), Extra::default()).await
    }

    /// The app's own origin (what a browser sends for a same-origin POST).
    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// Audit entries with `action`, newest first, read by the admin.
    pub async fn audit_entries(&self, admin: &str, action: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/v1/audit-logs?action={action}&limit=1000"), admin)
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["entries"].as_array().unwrap().clone()
    }
}

/// Reads of users and sessions made through the wrapped repository.
#[derive(Default)]
pub struct Counts {
    pub get_user: AtomicU64,
    pub session_reads: AtomicU64,
}

impl Counts {
    pub fn reset(&self) {
        self.get_user.store(0, Ordering::SeqCst);
        self.session_reads.store(0, Ordering::SeqCst);
    }
}

/// The counters of the one counting repository a test binary uses.
pub static COUNTS: std::sync::LazyLock<Counts> = std::sync::LazyLock::new(Counts::default);

pub struct Counting(pub Arc<dyn Repository>);

pub fn counting(inner: Arc<dyn Repository>) -> Arc<dyn Repository> {
    Arc::new(Counting(inner))
}

macro_rules! forward {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Repository for Counting {
            async fn get_user(&self, id: &ObjectId) -> RepoResult<User> {
                COUNTS.get_user.fetch_add(1, Ordering::SeqCst);
                self.0.get_user(id).await
            }
            async fn get_session(&self, id: &ObjectId) -> RepoResult<Session> {
                COUNTS.session_reads.fetch_add(1, Ordering::SeqCst);
                self.0.get_session(id).await
            }
            async fn list_user_sessions(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>> {
                COUNTS.session_reads.fetch_add(1, Ordering::SeqCst);
                self.0.list_user_sessions(user_id, now).await
            }
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.0.$name($($arg),*).await
            })*
        }
    };
}

forward! {
    fn ping(&self) -> RepoResult<()>;
    fn create_user(&self, user: &User) -> RepoResult<()>;
    fn get_user_by_username(&self, username: &str) -> RepoResult<User>;
    fn list_users(&self) -> RepoResult<Vec<User>>;
    fn update_user(&self, user: &User) -> RepoResult<()>;
    fn count_users_with_role(&self, role_name: &str) -> RepoResult<u64>;
    fn rename_role_in_users(&self, old_name: &str, new_name: &str) -> RepoResult<()>;
    fn bump_token_version(&self, user_id: &ObjectId) -> RepoResult<i64>;
    fn insert_session(&self, session: &Session) -> RepoResult<()>;
    fn rotate_session(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()>;
    fn revoke_session(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()>;
    fn revoke_user_sessions(&self, user_id: &ObjectId, except: Option<ObjectId>, reason: RevokeReason, now: i64) -> RepoResult<u64>;
    fn delete_expired_sessions(&self, now: i64) -> RepoResult<u64>;
    fn create_role(&self, role: &Role) -> RepoResult<()>;
    fn get_role(&self, id: &ObjectId) -> RepoResult<Role>;
    fn get_roles_by_names(&self, names: &[String]) -> RepoResult<Vec<Role>>;
    fn list_roles(&self) -> RepoResult<Vec<Role>>;
    fn update_role(&self, role: &Role) -> RepoResult<()>;
    fn delete_role(&self, id: &ObjectId) -> RepoResult<()>;
    fn list_permissions(&self) -> RepoResult<Vec<Permission>>;
    fn upsert_permission(&self, permission: &Permission) -> RepoResult<()>;
    fn insert_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn get_strategy(&self, id: &ObjectId) -> RepoResult<ScheduleStrategy>;
    fn list_strategies_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleStrategy>>;
    fn list_strategies(&self) -> RepoResult<Vec<ScheduleStrategy>>;
    fn replace_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn delete_strategy(&self, id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    fn get_intents(&self, ids: &[ObjectId]) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_strategy(&self, strategy_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_node(&self, node_id: &str) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_pods(&self, pod_ids: &[String]) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents(&self) -> RepoResult<Vec<ScheduleIntent>>;
    fn insert_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn update_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn delete_intents(&self, ids: &[ObjectId]) -> RepoResult<()>;
    fn apply_intent_changes(&self, changes: &IntentChanges) -> RepoResult<()>;
    fn set_intent_state(&self, ids: &[ObjectId], state: IntentState) -> RepoResult<()>;
    fn insert_audit(&self, entry: &AuditEntry) -> RepoResult<()>;
    fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>>;
    fn applied_migrations(&self) -> RepoResult<Vec<u32>>;
    fn record_migration(&self, version: u32, name: &str) -> RepoResult<()>;
    fn upsert_runtime_config(&self, record: &NodeRuntimeConfig) -> RepoResult<()>;
    fn get_runtime_config(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig>;
    fn list_runtime_configs(&self) -> RepoResult<Vec<NodeRuntimeConfig>>;
    fn delete_runtime_configs(&self, node_ids: &[String]) -> RepoResult<u64>;
    fn record_runtime_apply(&self, node_id: &str, result: &RuntimeApplyResult, reapply_count: i32, reapply_pod: Option<String>) -> RepoResult<()>;
}
