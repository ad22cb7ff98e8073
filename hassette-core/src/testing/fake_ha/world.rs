//! The fake's Home Assistant core: entity states, services, contexts, event JSON.
//!
//! Shapes follow the real transcripts (`tests/data/ws-transcript-2024.3.3.jsonl`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::ha::types::ha_time;
use crate::ha::{Context, State};

/// The user id the fake's token belongs to (shaped like HA's 32-hex user ids).
pub(crate) const USER_ID: &str = "e26ba79fbdb54ed8871449be93613f84";

/// One `call_service` the fake received, as sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceCall {
    /// The service domain, e.g. `light`.
    pub domain: String,
    /// The service, e.g. `turn_on`.
    pub service: String,
    /// `service_data`, or `Null` when absent.
    pub service_data: Value,
    /// `target`, or `Null` when absent.
    pub target: Value,
    /// The entities the call addressed (from `target` and `service_data`).
    pub entity_ids: Vec<String>,
}

/// A state change inside the fake.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) entity_id: String,
    pub(crate) old: Option<State>,
    pub(crate) new: Option<State>,
}

/// An event on the fake's bus: its JSON (as HA serialises it) plus the typed change, if any.
#[derive(Debug)]
pub(crate) struct BusEvent {
    pub(crate) event_type: String,
    pub(crate) json: String,
    pub(crate) change: Option<Change>,
}

pub(crate) struct World {
    pub(crate) states: BTreeMap<String, State>,
    pub(crate) core_state: String,
    pub(crate) time_zone: String,
    pub(crate) version: String,
    pub(crate) calls: Vec<ServiceCall>,
    /// The time states change at: the harness shares its manual clock, so `last_changed`
    /// agrees with the time apps see.
    pub(crate) clock: Clock,
    /// Registries, history, logbook, service responses.
    pub(crate) records: super::records::Records,
    ctx_counter: u64,
}

/// HA's error for a failed command: `(code, message, extra fields)`.
pub(crate) type HaErr = (&'static str, String, Option<Value>);

pub(crate) fn services() -> &'static Value {
    static SERVICES: OnceLock<Value> = OnceLock::new();
    SERVICES.get_or_init(|| {
        serde_json::from_str(include_str!("services.json")).unwrap_or_else(|_| json!({}))
    })
}

impl World {
    pub(crate) fn new(version: &str, time_zone: &str, states: Vec<State>) -> Self {
        let mut records = super::records::Records::demo(&states);
        for s in &states {
            records.record(s, None);
        }
        Self {
            records,
            states: states
                .into_iter()
                .map(|s| (s.entity_id.clone(), s))
                .collect(),
            core_state: "RUNNING".into(),
            time_zone: time_zone.into(),
            version: version.into(),
            calls: Vec::new(),
            clock: Clock::system(),
            ctx_counter: 0,
        }
    }

    /// `last_reported` exists from Home Assistant 2024.4 on.
    pub(crate) fn reports_last_reported(&self) -> bool {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (year, month) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (year, month) >= (2024, 4)
    }

    /// A fresh context, with a 26-character ULID-shaped id as current HA uses.
    pub(crate) fn context(&mut self, user: Option<&str>) -> Context {
        self.ctx_counter += 1;
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let millis = u128::try_from(self.clock.now().as_millisecond()).unwrap_or(0);
        let value =
            (millis << 80) | (u128::from(self.ctx_counter) << 16) | u128::from(fastrand::u16(..));
        let id: String = (0..26)
            .rev()
            .map(|i| char::from(ALPHABET[usize::try_from((value >> (i * 5)) & 31).unwrap_or(0)]))
            .collect();
        Context {
            id,
            parent_id: None,
            user_id: user.map(str::to_owned),
        }
    }

