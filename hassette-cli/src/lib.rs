//! The `hassette` command line, as a library.
//!
//! A user's own binary registers its app types and calls [`main`] to get the whole CLI:
//!
//! ```no_run
//! use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { light: String }
//! struct NightLight { ctx: AppContext<Self> }
//! impl App for NightLight {
//!     type Config = Config;
//!     type Message = ();
//!     async fn initialize(_: Config, ctx: AppContext<Self>) -> Result<Self, BoxError> {
//!         Ok(Self { ctx })
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
            eprintln!("error: {}", chain_text(&failure.error));
            ExitCode::from(failure.code)
        }
    }
}

/// The error and its causes joined with ": ", each said once: a cause whose text the message
/// before it already holds (`IO error: refused`, then `refused`) is left out.
fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect to Home Assistant at ws://127.0.0.1:1/api/websocket")]
    struct Outer(#[source] Middle);

    /// Quotes its own cause, as tungstenite's `IO error: {0}` does.
    #[derive(Debug, thiserror::Error)]
    #[error("IO error: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let refused = io.to_string();
        let error = anyhow::Error::new(Outer(Middle(io))).context("cannot start");
        let text = chain_text(&error);
        assert_eq!(
            text,
            format!(
                "cannot start: cannot connect to Home Assistant at ws://127.0.0.1:1/api/websocket: IO error: {refused}"
            )
        );
        assert_eq!(text.matches(&refused).count(), 1);
    }
}
