//! Runs the fake Kubernetes API server standalone, for demos and benchmarks: optionally preloaded with
//! the pods and nodes of a `kubectl get pods,nodes -A -o json` dump, until Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use gthulhu_fake_kube_apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;

#[derive(Parser)]
#[command(about = "A fake Kubernetes API server (pods, nodes, leases) on 127.0.0.1")]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// A `List` (as printed by `kubectl get pods,nodes -A -o json`) whose pods and nodes to serve.
    #[arg(long)]
    load: Option<PathBuf>,
    /// Also write a kubeconfig pointing at the server here.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let server = FakeApiServer::builder().port(args.port).start().await?;
    if let Some(path) = &args.load {
        let list: Value = serde_json::from_slice(&std::fs::read(path)?)?;
        let items = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        let (mut pods, mut nodes, mut skipped) = (Vec::new(), 0usize, 0usize);
        for item in items {
            match item.get("kind").and_then(Value::as_str) {
                Some("Pod") => pods.push(serde_json::from_value::<Pod>(item)?),
                Some("Node") => {
                    server.upsert_node(serde_json::from_value::<Node>(item)?);
                    nodes += 1;
                }
                _ => skipped += 1,
            }
        }
        let count = pods.len();
        server.upsert_pods(pods);
        eprintln!(
            "loaded {count} pods and {nodes} nodes from {} ({skipped} other items skipped)",
            path.display()
        );
    }
    if let Some(path) = &args.kubeconfig {
        server.write_kubeconfig(path)?;
    }
    println!("{}", server.url());
    tokio::signal::ctrl_c().await?;
    server.stop().await;
    Ok(())
}
