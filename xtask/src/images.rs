//! `cargo xtask images`: builds the two container images from
//! `deployment/images` with docker, or podman where docker is absent or its
//! daemon is not running.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;
use clap::Args;

use crate::shell;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Tag of both images (`gthulhu-manager:<tag>`, `gthulhu-decisionmaker:<tag>`).
    #[arg(long, default_value = "dev")]
    pub tag: String,
}

/// Image name and Dockerfile (relative to the workspace root) of each binary.
pub const IMAGES: [(&str, &str); 2] = [
    ("gthulhu-manager", "deployment/images/manager.Dockerfile"),
    ("gthulhu-decisionmaker", "deployment/images/decisionmaker.Dockerfile"),
];

/// The container engine the images were built with; `kind load` differs.
#[derive(Clone, Debug)]
pub enum Engine {
    Docker(PathBuf),
    Podman(PathBuf),
}

impl Engine {
    /// docker when its daemon answers, else podman (daemonless).
    pub fn detect() -> anyhow::Result<Self> {
        let hint = "install Docker (https://docs.docker.com/engine/install/) or Podman (https://podman.io)";
        let docker = shell::require("docker", hint);
        let podman = shell::require("podman", hint);
        match (docker, podman) {
            (Ok(docker), _) if shell::succeeds(Command::new(&docker).arg("info")) => Ok(Self::Docker(docker)),
            (Ok(_), Ok(podman)) => {
                println!("docker's daemon is not reachable; using podman");
                Ok(Self::Podman(podman))
            }
            (Ok(_), Err(_)) => {
                bail!(
                    "docker is installed but its daemon is not reachable (`docker info` failed); start it, or install podman"
                )
            }
            (Err(_), Ok(podman)) => Ok(Self::Podman(podman)),
            (Err(_), Err(_)) => Err(shell::require_any(&["docker", "podman"], hint).unwrap_err().into()),
        }
    }

    pub fn program(&self) -> &Path {
        match self {
            Self::Docker(path) | Self::Podman(path) => path,
        }
    }
}

pub fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let engine = Engine::detect()?;
    for image in build(&engine, &args.tag)? {
        println!("built {image}");
    }
    Ok(())
}

/// Builds both images; returns their references (`name:tag`).
pub fn build(engine: &Engine, tag: &str) -> anyhow::Result<Vec<String>> {
    let root = crate::workspace_root();
    IMAGES
        .iter()
        .map(|(name, dockerfile)| {
            let reference = format!("{name}:{tag}");
            // The context is the workspace root: the Dockerfiles build the whole Cargo workspace.
            shell::run(
                Command::new(engine.program())
                    .current_dir(&root)
                    .args(["build", "-f", dockerfile, "-t", &reference, "."]),
            )?;
            Ok(reference)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_exist() {
        for (_, dockerfile) in IMAGES {
            assert!(crate::workspace_root().join(dockerfile).is_file(), "{dockerfile}");
        }
    }
}
