//! `hassette check`: validate everything and show what `hassette run` would start.

use std::fmt::Write as _;
use std::process::ExitCode;

use hassette_core::config::Config;

use super::Failure;

pub(crate) fn check(config: &Config) -> Result<ExitCode, Failure> {
    config.check_data_dir().map_err(Failure::usage)?;
    // Built whole, then written once: a closed pipe (`| head`) is not an error.
    let mut out = String::new();
    let _ = writeln!(out, "config file:  {}", config.file.display());
    let _ = writeln!(
        out,
        "home assistant: {} (websocket {})",
        config.base_url, config.websocket_url
    );
    let _ = match &config.token {
        // The token itself is never printed: `Secret` displays as ***.
        Some(token) => writeln!(out, "token:        {token} (set)"),
        None => writeln!(
            out,
            "token:        not set (needed by `hassette run`, not by `hassette run --demo`)"
        ),
    };
    let _ = writeln!(out, "data dir:     {}", super::data_dir_text(config));
    let _ = writeln!(
        out,
        "cache size:   {} bytes per app class (default)",
        config.default_cache_size
    );
    let _ = writeln!(out, "log level:    {}\n", config.log_level);
    let mut rows = Vec::new();
    for app in &config.apps {
        for instance in &app.instances {
            rows.push([
                app.key.clone(),
                app.class_name.clone(),
                instance.name.clone(),
                if app.enabled { "yes" } else { "no" }.to_owned(),
                config.cache_dir(&app.class_name).display().to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        out.push_str("no apps are configured: add a [hassette.apps.<key>] table\n");
    } else {
        out.push_str(&table(
            &["APP", "CLASS", "INSTANCE", "ENABLED", "CACHE DIR"],
            &rows,
        ));
    }
    let instances = rows.len();
    let enabled = config.apps.iter().filter(|a| a.enabled).count();
    let _ = writeln!(
        out,
        "\nok: {} apps ({enabled} enabled), {instances} instances",
        config.apps.len()
    );
    super::print_out(&out);
    Ok(ExitCode::SUCCESS)
}

/// A plain, left-aligned text table.
pub(crate) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == last {
                let _ = write!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
