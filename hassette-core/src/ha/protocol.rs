//! The wire format: incoming messages parsed by key, outgoing commands.
//!
//! A text frame holds one message object or, with `coalesce_messages`, a JSON array of them.
//! Keys may come in any order (HA puts `id` first in results and last in events). Payloads
//! (`result`, `event`) stay raw here and are decoded by whoever knows their type: the caller of
//! a command, or the subscription an event belongs to.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// HA's error object in a failed `result`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorInfo {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) translation_key: Option<String>,
}

/// One incoming message, with its payload still raw.
#[derive(Debug)]
pub(crate) enum Incoming<'a> {
    AuthRequired,
    AuthOk {
        ha_version: Option<String>,
    },
    AuthInvalid {
        message: String,
    },
    Result {
        id: u64,
        outcome: Result<Option<&'a RawValue>, ErrorInfo>,
    },
    Event {
        id: u64,
        event: &'a RawValue,
    },
    Pong {
        id: u64,
    },
    /// A message type this client does not know (HA adds some now and then): ignored.
    Unknown {
        kind: String,
    },
}

/// Every key any message may carry; one pass, no intermediate `Value`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorInfo>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    ha_version: Option<String>,
}

fn need_id(kind: &str, id: Option<u64>) -> Result<u64, String> {
    id.ok_or_else(|| format!("`{kind}` message without an id"))
}

impl<'a> Envelope<'a> {
    fn into_incoming(self) -> Result<Incoming<'a>, String> {
        Ok(match self.kind.as_ref() {
            "auth_required" => Incoming::AuthRequired,
            "auth_ok" => Incoming::AuthOk {
                ha_version: self.ha_version,
            },
            "auth_invalid" => Incoming::AuthInvalid {
                message: self.message.unwrap_or_default(),
            },
            "result" => {
                let id = need_id("result", self.id)?;
                let outcome = if self.success == Some(true) {
                    // `"result": null` arrives as `None`.
                    Ok(self.result)
                } else {
                    Err(self.error.unwrap_or_else(|| ErrorInfo {
                        code: "unknown_error".into(),
                        message: "failed result without an error object".into(),
                        translation_key: None,
                    }))
                };
                Incoming::Result { id, outcome }
            }
            "event" => Incoming::Event {
                id: need_id("event", self.id)?,
                event: self.event.ok_or("`event` message without an event")?,
            },
            "pong" => Incoming::Pong {
                id: need_id("pong", self.id)?,
            },
            other => Incoming::Unknown {
                kind: other.to_owned(),
            },
        })
    }
}

/// Parses one text frame and hands each message to `f`, in order.
///
/// # Errors
///
/// A description of the problem when the frame is not JSON, not an object or array of objects,
/// or a message lacks a required key or has one of the wrong type.
pub(crate) fn parse_frame<'a>(
    text: &'a str,
    mut f: impl FnMut(Incoming<'a>),
) -> Result<(), String> {
    let first = text.bytes().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'[') {
        let many: Vec<Envelope<'a>> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for env in many {
            f(env.into_incoming()?);
        }
    } else {
        let env: Envelope<'a> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        f(env.into_incoming()?);
    }
    Ok(())
}

/// A command without its id: the `type` plus its fields. Kept so that subscriptions can be
/// sent again after a reconnect.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) kind: Cow<'static, str>,
    pub(crate) fields: Map<String, Value>,
}

impl Command {
    pub(crate) fn new(kind: &'static str) -> Self {
        Self {
            kind: Cow::Borrowed(kind),
            fields: Map::new(),
        }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn with_opt(self, key: &str, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// The JSON text of this command under `id`.
    pub(crate) fn to_text(&self, id: u64) -> String {
        let mut obj = Map::with_capacity(self.fields.len() + 2);
        obj.insert("id".into(), id.into());
        obj.insert("type".into(), self.kind.as_ref().into());
        for (k, v) in &self.fields {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj).to_string()
    }
}

/// The `auth` message. Never log its text.
pub(crate) fn auth_text(token: &str) -> String {
    serde_json::json!({"type": "auth", "access_token": token}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        parse_frame(text, |m| out.push(format!("{m:?}"))).unwrap();
        out
    }

    #[test]
    fn object_and_array_frames() {
        assert_eq!(collect(r#"{"id":1,"type":"pong"}"#), ["Pong { id: 1 }"]);
        let arr = collect(
            r#"[{"id":6,"type":"result","success":true,"result":null},
                {"type":"event","event":{"a":{}},"id":6}]"#,
        );
        assert_eq!(arr.len(), 2);
        // `"result": null` reads as `None`; the session turns it back into JSON null.
        assert_eq!(arr[0], "Result { id: 6, outcome: Ok(None) }");
        assert!(arr[1].starts_with("Event { id: 6"));
    }

    #[test]
    fn errors_and_unknown_types() {
        let m = collect(
            r#"{"id":11,"type":"result","success":false,"error":{"code":"id_reuse","message":"Identifier values have to increase."}}"#,
        );
        assert!(m[0].contains("id_reuse"));
        assert!(collect(r#"{"type":"brand_new","x":1}"#)[0].starts_with("Unknown"));
    }

    #[test]
    fn malformed_frames_are_errors() {
        for bad in [
            "",
            "{",
            "[1,2]",
            "42",
            r#"{"id":"x","type":"pong"}"#,
            r#"{"type":"pong"}"#,
            r#"{"id":1}"#,
            r#"{"type":"event","id":3}"#,
        ] {
            assert!(parse_frame(bad, |_| {}).is_err(), "{bad}");
        }
    }
}