    pub(crate) fn config_json(&self) -> Value {
        let modern = self.reports_last_reported();
        let mut unit_system = json!({"length": "km", "accumulated_precipitation": "mm",
            "mass": "g", "pressure": "Pa", "temperature": "°C", "volume": "L",
            "wind_speed": "m/s"});
        let mut cfg = json!({
            "latitude": 52.3731, "longitude": 4.8922, "elevation": 0,
            "location_name": "Fake Home", "time_zone": self.time_zone,
            "components": ["api", "binary_sensor", "fan", "homeassistant", "input_boolean",
                "input_number", "input_text", "light", "sensor", "sun", "switch",
                "websocket_api"],
            "config_dir": "/config",
            "whitelist_external_dirs": ["/media", "/config/www"],
            "allowlist_external_dirs": ["/media", "/config/www"],
            "allowlist_external_urls": [],
            "version": self.version, "config_source": "yaml", "recovery_mode": false,
            "state": self.core_state, "external_url": null,
            "internal_url": "http://127.0.0.1:8123", "currency": "EUR", "country": "NL",
            "language": "en", "safe_mode": false,
        });
        if modern {
            unit_system["area"] = json!("m²");
            cfg["debug"] = json!(false);
            cfg["radius"] = json!(100);
        }
        cfg["unit_system"] = unit_system;
        cfg
    }

    /// Sets a state as an integration would (no user): returns the change, if anything changed.
    pub(crate) fn set_state(
        &mut self,
        entity_id: &str,
        state: &str,
        attributes: Option<Map<String, Value>>,
        context: Option<Context>,
    ) -> Option<Change> {
        let now = self.clock.now();
        let ctx = match context {
            Some(c) => c,
            None => self.context(None),
        };
        let old = self.states.get(entity_id).cloned();
        let attributes = attributes
            .or_else(|| old.as_ref().map(|o| o.attributes.clone()))
            .unwrap_or_default();
        let state_changed = old.as_ref().is_none_or(|o| o.state != state);
        let attrs_changed = old.as_ref().is_none_or(|o| o.attributes != attributes);
        if !state_changed && !attrs_changed {
            return None;
        }
        let reported = self.reports_last_reported().then_some(now);
        let new = State {
            entity_id: entity_id.to_owned(),
            state: state.to_owned(),
            attributes,
            last_changed: match &old {
                Some(o) if !state_changed => o.last_changed,
                _ => now,
            },
            last_reported: reported,
            last_updated: now,
            context: ctx,
        };
        self.states.insert(entity_id.to_owned(), new.clone());
        self.records.ensure_entity(entity_id);
        self.records.record(&new, new.context.user_id.clone());
        Some(Change {
            entity_id: entity_id.to_owned(),
            old,
            new: Some(new),
        })
    }

    pub(crate) fn remove_state(&mut self, entity_id: &str) -> Option<Change> {
        let old = self.states.remove(entity_id)?;
        Some(Change {
            entity_id: entity_id.to_owned(),
            old: Some(old),
            new: None,
        })
    }

    /// Runs a service. On success returns the call's context and the changes it made.
    pub(crate) fn call_service(
        &mut self,
        msg: &Map<String, Value>,
    ) -> Result<(Context, Vec<Change>), HaErr> {
        let domain = msg.get("domain").and_then(Value::as_str);
        let service = msg.get("service").and_then(Value::as_str);
        let (Some(domain), Some(service)) = (domain, service) else {
            return Err(invalid_format("required key not provided @ data['domain']"));
        };
        let data = msg.get("service_data").cloned().unwrap_or(Value::Null);
        let target = msg.get("target").cloned().unwrap_or(Value::Null);
        let mut entity_ids = entity_list(target.get("entity_id"));
        entity_ids.extend(entity_list(data.get("entity_id")));
        self.calls.push(ServiceCall {
            domain: domain.to_owned(),
            service: service.to_owned(),
            service_data: data.clone(),
            target,
            entity_ids: entity_ids.clone(),
        });
        let answers = self
            .records
            .responses
            .contains_key(&format!("{domain}.{service}"));
        if !answers
            && services()
                .get(domain)
                .and_then(|d| d.get(service))
                .is_none()
        {
            return Err((
                "not_found",
                format!("Service {domain}.{service} not found."),
                Some(json!({
                    "translation_key": "service_not_found",
                    "translation_placeholders": {"domain": domain, "service": service},
                    "translation_domain": "homeassistant",
                })),
            ));
        }
        let ctx = self.context(Some(USER_ID));
        let mut changes = Vec::new();
        for id in entity_ids {
            let Some(current) = self.states.get(&id).cloned() else {
                continue;
            };
            let entity_domain = current.domain().to_owned();
            if domain != "homeassistant" && entity_domain != domain {
                continue;
            }
            let Some((state, attrs)) = apply_service(&entity_domain, service, &current, &data)?
            else {
                continue;
            };
            changes.extend(self.set_state(&id, &state, Some(attrs), Some(ctx.clone())));
        }
        Ok((ctx, changes))
    }
}

