//! `cargo xtask demo`: the whole control plane on this machine with nothing
//! but the Rust toolchain. It builds both services, invents a small
//! cluster (a pods file the Manager reads instead of a Kubernetes API),
//! starts real processes for the demo pods, runs the Decision Maker and the
//! Manager, logs in, creates a strategy and waits until the DM serves the
//! selected pods' PIDs, as the scheduler would poll them. Ctrl-C stops
//! everything and removes what the demo created.

mod leftovers;
mod pods;
pub(crate) mod services;
mod workload;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use reqwest::Method;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use pods::DemoPod;
use services::{EnvVar, Service, call, scheduled_pids};
use workload::{Roots, Workload};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use a fixture /proc and cgroup tree even where real kubepods cgroups are possible.
    #[arg(long)]
    no_cgroups: bool,
    /// Loopback port of the Manager.
    #[arg(long, default_value_t = 18080)]
    manager_port: u16,
    /// Loopback port of the Decision Maker.
    #[arg(long, default_value_t = 18081)]
    dm_port: u16,
}

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "your-password-here";
/// The `app` label value the sample strategy selects.
const SELECTED_APP: &str = "web";
/// Strategy creation to PIDs served: the Manager pushes on creation and
/// reconciles every 2 s here; the DM re-resolves within a refresh (1 s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The build profile of both services: release, like `cargo xtask` itself
/// (the alias builds xtask with `--release`), so a fresh machine compiles
/// the dependencies in one profile only, and the services run as deployed.
/// From scratch on 2 cores this build took about 15 minutes.
const PROFILE: &str = "release";

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    ensure!(
        args.manager_port != args.dm_port,
        "--manager-port and --dm-port must differ"
    );
    // A run killed outright leaves its services holding the ports.
    leftovers::clean(&crate::workspace_root().join(".demo"))?;
    for (port, flag) in [(args.manager_port, "--manager-port"), (args.dm_port, "--dm-port")] {
        TcpListener::bind(("127.0.0.1", port)).with_context(|| {
            format!("127.0.0.1:{port} is not free (another demo running?); choose another with {flag}")
        })?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // From here on Ctrl-C and SIGTERM end the select below instead of
        // killing xtask, so the demo future is dropped and every guard in it
        // (services, processes, cgroups, .demo) cleans up.
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let stop = async {
            let why = tokio::select! {
                _ = interrupt.recv() => "Ctrl-C",
                _ = terminate.recv() => "SIGTERM",
            };
            // Printed here: the demo future is dropped (and cleans up) before a select arm's body runs.
            println!("\n{why}: stopping the demo and removing what it created");
        };
        tokio::select! {
            result = demo(&args) => result,
            () = stop => Ok(()),
        }
    })
}

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    step(1, "build the Decision Maker and the Manager");
    let binaries = build().await?;

    step(2, "work directory .demo and the token key pair");
    let work = WorkDir::create(root.join(".demo"))?;
    let keys = tokio::task::spawn_blocking(KeyPair::generate).await??;
    let key_file = work.write_private("demo.key", &keys.private_pem)?;
    work.write("demo.pub", &keys.public_pem)?;
    println!(
        "RSA-2048 key pair: {} signs the Manager's logins and the DM's tokens (one pair, as upstream deployments); \
         {} is its public half",
        shown(&key_file),
        shown(&work.path().join("demo.pub"))
    );

    step(3, "demo pods and their processes");
    let pods = pods::demo_pods();
    let workload = Workload::start(&pods, work.path(), args.no_cgroups)?;
    let dm_uid = uuid::Uuid::new_v4().to_string();
    let pods_file = work.write(
        "pods.json",
        &serde_json::to_string_pretty(&pods::pods_file(&pods, &dm_uid, args.dm_port))?,
    )?;
    println!(
        "pods file (kubectl get pods -A -o json format): {}: {} in namespace {}, and the DM pod, all on node {}",
        shown(&pods_file),
        pods.iter()
            .map(|p| format!("{} (app={})", p.name, p.app))
            .collect::<Vec<_>>()
            .join(", "),
        pods::NAMESPACE,
        pods::NODE
    );

    step(4, "start the Decision Maker and the Manager");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    // As the printed command lines run it: in .demo (see Service::start).
    let key_shown = "\"$(cat demo.key)\"".to_string();
    // The scheduler daemon's control API, faked in this process, so the
    // DM's (and the web UI's) runtime-config routes work in the demo.
    let daemon = gthulhu_fake_scheduler_daemon::FakeDaemon::start(Default::default()).await?;
    println!("fake scheduler daemon (runtime configuration) on {}", daemon.url());
    let mut dm_env = vec![
        EnvVar::new("DM_DAEMON_ENDPOINT", daemon.url()),
        EnvVar::new("NODE_NAME", pods::NODE),
        EnvVar::new("DM_SERVER_HOST", format!("127.0.0.1:{}", args.dm_port)),
        EnvVar::secret("DM_TOKEN_RSA_PRIVATE_KEY_PEM", &keys.private_pem, key_shown.clone()),
        EnvVar::new("DM_LOGGING_FORMAT", "text"),
    ];
    if let Roots::Fixture { proc_root, cgroup_root } = &workload.roots {
        dm_env.push(EnvVar::new("DM_SCAN_PROC_ROOT", proc_root));
        dm_env.push(EnvVar::new("DM_SCAN_CGROUP_ROOT", cgroup_root));
    }
    let mut dm = Service::start(
        "Decision Maker",
        &binaries.decisionmaker,
        &dm_env,
        format!("http://127.0.0.1:{}", args.dm_port),
        work.path().join("decisionmaker.log"),
    )?;
    dm.wait_healthy(&http, Duration::from_secs(30)).await?;
    let manager_env = [
        EnvVar::new("MANAGER_SERVER_HOST", format!("127.0.0.1:{}", args.manager_port)),
        EnvVar::new("MANAGER_STORAGE_BACKEND", "redb"),
        EnvVar::new("MANAGER_STORAGE_REDB_PATH", work.path().join("manager.redb")),
        EnvVar::secret("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", &keys.private_pem, key_shown),
        EnvVar::new("MANAGER_K8S_PODS_FILE", &pods_file),
        EnvVar::new("MANAGER_ACCOUNT_ADMIN_EMAIL", ADMIN_EMAIL),
        EnvVar::new("MANAGER_ACCOUNT_ADMIN_PASSWORD", ADMIN_PASSWORD),
        EnvVar::new("MANAGER_RECONCILER_INITIAL_DELAY_S", "1"),
        EnvVar::new("MANAGER_RECONCILER_INTERVAL_S", "2"),
        EnvVar::new("MANAGER_LOGGING_FORMAT", "text"),
    ];
    let mut manager = Service::start(
        "Manager",
        &binaries.manager,
        &manager_env,
        format!("http://127.0.0.1:{}", args.manager_port),
        work.path().join("manager.log"),
    )?;
    manager.wait_healthy(&http, Duration::from_secs(30)).await?;

    step(5, "log in to the Manager and create the sample strategy");
    let user_token = services::login(&http, &manager.base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    println!("POST {}/api/v1/auth/login as {ADMIN_EMAIL}: got a token", manager.base);
    services::login_and_refresh(&http, &manager.base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    println!(
        "POST {}/api/v1/auth/refresh with the login's refreshToken: got a new access token and a rotated refresh token",
        manager.base
    );
    let strategy = sample_strategy();
    println!("POST {}/api/v1/strategies {strategy}", manager.base);
    let (status, reply) = call(
        &http,
        Method::POST,
        &format!("{}/api/v1/strategies", manager.base),
        Some(&user_token),
        Some(&strategy),
    )
    .await?;
    ensure!(
        (200..300).contains(&status),
        "creating the strategy failed: HTTP {status}: {reply}"
    );
    println!("  -> HTTP {status} {reply}");

    step(
        6,
        "wait until the DM serves the selected pods' PIDs (as the scheduler polls them)",
    );
    let dm_token = services::dm_token(&http, &dm.base, &keys.public_pem).await?;
    let expected: Vec<u32> = selected_pids(&pods, workload.pids());
    println!(
        "expecting the PIDs of the app={SELECTED_APP} pods' sleep processes: {expected:?} (not the app=batch pod's)"
    );
    let started = Instant::now();
    let answer = loop {
        dm.ensure_running()?;
        manager.ensure_running()?;
        let (status, answer) = call(
            &http,
            Method::GET,
            &format!("{}/api/v1/scheduling/strategies", dm.base),
            Some(&dm_token),
            None,
        )
        .await?;
        if status == 200 && scheduled_pids(&answer) == expected {
            break answer;
        }
        if started.elapsed() > DELIVERY_TIMEOUT {
            let diagnostics = Diagnostics {
                http: &http,
                manager: &manager,
                user_token: &user_token,
                dm: &dm,
                dm_token: &dm_token,
            };
            diagnostics.print(&answer).await;
            bail!(
                "the Decision Maker did not serve the expected PIDs {expected:?} within {DELIVERY_TIMEOUT:?} \
                 (diagnostics above)"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("served after {:.1?}", started.elapsed());

    print_summary(args, &pods, &workload, &answer, &work, &manager, &dm);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        dm.ensure_running()?;
        manager.ensure_running()?;
    }
}

fn step(n: usize, what: &str) {
    println!("\n==> [{n}/6] {what}");
}

/// A path for printing: relative to the workspace root where it is inside.
fn shown(path: &Path) -> String {
    path.strip_prefix(crate::workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

struct Binaries {
    manager: PathBuf,
    decisionmaker: PathBuf,
}

async fn build() -> anyhow::Result<Binaries> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.current_dir(crate::workspace_root()).args([
        "build",
        "--profile",
        PROFILE,
        "-p",
        "gthulhu-manager",
        "-p",
        "gthulhu-decisionmaker",
    ]);
    println!("$ {}", crate::shell::display(&command));
    // Async and killed on drop, so Ctrl-C during the build stops it too.
    let status = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .status()
        .await
        .context("starting cargo")?;
    ensure!(status.success(), "building the services failed ({status})");
    let dir = crate::target_dir().join(PROFILE);
    Ok(Binaries {
        manager: dir.join("gthulhu-manager"),
        decisionmaker: dir.join("gthulhu-decisionmaker"),
    })
}

/// `.demo/`, emptied at start and removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(path: PathBuf) -> anyhow::Result<Self> {
        if path.exists() {
            // Left by a demo that was killed outright (`run` stopped what it left running).
            println!("removing the previous {}", shown(&path));
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        println!("created {}", shown(&path));
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, content: &str) -> anyhow::Result<PathBuf> {
        let path = self.0.join(name);
        fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    fn write_private(&self, name: &str, content: &str) -> anyhow::Result<PathBuf> {
        let path = self.write(name, content)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        Ok(path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        match fs::remove_dir_all(&self.0) {
            Ok(()) => println!("removed {}", shown(&self.0)),
            Err(e) => eprintln!("could not remove {}: {e}", self.0.display()),
        }
    }
}

struct KeyPair {
    /// PKCS#1 `RSA PRIVATE KEY`, as `openssl genrsa -traditional` writes it.
    private_pem: String,
    /// SPKI `PUBLIC KEY`: what a client presents for a DM token.
    public_pem: String,
}

impl KeyPair {
    fn generate() -> anyhow::Result<Self> {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).context("generating an RSA key")?;
        Ok(Self {
            private_pem: key.to_pkcs1_pem(LineEnding::LF)?.to_string(),
            public_pem: RsaPublicKey::from(&key).to_public_key_pem(LineEnding::LF)?,
        })
    }
}

fn sample_strategy() -> Value {
    json!({
        "strategyNamespace": pods::NAMESPACE,
        "labelSelectors": [{"key": "app", "value": SELECTED_APP}],
        "k8sNamespace": [pods::NAMESPACE],
        "commandRegex": "sleep",
        "priority": 1,
        "executionTime": 20_000_000,
    })
}

/// The PIDs the sample strategy selects, sorted.
fn selected_pids(pods: &[DemoPod], pids: impl Iterator<Item = (usize, u32)>) -> Vec<u32> {
    let mut selected: Vec<u32> = pids
        .filter(|(pod, _)| pods[*pod].app == SELECTED_APP)
        .map(|(_, pid)| pid)
        .collect();
    selected.sort_unstable();
    selected
}

/// What to look at when the PIDs do not arrive: each hop of the delivery.
struct Diagnostics<'a> {
    http: &'a reqwest::Client,
    manager: &'a Service,
    user_token: &'a str,
    dm: &'a Service,
    dm_token: &'a str,
}

impl Diagnostics<'_> {
    async fn print(&self, last_answer: &Value) {
        println!("\n---- diagnostics ----");
        self.get(&self.manager.base, "/ready", None).await;
        let intents = self
            .get(&self.manager.base, "/api/v1/intents/self", Some(self.user_token))
            .await;
        self.get(&self.dm.base, "/api/v1/pods/pids", Some(self.dm_token)).await;
        println!("DM GET /api/v1/scheduling/strategies (last answer): {last_answer}");
        let intent_count = intents["data"]["intents"].as_array().map_or(0, Vec::len);
        let served = scheduled_pids(last_answer).len();
        println!("\n{}", explain(intent_count, served));
        for service in [self.manager, self.dm] {
            println!(
                "\nlast lines of {}:\n{}",
                service.log.display(),
                services::tail(&service.log, 15)
            );
        }
        println!("---- end of diagnostics ----\n");
    }

    async fn get(&self, base: &str, path: &str, token: Option<&str>) -> Value {
        match call(self.http, Method::GET, &format!("{base}{path}"), token, None).await {
            Ok((status, body)) => {
                println!("GET {base}{path}: HTTP {status} {body}");
                body
            }
            Err(e) => {
                println!("GET {base}{path}: {e:#}");
                Value::Null
            }
        }
    }
}

/// Which hop failed, from the Manager's intents and the DM's answer.
fn explain(manager_intents: usize, dm_entries: usize) -> &'static str {
    match (manager_intents, dm_entries) {
        (0, _) => {
            "The Manager has no intents for the strategy: it does not see the demo pods. Check /ready above (is the \
             pods file, MANAGER_K8S_PODS_FILE, read by this Manager build?) and the Manager's log."
        }
        (_, 0) => {
            "The Manager has intents but the DM serves none: the Manager has not pushed them to the DM it should \
             find in the pods file (pod app=decisionmaker, 127.0.0.1, port `http`), or the DM does not see the \
             pods' processes (compare its /api/v1/pods/pids above with the demo pods' UIDs)."
        }
        _ => "The DM serves entries, but not exactly the expected PIDs: compare its answer with /api/v1/pods/pids.",
    }
}

fn print_summary(
    args: &DemoArgs,
    pods: &[DemoPod],
    workload: &Workload,
    answer: &Value,
    work: &WorkDir,
    manager: &Service,
    dm: &Service,
) {
    let where_ = match &workload.roots {
        Roots::Host { hierarchy } => format!("in real kubepods cgroups under {}", hierarchy.display()),
        Roots::Fixture { .. } => format!(
            "mirrored into a fixture /proc and cgroup tree under {} ({})",
            shown(&work.path().join("fixture")),
            if args.no_cgroups {
                "--no-cgroups"
            } else {
                "real kubepods cgroups are not possible here"
            }
        ),
    };
    println!("\n================ the Gthulhu demo is running ================");
    println!("Manager          {}", manager.base);
    println!("Swagger UI       {}/swagger-ui/", manager.base);
    println!("Admin            {ADMIN_EMAIL} / {ADMIN_PASSWORD}");
    println!(
        "Decision Maker   {} (node {}; token: POST /api/v1/auth/token with the public key {})",
        dm.base,
        pods::NODE,
        shown(&work.path().join("demo.pub"))
    );
    println!("Demo pods        real `sleep` processes, {where_}:");
    for (index, pid) in workload.pids() {
        let pod = &pods[index];
        println!(
            "  {}/{:<8} app={:<6} uid {}  pid {pid}",
            pods::NAMESPACE,
            pod.name,
            pod.app,
            pod.uid
        );
    }
    println!(
        "Strategy         app={SELECTED_APP} in namespace {}, commandRegex sleep, priority 1, 20 ms slices",
        pods::NAMESPACE
    );
    println!(
        "\nThe DM's answer to the scheduler's poll, GET {}/api/v1/scheduling/strategies:",
        dm.base
    );
    println!(
        "{}",
        serde_json::to_string_pretty(answer).unwrap_or_else(|_| answer.to_string())
    );
    println!(
        "\nTry it (jq optional):\n  \
         curl -s {m}/api/v1/auth/login -H 'Content-Type: application/json' \
         -d '{{\"username\":\"{ADMIN_EMAIL}\",\"password\":\"{ADMIN_PASSWORD}\"}}' > login.json\n  \
         TOKEN=$(jq -r .data.accessToken login.json); REFRESH=$(jq -r .data.refreshToken login.json)\n  \
         curl -s {m}/api/v1/intents/self -H \"Authorization: Bearer $TOKEN\" | jq\n  \
         # a new access token when it expires (15 min); the refresh token rotates, reusing one revokes the session\n  \
         curl -s {m}/api/v1/auth/refresh -H 'Content-Type: application/json' -d \"{{\\\"refreshToken\\\":\\\"$REFRESH\\\"}}\" | jq\n  \
         curl -s {m}/api/v1/scheduler/runtime-config/status -H \"Authorization: Bearer $TOKEN\" | jq\n  \
         DM_TOKEN=$(curl -s {d}/api/v1/auth/token -H 'Content-Type: application/json' \
         -d \"$(jq -n --rawfile k {pubkey} '{{public_key: $k}}')\" | jq -r .data.token)\n  \
         curl -s {d}/api/v1/scheduling/strategies -H \"Authorization: Bearer $DM_TOKEN\" | jq",
        m = manager.base,
        d = dm.base,
        pubkey = shown(&work.path().join("demo.pub")),
    );
    println!("Logs: {}, {}", shown(&manager.log), shown(&dm.log));
    println!("\nPress Ctrl-C to stop: the services and processes are stopped and the cgroups and .demo are removed.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strategy_selects_only_the_web_pods() {
        let pods = pods::demo_pods();
        let pids = [(0, 300), (1, 200), (2, 100)];
        assert_eq!(selected_pids(&pods, pids.into_iter()), [200, 300]);
        let strategy = sample_strategy();
        assert_eq!(strategy["labelSelectors"][0]["value"], SELECTED_APP);
        assert!(pods.iter().any(|p| p.app == SELECTED_APP) && pods.iter().any(|p| p.app != SELECTED_APP));
    }

    #[test]
    fn generated_keys_are_what_both_services_read() {
        let keys = KeyPair::generate().unwrap();
        assert!(keys.private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(keys.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn diagnostics_name_the_failed_hop() {
        assert!(explain(0, 0).contains("does not see the demo pods"));
        assert!(explain(2, 0).contains("has not pushed"));
        assert!(explain(2, 1).contains("not exactly"));
    }
}
