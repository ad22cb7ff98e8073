//! Talking to a running hassette's status API (`[hassette.web]`), for `status` and `cache`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use hassette_core::config::Config;
use hassette_core::web::client;
use serde_json::Value;

/// A running hassette's API, found at the configured address.
pub(crate) struct Api {
    addr: SocketAddr,
    token: Option<String>,
}

/// Why no API answered: the address tried, and what happened.
pub(crate) struct Unreachable {
    pub(crate) addr: SocketAddr,
    pub(crate) why: String,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Api {
    /// The API of the hassette that runs with this configuration (same `data_dir`), if one
    /// answers.
    pub(crate) fn find(config: &Config) -> Result<Self, Unreachable> {
        let mut addr = config.web.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let api = Self {
            addr,
            token: config.web.token.as_ref().map(|t| t.expose().to_owned()),
        };
        let unreachable = |why: String| Unreachable { addr, why };
        if !config.web.enabled {
            return Err(unreachable("[hassette.web] enabled = false".to_owned()));
        }
        let process = api
            .get("/api/process")
            .map_err(|e| unreachable(format!("{e:#}")))?;
        let theirs = process
            .get("data_dir")
            .and_then(Value::as_str)
            .unwrap_or("");
        if std::path::Path::new(theirs) != config.data_dir {
            return Err(unreachable(format!(
                "the hassette there uses data_dir {theirs}, not {}",
                config.data_dir.display()
            )));
        }
        Ok(api)
    }

    fn send(&self, method: &str, target: &str) -> anyhow::Result<Value> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let response = client::request(self.addr, method, target, &headers, TIMEOUT)
            .with_context(|| format!("cannot reach hassette's status API at {}", self.addr))?;
        let body = response.json().unwrap_or(Value::Null);
        if response.status >= 400 {
            let message = body
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| response.text(), str::to_owned);
            return Err(anyhow!("{message}"));
        }
        Ok(body)
    }

    pub(crate) fn get(&self, target: &str) -> anyhow::Result<Value> {
        self.send("GET", target)
    }

    pub(crate) fn delete(&self, target: &str) -> anyhow::Result<Value> {
        self.send("DELETE", target)
    }
}

/// Seconds as `3d4h`, `5m10s`, `42s`.
pub(crate) fn human_secs(secs: i64) -> String {
    let (sign, secs) = if secs < 0 { ("-", -secs) } else { ("", secs) };
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let text = match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    };
    format!("{sign}{text}")
}

/// Bytes as `512 B`, `3.2 KiB`, `16.0 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.1} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// Lines of columns, each padded to its widest cell.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
