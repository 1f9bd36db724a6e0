//! Running external tools: every command is printed before it runs (the
//! tasks are meant to be reproducible by hand), and a tool that is not
//! installed is reported by name with a hint instead of a bare "No such
//! file or directory".

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// A required program is not on `PATH`.
#[derive(Debug, thiserror::Error)]
#[error("`{name}` is not installed (not found on PATH); {hint}")]
pub struct MissingTool {
    pub name: String,
    pub hint: String,
}

/// `name` on the current `PATH`, or a [`MissingTool`] carrying `hint`.
pub fn require(name: &str, hint: &str) -> Result<PathBuf, MissingTool> {
    find_on(name, std::env::var_os("PATH").as_deref()).ok_or_else(|| MissingTool {
        name: name.to_string(),
        hint: hint.to_string(),
    })
}

/// The first of `names` found on the current `PATH`.
pub fn require_any(names: &[&str], hint: &str) -> Result<PathBuf, MissingTool> {
    first_on(names, std::env::var_os("PATH").as_deref()).ok_or_else(|| MissingTool {
        name: names.join("` or `"),
        hint: hint.to_string(),
    })
}

fn first_on(names: &[&str], path: Option<&OsStr>) -> Option<PathBuf> {
    names.iter().find_map(|name| find_on(name, path))
}

/// An executable file called `name` in one of the `path` directories.
fn find_on(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The command line as a shell would take it, for printing.
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_os_string();
    std::iter::once(program)
        .chain(command.get_args().map(OsStr::to_os_string))
        .map(|arg| quote(&arg))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &OsString) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Prints and runs `command` with inherited stdio; fails unless it exits 0.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = display(command);
    println!("$ {shown}");
    let status = command.status().with_context(|| format!("starting `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Prints and runs `command`, returning its stdout (stderr passes through).
pub fn output(command: &mut Command) -> anyhow::Result<String> {
    let shown = display(command);
    println!("$ {shown}");
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting `{shown}`"))?;
    if !output.status.success() {
        bail!("`{shown}` failed ({})", output.status);
    }
    String::from_utf8(output.stdout).with_context(|| format!("`{shown}` printed non-UTF-8 output"))
}

/// Runs `command` quietly and tells whether it exited 0 (for probes such as
/// "is the daemon up"); the command is still printed.
pub fn succeeds(command: &mut Command) -> bool {
    println!("$ {}", display(command));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn finds_only_executables_in_path_order() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let write = |dir: &Path, name: &str, mode: u32| {
            let file = dir.join(name);
            fs::write(&file, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
            file
        };
        write(first.path(), "kind", 0o644);
        let kind = write(second.path(), "kind", 0o755);
        let podman = write(second.path(), "podman", 0o755);
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();

        assert_eq!(find_on("kind", Some(&path)), Some(kind));
        assert_eq!(find_on("kubectl", Some(&path)), None);
        assert_eq!(find_on("kind", None), None);
        assert_eq!(first_on(&["docker", "podman"], Some(&path)), Some(podman));
    }

    #[test]
    fn missing_tool_names_the_tool_and_the_hint() {
        let error = require("gthulhu-no-such-tool", "install it from example.org").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`gthulhu-no-such-tool` is not installed (not found on PATH); install it from example.org"
        );
        let error = require_any(&["gthulhu-no-a", "gthulhu-no-b"], "need one").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`gthulhu-no-a` or `gthulhu-no-b` is not installed (not found on PATH); need one"
        );
    }

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let mut command = Command::new("/usr/bin/kubectl");
        command.args(["-n", "gthulhu-system", "apply", "-k", "dir with space", "it's"]);
        assert_eq!(
            display(&command),
            r"kubectl -n gthulhu-system apply -k 'dir with space' 'it'\''s'"
        );
    }
}
