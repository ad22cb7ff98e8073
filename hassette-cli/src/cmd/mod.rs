//! One module per subcommand.

mod api;
mod apps;
mod cache;
mod check;
mod codegen;
mod demo;
mod dev;
mod log;
mod new;
mod run;
mod status;

use std::process::ExitCode;

use clap::CommandFactory;
use hassette_core::app::AppRegistry;
use hassette_core::config::{self, Config, LoadOptions};

use crate::cli::{Cli, Command, GlobalArgs};
use crate::{EXIT_FAILURE, EXIT_USAGE};

/// A command's failure: the error to print and the exit code.
pub(crate) struct Failure {
    pub(crate) error: anyhow::Error,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            code: EXIT_USAGE,
        }
    }

    pub(crate) fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            code: EXIT_FAILURE,
        }
    }
}

pub(crate) fn dispatch(cli: Cli, registry: &AppRegistry) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Check => check::check(&load(&cli.global, registry)?),
        Command::Apps => Ok(apps::apps(registry)),
        Command::Codegen(args) => codegen::codegen(&cli.global, &args, registry),
        Command::Run(args) => run::run(&cli.global, &args, registry),
        Command::Log(args) => log::log(&cli.global, &args, registry),
        Command::New(args) => new::new(&args),
        Command::Dev(args) => dev::dev(&cli.global, &args),
        Command::Status(args) => status::status(&load(&cli.global, registry)?, &args),
        Command::Cache(command) => cache::cache(&load(&cli.global, registry)?, &command),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "hassette",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes command output to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn print_out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// `--app KEY` must name a configured app; the error lists the ones there are.
pub(crate) fn check_app_keys(config: &Config, key: Option<&str>) -> Result<(), Failure> {
    let Some(key) = key.filter(|k| config.app(k).is_none()) else {
        return Ok(());
    };
    let known: Vec<&str> = config.apps.iter().map(|a| a.key.as_str()).collect();
    Err(Failure::usage(anyhow::anyhow!(
        "--app {key}: no such app in {}; configured apps: {}",
        config.file.display(),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )))
}

/// `data_dir`, saying so when it is the default (nothing is written anywhere unannounced).
pub(crate) fn data_dir_text(config: &Config) -> String {
    match config.data_dir_origin {
        config::Origin::Default => format!(
            "{} (the default; set data_dir in [hassette] to choose another)",
            config.data_dir.display()
        ),
        _ => config.data_dir.display().to_string(),
    }
}

/// Loads and validates the configuration (with every app's config), printing its warnings.
pub(crate) fn load(global: &GlobalArgs, registry: &AppRegistry) -> Result<Config, Failure> {
    let options = LoadOptions {
        config_file: global.config.clone(),
        data_dir: global.data_dir.clone(),
        base_url: global.base_url.clone(),
        log_level: global.log_level.clone(),
        ..LoadOptions::default()
    };
    let config = config::load(&options, registry).map_err(Failure::usage)?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(config)
}
