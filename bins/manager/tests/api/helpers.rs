use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use gthulhu_domain::manager::{K8sAdapter, Repository};
use gthulhu_manager::Overrides;
use gthulhu_manager_service::{ManagerServices, ServiceSettings};
use gthulhu_rest::manager::{CookieSecure, SessionCookieSettings};
use gthulhu_store_redb::RedbRepository;
use gthulhu_test_support::apps::manager::spawn_manager;
pub use gthulhu_test_support::apps::manager::{ADMIN, ADMIN_PASSWORD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

pub const PRIVATE_KEY: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
pub const PUBLIC_KEY: &str = gthulhu_test_support::keys::DM_PUB;
pub const OTHER_PRIVATE_KEY: &str = gthulhu_test_support::keys::OTHER_KEY;

pub const PASSWORD: &str = "initial-pass";

pub type WrapRepo = fn(Arc<dyn Repository>) -> Arc<dyn Repository>;

pub struct Options {
    /// 0 disables the login rate limit (tests log in a lot from one address).
    pub login_rate_per_min: u32,
    pub max_body_bytes: usize,
    pub timeouts: gthulhu_rest::Timeouts,
    /// Session TTLs, limits and the user cache (rate limit and bcrypt cost
    /// come from the fields above).
    pub services: ServiceSettings,
    pub sessions: SessionCookieSettings,
    /// Wraps the redb store (e.g. to count calls).
    pub wrap_repo: Option<WrapRepo>,
    /// Another store instead of the redb file (e.g. MongoDB).
    pub repo: Option<Arc<dyn Repository>>,
    /// The cluster; none by default.
    pub k8s: Option<Arc<dyn K8sAdapter>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            login_rate_per_min: 0,
            max_body_bytes: 1 << 20,
            timeouts: Default::default(),
            services: ServiceSettings::default(),
            sessions: SessionCookieSettings::default(),
            wrap_repo: None,
            repo: None,
            k8s: None,
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Holds the redb file (`manager.redb`) for the app's lifetime.
    pub dir: tempfile::TempDir,
    /// The app's services, e.g. for a reconciler over them.
    pub services: Arc<ManagerServices>,
}

/// The real app (its composition root) on a random loopback port: the
/// embedded redb store in a temporary directory, no cluster, bcrypt cost 4,
/// the fixed RSA key of the test data, migrations run and the admin
/// bootstrapped.
pub async fn spawn_app(options: Options) -> TestApp {
    let store_dir = tempfile::tempdir().unwrap();
    let repo = match (options.repo, options.wrap_repo) {
        (Some(repo), _) => Some(repo),
        (None, Some(wrap)) => {
            let redb: Arc<dyn Repository> =
                Arc::new(RedbRepository::open(&store_dir.path().join("manager.redb")).unwrap());
            Some(wrap(redb))
        }
        (None, None) => None,
    };
    let login_rate_per_min = options.login_rate_per_min;
    let services = options.services;
    let overrides = Overrides {
        repo,
        k8s: options.k8s,
        settings: Some(Box::new(move |settings| {
            *settings = ServiceSettings {
                login_rate_per_min,
                bcrypt_cost: 4,
                ..services
            };
        })),
    };
    let timeouts = options.timeouts;
    let sessions = options.sessions;
    let max_body_bytes = options.max_body_bytes;
    let app = spawn_manager(
        |config| {
            config.server.max_body_bytes = max_body_bytes;
            config.server.client_request_timeout_ms = timeouts.client_request.as_millis() as u64;
            config.server.client_disconnect_timeout_ms = timeouts.client_disconnect.as_millis() as u64;
            config.server.keep_alive_s = timeouts.keep_alive.as_secs();
            config.auth.allowed_origins = sessions.allowed_origins.join(",");
            config.auth.cookie_secure = match sessions.secure {
                CookieSecure::Auto => "auto",
                CookieSecure::Always => "true",
                CookieSecure::Never => "false",
            }
            .into();
        },
        overrides,
    )
    .await;
    TestApp {
        base: app.base,
        client: reqwest::Client::new(),
        dir: if options.wrap_repo.is_some() {
            store_dir
        } else {
            app.dir
        },
        services: app.services,
    }
}

/// A username no other call of this test binary uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}@example.com", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl TestApp {
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .expect("a plain HTTP app")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends `body` (raw text, no `Content-Type`) with an optional Bearer
    /// token; returns the status and the JSON body (`null` if not JSON).
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn json(&self, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(method, path, Some(token), Some(&body.to_string())).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        let body = json!({"username": username, "password": password});
        self.call(Method::POST, "/api/v1/auth/login", None, Some(&body.to_string()))
            .await
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let (status, body) = self.login(username, password).await;
        assert_eq!(status, 200, "login {username}: {body}");
        body["data"]["token"].as_str().unwrap().to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN, ADMIN_PASSWORD).await
    }

    /// The id of `username`, read by the admin.
    pub async fn user_id(&self, admin: &str, username: &str) -> String {
        let (status, body) = self.get("/api/v1/users", admin).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == username)
            .unwrap_or_else(|| panic!("no user {username}: {body}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A user holding `roles` with `status` (1 active, 2 inactive), whose
    /// password is [`PASSWORD`]; returns its id.
    pub async fn user(&self, admin: &str, username: &str, roles: &[&str], status: i64) -> String {
        let (s, b) = self
            .json(
                Method::POST,
                "/api/v1/users",
                admin,
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, 200, "create {username}: {b}");
        let id = self.user_id(admin, username).await;
        let body = json!({"userID": id, "roles": roles, "status": status});
        let (s, b) = self.json(Method::PUT, "/api/v1/users/permissions", admin, body).await;
        assert_eq!(s, 200, "permissions of {username}: {b}");
        id
    }

    /// A role with one policy per `(key, namespace)`.
    pub async fn role(&self, admin: &str, name: &str, policies: &[(&str, &str)]) -> String {
        let policies: Vec<Value> = policies
            .iter()
            .map(|(key, ns)| json!({"permissionKey": key, "self": false, "k8sNamespace": ns, "policyNamespace": ""}))
            .collect();
        let body = json!({"name": name, "description": "test role", "rolePolicies": policies});
        let (s, b) = self.json(Method::POST, "/api/v1/roles", admin, body).await;
        assert_eq!(s, 200, "create role {name}: {b}");
        let (_, roles) = self.get("/api/v1/roles", admin).await;
        roles["data"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(uid: &str, exp: i64) -> Value {
    json!({"uid": uid, "needChangePassword": false, "iss": "bss-api-server", "sub": uid, "exp": exp, "nbf": now() - 60, "iat": now() - 60})
}

/// Tokens the Manager must refuse with 401, for user `uid`.
pub fn forged_tokens(uid: &str) -> [(&'static str, String); 4] {
    let rs256 = |key: &str, exp: i64| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims(uid, exp),
            &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let b64 = |v: Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims(uid, now() + 3600))
    );
    let hs256_public_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(uid, now() + 3600),
        &EncodingKey::from_secret(PUBLIC_KEY.as_bytes()),
    )
    .unwrap();
    [
        ("expired", rs256(PRIVATE_KEY, now() - 10)),
        ("other key", rs256(OTHER_PRIVATE_KEY, now() + 3600)),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256_public_key),
    ]
}

/// A token signed with the Manager's own key: valid for `uid`.
pub fn valid_token(uid: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(uid, now() + 3600),
        &EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}
