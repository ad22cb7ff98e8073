//! `[hassette.web]`: the status API and web UI that `hassette run` serves.

use std::net::SocketAddr;

use super::Secret;

/// The default address of the status API and web UI.
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:8126";

/// The keys of `[hassette.web]`.
pub(crate) const WEB_KEYS: &[&str] = &["enabled", "listen", "token"];

/// `[hassette.web]`.
///
/// Safe by default: it listens on loopback only. Listening on any other address needs a
/// `token`, which every request must then send as `Authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebConfig {
    /// Whether `hassette run` serves it (default `true`).
    pub enabled: bool,
    /// Where it listens (default `127.0.0.1:8126`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// The token every request must carry, if set. Prints as `***`.
    pub token: Option<Secret>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8126)),
            token: None,
        }
    }
}

/// A problem in `[hassette.web]`: the key and what is wrong.
pub(crate) struct WebProblem {
    pub(crate) key: &'static str,
    pub(crate) message: String,
    /// The value, when it has the wrong type.
    pub(crate) wrong: Option<(super::schema::Kind, toml::Value)>,
}

/// Reads `[hassette.web]` (absent: the defaults).
pub(crate) fn parse(table: &toml::Table, problems: &mut Vec<WebProblem>) -> WebConfig {
    use super::schema::Kind;
    let mut web = WebConfig::default();
    let mut wrong = |key: &'static str, kind: Kind, value: &toml::Value| {
        problems.push(WebProblem {
            key,
            message: String::new(),
            wrong: Some((kind, value.clone())),
        });
    };
    match table.get("enabled") {
        None => {}
        Some(toml::Value::Boolean(b)) => web.enabled = *b,
        Some(other) => wrong("hassette.web.enabled", Kind::Bool, other),
    }
    let mut token_text = None;
    match table.get("token") {
        None => {}
        Some(toml::Value::String(s)) => token_text = Some(s.trim().to_owned()),
        Some(other) => wrong("hassette.web.token", Kind::Str, other),
    }
    let mut listen_text = None;
    match table.get("listen") {
        None => {}
        Some(toml::Value::String(s)) => listen_text = Some(s.trim().to_owned()),
        Some(other) => wrong("hassette.web.listen", Kind::Str, other),
    }
    if let Some(token) = token_text {
        if token.len() < 16 {
            problems.push(WebProblem {
                key: "hassette.web.token",
                message: "must be at least 16 characters (a long random string; \
                          e.g. `openssl rand -hex 24`)"
                    .to_owned(),
                wrong: None,
            });
        } else {
            web.token = Some(Secret::new(token));
        }
    }
    if let Some(text) = listen_text {
        match parse_listen(&text) {
            Ok(addr) => web.listen = addr,
            Err(message) => problems.push(WebProblem {
                key: "hassette.web.listen",
                message,
                wrong: None,
            }),
        }
    }
    if web.enabled && !web.listen.ip().is_loopback() && web.token.is_none() {
        problems.push(WebProblem {
            key: "hassette.web.listen",
            message: format!(
                "{} is not a loopback address: anyone on the network could reach hassette's \
                 controls; set hassette.web.token (a long random string) or listen on 127.0.0.1",
                web.listen
            ),
            wrong: None,
        });
    }
    web
}

/// `127.0.0.1:8126`, `[::1]:8126`, `0.0.0.0:8126`, or `localhost:8126`.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| format!("{text:?}: {port:?} is not a port number"));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not an address with a port; use e.g. \"127.0.0.1:8126\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(toml: &str) -> (WebConfig, Vec<String>) {
        let table: toml::Table = toml::from_str(toml).unwrap_or_default();
        let mut problems = Vec::new();
        let web = parse(&table, &mut problems);
        let messages = problems
            .into_iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect();
        (web, messages)
    }

    #[test]
    fn defaults_to_loopback() {
        let (web, problems) = parse_str("");
        assert!(problems.is_empty());
        assert_eq!(web.listen.to_string(), DEFAULT_WEB_LISTEN);
        assert!(web.enabled);
    }

    #[test]
    fn beyond_loopback_needs_a_token() {
        let (_, problems) = parse_str("listen = \"0.0.0.0:8126\"");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("not a loopback address"),
            "{problems:?}"
        );
        let (web, problems) =
            parse_str("listen = \"0.0.0.0:8126\"\ntoken = \"0123456789abcdef0123\"");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(web.token.is_some());
        let (_, problems) = parse_str("listen = \"0.0.0.0:8126\"\nenabled = false");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn bad_values_are_named() {
        let (_, problems) = parse_str("listen = \"here\"\ntoken = \"short\"");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("hassette.web.listen"))
        );
        assert!(problems.iter().any(|p| p.contains("at least 16")));
        let (web, _) = parse_str("listen = \"localhost:0\"");
        assert_eq!(web.listen.port(), 0);
    }
}
