//! Everything `hassette run` writes under its data dir is its owner's alone, whatever the
//! umask: cache and log files hold entity states and, at DEBUG, every frame.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hassette_core::testing::FakeHomeAssistant;

use super::{COUNTER_APP, Hassette, clean_command, hassette_bin, write_config_with};

fn walk(dir: &Path, out: &mut Vec<(std::path::PathBuf, u32, bool)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        out.push((
            entry.path(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            walk(&entry.path(), out);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_under_the_data_dir_is_private_even_with_umask_000() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("switch.coffee_maker", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(dir.path(), &fake, "log_level = \"DEBUG\"", COUNTER_APP);
    let token = fake.token();
    // A shell sets the most permissive umask, then becomes `hassette run`.
    let mut cmd = clean_command(Path::new("sh"));
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(hassette_bin())
        .arg("run")
        .arg("-c")
        .arg(&config)
        .current_dir(dir.path())
        .env("HASSETTE__TOKEN", token.expose());
    let mut h = Hassette::spawn(cmd);
    h.wait_for("2 app instance(s) started");
    fake.set_state("input_boolean.guest_mode", "on", None);
    h.wait_for("counted");
    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));

    let data = dir.path().join("data");
    let mut found = Vec::new();
    walk(&data, &mut found);
    assert!(
        found
            .iter()
            .any(|(p, _, _)| p.ends_with("Counter/cache/cache.redb")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(p, _, d)| !d && p.starts_with(data.join("logs"))),
        "{found:?}"
    );
    let data_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    let mut wrong: Vec<_> = found
        .iter()
        .filter(|(_, mode, is_dir)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect();
    if data_mode != 0o700 {
        wrong.push(format!("{} {data_mode:o}", data.display()));
    }
    assert!(wrong.is_empty(), "not private: {wrong:?}");
}

/// Whether user `nobody` can reach `path` (every directory above it searchable by others).
fn reachable_by_others(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

#[test]
fn a_permission_problem_names_the_directory_the_user_and_what_to_do() {
    let is_root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    let bin = hassette_bin();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).unwrap();
    if !is_root || !reachable_by_others(&bin) || !reachable_by_others(&base.join("x")) {
        eprintln!("skipped: needs root and a checkout that user nobody can reach");
        return;
    }
    let dir = tempfile::tempdir_in(base).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("hassette.toml");
    std::fs::write(
        &config,
        format!("[hassette]\ndata_dir = \"{}\"\n", data.display()),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The data dir belongs to root; hassette runs as nobody.
    let out = clean_command(Path::new("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["run", "--demo", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let data = data.display().to_string();
    assert!(
        stderr.contains("Permission denied")
            && stderr.contains(&format!("may not write in {data}"))
            && stderr.contains("runs as user `nobody` (uid 65534)")
            && stderr.contains(&format!("chown -R nobody {data}"))
            && stderr.contains("data_dir"),
        "{stderr}"
    );
}