fn entity_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn invalid_format(detail: &str) -> HaErr {
    (
        "invalid_format",
        format!("Message incorrectly formatted: {detail}"),
        None,
    )
}

/// A new state value with its attributes.
type NewState = (String, Map<String, Value>);

/// The new state and attributes of one entity under one service, or `None` for no effect.
fn apply_service(
    domain: &str,
    service: &str,
    current: &State,
    data: &Value,
) -> Result<Option<NewState>, HaErr> {
    let mut attrs = current.attributes.clone();
    let on_off = matches!(domain, "light" | "switch" | "input_boolean" | "fan");
    let state = match (service, on_off) {
        ("turn_on", true) => {
            for key in ["brightness", "percentage", "color_temp_kelvin", "rgb_color"] {
                if let Some(v) = data.get(key) {
                    attrs.insert(key.to_owned(), v.clone());
                }
            }
            // Home Assistant turns a percentage into 0-255 brightness: round(pct * 255 / 100).
            if let Some(pct) = data.get("brightness_pct").and_then(Value::as_f64) {
                let brightness = (pct.clamp(0.0, 100.0) * 255.0 / 100.0).round();
                attrs.insert("brightness".into(), json!(brightness as u64));
            }
            if domain == "light" && !attrs.get("brightness").is_some_and(Value::is_number) {
                attrs.insert("brightness".into(), json!(255));
            }
            "on".to_owned()
        }
        ("turn_off", true) => {
            if domain == "light" {
                attrs.insert("brightness".into(), Value::Null);
            }
            "off".to_owned()
        }
        ("toggle", true) => if current.state == "on" { "off" } else { "on" }.to_owned(),
        ("set_percentage", true) if domain == "fan" => {
            let pct = data.get("percentage").cloned().unwrap_or(json!(0));
            let on = pct.as_f64().is_some_and(|p| p > 0.0);
            attrs.insert("percentage".into(), pct);
            if on { "on" } else { "off" }.to_owned()
        }
        ("increment" | "decrement", false) if domain == "input_number" => {
            let number = |key: &str| current.attributes.get(key).and_then(Value::as_f64);
            let value: f64 = current.state.parse().unwrap_or(0.0);
            let step = number("step").unwrap_or(1.0);
            let next = if service == "increment" {
                value + step
            } else {
                value - step
            };
            let next = next.clamp(
                number("min").unwrap_or(f64::MIN),
                number("max").unwrap_or(f64::MAX),
            );
            format!("{next:?}")
        }
        ("set_value", false) if domain == "input_number" => {
            let value = data.get("value").and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
            let Some(value) = value else {
                return Err(invalid_format(
                    "expected float for dictionary value @ data['value']",
                ));
            };
            format!("{value:?}")
        }
        ("set_value", false) if domain == "input_text" => match data.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return Err(invalid_format("required key not provided @ data['value']")),
        },
        _ => return Ok(None),
    };
    Ok(Some((state, attrs)))
}

