//! `cargo xtask kind-up` / `kind-down`: a local kind cluster `gthulhu`
//! running the manifests of `deployment/kubernetes` with images built from
//! this checkout.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};
use clap::Args;

use crate::images::{self, Engine};
use crate::shell;

pub const CLUSTER: &str = "gthulhu";
/// Every kustomization of deployment/kubernetes deploys into this namespace.
const NAMESPACE: &str = "gthulhu-system";
const ROLLOUT_TIMEOUT: &str = "--timeout=5m";
const KIND_HINT: &str = "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation";
const KUBECTL_HINT: &str = "install kubectl: https://kubernetes.io/docs/tasks/tools/";

#[derive(Debug, Args)]
pub struct KindUpArgs {
    /// `base`, or the name of a directory under deployment/kubernetes/overlays (`mtls`, `standalone-dm`).
    #[arg(long, default_value = "base")]
    overlay: String,
    /// Tag of the images built and loaded into the cluster.
    #[arg(long, default_value = "dev")]
    tag: String,
}

pub fn up(args: KindUpArgs) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let overlay = overlay_dir(&root, &args.overlay)?;
    let kind = shell::require("kind", KIND_HINT)?;
    let kubectl = shell::require("kubectl", KUBECTL_HINT)?;
    shell::require("openssl", "create-secrets.sh generates the keys with openssl")?;
    let engine = Engine::detect()?;
    let kind_command = || {
        let mut command = Command::new(&kind);
        if matches!(engine, Engine::Podman(_)) {
            // kind drives docker unless told otherwise.
            command.env("KIND_EXPERIMENTAL_PROVIDER", "podman");
        }
        command
    };

    println!("\n==> cluster");
    if cluster_exists(&shell::output(kind_command().args(["get", "clusters"]))?) {
        println!("kind cluster {CLUSTER} already exists");
    } else {
        shell::run(kind_command().args(["create", "cluster", "--name", CLUSTER]))?;
    }
    // create-secrets.sh runs plain `kubectl`, so the context has to be the current one.
    shell::run(Command::new(&kubectl).args(["config", "use-context", &format!("kind-{CLUSTER}")]))?;

    println!("\n==> images");
    for image in images::build(&engine, &args.tag)? {
        load_image(&engine, kind_command, &root, &image)?;
    }

    println!("\n==> secrets");
    let mut secrets = Command::new(shell::require("bash", "create-secrets.sh is a bash script")?);
    secrets
        .current_dir(&root)
        .arg("deployment/kubernetes/create-secrets.sh")
        .env("NAMESPACE", NAMESPACE);
    if args.overlay == "mtls" {
        secrets.arg("--mtls");
    }
    shell::run(&mut secrets)?;

    println!("\n==> manifests ({})", overlay.display());
    // A generated overlay on top of the chosen one points the workloads at the images just loaded.
    let generated = crate::target_dir().join("xtask").join("kind");
    fs::create_dir_all(&generated).with_context(|| format!("creating {}", generated.display()))?;
    let kustomization = image_overlay(&relative_to(&overlay, &generated)?, &args.tag);
    let kustomization_file = generated.join("kustomization.yaml");
    fs::write(&kustomization_file, kustomization)
        .with_context(|| format!("writing {}", kustomization_file.display()))?;
    println!("wrote {}", kustomization_file.display());
    let applied = shell::output(
        Command::new(&kubectl)
            .arg("apply")
            .arg("-k")
            .arg(&generated)
            .args(["-o", "name"]),
    )?;
    print!("{applied}");

    println!("\n==> rollouts");
    for (kind, name) in rollout_order(&applied) {
        let target = format!("{kind}/{name}");
        let mut wait = Command::new(&kubectl);
        wait.args(["-n", NAMESPACE]);
        if kind == "job" {
            wait.args(["wait", "--for=condition=complete", &target, ROLLOUT_TIMEOUT]);
        } else {
            wait.args(["rollout", "status", &target, ROLLOUT_TIMEOUT]);
        }
        shell::run(&mut wait)?;
    }

    print_hints(&args.overlay);
    Ok(())
}

pub fn down() -> anyhow::Result<()> {
    let kind = shell::require("kind", KIND_HINT)?;
    if !cluster_exists(&shell::output(Command::new(&kind).args(["get", "clusters"]))?) {
        println!("no kind cluster {CLUSTER}: nothing to delete");
        return Ok(());
    }
    shell::run(Command::new(&kind).args(["delete", "cluster", "--name", CLUSTER]))
}

fn load_image(engine: &Engine, kind: impl Fn() -> Command, root: &Path, image: &str) -> anyhow::Result<()> {
    match engine {
        Engine::Docker(_) => shell::run(kind().args(["load", "docker-image", image, "--name", CLUSTER])),
        Engine::Podman(podman) => {
            // `kind load docker-image` asks the docker daemon; with podman the image goes through an archive.
            let archive = crate::target_dir()
                .join("xtask")
                .join(format!("{}.tar", image.replace([':', '/'], "_")));
            shell::run(
                Command::new(podman)
                    .current_dir(root)
                    .arg("save")
                    .arg("-o")
                    .arg(&archive)
                    .arg(image),
            )?;
            shell::run(
                kind()
                    .arg("load")
                    .arg("image-archive")
                    .arg(&archive)
                    .args(["--name", CLUSTER]),
            )
        }
    }
}

/// `kind get clusters` prints one name per line.
fn cluster_exists(clusters: &str) -> bool {
    clusters.lines().any(|line| line.trim() == CLUSTER)
}

