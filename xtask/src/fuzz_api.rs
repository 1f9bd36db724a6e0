//! `cargo xtask fuzz-api`: schemathesis against both services' served
//! OpenAPI documents (issue 9). Starts the debug binaries on loopback (the
//! Manager on the embedded store with an empty pods file, so it is ready),
//! authenticates as the Manager's admin and with a Manager-role DM token,
//! and fails on any 5xx or any answer that contradicts the document
//! (undocumented status, wrong content type, response-schema violation).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use serde_json::json;

use crate::demo::services::{EnvVar, Service, call, login, token_of};
use crate::{shell, target_dir, workspace_root};

const PRIVATE_KEY_PEM: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
const PUBLIC_KEY_PEM: &str = gthulhu_test_support::keys::DM_PUB;
const ADMIN: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "your-password-here";
/// What the run fails on; positive/negative data acceptance are left out
/// (a valid-by-schema regex can still be refused, and upstream's decoder
/// semantics accept some values a schema cannot express).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

#[derive(Debug, Args)]
pub struct FuzzApiArgs {
    /// The schemathesis executable (default: `schemathesis` on PATH, then ./.venv-st/bin/schemathesis).
    #[arg(long)]
    schemathesis: Option<PathBuf>,
    /// Examples per operation and phase.
    #[arg(long, default_value_t = 50)]
    max_examples: u32,
    /// Wall-clock budget per service, seconds; reaching it fails the run.
    #[arg(long, default_value_t = 600)]
    budget_s: u64,
}

pub fn run(args: FuzzApiArgs) -> anyhow::Result<()> {
    let schemathesis = match args.schemathesis.clone() {
        // Absolute: schemathesis runs from a temporary directory.
        Some(path) => std::fs::canonicalize(&path).with_context(|| format!("--schemathesis {}", path.display()))?,
        None => shell::require("schemathesis", "pip install schemathesis==4.32.5").or_else(|e| {
            let venv = workspace_root().join(".venv-st/bin/schemathesis");
            if venv.is_file() { Ok(venv) } else { Err(e) }
        })?,
    };
    // The binaries `cargo test --workspace` builds (same feature resolution),
    // so after the test suite, as in CI, this compiles nothing.
    shell::run(Command::new("cargo").args(["test", "--workspace", "--no-run"]))?;
    let work = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let results = runtime.block_on(fuzz_both(&schemathesis, work.path(), &args))?;
    println!("\nfuzz-api summary:");
    let mut failed = false;
    for r in &results {
        println!(
            "  {:<15} {} test cases, {} failures (5xx: {}, contract violations: {}){}",
            r.service,
            r.cases,
            r.failures,
            r.server_errors,
            r.failures - r.server_errors,
            if r.timed_out { " [budget reached]" } else { "" }
        );
        failed |= !r.passed;
    }
    ensure!(!failed, "schemathesis found failures (details above)");
    Ok(())
}

struct Outcome {
    service: &'static str,
    cases: u64,
    failures: u64,
    server_errors: u64,
    timed_out: bool,
    passed: bool,
}

