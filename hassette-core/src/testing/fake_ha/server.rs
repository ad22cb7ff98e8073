//! The fake's websocket server: the accept loop and one task per client connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::world::{
    self, BusEvent, Change, HaErr, compressed_diff, compressed_state, custom_event,
    state_changed_event, trigger_match,
};
use super::{Bus, Shared};

/// Binds `127.0.0.1:port` with `SO_REUSEADDR`, so the fake can come back on the same port.
pub(crate) fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(128)
}

/// Accepts connections while the fake is up; drops the listener while it is "down", so that
/// connecting is refused as with a stopped Home Assistant.
pub(crate) async fn accept_loop(shared: Arc<Shared>, mut listener: Option<TcpListener>) {
    let mut up = shared.up.subscribe();
    loop {
        if let Some(l) = &listener {
            tokio::select! {
                () = shared.cancel.cancelled() => return,
                res = l.accept() => {
                    if let Ok((stream, _)) = res {
                        // As Home Assistant's server: no Nagle delay on small frames.
                        let _ = stream.set_nodelay(true);
                        let shared = shared.clone();
                        tokio::spawn(async move { serve_client(shared, stream).await });
                    }
                }
                _ = up.changed() => {
                    if !*up.borrow_and_update() {
                        listener = None;
                    }
                }
            }
        } else {
            tokio::select! {
                () = shared.cancel.cancelled() => return,
                changed = up.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *up.borrow_and_update() {
                        match bind(shared.port) {
                            Ok(l) => listener = Some(l),
                            Err(e) => tracing::error!(error = %e, "fake HA cannot rebind its port"),
                        }
                    }
                }
            }
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

async fn serve_client(shared: Arc<Shared>, stream: TcpStream) {
    if super::rest::is_rest(&stream).await {
        super::rest::serve(shared, stream).await;
        return;
    }
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let mut bus = shared.bus.subscribe();
    let version = shared.world().version.clone();
    if send(
        &mut ws,
        json!({"type": "auth_required", "ha_version": version}).to_string(),
    )
    .await
    .is_err()
    {
        return;
    }
    if !authenticate(&shared, &mut ws, &version).await {
        return;
    }
    let mut conn = ClientConn {
        shared: shared.clone(),
        last_id: 0,
        coalesce: false,
        subs: HashMap::new(),
    };
    loop {
        let slow = *shared
            .slow_reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(delay) = slow {
            tokio::time::sleep(delay).await;
        }
        let out: Vec<String> = tokio::select! {
            () = shared.cancel.cancelled() => return,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if shared.silent.load(Ordering::Relaxed) {
                        continue;
                    }
                    conn.handle(&text, &mut bus)
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(Message::Pong(_))) => {
                    shared.ws_pongs.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Some(Ok(_)) => continue,
            },
            ev = bus.recv() => match ev {
                Ok(Bus::Event(ev)) => {
                    if shared.silent.load(Ordering::Relaxed) {
                        continue;
                    }
                    conn.route(&ev)
                }
                Ok(Bus::DropAll) => return,
                Ok(Bus::Raw(text)) => vec![text.to_string()],
                Ok(Bus::WsPing) => {
                    if ws.send(Message::Ping(b"hb".to_vec().into())).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let frames = if conn.coalesce && shared.coalesce.load(Ordering::Relaxed) && out.len() > 1 {
            vec![format!("[{}]", out.join(","))]
        } else {
            out
        };
        for frame in frames {
            if send(&mut ws, frame).await.is_err() {
                return;
            }
        }
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), ()> {
    ws.send(Message::text(text)).await.map_err(drop)
}

async fn authenticate(shared: &Shared, ws: &mut Ws, version: &str) -> bool {
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else {
        return false;
    };
    let msg: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if msg.get("type").and_then(Value::as_str) != Some("auth") {
        // HA answers anything else with auth_invalid too.
        let _ = send(ws, json!({"type": "auth_invalid", "message": "Auth message incorrectly formatted: expected dict for dictionary value @ data['access_token']"}).to_string()).await;
        return false;
    }
    shared.auth_attempts.fetch_add(1, Ordering::Relaxed);
    let token = msg.get("access_token").and_then(Value::as_str);
    let expected = shared
        .token
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if token != Some(expected.expose()) {
        let _ = send(
            ws,
            json!({"type": "auth_invalid", "message": "Invalid access token or password"})
                .to_string(),
        )
        .await;
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
        return false;
    }
    send(
        ws,
        json!({"type": "auth_ok", "ha_version": version}).to_string(),
    )
    .await
    .is_ok()
}

enum Sub {
    Events(Option<String>),
    Trigger(Vec<Value>),
    Entities(Option<Vec<String>>),
    /// A live template: rendered again when an entity it reads changes, sent when the result
    /// differs.
    Template {
        template: String,
        vars: Map<String, Value>,
        entities: Vec<String>,
        last: String,
    },
}

fn template_event(text: &str, entities: &[String]) -> String {
    json!({"result": text, "listeners": {"all": false, "entities": entities, "domains": [], "time": false}})
        .to_string()
}

struct ClientConn {
    shared: Arc<Shared>,
    last_id: u64,
    coalesce: bool,
    subs: HashMap<u64, Sub>,
}

fn result(id: u64, value: &Value) -> String {
    format!(r#"{{"id":{id},"type":"result","success":true,"result":{value}}}"#)
}

fn error(id: Option<u64>, (code, message, extra): HaErr) -> String {
    let mut err = Map::new();
    err.insert("code".into(), json!(code));
    err.insert("message".into(), json!(message));
    if let Some(Value::Object(extra)) = extra {
        err.extend(extra);
    }
    let id = id.map_or_else(|| "null".to_owned(), |i| i.to_string());
    format!(
        r#"{{"id":{id},"type":"result","success":false,"error":{}}}"#,
        Value::Object(err)
    )
}

fn event(id: u64, event: &str) -> String {
    // HA splices the id in last.
    format!(r#"{{"type":"event","event":{event},"id":{id}}}"#)
}

impl ClientConn {
    /// Handles one client frame; returns the messages to send, in order.
    fn handle(&mut self, text: &str, bus: &mut broadcast::Receiver<Bus>) -> Vec<String> {
        let msg: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                return vec![error(
                    None,
                    (
                        "invalid_format",
                        "Message incorrectly formatted.".into(),
                        None,
                    ),
                )];
            }
        };
        let id = msg.get("id").and_then(Value::as_u64).filter(|i| *i > 0);
        let kind = msg.get("type").and_then(Value::as_str);
        let (Some(Value::Object(fields)), Some(id), Some(kind)) = (Some(&msg), id, kind) else {
            return vec![error(
                msg.get("id").and_then(Value::as_u64),
                (
                    "invalid_format",
                    "Message incorrectly formatted.".into(),
                    None,
                ),
            )];
        };
        self.shared
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(kind.to_owned());
        if kind == "subscribe_events" {
            let event_type = fields
                .get("event_type")
                .and_then(Value::as_str)
                .unwrap_or("*");
            self.shared
                .event_subscriptions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(event_type.to_owned());
        }
        if id <= self.last_id {
            return vec![error(
                Some(id),
                (
                    "id_reuse",
                    "Identifier values have to increase.".into(),
                    None,
                ),
            )];
        }
        let out = self.command(id, kind, fields, bus);
        if out.is_some() {
            self.last_id = id;
        }
        out.unwrap_or_else(|| {
            vec![error(
                Some(id),
                ("unknown_command", "Unknown command.".into(), None),
            )]
        })
    }

    /// `None` for an unknown command (which does not advance the last id).
    fn command(
        &mut self,
        id: u64,
        kind: &str,
        msg: &Map<String, Value>,
        bus: &mut broadcast::Receiver<Bus>,
    ) -> Option<Vec<String>> {
        let shared = self.shared.clone();
        Some(match kind {
            "supported_features" => {
                self.coalesce = msg
                    .get("features")
                    .and_then(|f| f.get("coalesce_messages"))
                    .and_then(Value::as_u64)
                    == Some(1);
                vec![result(id, &Value::Null)]
            }
            "ping" => vec![format!(r#"{{"id":{id},"type":"pong"}}"#)],
            "get_config" => vec![result(id, &shared.world().config_json())],
            "get_states" => {
                let states: Vec<_> = shared.world().states.values().cloned().collect();
                vec![result(
                    id,
                    &serde_json::to_value(states).unwrap_or_default(),
                )]
            }
            "get_services" => vec![result(id, world::services())],
            "subscribe_events" => match msg.get("event_type") {
                None => self.subscribe(id, Sub::Events(None)),
                Some(Value::String(t)) => self.subscribe(id, Sub::Events(Some(t.clone()))),
                Some(other) => vec![error(
                    Some(id),
                    world::invalid_format(&format!(
                        "expected str for dictionary value @ data['event_type']. Got {other}"
                    )),
                )],
            },
            "subscribe_trigger" => {
                let triggers = match msg.get("trigger") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(t @ Value::Object(_)) => vec![t.clone()],
                    _ => {
                        return Some(vec![error(
                            Some(id),
                            world::invalid_format("required key not provided @ data['trigger']"),
                        )]);
                    }
                };
                let valid = triggers.iter().all(|t| {
                    t.get("platform")
                        .or_else(|| t.get("trigger"))
                        .and_then(Value::as_str)
                        == Some("state")
                        && t.get("entity_id").is_some()
                });
                if !valid {
                    return Some(vec![error(
                        Some(id),
                        world::invalid_format(
                            "the fake supports state triggers with an entity_id only",
                        ),
                    )]);
                }
                self.subscribe(id, Sub::Trigger(triggers))
            }
            "subscribe_entities" => {
                let ids = msg.get("entity_ids").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                });
                let mut out = self.subscribe(id, Sub::Entities(ids.clone()));
                let world = shared.world();
                let initial: Map<String, Value> = world
                    .states
                    .values()
                    .filter(|s| ids.as_ref().is_none_or(|ids| ids.contains(&s.entity_id)))
                    .map(|s| (s.entity_id.clone(), compressed_state(s)))
                    .collect();
                out.push(event(id, &json!({"a": initial}).to_string()));
                out
            }
            "unsubscribe_events" => {
                let sub = msg.get("subscription").and_then(Value::as_u64);
                if sub.and_then(|s| self.subs.remove(&s)).is_some() {
                    vec![result(id, &Value::Null)]
                } else {
                    vec![error(
                        Some(id),
                        ("not_found", "Subscription not found.".into(), None),
                    )]
                }
            }
            "fire_event" => {
                let Some(event_type) = msg.get("event_type").and_then(Value::as_str) else {
                    return Some(vec![error(
                        Some(id),
                        world::invalid_format("required key not provided @ data['event_type']"),
                    )]);
                };
                let data = msg.get("event_data").cloned().unwrap_or_else(|| json!({}));
                let ctx = shared.world().context(Some(world::USER_ID));
                shared.publish(custom_event(event_type, &data, &ctx));
                let mut out = self.drain(bus);
                out.push(result(id, &json!({"context": ctx})));
                out
            }
            "call_service" => {
                let outcome = {
                    // Publish under the lock, so events leave in the order states changed.
                    let mut world = shared.world();
                    world.call_service(msg).map(|(ctx, changes)| {
                        for change in changes {
                            shared.publish(state_changed_event(change));
                        }
                        ctx
                    })
                };
                match outcome {
                    Ok(ctx) => {
                        // Real HA sends the state_changed events before the result.
                        let mut out = self.drain(bus);
                        let mut res = json!({"context": ctx});
                        if msg.get("return_response").and_then(Value::as_bool) == Some(true) {
                            let name = format!(
                                "{}.{}",
                                msg.get("domain")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default(),
                                msg.get("service")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                            );
                            let Some(response) =
                                shared.world().records.responses.get(&name).cloned()
                            else {
                                // Home Assistant 2024.3.3's answer for a service without responses.
                                return Some(vec![error(Some(id), ("unknown_error", "Invalid argument return_response=True when handler does not support responses".into(), None))]);
                            };
                            res["response"] = response;
                        }
                        out.push(result(id, &res));
                        out
                    }
                    Err(e) => vec![error(Some(id), e)],
                }
            }
            "config/area_registry/list" => vec![result(id, &json!(shared.world().records.areas))],
            "config/device_registry/list" => {
                vec![result(id, &json!(shared.world().records.devices))]
            }
            "config/entity_registry/list" => {
                let world = shared.world();
                let entries: Vec<&Value> = world.records.entities.values().collect();
                vec![result(id, &json!(entries))]
            }
            "config/label_registry/list" => vec![result(id, &json!(shared.world().records.labels))],
            "config/floor_registry/list" => vec![result(id, &json!([]))],
            "history/history_during_period" => match shared.world().records.history(msg) {
                Ok(v) => vec![result(id, &v)],
                Err(m) => vec![error(Some(id), ("invalid_start_time", m, None))],
            },
            "logbook/get_events" => match shared.world().records.logbook(msg) {
                Ok(v) => vec![result(id, &v)],
                Err(m) => vec![error(Some(id), ("invalid_start_time", m, None))],
            },
            "render_template" => {
                let template = msg
                    .get("template")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let vars = msg
                    .get("variables")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let rendered = world::render_template(template, &vars, &shared.world().states);
                match rendered {
                    Ok((text, entities)) => {
                        let frame = template_event(&text, &entities);
                        let mut out = self.subscribe(
                            id,
                            Sub::Template {
                                template: template.to_owned(),
                                vars,
                                entities,
                                last: text,
                            },
                        );
                        out.push(event(id, &frame));
                        out
                    }
                    Err(message) => vec![error(Some(id), ("template_error", message, None))],
                }
            }
            _ => return None,
        })
    }

    fn subscribe(&mut self, id: u64, sub: Sub) -> Vec<String> {
        self.subs.insert(id, sub);
        vec![result(id, &Value::Null)]
    }

    /// Events already on the bus for this connection (those a command just caused).
    fn drain(&mut self, bus: &mut broadcast::Receiver<Bus>) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match bus.try_recv() {
                Ok(Bus::Event(ev)) => out.extend(self.route(&ev)),
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return out,
            }
        }
    }

    /// The messages this connection's subscriptions make of one bus event.
    fn route(&mut self, ev: &BusEvent) -> Vec<String> {
        let mut ids: Vec<_> = self.subs.keys().copied().collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for id in ids {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            match sub {
                Sub::Events(t) => {
                    if t.as_deref().is_none_or(|t| t == ev.event_type) {
                        out.push(event(id, &ev.json));
                    }
                }
                Sub::Trigger(triggers) => {
                    let Some(change) = &ev.change else { continue };
                    for (idx, t) in triggers.iter().enumerate() {
                        if let Some(vars) = trigger_match(t, idx, change) {
                            let ctx = change.new.as_ref().map(|s| s.context.clone());
                            out.push(event(
                                id,
                                &json!({"variables": vars, "context": ctx}).to_string(),
                            ));
                        }
                    }
                }
                Sub::Entities(filter) => {
                    let Some(change @ Change { entity_id, .. }) = &ev.change else {
                        continue;
                    };
                    if filter.as_ref().is_none_or(|f| f.contains(entity_id)) {
                        out.push(event(id, &compressed_diff(change).to_string()));
                    }
                }
                Sub::Template {
                    template,
                    vars,
                    entities,
                    last,
                } => {
                    let Some(change) = &ev.change else { continue };
                    if !entities.contains(&change.entity_id) {
                        continue;
                    }
                    let rendered =
                        world::render_template(template, vars, &self.shared.world().states);
                    if let Ok((text, now_reads)) = rendered
                        && text != *last
                    {
                        out.push(event(id, &template_event(&text, &now_reads)));
                        *last = text;
                        *entities = now_reads;
                    }
                }
            }
        }
        out
    }
}
