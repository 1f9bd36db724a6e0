//! What the real Gthulhu scheduler does, request for request
//! (spec: decision-maker.md 4 and 15.1-15.3).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::helpers::{Options, PUBLIC_KEY, TTL_HOURS, spawn_app};

fn all_max_metrics() -> String {
    let m = u64::MAX;
    format!(
        r#"{{"usersched_last_run_at":{m},"nr_queued":{m},"nr_scheduled":{m},"nr_running":{m},"nr_online_cpus":{m},"nr_user_dispatches":{m},"nr_kernel_dispatches":{m},"nr_cancel_dispatches":{m},"nr_bounce_dispatches":{m},"nr_failed_dispatches":{m},"nr_sched_congested":{m}}}"#
    )
}

/// The scheduler's client: keep-alive, `Content-Type` on the body-less GET,
/// token only from `public_key`, base URL possibly ending with `/`.
struct Scheduler {
    http: reqwest::Client,
    url: String,
}

impl Scheduler {
    async fn token(&self) -> (String, i64) {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/token", self.url.trim_end_matches('/')))
            .header("Content-Type", "application/json")
            .header("User-Agent", "Go-http-client/1.1")
            .body(serde_json::to_string(&json!({"public_key": PUBLIC_KEY})).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], true);
        (
            body["data"]["token"].as_str().unwrap().to_string(),
            body["data"]["expired_at"].as_i64().unwrap(),
        )
    }

    async fn poll(&self, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/api/v1/scheduling/strategies", self.url))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn send_metrics(&self, token: &str) -> u16 {
        self.http
            .post(format!("{}/api/v1/metrics", self.url))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {token}"))
            .body(all_max_metrics())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn token_poll_metrics_sequence() {
    let app = spawn_app(Options::default()).await;
    let scheduler = Scheduler {
        http: reqwest::Client::new(),
        url: app.base.clone(),
    };
    let (token, expired_at) = scheduler.token().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(
        (expired_at - (now + TTL_HOURS * 3600)).abs() <= 5,
        "expired_at must be Unix seconds ≈ now + TTL: {expired_at}"
    );

    let (status, body) = scheduler.poll(&token).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert_eq!(body["scheduling"], json!([]), "scheduling must be an array, never null");

    let metrics_before = app.metrics_text().await;
    assert!(
        !metrics_before.contains("nr_queued"),
        "no scheduler gauges before the first POST"
    );

    assert_eq!(scheduler.send_metrics(&token).await, 200);
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = r.text().await.unwrap();
    for (name, help) in [
        (
            "user_sched_last_run_at",
            "the timestamp of the last user scheduling run",
        ),
        ("nr_queued", "number of tasks queued in the userspace scheduler"),
        ("nr_scheduled", "number of tasks scheduled by the userspace scheduler"),
        (
            "nr_running",
            "number of tasks currently running in the userspace scheduler",
        ),
        ("nr_online_cpus", "number of online CPUs in the system"),
        ("nr_user_dispatches", "number of user-space dispatches"),
        ("nr_kernel_dispatches", "number of kernel-space dispatches"),
        ("nr_cancel_dispatches", "number of canceled dispatches"),
        ("nr_bounce_dispatches", "number of bounced dispatches"),
        ("nr_failed_dispatches", "number of failed dispatches"),
        ("nr_sched_congested", "number of times the scheduler was congested"),
    ] {
        assert!(
            text.contains(&format!("# HELP {name} {help}\n")),
            "{name} HELP missing in\n{text}"
        );
        assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name} TYPE");
        let sample = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{machine_id=\"")))
            .expect(name);
        let value: f64 = sample.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(value, u64::MAX as f64);
        assert!(!sample.contains("\\n"), "machine_id must be trimmed: {sample}");
    }
    for own in [
        "gthulhu_dm_intents",
        "gthulhu_dm_resolved_entries",
        "gthulhu_http_requests_total",
    ] {
        assert!(text.contains(own), "{own} missing");
    }
    assert!(!text.contains("# EOF"));
}

#[tokio::test]
async fn trailing_slash_base_url_reaches_the_same_routes() {
    let app = spawn_app(Options::default()).await;
    let scheduler = Scheduler {
        http: reqwest::Client::new(),
        url: format!("{}/", app.base),
    };
    let (token, _) = scheduler.token().await;
    let (status, body) = scheduler.poll(&token).await;
    assert_eq!(
        (status, body["success"].clone()),
        (200, json!(true)),
        "GET //api/v1/scheduling/strategies: {body}"
    );
    assert_eq!(scheduler.send_metrics(&token).await, 200, "POST //api/v1/metrics");
}

#[tokio::test]
async fn concurrent_token_calls_all_succeed_and_all_tokens_work() {
    let app = spawn_app(Options::default()).await;
    let scheduler = std::sync::Arc::new(Scheduler {
        http: reqwest::Client::new(),
        url: app.base.clone(),
    });
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = scheduler.clone();
            tokio::spawn(async move { s.token().await.0 })
        })
        .collect();
    for h in handles {
        let token = h.await.unwrap();
        assert_eq!(scheduler.poll(&token).await.0, 200);
        assert_eq!(scheduler.send_metrics(&token).await, 200);
    }
}
