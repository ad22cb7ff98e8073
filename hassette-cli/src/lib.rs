//! The `hassette` command line, as a library.
//!
//! A user's own binary registers its app types and calls [`main`] to get the whole CLI:
//!
//! ```no_run
//! use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { light: String }
//! struct NightLight { }
//! impl App for NightLight {
//!     type Config = Config;
//!     type Message = ();
//!     async fn initialize(_: Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
//!         Ok(Self {})
//!     }
//!     fn context(&self) -> &AppContext<Self> { &self.ctx }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let mut apps = AppRegistry::new();
//!     apps.register::<NightLight>();
//!     hassette_cli::main(apps)
//! }
//! ```
//!
//! Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;
use hassette_core::app::AppRegistry;

/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for failures at run time.
pub const EXIT_FAILURE: u8 = 1;

/// Parses the process's arguments and runs the command, with `registry`'s app classes.
#[must_use]
pub fn main(registry: AppRegistry) -> ExitCode {
    main_from(std::env::args_os(), registry)
}

/// [`main`] with explicit arguments (the first is the program name).
#[must_use]
pub fn main_from<I, T>(args: I, registry: AppRegistry) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    match cmd::dispatch(cli, &registry) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
