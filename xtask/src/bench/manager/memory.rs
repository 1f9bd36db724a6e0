//! Memory of the slim cache: the real Manager's RSS once its pod cache has
//! synced 150,000 pods from the fake API server, over its RSS against an
//! empty cluster.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use gthulhu_domain::manager::PodInfo;
use serde_json::json;
use tokio::runtime::Runtime;

use super::procs::{start_fake_apiserver, start_manager};
use super::resolution::pod;
use super::{ManagerArgs, Row, build_release};

const PART: &str = "memory";
const GOAL_KIB_PER_POD: f64 = 2.0;
/// After `/ready`: the first reconciler pass and allocator settling.
const SETTLE: Duration = Duration::from_secs(3);

/// A pod as `kubectl get pods -o json` lists it: the fields the cache keeps
/// and the usual others it drops (spec, status, owner, timestamps).
fn pod_json(p: &PodInfo, i: usize) -> serde_json::Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": p.name,
            "namespace": p.namespace,
            "uid": p.uid,
            "labels": p.labels,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "generateName": format!("{}-", p.labels.get("app").map(String::as_str).unwrap_or("pod")),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs-{}", i % 3000),
                "uid": format!("00000000-0000-4000-8000-{:012x}", i % 3000), "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": {
            "nodeName": p.node_name,
            "containers": [{
                "name": "main",
                "image": "registry.example.com/app:1.0",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}
            }],
            "restartPolicy": "Always",
            "serviceAccountName": "default"
        },
        "status": {
            "phase": p.phase,
            "podIP": format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
            "hostIP": "192.168.0.1",
            "startTime": "2026-01-01T00:00:01Z"
        }
    })
}

fn write_list(path: &Path, pods: usize, nodes: usize, namespaces: usize) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    out.write_all(br#"{"kind":"List","apiVersion":"v1","items":["#)?;
    for i in 0..pods {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &pod_json(&pod(i, nodes, namespaces), i))?;
    }
    out.write_all(b"]}\n")?;
    out.flush()?;
    Ok(())
}

/// (VmRSS, VmHWM) of a Manager whose cache holds the pods of `load`.
fn measure(runtime: &Runtime, dir: &Path, load: &Path, pods: usize) -> anyhow::Result<(u64, u64)> {
    let (_apiserver, kubeconfig) = start_fake_apiserver(Some(load), dir)?;
    runtime.block_on(async {
        let mut manager = start_manager(dir, &[("MANAGER_K8S_KUBE_CONFIG_PATH", kubeconfig.into_os_string())]).await?;
        let synced = manager.wait_ready(Duration::from_secs(300)).await?;
        println!("{pods} pods: /ready after {:.1} s", synced.as_secs_f64());
        tokio::time::sleep(SETTLE).await;
        manager.service.check_alive()?;
        let rss = manager.service.rss_kib()?;
        println!("{pods} pods: VmRSS {} KiB, VmHWM {} KiB", rss.0, rss.1);
        Ok(rss)
    })
}

pub fn run(args: &ManagerArgs, runtime: &Runtime) -> anyhow::Result<Vec<Row>> {
    println!(
        "\n== memory: the Manager's RSS with {} pods from the fake API server ==",
        args.pods
    );
    build_release()?;
    let dir = tempfile::tempdir()?;
    let empty = dir.path().join("empty.json");
    write_list(&empty, 0, 1, 1)?;
    let full = dir.path().join("pods.json");
    write_list(&full, args.pods, args.nodes, args.namespaces)?;
    let size = std::fs::metadata(&full)?.len();
    println!("wrote {} ({:.1} MiB)", full.display(), size as f64 / (1 << 20) as f64);

    let base_dir = dir.path().join("baseline");
    std::fs::create_dir_all(&base_dir)?;
    let (baseline, baseline_hwm) = measure(runtime, &base_dir, &empty, 0)?;
    let full_dir = dir.path().join("full");
    std::fs::create_dir_all(&full_dir)?;
    let (rss, hwm) = measure(runtime, &full_dir, &full, args.pods)?;
    let per_pod = rss.saturating_sub(baseline) as f64 / args.pods.max(1) as f64;
    let peak_per_pod = hwm.saturating_sub(baseline_hwm) as f64 / args.pods.max(1) as f64;
    Ok(vec![
        Row::info(
            PART,
            "Manager VmRSS, 0 pods (baseline)",
            format!("{:.1} MiB", baseline as f64 / 1024.0),
        ),
        Row::info(
            PART,
            format!("Manager VmRSS, {} pods synced", args.pods),
            format!("{:.1} MiB", rss as f64 / 1024.0),
        ),
        Row::goal(
            PART,
            "(VmRSS - baseline) per pod",
            format!("{per_pod:.2} KiB"),
            "<= 2 KB",
            per_pod * 1024.0 <= GOAL_KIB_PER_POD * 1000.0,
        ),
        Row::info(
            PART,
            "(VmHWM - baseline VmHWM) per pod: peak while listing",
            format!("{peak_per_pod:.2} KiB"),
        ),
    ])
}
