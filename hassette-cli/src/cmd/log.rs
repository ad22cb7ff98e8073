//! `hassette log`.

use std::process::ExitCode;

use anyhow::anyhow;
use hassette_core::app::AppRegistry;

use super::Failure;
use crate::cli::{GlobalArgs, LogArgs};

pub(crate) fn log(
    _global: &GlobalArgs,
    _args: &LogArgs,
    _registry: &AppRegistry,
) -> Result<ExitCode, Failure> {
    Err(Failure::runtime(anyhow!(
        "`hassette log` is not built yet: the persistent log store lands with issue #6"
    )))
}
