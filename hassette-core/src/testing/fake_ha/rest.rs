//! The fake's REST endpoint `POST /api/states/<entity_id>`, as Home Assistant 2024.3.3 answers
//! it (`201 Created` for a new entity, `200 OK` for an update, `400` for a bad entity id or a
//! missing state, `401` without the token), on the same port as the websocket.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Shared;
use super::world;

/// Whether a connection starts with an HTTP `POST` (the websocket upgrade is a `GET`).
pub(crate) async fn is_rest(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] == b'P')
}

/// Serves one request and closes the connection.
pub(crate) async fn serve(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, length) = loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 || raw.len() > 1 << 20 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = memchr::memmem::find(&raw, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end, length);
        }
    };
    while raw.len() < head_end + 4 + length {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let body = &raw[head_end + 4..head_end + 4 + length];
    let (status, reply) = answer(&shared, &head, body);
    let text = reply.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn answer(shared: &Shared, head: &str, body: &[u8]) -> (u16, Value) {
    let mut lines = head.lines();
    let request = lines.next().unwrap_or("");
    let token = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().strip_prefix("Bearer ").map(str::to_owned))?
    });
    let expected = shared
        .token
        .lock()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    if token.as_deref() != Some(expected.as_str()) {
        return (401, json!({"message": "401: Unauthorized"}));
    }
    let mut parts = request.split_whitespace();
    let path = parts.nth(1).unwrap_or("");
    let Some(entity_id) = path.strip_prefix("/api/states/") else {
        return (404, json!({"message": "404: Not Found"}));
    };
    if !crate::app::valid_entity_id(entity_id) {
        return (400, json!({"message": "Invalid entity ID specified."}));
    }
    let Ok(data) = serde_json::from_slice::<Value>(body) else {
        return (400, json!({"message": "Invalid JSON specified."}));
    };
    let Some(state) = data.get("state").and_then(|s| match s {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }) else {
        return (400, json!({"message": "No state specified."}));
    };
    let attributes = data.get("attributes").and_then(Value::as_object).cloned();
    let mut world = shared.world();
    let existed = world.states.contains_key(entity_id);
    let context = world.context(Some(world::USER_ID));
    // Like Home Assistant, the attributes given replace the old ones (none given: none kept).
    let attributes = Some(attributes.unwrap_or_default());
    if let Some(change) = world.set_state(entity_id, &state, attributes, Some(context)) {
        shared.publish(world::state_changed_event(change));
    }
    let stored = (world.states.get(entity_id))
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    (if existed { 200 } else { 201 }, stored)
}
