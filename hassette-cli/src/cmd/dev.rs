//! `hassette dev`: in a user's app crate, build and run the apps, and on every change rebuild
//! and restart them with the new binary.
//!
//! A change under `src/`, to `Cargo.toml` or to `build.rs` rebuilds; only when the build
//! succeeds is the running version stopped (SIGTERM: its shutdown hooks run and its cache is
//! flushed) and the new binary started, which reads every state again and opens the same
//! cache. A failed build leaves the running version alone; the compiler's errors are on the
//! terminal. A change to the configuration file alone restarts without building.
//!
//! Changes are found by polling modification times every 250 ms rather than through a file
//! watcher crate: a crate's `src/` is a few dozen files (a scan costs microseconds), polling
//! sees edits made through bind mounts, network file systems and editors' rename-on-save alike,
//! and it adds at most a quarter second to a rebuild that takes seconds.

mod build;
mod watch;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use tokio::process::{Child, Command};

use super::Failure;
use crate::cli::{DevArgs, GlobalArgs};
use watch::{Change, Watched};

const POLL: Duration = Duration::from_millis(250);
/// How long the running version may take to shut down before it is killed: more than the
/// default `app_shutdown_timeout` (10 s), so a clean shutdown is never cut short.
const STOP_GRACE: Duration = Duration::from_secs(30);

pub(crate) fn dev(global: &GlobalArgs, args: &DevArgs) -> Result<ExitCode, Failure> {
    let crate_dir = std::env::current_dir()
        .context("cannot read the working directory")
        .map_err(Failure::runtime)?;
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Failure::usage(anyhow!(
            "no Cargo.toml in {}: run `hassette dev` in your app crate (`hassette new DIR` makes one)",
            crate_dir.display()
        )));
    }
    let config = global
        .config
        .clone()
        .unwrap_or_else(|| crate_dir.join("hassette.toml"));
    if !config.is_file() {
        return Err(Failure::usage(anyhow!(
            "{}: no such configuration file (give one with -c FILE)",
            config.display()
        )));
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::runtime)?;
    let session = Session {
        crate_dir,
        config,
        global,
        args,
    };
    tokio.block_on(session.run()).map_err(Failure::runtime)
}

struct Session<'a> {
    crate_dir: PathBuf,
    config: PathBuf,
    global: &'a GlobalArgs,
    args: &'a DevArgs,
}

impl Session<'_> {
    async fn run(&self) -> anyhow::Result<ExitCode> {
        let mut watched = Watched::new(&self.crate_dir, &self.config);
        watched.scan();
        let mut binary = None;
        let mut child = None;
        if let Some(built) = self.build().await? {
            child = Some(self.start(&built)?);
            binary = Some(built);
        }
        let mut stop = std::pin::pin!(shutdown_signal());
        loop {
            tokio::select! {
                () = &mut stop => {
                    if let Some(running) = child.take() {
                        stop_child(running).await;
                    }
                    say("stopped");
                    return Ok(ExitCode::SUCCESS);
                }
                status = wait_child(&mut child) => {
                    child = None;
                    say(&format!("the apps exited ({status}); waiting for a change"));
                }
                () = tokio::time::sleep(POLL) => {}
            }
            let Some(change) = watched.changed().await else {
                continue;
            };
            let saved_at = change.saved_at();
            let started = match change {
                Change::Code(paths) => {
                    say(&format!("{} changed: building", list(&paths)));
                    match self.build().await? {
                        Some(built) => {
                            binary = Some(built);
                            true
                        }
                        None => {
                            if child.is_some() {
                                say(
                                    "the build failed (the errors are above); the running version carries on",
                                );
                            } else {
                                say("the build failed (the errors are above)");
                            }
                            false
                        }
                    }
                }
                Change::Config(paths) => {
                    say(&format!(
                        "{} changed: restarting without a build",
                        list(&paths)
                    ));
                    binary.is_some()
                }
            };
            if started && let Some(built) = &binary {
                if let Some(running) = child.take() {
                    stop_child(running).await;
                }
                child = Some(self.start(built)?);
                say(&format!(
                    "new version started {:.2} s after the save",
                    saved_at.elapsed().unwrap_or_default().as_secs_f64()
                ));
            }
        }
    }

    /// Builds the crate; `None` when the build failed (cargo has printed why).
    async fn build(&self) -> anyhow::Result<Option<PathBuf>> {
        let began = Instant::now();
        let built =
            build::cargo_build(&self.crate_dir, self.args.release, self.args.bin.as_deref())
                .await?;
        if built.is_some() {
            say(&format!("built in {:.2} s", began.elapsed().as_secs_f64()));
        }
        Ok(built)
    }

    /// Starts `binary run` with the same configuration and options.
    fn start(&self, binary: &Path) -> anyhow::Result<Child> {
        let mut cmd = Command::new(binary);
        cmd.arg("run").arg("-c").arg(&self.config);
        if let Some(dir) = &self.global.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        if let Some(url) = &self.global.base_url {
            cmd.arg("--base-url").arg(url);
        }
        if let Some(level) = &self.global.log_level {
            cmd.arg("--log-level").arg(level);
        }
        if self.args.run.demo {
            cmd.arg("--demo");
        }
        for app in &self.args.run.apps {
            cmd.arg("--app").arg(app);
        }
        // Its own process group: Ctrl-C reaches `hassette dev` alone, which stops the apps with
        // one SIGTERM (a second signal would make `hassette run` exit without flushing).
        cmd.process_group(0)
            .current_dir(&self.crate_dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd.spawn()
            .with_context(|| format!("cannot start {}", binary.display()))
    }
}

/// Stops the running version as `hassette run` expects to be stopped: SIGTERM, then wait for
/// its shutdown hooks and cache flush; killed only when it does not stop within the grace.
async fn stop_child(mut child: Child) {
    if let Some(pid) = child.id() {
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        if sent && let Ok(status) = tokio::time::timeout(STOP_GRACE, child.wait()).await {
            if let Ok(status) = status
                && !status.success()
            {
                say(&format!("the previous version exited with {status}"));
            }
            return;
        }
        say("the previous version did not stop on SIGTERM: killing it");
    }
    let _ = child.kill().await;
}

/// The exit of the running version, if there is one; never resolves otherwise.
async fn wait_child(child: &mut Option<Child>) -> String {
    match child {
        Some(running) => match running.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => format!("cannot wait for it: {e}"),
        },
        None => std::future::pending().await,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

fn say(text: &str) {
    eprintln!("hassette dev: {text}");
}
