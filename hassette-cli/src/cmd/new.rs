//! `hassette new <dir>`: a ready crate for a user's own apps.
//!
//! The crate's files are the templates in `hassette-cli/templates/new/`, kept whole there
//! (not as strings in this file) so they read and change as the Rust and TOML they are; a test
//! builds and tests a generated crate, which catches a template that drifted from the API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};

use super::Failure;
use crate::cli::NewArgs;

const CARGO_TOML: &str = include_str!("../../templates/new/Cargo.toml.in");
const MAIN_RS: &str = include_str!("../../templates/new/main.rs");
const HASSETTE_TOML: &str = include_str!("../../templates/new/hassette.toml");
const GITIGNORE: &str = include_str!("../../templates/new/gitignore");
const README: &str = include_str!("../../templates/new/README.md");

pub(crate) fn new(args: &NewArgs) -> Result<ExitCode, Failure> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Failure::usage(anyhow!(
                    "{}: cannot take a crate name from this path; give --name",
                    args.dir.display()
                ))
            })?,
    };
    check_crate_name(&name).map_err(Failure::usage)?;
    let source = Source::from_args(args).map_err(Failure::usage)?;
    if args.dir.exists() {
        let empty = std::fs::read_dir(&args.dir)
            .with_context(|| format!("cannot read {}", args.dir.display()))
            .map_err(Failure::runtime)?
            .next()
            .is_none();
        if !empty {
            return Err(Failure::usage(anyhow!(
                "{} already exists and is not empty: choose a new directory",
                args.dir.display()
            )));
        }
    }
    write_crate(&args.dir, &name, &source).map_err(Failure::runtime)?;
    let shown = args.dir.display();
    super::print_out(&format!(
        "created {name} in {shown} (Hassette from {})\n\nnext:\n  cd {shown}\n  cargo run -- run --demo   # the app against the built-in simulated Home Assistant\n  cargo test                # its AppHarness test\n  cargo run -- dev --demo   # rebuild and restart on every save\n",
        source.describe()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Where the generated crate takes `hassette-core` and `hassette-cli` from.
enum Source {
    /// A checkout of this repository (absolute).
    Path(PathBuf),
    /// A git URL with an optional `branch`/`tag`/`rev` pin, as `key = "value"`.
    Git { url: String, pin: Option<String> },
}

impl Source {
    fn from_args(args: &NewArgs) -> anyhow::Result<Self> {
        if let Some(path) = &args.path {
            let path = std::fs::canonicalize(path)
                .with_context(|| format!("--path {}", path.display()))?;
            for member in ["hassette-core", "hassette-cli"] {
                let manifest = path.join(member).join("Cargo.toml");
                if !manifest.is_file() {
                    return Err(anyhow!(
                        "--path {}: not a Hassette checkout (no {})",
                        path.display(),
                        manifest.display()
                    ));
                }
            }
            return Ok(Self::Path(path));
        }
        let url = args
            .git
            .clone()
            .unwrap_or_else(|| env!("CARGO_PKG_REPOSITORY").to_owned());
        let pin = [
            ("branch", &args.branch),
            ("tag", &args.tag),
            ("rev", &args.rev),
        ]
        .into_iter()
        .find_map(|(key, value)| value.as_ref().map(|v| format!("{key} = {}", quote(v))));
        Ok(Self::Git { url, pin })
    }

    /// The dependency's source keys for `member`, as they go inside `{ }`.
    fn toml(&self, member: &str) -> String {
        match self {
            Self::Path(root) => format!("path = {}", quote(&root.join(member).to_string_lossy())),
            Self::Git { url, pin } => match pin {
                Some(pin) => format!("git = {}, {pin}", quote(url)),
                None => format!("git = {}", quote(url)),
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Path(root) => root.display().to_string(),
            Self::Git { url, pin: None } => url.clone(),
            Self::Git {
                url,
                pin: Some(pin),
            } => format!("{url}, {pin}"),
        }
    }
}

/// A TOML basic string: JSON's string escapes are all valid TOML escapes.
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Cargo's rules for a package name, checked here so the error names the flag to use.
fn check_crate_name(name: &str) -> anyhow::Result<()> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(anyhow!(
            "{name:?} is not a valid crate name (letters, digits, - and _, starting with a \
             letter): give another directory or --name"
        ))
    }
}

fn write_crate(dir: &Path, name: &str, source: &Source) -> anyhow::Result<()> {
    let cargo_toml = CARGO_TOML
        .replace("{{name}}", name)
        .replace("{{source_cli}}", &source.toml("hassette-cli"))
        .replace("{{source_core}}", &source.toml("hassette-core"));
    let files: [(&str, String); 5] = [
        ("Cargo.toml", cargo_toml),
        ("src/main.rs", MAIN_RS.to_owned()),
        ("hassette.toml", HASSETTE_TOML.to_owned()),
        (".gitignore", GITIGNORE.to_owned()),
        ("README.md", README.replace("{{name}}", name)),
    ];
    for (relative, text) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    // Pinned to the versions the checkout is tested with (cargo drops what the crate does not
    // use on its first build).
    if let Source::Path(root) = source {
        let lock = root.join("Cargo.lock");
        if lock.is_file() {
            let to = dir.join("Cargo.lock");
            std::fs::copy(&lock, &to)
                .with_context(|| format!("cannot copy {} to {}", lock.display(), to.display()))?;
        }
    }
    Ok(())
}