async fn fuzz_both(schemathesis: &Path, work: &Path, args: &FuzzApiArgs) -> anyhow::Result<Vec<Outcome>> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let bin = target_dir().join("debug");
    let dm_port = free_port()?;
    // The DM's runtime-config routes answer 503 without a scheduler daemon;
    // the fake one (in this process) lets them be fuzzed for real.
    let daemon = gthulhu_fake_scheduler_daemon::FakeDaemon::start(Default::default()).await?;
    let mut dm = Service::start(
        "Decision Maker",
        &bin.join("gthulhu-decisionmaker"),
        &[
            EnvVar::new("DM_SERVER_HOST", format!("127.0.0.1:{dm_port}")),
            EnvVar::secret("DM_TOKEN_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY_PEM, "<test key>".into()),
            EnvVar::new("DM_DAEMON_ENDPOINT", daemon.url()),
            EnvVar::new("DM_LOGGING_LEVEL", "warn"),
        ],
        format!("http://127.0.0.1:{dm_port}"),
        work.join("dm.log"),
    )?;
    dm.wait_healthy(&http, Duration::from_secs(30)).await?;
    let (status, reply) = call(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/auth/token", dm.base),
        None,
        Some(&json!({"public_key": PUBLIC_KEY_PEM, "client_id": "manager-client"})),
    )
    .await?;
    let dm_token = token_of(status, &reply).with_context(|| format!("DM token: HTTP {status}: {reply}"))?;

    let manager_port = free_port()?;
    let pods = work.join("pods.json");
    std::fs::write(&pods, r#"{"apiVersion":"v1","kind":"List","items":[]}"#)?;
    let mut manager = Service::start(
        "Manager",
        &bin.join("gthulhu-manager"),
        &[
            EnvVar::new("MANAGER_SERVER_HOST", format!("127.0.0.1:{manager_port}")),
            EnvVar::secret("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY_PEM, "<test key>".into()),
            EnvVar::new("MANAGER_STORAGE_BACKEND", "redb"),
            EnvVar::new("MANAGER_STORAGE_REDB_PATH", work.join("manager.redb")),
            EnvVar::new("MANAGER_K8S_PODS_FILE", &pods),
            // The fuzzer logs in once; the limit is tested elsewhere.
            EnvVar::new("MANAGER_AUTH_LOGIN_RATE_PER_MIN", "0"),
            // Its one access token must outlive the run (default: 15 min).
            EnvVar::new("MANAGER_AUTH_ACCESS_TTL_S", "86400"),
            EnvVar::new("MANAGER_LOGGING_LEVEL", "warn"),
        ],
        format!("http://127.0.0.1:{manager_port}"),
        work.join("manager.log"),
    )?;
    manager.wait_healthy(&http, Duration::from_secs(30)).await?;
    wait_ready(&http, &mut manager).await?;
    let manager_token = login(&http, &manager.base, ADMIN, ADMIN_PASSWORD).await?;

    let mut outcomes = Vec::new();
    // logout-all would revoke the fuzzer's own token for the rest of the run.
    let manager_excluded: &[&str] = &["/api/v1/auth/logout-all"];
    for (service, name, token, excluded) in [
        (&mut dm, "decision-maker", dm_token, &[][..]),
        (&mut manager, "manager", manager_token, manager_excluded),
    ] {
        let outcome = schemathesis_run(schemathesis, name, &service.base, &token, excluded, work, args)?;
        service.ensure_running()?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn wait_ready(http: &reqwest::Client, manager: &mut Service) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        manager.ensure_running()?;
        let url = format!("{}/ready", manager.base);
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the Manager was not ready within 60 s; see {}", manager.log.display());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn schemathesis_run(
    schemathesis: &Path,
    service: &'static str,
    base: &str,
    token: &str,
    excluded_paths: &[&str],
    work: &Path,
    args: &FuzzApiArgs,
) -> anyhow::Result<Outcome> {
    println!("\n==> schemathesis against the {service} ({base}/api-docs/openapi.json)");
    let output_path = work.join(format!("schemathesis-{service}.txt"));
    let output = std::fs::File::create(&output_path)?;
    let mut command = Command::new(schemathesis);
    command.arg("run").arg(format!("{base}/api-docs/openapi.json"));
    for path in excluded_paths {
        command.args(["--exclude-path", path]);
    }
    let mut child = command
        .args(["--checks", CHECKS])
        .args(["--max-examples", &args.max_examples.to_string()])
        .args(["--request-timeout", "20"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .env("NO_COLOR", "1")
        // Its `.schemathesis/` cache goes with the run, not into the checkout.
        .current_dir(work)
        .stdout(output.try_clone()?)
        .stderr(output)
        .spawn()
        .with_context(|| format!("starting {}", schemathesis.display()))?;
    let deadline = Instant::now() + Duration::from_secs(args.budget_s);
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait()? {
            break (Some(status), false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().ok(), true);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&output_path)?;
    print!("{text}");
    // The summary's "Test cases:" section: `N generated, M found K unique failure(s)`.
    let summary = text.rfind("Test cases:").map_or("", |i| &text[i..]);
    let cases = number_before(summary, " generated").unwrap_or(0);
    let failures = number_before(summary, " unique failure").unwrap_or(0);
    let server_errors = count_after(&text, "Server error:");
    // A run cut off by the budget has no summary to trust: it fails.
    let passed = !timed_out && status.is_some_and(|s| s.success());
    Ok(Outcome {
        service,
        cases,
        failures,
        server_errors,
        timed_out,
        passed,
    })
}

/// The integer right before the first `suffix` (`1270 generated`).
fn number_before(text: &str, suffix: &str) -> Option<u64> {
    let end = text.find(suffix)?;
    let start = text[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    text[start..end].parse().ok()
}

/// The integer after `label` in the summary (`ST101 Server error: 2`), 0 when absent.
fn count_after(text: &str, label: &str) -> u64 {
    text.find(label)
        .and_then(|i| text[i + label.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_are_read_from_schemathesis_output() {
        let failing = "Failures:\n  ❌ ST101 Server error: 2\n  ❌ ST103 Undocumented status code: 1\n\nTest cases:\n  1264 generated, 3 found 3 unique failures\n";
        assert_eq!(number_before(failing, " generated"), Some(1264));
        assert_eq!(number_before(failing, " unique failure"), Some(3));
        assert_eq!(count_after(failing, "Server error:"), 2);
        let passing = "Test cases:\n  608 generated, 608 passed\n";
        assert_eq!(number_before(passing, " generated"), Some(608));
        assert_eq!(number_before(passing, " unique failure"), None);
        assert_eq!(count_after(passing, "Server error:"), 0);
    }
}