fn overlay_dir(root: &Path, overlay: &str) -> anyhow::Result<PathBuf> {
    let kubernetes = root.join("deployment/kubernetes");
    let dir = match overlay {
        "base" => kubernetes.join("base"),
        name => kubernetes.join("overlays").join(name),
    };
    ensure!(
        dir.join("kustomization.yaml").is_file(),
        "no overlay {overlay:?}: {} has no kustomization.yaml (use base or a directory of deployment/kubernetes/overlays)",
        dir.display()
    );
    Ok(dir)
}

/// `target` as a path relative to `from` (kustomize accepts relative
/// resource paths only). Both are absolute.
fn relative_to(target: &Path, from: &Path) -> anyhow::Result<PathBuf> {
    let target: Vec<_> = target.components().collect();
    let from: Vec<_> = from.components().collect();
    ensure!(target.first() == from.first(), "{target:?} and {from:?} share no root");
    let common = target.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = from[common..].iter().map(|_| "..").collect();
    relative.extend(&target[common..]);
    Ok(relative)
}

/// A kustomization that renders `resource` with our locally built images.
fn image_overlay(resource: &Path, tag: &str) -> String {
    let mut text = format!(
        "# Generated by `cargo xtask kind-up`: {resource} with the images built from this checkout.\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {resource}\nimages:\n",
        resource = resource.display()
    );
    for (name, _) in images::IMAGES {
        text.push_str(&format!(
            "  - name: ghcr.io/gthulhu/{name}\n    newName: {name}\n    newTag: \"{tag}\"\n"
        ));
    }
    text
}

/// The workloads in `kubectl apply -o name` output (`deployment.apps/x`,
/// `job.batch/y`…), in the order they can become ready: MongoDB, its
/// init Job, the Manager, then the Decision Makers.
fn rollout_order(applied: &str) -> Vec<(String, String)> {
    const ORDER: [&str; 4] = ["statefulset", "job", "deployment", "daemonset"];
    let mut workloads: Vec<(usize, String, String)> = applied
        .lines()
        .filter_map(|line| {
            let (kind, name) = line.trim().split_once('/')?;
            let kind = kind.split('.').next()?.to_string();
            let rank = ORDER.iter().position(|k| *k == kind)?;
            Some((rank, kind, name.to_string()))
        })
        .collect();
    workloads.sort();
    workloads.into_iter().map(|(_, kind, name)| (kind, name)).collect()
}

fn print_hints(overlay: &str) {
    println!("\nThe cluster is up (namespace {NAMESPACE}).");
    if overlay != "standalone-dm" {
        println!(
            "Manager:         kubectl -n {NAMESPACE} port-forward svc/gthulhu-manager 8080:8080\n\
             \x20                then http://127.0.0.1:8080/swagger-ui/\n\
             Log in as:       admin@example.com, password in ./gthulhu-secrets/admin-password:\n\
             \x20                curl -s localhost:8080/api/v1/auth/login -H 'Content-Type: application/json' \\\n\
             \x20                  -d \"{{\\\"username\\\":\\\"admin@example.com\\\",\\\"password\\\":\\\"$(cat gthulhu-secrets/admin-password)\\\"}}\""
        );
    }
    println!(
        "Decision Maker:  kubectl -n {NAMESPACE} port-forward \"$(kubectl -n {NAMESPACE} get pod -l app=decisionmaker -o name | head -n1)\" 8081:8080\n\
         \x20                token with the public key ./gthulhu-secrets/dm.pub (POST /api/v1/auth/token)\n\
         End-to-end check: deployment/smoke.sh\n\
         Delete:          cargo xtask kind-down"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cluster_by_exact_name() {
        assert!(cluster_exists("kind\ngthulhu\n"));
        assert!(!cluster_exists("gthulhu-old\nNo kind clusters found.\n"));
    }

    #[test]
    fn rollouts_follow_dependencies() {
        let applied = "namespace/gthulhu-system\nserviceaccount/gthulhu-manager\n\
                       daemonset.apps/decisionmaker\ndeployment.apps/gthulhu-manager\n\
                       statefulset.apps/mongodb\njob.batch/mongodb-rs-init\nservice/mongodb\n";
        let order: Vec<String> = rollout_order(applied)
            .into_iter()
            .map(|(kind, name)| format!("{kind}/{name}"))
            .collect();
        assert_eq!(
            order,
            [
                "statefulset/mongodb",
                "job/mongodb-rs-init",
                "deployment/gthulhu-manager",
                "daemonset/decisionmaker"
            ]
        );
    }

    #[test]
    fn overlays_resolve_and_unknown_ones_fail() {
        let root = crate::workspace_root();
        assert!(
            overlay_dir(&root, "base")
                .unwrap()
                .ends_with("deployment/kubernetes/base")
        );
        assert!(overlay_dir(&root, "mtls").unwrap().ends_with("overlays/mtls"));
        assert!(overlay_dir(&root, "nope").is_err());
    }

    #[test]
    fn generated_overlay_points_at_local_images() {
        let relative = relative_to(
            Path::new("/w/deployment/kubernetes/base"),
            Path::new("/w/target/xtask/kind"),
        )
        .unwrap();
        assert_eq!(relative, Path::new("../../../deployment/kubernetes/base"));
        let text = image_overlay(&relative, "dev");
        assert!(text.contains("  - ../../../deployment/kubernetes/base\n"));
        assert!(text.contains(
            "  - name: ghcr.io/gthulhu/gthulhu-manager\n    newName: gthulhu-manager\n    newTag: \"dev\"\n"
        ));
        assert!(text.contains("newName: gthulhu-decisionmaker\n"));
    }
}
