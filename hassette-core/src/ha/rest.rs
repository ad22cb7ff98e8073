//! The one thing the websocket API cannot do: set an entity's state.
//!
//! Home Assistant 2024.3.3's websocket commands (`websocket_api/commands.py`: `get_states`,
//! `call_service`, `fire_event`, `execute_script`, ...) include none that creates or sets a
//! state, so entities an app owns are published with the REST API's `POST /api/states/<id>`,
//! on the same host, with the same token. A minimal HTTP/1.1 client (one request per
//! connection, `Connection: close`) over the same TCP/TLS set-up as the websocket keeps the
//! dependencies as they are.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use super::{HaError, State};
use crate::config::Secret;

/// Where REST requests go: the client's base URL, token and TLS choice.
#[derive(Clone, Debug)]
pub(crate) struct Rest {
    pub(crate) base_url: Url,
    pub(crate) token: Secret,
    pub(crate) verify_ssl: bool,
    pub(crate) timeout: Duration,
}

/// Responses larger than this are a broken peer, not a state.
const MAX_RESPONSE: u64 = 4 << 20;

impl Rest {
    /// `POST /api/states/<entity_id>` with `{state, attributes}`; returns the state as Home
    /// Assistant stored it (`201 Created` for a new entity, `200 OK` for an update).
    pub(crate) async fn set_state(&self, entity_id: &str, body: &Value) -> Result<State, HaError> {
        let path = format!("/api/states/{entity_id}");
        let (status, text) = tokio::time::timeout(self.timeout, self.request("POST", &path, body))
            .await
            .map_err(|_| HaError::Timeout(self.timeout))??;
        if !(200..300).contains(&status) {
            return Err(HaError::Command {
                code: format!("http_{status}"),
                message: format!("POST {path}: {}", text.trim()),
                translation_key: None,
            });
        }
        serde_json::from_str(&text).map_err(HaError::Decode)
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<(u16, String), HaError> {
        let host = self.base_url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = self.base_url.port_or_known_default().unwrap_or(8123);
        let connect_err = |source: super::BoxError| HaError::Connect {
            url: self.base_url.to_string(),
            source,
        };
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| connect_err(Box::new(e)))?;
        let body = body.to_string();
        let prefix = self.base_url.path().trim_end_matches('/');
        let head = format!(
            "{method} {prefix}{path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.token.expose(),
            body.len()
        );
        if self.base_url.scheme() == "https" {
            let config = super::connection::tls_config(self.verify_ssl)?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| connect_err(Box::new(e)))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&config))
                .connect(name, tcp)
                .await
                .map_err(|e| connect_err(Box::new(e)))?;
            exchange(tls, &head, &body).await
        } else {
            exchange(tcp, &head, &body).await
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &str,
    body: &str,
) -> Result<(u16, String), HaError> {
    let io = |e: std::io::Error| HaError::Websocket(Box::new(e));
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    stream.write_all(body.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .await
        .map_err(io)?;
    parse_response(&raw)
}

/// Status and body of an HTTP/1.1 response (`Content-Length` or chunked).
fn parse_response(raw: &[u8]) -> Result<(u16, String), HaError> {
    let bad =
        |what: &str| HaError::Protocol(format!("bad HTTP response from Home Assistant: {what}"));
    let split = memchr::memmem::find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers are not UTF-8"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = &raw[split + 4..];
    let text = if chunked {
        let mut out = Vec::new();
        loop {
            let line_end = memchr::memmem::find(body, b"\r\n").ok_or_else(|| bad("chunk"))?;
            let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| bad("chunk"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("chunk size"))?;
            body = &body[line_end + 2..];
            if size == 0 {
                break;
            }
            let chunk = body.get(..size).ok_or_else(|| bad("short chunk"))?;
            out.extend_from_slice(chunk);
            body = body.get(size + 2..).unwrap_or_default();
        }
        out
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn responses() {
        let plain = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), (201, "{}".to_owned()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (200, "{\"a\":1}".to_owned())
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
