//! The command-line grammar (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  hassette run --demo -c hassette.toml.example   run the example apps against a built-in simulated Home Assistant
  hassette check                                 validate ./hassette.toml and every app's config
  hassette run --app porch_light                 run only the app `porch_light`
  hassette log --app porch_light --since 1h      what `porch_light` did in the last hour
  hassette new my-apps --path ~/src/hassette     a ready crate for your own apps
  hassette dev --demo                            in your crate: rebuild and restart on every save
  hassette codegen -o src/ha.rs                  your entities and services as a typed Rust module
  hassette status                                every app instance's state, from the running hassette
  hassette cache ls --class Counter              the keys of the Counter app class's cache
  hassette completions bash > /etc/bash_completion.d/hassette";

/// Home Assistant automations written in Rust.
#[derive(Debug, Parser)]
#[command(name = "hassette", version, about, after_help = EXAMPLES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes; they override the environment and `hassette.toml`.
#[derive(Clone, Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The configuration file [default: ./hassette.toml, ./config/hassette.toml, /config/hassette.toml]
    #[arg(short, long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where caches and logs live (overrides `data_dir`)
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Home Assistant's address, e.g. http://homeassistant.local:8123 (overrides `base_url`)
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Log level or filter, e.g. DEBUG or "info,hassette_core::ha=debug" (overrides `log_level`)
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect to Home Assistant and run every enabled app
    Run(RunArgs),
    /// Show what apps did, from the log store
    Log(LogArgs),
    /// Validate the configuration and every app instance's config, and list the instances
    Check,
    /// Show the running hassette: its connection and every app instance's state, through its
    /// status API
    Status(StatusArgs),
    /// Look into the app caches: through the running hassette's API, or the files when none runs
    #[command(subcommand)]
    Cache(CacheCommand),
    /// List the app classes this binary knows
    Apps,
    /// Write a ready crate for your own apps into DIR
    New(NewArgs),
    /// In your app crate: build, run, and rebuild and restart on every change of src/,
    /// Cargo.toml or hassette.toml
    Dev(DevArgs),
    /// Write your Home Assistant's entities and services as a typed Rust module
    Codegen(CodegenArgs),
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print the API's JSON instead of a table
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// List keys with their size, age and expiry
    Ls {
        /// Only this app class's cache
        #[arg(long, value_name = "CLASS")]
        class: Option<String>,
        /// Only keys starting with this
        #[arg(long, value_name = "PREFIX", default_value = "")]
        prefix: String,
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print one value as JSON
    Get {
        /// The app class
        class: String,
        /// The key
        key: String,
    },
    /// Delete one key
    Rm {
        /// The app class
        class: String,
        /// The key
        key: String,
    },
    /// Delete every entry of a class's cache
    Clear {
        /// The app class
        class: String,
    },
    /// Entries, bytes, limit, hit rate and evictions of every class's cache
    Stats {
        /// Only this app class
        #[arg(long, value_name = "CLASS")]
        class: Option<String>,
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Run against a built-in simulated Home Assistant instead of `base_url` (needs hassette-cli's `demo` feature)
    #[arg(long)]
    pub(crate) demo: bool,
    /// Run only this app (repeatable)
    #[arg(long = "app", value_name = "KEY")]
    pub(crate) apps: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The directory to create (its name becomes the crate's name)
    pub(crate) dir: PathBuf,
    /// Depend on a local checkout of the Hassette repository, by path
    #[arg(long, value_name = "CHECKOUT", conflicts_with_all = ["git", "branch", "tag", "rev"])]
    pub(crate) path: Option<PathBuf>,
    /// Depend on Hassette by git URL (the default, with this URL unless given)
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = env!("CARGO_PKG_REPOSITORY"))]
    pub(crate) git: Option<String>,
    /// With the git source: this branch
    #[arg(long, conflicts_with_all = ["tag", "rev"])]
    pub(crate) branch: Option<String>,
    /// With the git source: this tag
    #[arg(long, conflicts_with = "rev")]
    pub(crate) tag: Option<String>,
    /// With the git source: this commit
    #[arg(long)]
    pub(crate) rev: Option<String>,
    /// The crate's name [default: DIR's name]
    #[arg(long)]
    pub(crate) name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Build with `cargo build --release`
    #[arg(long)]
    pub(crate) release: bool,
    /// The binary to build and run, when the crate has several
    #[arg(long, value_name = "NAME")]
    pub(crate) bin: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CodegenArgs {
    /// Read from the built-in simulated Home Assistant instead of `base_url`
    #[arg(long, conflicts_with = "input")]
    pub(crate) demo: bool,
    /// Read a saved input (written by --save-input) instead of connecting
    #[arg(long, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Also save what was read (states, services, registries) as JSON
    #[arg(long, value_name = "FILE")]
    pub(crate) save_input: Option<PathBuf>,
    /// Write the module to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Write nothing; exit 1 when FILE (--output) is not what codegen would write now
    #[arg(long, requires = "output")]
    pub(crate) check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Only records of this app key
    #[arg(long, value_name = "KEY")]
    pub(crate) app: Option<String>,
    /// Only records of this instance name
    #[arg(long, value_name = "NAME")]
    pub(crate) instance: Option<String>,
    /// Only records since: 30s, 15m, 1h, 7d, 2w, or an ISO date or date-time
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    /// Only records until (same forms as --since)
    #[arg(long, value_name = "WHEN")]
    pub(crate) until: Option<String>,
    /// Minimum level
    #[arg(long, value_name = "LEVEL")]
    pub(crate) level: Option<String>,
    /// Only records whose message or a field (`key=value`) matches this text or regex
    #[arg(long, value_name = "PATTERN")]
    pub(crate) grep: Option<String>,
    /// --grep ignores case
    #[arg(short = 'i', long)]
    pub(crate) ignore_case: bool,
    /// Only the last N records
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Keep printing new matching records until Ctrl-C (alone: only new ones; with --since,
    /// --until or --limit: those first)
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// One JSON record per line
    #[arg(long)]
    pub(crate) json: bool,
}
