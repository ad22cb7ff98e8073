//! `hassette run`: validate everything, connect, start every enabled app, run until a signal.

use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use hassette_core::app::AppRegistry;
use hassette_core::config::Config;
use hassette_core::logging::{self, LogOptions};
use hassette_core::runtime::{self, RunOptions, Runtime, RuntimeError};

use super::Failure;
use super::demo::Demo;
use crate::cli::{GlobalArgs, RunArgs};

pub(crate) fn run(
    global: &GlobalArgs,
    args: &RunArgs,
    registry: &AppRegistry,
) -> Result<ExitCode, Failure> {
    if args.demo && !cfg!(feature = "demo") {
        return Err(Demo::unavailable());
    }
    let config = super::load(global, registry)?;
    for key in &args.apps {
        super::check_app_keys(&config, Some(key))?;
    }
    if !args.demo && config.token.is_none() {
        return Err(Failure::usage(anyhow!(
            "no access token: set `token_file` or `token` in [hassette] of {}, or HASSETTE__TOKEN \
             (or use --demo to run against the built-in simulated Home Assistant)",
            config.file.display()
        )));
    }
    // Before anything connects (and before the log store opens in it).
    config.check_data_dir().map_err(Failure::usage)?;
    super::print_out(&format!(
        "hassette: data dir {}\n",
        super::data_dir_text(&config)
    ));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hassette")
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::runtime)?;
    tokio.block_on(run_async(&config, global, args, registry))
}

async fn run_async(
    config: &Config,
    global: &GlobalArgs,
    args: &RunArgs,
    registry: &AppRegistry,
) -> Result<ExitCode, Failure> {
    // Signals count from here on: one while connecting, reading the states or starting the
    // apps ends in the same orderly shutdown as one later.
    let signals = Signals::install();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut log_options = LogOptions::new(config.logs_dir(), &config.log_level);
    log_options.retention_days = config.log_retention_days;
    log_options.max_total_bytes = config.log_max_size;
    log_options.secret.clone_from(&config.token);
    log_options.app_levels = config
        .apps
        .iter()
        .filter_map(|a| Some((a.key.clone(), a.log_level.clone()?)))
        .collect();
    let logs = logging::init(&log_options).map_err(|e| Failure::runtime(anyhow!(e)))?;
    tokio::spawn(shutdown_on_signal(signals, shutdown.clone()));

    let demo = if args.demo {
        Some(Demo::start().await?)
    } else {
        None
    };
    let client_options = match (&demo, &config.token) {
        (Some(demo), _) => demo.client_options(config),
        (None, Some(token)) => {
            runtime::client_options(config, config.base_url.clone(), token.clone())
        }
        (None, None) => return Err(Failure::usage(anyhow!("no access token"))),
    };
    let mut options = RunOptions::from_config(config);
    options.only_apps.clone_from(&args.apps);
    options.reload = Some(reloader(global, registry));
    options.shutdown = shutdown.clone();
    let runtime = match Runtime::start(config, registry, client_options, options).await {
        Ok(runtime) => runtime,
        Err(RuntimeError::Interrupted) => {
            tracing::info!("stopped before the apps started");
            if let Some(demo) = demo {
                demo.stop();
            }
            logs.flush();
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            if let Some(demo) = demo {
                demo.stop();
            }
            logs.flush();
            return Err(Failure::runtime(anyhow::Error::new(e)));
        }
    };
    let summary = runtime.summary();
    let mut text = format!(
        "hassette: {} app instance(s) started, {} failed, {} app(s) disabled; {} entities; {}\n",
        summary.started(),
        summary.failed(),
        summary.disabled.len(),
        summary.entities,
        if summary.why_nothing_runs().is_some() {
            "no app can run"
        } else {
            "Ctrl-C to stop"
        }
    );
    for failed in summary.instances.iter().filter(|i| i.result.is_err()) {
        if let Err(why) = &failed.result {
            text.push_str(&format!(
                "  failed: {}/{}: {why}\n",
                failed.app, failed.instance
            ));
        }
    }
    let web = start_web(config, &runtime, &mut text).await;
    super::print_out(&text);
    let result = runtime.run_until(shutdown.cancelled()).await;
    if let Some(web) = web {
        web.shutdown().await;
    }
    if let Some(demo) = demo {
        demo.stop();
    }
    logs.flush();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::runtime(anyhow::Error::new(e))),
    }
}

/// Reads the configuration again as at startup (same flags), for `POST /api/reload`.
fn reloader(global: &GlobalArgs, registry: &AppRegistry) -> runtime::ConfigReloader {
    let (global, registry) = (global.clone(), registry.clone());
    runtime::ConfigReloader::new(move || {
        super::load(&global, &registry).map_err(|f| format!("{:#}", f.error))
    })
}

/// Serves the status API and UI when `[hassette.web]` enables it. A port in use is reported
/// and the apps run on without it: they matter more than their dashboard.
async fn start_web(
    config: &Config,
    runtime: &Runtime,
    text: &mut String,
) -> Option<hassette_core::web::WebServer> {
    if !config.web.enabled {
        return None;
    }
    match hassette_core::web::serve(runtime.status(), &config.web).await {
        Ok(server) => {
            let addr = server.local_addr();
            let shown = if addr.ip().is_unspecified() {
                std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
            } else {
                addr
            };
            text.push_str(&format!(
                "hassette: web UI and status API at http://{shown}/\n"
            ));
            Some(server)
        }
        Err(e) => {
            tracing::error!(error = %e, "the status API and web UI are not served");
            text.push_str(&format!(
                "hassette: warning: {e}; running without the web UI\n"
            ));
            None
        }
    }
}

/// The first Ctrl-C or SIGTERM starts an orderly shutdown; a second one exits at once.
async fn shutdown_on_signal(mut signals: Signals, shutdown: tokio_util::sync::CancellationToken) {
    signals.next().await;
    tracing::info!("signal received: shutting down (again to exit at once)");
    shutdown.cancel();
    signals.next().await;
    eprintln!("hassette: second signal: exiting now");
    #[allow(clippy::disallowed_methods)] // The user asked twice: nothing is to be waited for.
    std::process::exit(130);
}

/// SIGINT and SIGTERM, with their handlers installed when this is made (not when first
/// awaited), so a signal that comes at once is not the default "terminate".
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(self.interrupt.as_mut()) => {}
                () = recv(self.terminate.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
