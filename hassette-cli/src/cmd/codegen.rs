//! `hassette codegen`: the user's entities and services as a Rust module.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use hassette_core::app::AppRegistry;
use hassette_core::codegen::{self, Input};
use hassette_core::ha::{Client, ClientOptions};
use hassette_core::runtime;
use tokio_util::sync::CancellationToken;

use super::{Failure, print_out};
use crate::cli::{CodegenArgs, GlobalArgs};

pub(crate) fn codegen(
    global: &GlobalArgs,
    args: &CodegenArgs,
    registry: &AppRegistry,
) -> Result<ExitCode, Failure> {
    let input = match &args.input {
        Some(path) => read_input(path)?,
        None => {
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")
                .map_err(Failure::runtime)?;
            tokio.block_on(fetch(global, args, registry))?
        }
    };
    if let Some(path) = &args.save_input {
        let json = serde_json::to_string_pretty(&input).map_err(Failure::runtime)?;
        write_atomically(path, &json).map_err(Failure::runtime)?;
    }
    let module = codegen::generate(&input);
    match (&args.output, args.check) {
        (Some(path), true) => check(path, &module),
        (Some(path), false) => {
            write_atomically(path, &module).map_err(Failure::runtime)?;
            eprintln!(
                "wrote {}: {} entities, {} services",
                path.display(),
                input.states.len(),
                input.services.values().map(|s| s.len()).sum::<usize>()
            );
            Ok(ExitCode::SUCCESS)
        }
        (None, _) => {
            print_out(&module);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--check`: exit 1, naming the file and the first differing line, when it is not what
/// codegen writes now.
fn check(path: &Path, module: &str) -> Result<ExitCode, Failure> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "{} does not exist: run `hassette codegen -o {0}`",
                path.display()
            );
            return Ok(ExitCode::from(crate::EXIT_FAILURE));
        }
        Err(e) => {
            return Err(Failure::runtime(
                anyhow!(e).context(format!("cannot read {}", path.display())),
            ));
        }
    };
    if current == module {
        eprintln!("{} is up to date", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let line = current
        .lines()
        .zip(module.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| current.lines().count().min(module.lines().count()))
        + 1;
    eprintln!(
        "{} is out of date (first difference at line {line}): run `hassette codegen -o {0}` again",
        path.display()
    );
    Ok(ExitCode::from(crate::EXIT_FAILURE))
}

async fn fetch(
    global: &GlobalArgs,
    args: &CodegenArgs,
    registry: &AppRegistry,
) -> Result<Input, Failure> {
    if args.demo {
        let demo = super::demo::Demo::start().await?;
        let input = read(demo.plain_client_options()).await;
        demo.stop();
        return input;
    }
    let config = super::load(global, registry)?;
    let Some(token) = config.token.clone() else {
        return Err(Failure::usage(anyhow!(
            "no access token: set `token_file` or `token` in [hassette] of {}, or HASSETTE__TOKEN \
             (or use --demo for the built-in simulated Home Assistant)",
            config.file.display()
        )));
    };
    read(runtime::client_options(
        &config,
        config.base_url.clone(),
        token,
    ))
    .await
}

async fn read(options: ClientOptions) -> Result<Input, Failure> {
    let url = options.base_url.clone();
    let cancel = CancellationToken::new();
    let (client, _session) = Client::connect(options, cancel.child_token())
        .await
        .with_context(|| format!("cannot connect to Home Assistant at {url}"))
        .map_err(Failure::runtime)?;
    let input = codegen::fetch(&client)
        .await
        .with_context(|| format!("cannot read entities and services from {url}"))
        .map_err(Failure::runtime);
    cancel.cancel();
    input
}

fn read_input(path: &Path) -> Result<Input, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Failure::usage)?;
    serde_json::from_str(&text)
        .with_context(|| {
            format!(
                "{}: not a codegen input (JSON with states, services and registries)",
                path.display()
            )
        })
        .map_err(Failure::usage)
}

/// Writes beside the target, then renames, so a reader never sees half a module.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp-hassette");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
