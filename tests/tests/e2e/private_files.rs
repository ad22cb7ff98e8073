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
