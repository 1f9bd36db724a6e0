//! Property test over every JSON body type the Decision Maker decodes (the
//! same generator as the Manager's `bodies.rs`): never a 5xx, errors are
//! JSON envelopes, and the service keeps answering.

use gthulhu_test_support::json_bodies::body_near;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, POD_A, PUBLIC_KEY, spawn_app, two_pods};

const CASES_PER_ROUTE: u32 = 48;

fn routes() -> Vec<(Method, &'static str, Value)> {
    let m = u64::MAX;
    vec![
        (
            Method::POST,
            "/api/v1/auth/token",
            json!({"public_key": PUBLIC_KEY, "client_id": "manager-client"}),
        ),
        (
            Method::POST,
            "/api/v1/intents",
            json!({"intents": [
            {"podName": "a", "podID": POD_A, "nodeID": "n", "commandRegex": "gin", "priority": 1,
             "executionTime": 20000000, "podLabels": {"app": "busybox"}}]}),
        ),
        (
            Method::DELETE,
            "/api/v1/intents",
            json!({"podId": POD_A, "pid": 1234, "all": false}),
        ),
        (
            Method::POST,
            "/api/v1/scheduling/strategies",
            json!({"strategies": [
            {"priority": true, "execution_time": 20000000, "pid": 11,
             "selectors": [{"key": "nf", "value": "upf"}], "command_regex": "x"}]}),
        ),
        (
            Method::POST,
            "/api/v1/metrics",
            json!({"usersched_last_run_at": m, "nr_queued": 1, "nr_scheduled": 2,
            "nr_running": 3, "nr_online_cpus": 4, "nr_user_dispatches": 5, "nr_kernel_dispatches": 6,
            "nr_cancel_dispatches": 7, "nr_bounce_dispatches": 8, "nr_failed_dispatches": 9, "nr_sched_congested": 10}),
        ),
    ]
}

fn check(status: u16, body: &Value) -> Result<(), TestCaseError> {
    if status >= 500 {
        return Err(TestCaseError::fail(format!("{status}: {body}")));
    }
    if status >= 400 && body["success"] != false {
        return Err(TestCaseError::fail(format!("{status} without a JSON error: {body}")));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_gets_a_server_error_or_a_bare_answer() {
    let app = spawn_app(Options {
        standalone: true,
        snapshot: Some(two_pods()),
        ..Default::default()
    })
    .await;
    let handle = tokio::runtime::Handle::current();
    for (method, path, valid) in routes() {
        let mut runner = TestRunner::new(Config {
            cases: CASES_PER_ROUTE,
            failure_persistence: None,
            ..Config::default()
        });
        let result = tokio::task::block_in_place(|| {
            runner.run(&body_near(valid), |body| {
                let (status, answer) = handle.block_on(app.call(method.clone(), path, Some(&body.to_string())));
                check(status, &answer).map_err(|e| TestCaseError::fail(format!("{method} {path} {body}: {e}")))
            })
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    let (status, _) = app.call(Method::GET, "/health", None).await;
    assert_eq!(status, 200);
}
