//! `cargo build` of the user's crate, and which binary it produced.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, anyhow};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// Runs `cargo build` in `crate_dir`; the compiler's messages go to the terminal as usual.
/// Returns the binary, or `None` when the build failed.
///
/// # Errors
///
/// Cargo cannot be started, or the crate builds no binary (or several, and `bin` names none
/// of them).
pub(super) async fn cargo_build(
    crate_dir: &Path,
    release: bool,
    bin: Option<&str>,
) -> anyhow::Result<Option<PathBuf>> {
    // Under `cargo run`, CARGO is the cargo that is running.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--message-format=json-render-diagnostics")
        .current_dir(crate_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    if let Some(bin) = bin {
        cmd.args(["--bin", bin]);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", cargo.to_string_lossy()))?;
    let mut binaries = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await.context("reading cargo's output")? {
            if let Some(found) = binary_of(&line) {
                binaries.push(found);
            }
        }
    }
    let status = child.wait().await.context("waiting for cargo")?;
    if !status.success() {
        return Ok(None);
    }
    pick(binaries, bin, crate_dir).map(Some)
}

/// A `compiler-artifact` message of a binary target: its name and executable.
fn binary_of(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = message.get("target")?;
    let is_bin = target
        .get("kind")?
        .as_array()?
        .iter()
        .any(|k| k.as_str() == Some("bin"));
    let executable = message.get("executable")?.as_str()?;
    is_bin.then(|| {
        let name = target.get("name").and_then(|n| n.as_str()).unwrap_or("");
        (name.to_owned(), PathBuf::from(executable))
    })
}

fn pick(
    binaries: Vec<(String, PathBuf)>,
    bin: Option<&str>,
    crate_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let names: Vec<String> = binaries.iter().map(|(n, _)| n.clone()).collect();
    let mut matching: Vec<(String, PathBuf)> = binaries
        .into_iter()
        .filter(|(name, _)| bin.is_none_or(|b| b == name))
        .collect();
    match matching.len() {
        1 => Ok(matching.remove(0).1),
        0 => Err(anyhow!(
            "the crate in {} builds no binary{}",
            crate_dir.display(),
            bin.map(|b| format!(" named {b}")).unwrap_or_default()
        )),
        _ => Err(anyhow!(
            "the crate in {} builds several binaries ({}): choose one with --bin",
            crate_dir.display(),
            names.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binaries_in_cargo_messages() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"my-apps"},"executable":"/t/debug/my-apps","fresh":false}"#;
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"serde"},"executable":null}"#;
        assert_eq!(
            binary_of(bin),
            Some(("my-apps".to_owned(), PathBuf::from("/t/debug/my-apps")))
        );
        assert_eq!(binary_of(lib), None);
        assert_eq!(binary_of("not json"), None);
        assert_eq!(
            binary_of(r#"{"reason":"build-finished","success":true}"#),
            None
        );
    }

    #[test]
    fn picks_one_binary_or_says_why_not() {
        let dir = Path::new("/c");
        let two = vec![
            ("a".to_owned(), PathBuf::from("/a")),
            ("b".to_owned(), PathBuf::from("/b")),
        ];
        assert_eq!(
            pick(two.clone(), Some("b"), dir).ok(),
            Some(PathBuf::from("/b"))
        );
        let err = pick(two, None, dir).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("a, b") && err.contains("--bin"), "{err}");
        let err = pick(Vec::new(), None, dir)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("builds no binary"), "{err}");
    }
}