#[derive(Serialize)]
struct StateChangedData<'a> {
    entity_id: &'a str,
    old_state: Option<&'a State>,
    new_state: Option<&'a State>,
}

#[derive(Serialize)]
struct EventJson<'a, D: Serialize> {
    event_type: &'a str,
    data: D,
    origin: &'static str,
    time_fired: String,
    context: &'a Context,
}

pub(crate) fn state_changed_event(change: Change) -> BusEvent {
    let ctx = change
        .new
        .as_ref()
        .or(change.old.as_ref())
        .map(|s| s.context.clone())
        .unwrap_or_default();
    let fired = change
        .new
        .as_ref()
        .map_or_else(Timestamp::now, |s| s.last_updated);
    let json = serde_json::to_string(&EventJson {
        event_type: "state_changed",
        data: StateChangedData {
            entity_id: &change.entity_id,
            old_state: change.old.as_ref(),
            new_state: change.new.as_ref(),
        },
        origin: "LOCAL",
        time_fired: ha_time::format(fired),
        context: &ctx,
    })
    .unwrap_or_default();
    BusEvent {
        event_type: "state_changed".into(),
        json,
        change: Some(change),
    }
}

pub(crate) fn custom_event(event_type: &str, data: &Value, ctx: &Context) -> BusEvent {
    let json = serde_json::to_string(&EventJson {
        event_type,
        data,
        origin: "LOCAL",
        time_fired: ha_time::format(Timestamp::now()),
        context: ctx,
    })
    .unwrap_or_default();
    BusEvent {
        event_type: event_type.into(),
        json,
        change: None,
    }
}

fn epoch(ts: Timestamp) -> f64 {
    // Microsecond precision, as HA sends; the cast cannot lose anything that matters here.
    #[allow(clippy::cast_precision_loss)]
    let micros = ts.as_microsecond() as f64;
    micros / 1e6
}

fn compressed_context(ctx: &Context) -> Value {
    if ctx.parent_id.is_none() && ctx.user_id.is_none() {
        json!(ctx.id)
    } else {
        let mut m = Map::new();
        m.insert("id".into(), json!(ctx.id));
        if let Some(p) = &ctx.parent_id {
            m.insert("parent_id".into(), json!(p));
        }
        if let Some(u) = &ctx.user_id {
            m.insert("user_id".into(), json!(u));
        }
        Value::Object(m)
    }
}

/// `subscribe_entities`' compressed form of a whole state (`a` events).
pub(crate) fn compressed_state(s: &State) -> Value {
    let mut m = Map::new();
    m.insert("s".into(), json!(s.state));
    m.insert("a".into(), Value::Object(s.attributes.clone()));
    m.insert("c".into(), compressed_context(&s.context));
    m.insert("lc".into(), json!(epoch(s.last_changed)));
    if s.last_updated != s.last_changed {
        m.insert("lu".into(), json!(epoch(s.last_updated)));
    }
    Value::Object(m)
}

