//! `cargo xtask manifests-check`: the offline manifest validation of
//! `deployment/validate.sh` (strict JSON schemas, kustomization references,
//! rendered overlays, policy checks), as CI runs it.

use std::process::Command;

use clap::Args;

use crate::shell;

#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// Extra arguments for validate.py (e.g. `--kube-version 1.31.0`, `--no-kubectl`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    extra: Vec<String>,
}

pub fn run(args: ManifestsArgs) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let bash = shell::require("bash", "validate.sh is a bash script")?;
    // validate.sh creates its virtualenv with python3 and installs the pinned validator from PyPI once.
    shell::require("python3", "install Python 3 with the venv module")?;
    // The venv (gitignored) is validate.sh's default, so CI and this command share it.
    shell::run(
        Command::new(bash)
            .current_dir(&root)
            .arg("deployment/validate.sh")
            .arg(".venv-validate")
            .args(&args.extra),
    )?;
    println!("manifests are valid");
    Ok(())
}
