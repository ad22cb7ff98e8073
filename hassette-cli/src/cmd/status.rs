//! `hassette status`: the running hassette's connection and app instances, from its API.

use std::process::ExitCode;

use anyhow::anyhow;
use hassette_core::config::Config;
use serde_json::Value;

use super::Failure;
use super::api::{Api, table};
use crate::cli::StatusArgs;

pub(crate) fn status(config: &Config, args: &StatusArgs) -> Result<ExitCode, Failure> {
    let api = Api::find(config).map_err(|u| {
        Failure::runtime(anyhow!(
            "no running hassette answers at http://{} ({}): start it with `hassette run`",
            u.addr,
            u.why
        ))
    })?;
    let process = api.get("/api/process").map_err(Failure::runtime)?;
    let apps = api.get("/api/apps").map_err(Failure::runtime)?;
    if args.json {
        let both = serde_json::json!({ "process": process, "apps": apps });
        super::print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&both).unwrap_or_default()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let s = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    };
    let mut text = format!(
        "hassette {} (pid {}), up {}; Home Assistant {} {}; {} entities; {} events/s; {} dropped\n\n",
        s(&process, "version"),
        s(&process, "pid"),
        super::api::human_secs(process["uptime_secs"].as_i64().unwrap_or(0)),
        s(&process, "ha_version"),
        s(&process, "connection"),
        s(&process, "entities"),
        s(&process, "events_per_sec"),
        s(&process, "dropped_events"),
    );
    let mut rows = vec![
        [
            "APP",
            "INSTANCE",
            "CLASS",
            "STATE",
            "HANDLED",
            "DROPPED",
            "P50",
            "P99",
            "LAST ERROR",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let micros = |v: &Value| {
        v.as_u64()
            .map_or_else(|| "-".to_owned(), |us| format!("{us}µs"))
    };
    for app in apps.as_array().into_iter().flatten() {
        let error = app["last_error"].as_object().map_or_else(
            || "-".to_owned(),
            |e| {
                format!(
                    "{} {}",
                    e.get("at").and_then(Value::as_str).unwrap_or(""),
                    e.get("message").and_then(Value::as_str).unwrap_or("")
                )
            },
        );
        rows.push(vec![
            s(app, "app"),
            s(app, "instance"),
            s(app, "class"),
            s(app, "state"),
            s(app, "handled"),
            s(app, "dropped"),
            micros(&app["handler_p50_us"]),
            micros(&app["handler_p99_us"]),
            error,
        ]);
    }
    text.push_str(&table(&rows));
    super::print_out(&text);
    Ok(ExitCode::SUCCESS)
}
