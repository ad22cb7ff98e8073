//! `hassette run`.

use std::process::ExitCode;

use anyhow::anyhow;
use hassette_core::app::AppRegistry;

use super::Failure;
use crate::cli::{GlobalArgs, RunArgs};

pub(crate) fn run(
    global: &GlobalArgs,
    args: &RunArgs,
    registry: &AppRegistry,
) -> Result<ExitCode, Failure> {
    let config = super::load(global, registry)?;
    for key in &args.apps {
        if config.app(key).is_none() {
            let known: Vec<&str> = config.apps.iter().map(|a| a.key.as_str()).collect();
            return Err(Failure::usage(anyhow!(
                "--app {key}: no such app in {}; configured apps: {}",
                config.file.display(),
                known.join(", ")
            )));
        }
    }
    if !args.demo && config.token.is_none() {
        return Err(Failure::usage(anyhow!(
            "no access token: set `token_file` or `token` in [hassette] of {}, or HASSETTE__TOKEN \
             (or use --demo to run against the built-in simulated Home Assistant)",
            config.file.display()
        )));
    }
    Err(Failure::runtime(anyhow!(
        "the configuration is valid, but `hassette run` is not built yet: the app runtime lands \
         with issue #5"
    )))
}