/// `subscribe_entities`' diff of a change (`c` events), or `r` for a removal.
pub(crate) fn compressed_diff(change: &Change) -> Value {
    let (Some(old), Some(new)) = (&change.old, &change.new) else {
        return match &change.new {
            Some(new) => json!({"a": {change.entity_id.clone(): compressed_state(new)}}),
            None => json!({"r": [change.entity_id]}),
        };
    };
    let mut plus = Map::new();
    if old.state != new.state {
        plus.insert("s".into(), json!(new.state));
        plus.insert("lc".into(), json!(epoch(new.last_changed)));
    } else {
        plus.insert("lu".into(), json!(epoch(new.last_updated)));
    }
    let changed: Map<String, Value> = new
        .attributes
        .iter()
        .filter(|(k, v)| old.attributes.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !changed.is_empty() {
        plus.insert("a".into(), Value::Object(changed));
    }
    let same_origin = old.context.user_id == new.context.user_id
        && old.context.parent_id == new.context.parent_id;
    plus.insert(
        "c".into(),
        if same_origin {
            json!(new.context.id)
        } else {
            compressed_context(&new.context)
        },
    );
    let mut diff = Map::new();
    diff.insert("+".into(), Value::Object(plus));
    let removed: Vec<&String> = old
        .attributes
        .keys()
        .filter(|k| !new.attributes.contains_key(*k))
        .collect();
    if !removed.is_empty() {
        diff.insert("-".into(), json!({"a": removed}));
    }
    json!({"c": {change.entity_id.clone(): diff}})
}

/// The `trigger` variables of a state trigger that `change` fires, if it does.
pub(crate) fn trigger_match(trigger: &Value, idx: usize, change: &Change) -> Option<Value> {
    let platform = trigger
        .get("platform")
        .or_else(|| trigger.get("trigger"))
        .and_then(Value::as_str);
    if platform != Some("state") {
        return None;
    }
    let new = change.new.as_ref()?;
    if !entity_list(trigger.get("entity_id")).contains(&change.entity_id) {
        return None;
    }
    let old_state = change.old.as_ref().map(|s| s.state.as_str());
    let matches = |key: &str, value: Option<&str>| match trigger.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => value == Some(s.as_str()),
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == value),
        Some(_) => false,
    };
    let wants_state = trigger.get("from").is_some() || trigger.get("to").is_some();
    if wants_state && old_state == Some(new.state.as_str()) {
        return None;
    }
    if !matches("from", old_state) || !matches("to", Some(new.state.as_str())) {
        return None;
    }
    let id = trigger
        .get("id")
        .cloned()
        .unwrap_or_else(|| json!(idx.to_string()));
    Some(json!({"trigger": {
        "id": id, "idx": idx.to_string(), "alias": null, "platform": "state",
        "entity_id": change.entity_id, "from_state": change.old, "to_state": new,
        "for": null, "attribute": null,
        "description": format!("state of {}", change.entity_id),
    }}))
}

/// A tiny template renderer: `{{ states('x') }}`, `{{ state_attr('x', 'a') }}`, `{{ var }}`
/// and plain text. Anything else is a `template_error`, as a syntax error would be in HA.
pub(crate) fn render_template(
    template: &str,
    variables: &Map<String, Value>,
    states: &BTreeMap<String, State>,
) -> Result<(String, Vec<String>), String> {
    let mut out = String::new();
    let mut entities = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "TemplateSyntaxError: unexpected end of template".to_owned())?;
        let expr = after[..end].trim();
        rest = &after[end + 2..];
        let args = |name: &str| -> Option<Vec<String>> {
            let inner = expr
                .strip_prefix(name)?
                .trim()
                .strip_prefix('(')?
                .strip_suffix(')')?;
            Some(
                inner
                    .split(',')
                    .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
                    .collect(),
            )
        };
        if let Some(a) = args("states") {
            let id = a.first().cloned().unwrap_or_default();
            out.push_str(states.get(&id).map_or("unknown", |s| s.state.as_str()));
            entities.push(id);
        } else if let Some(a) = args("state_attr") {
            let (id, attr) = (
                a.first().cloned().unwrap_or_default(),
                a.get(1).cloned().unwrap_or_default(),
            );
            match states.get(&id).and_then(|s| s.attributes.get(&attr)) {
                Some(Value::String(s)) => out.push_str(s),
                Some(Value::Null) | None => out.push_str("None"),
                Some(v) => out.push_str(&v.to_string()),
            }
            entities.push(id);
        } else if let Some(v) = variables.get(expr) {
            match v {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
        } else if expr.chars().all(|c| c.is_alphanumeric() || c == '_') && !expr.is_empty() {
            // An undefined variable renders empty in Jinja.
        } else {
            return Err(format!(
                "TemplateSyntaxError: unsupported expression '{expr}'"
            ));
        }
    }
    out.push_str(rest);
    Ok((out, entities))
}
