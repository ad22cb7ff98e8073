//! The service half of the module: a typed builder per service, its parameters taken from
//! the fields' selectors.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ServiceInput;
use super::entities::{Model, marker};
use super::names::{self, Unique};
use super::writer::Writer;

/// A field's Rust type, from its selector.
enum Kind {
    /// An integer type that holds the selector's range (`u8` for 0-100).
    Int(&'static str),
    Float,
    Seconds,
    Bool,
    Text,
    Enum {
        name: String,
        options: Vec<(String, String)>,
        multiple: bool,
    },
    Entities {
        multiple: bool,
    },
    Rgb,
    Date,
    Time,
    DateTime,
    Constant(String),
    Json,
}

struct Field {
    key: String,
    method: String,
    doc: String,
    required: bool,
    kind: Kind,
}

/// Responses with a known shape; any other service's response is JSON.
fn response_type(domain: &str, service: &str) -> &'static str {
    match (domain, service) {
        ("weather", "get_forecasts") => "std::collections::BTreeMap<String, d::Forecasts>",
        ("weather", "get_forecast") => "d::Forecasts",
        _ => "hassette_core::serde_json::Value",
    }
}

pub(super) fn write(
    w: &mut Writer,
    services: &BTreeMap<String, BTreeMap<String, ServiceInput>>,
    model: &Model,
) {
    w.blank();
    w.doc("Every service, by domain: `services::light::turn_on(&api)`, then its fields, then `.await`.");
    w.open("pub mod services {");
    for (domain, list) in services {
        w.blank();
        w.doc(&format!("`{domain}` services."));
        w.open(&format!("pub mod {} {{", names::snake(domain)));
        w.line("use super::super::*;");
        let mut taken = Unique::default();
        for (service, desc) in list {
            let ident = taken.take(names::snake(service), false);
            write_service(w, domain, service, &ident, desc, model);
        }
        w.close();
    }
    w.close();
}

fn write_service(
    w: &mut Writer,
    domain: &str,
    service: &str,
    ident: &str,
    desc: &ServiceInput,
    model: &Model,
) {
    let mut types = Unique::default();
    types.take("Call".into(), true);
    types.take("Inner".into(), true);
    let fields = fields(desc, &mut types);
    let response = desc.response.as_ref().map(|r| {
        let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
        (optional, response_type(domain, service))
    });
    let inner = match response {
        Some((false, ty)) => format!("d::ServiceCall<d::Response<{ty}>>"),
        _ => "d::ServiceCall".to_owned(),
    };

    // The constructor: required fields are its arguments.
    w.blank();
    let mut doc = format!("`{domain}.{service}`");
    if let Some(name) = desc.name.as_deref().filter(|n| !n.trim().is_empty()) {
        doc.push_str(&format!(": {}", names::one_line(name)));
    }
    doc.push('.');
    if let Some(d) = desc.description.as_deref().filter(|d| !d.trim().is_empty()) {
        doc.push(' ');
        doc.push_str(&names::one_line(d));
    }
    if let Some((optional, _)) = response {
        doc.push_str(if optional {
            " Returns data with `.with_response()`."
        } else {
            " Returns data."
        });
    }
    w.doc(&doc);
    let mut params = vec!["api: &hassette_core::ha::Api".to_owned()];
    let required: Vec<&Field> = fields
        .iter()
        .filter(|f| f.required && !matches!(f.kind, Kind::Constant(_)))
        .collect();
    let arg = |f: &Field| {
        if f.method == "api" {
            "api_".to_owned()
        } else {
            f.method.clone()
        }
    };
    for f in &required {
        let ty = match &f.kind {
            Kind::Enum { .. } => format!("{ident}::{}", param_type(&f.kind)),
            kind => param_type(kind),
        };
        let ty = ty.replace(&format!("{ident}::&["), &format!("&[{ident}::"));
        params.push(format!("{}: {ty}", arg(f)));
    }
    signature(
        w,
        &format!("pub fn {ident}"),
        &params,
        &format!("{ident}::Call"),
    );
    w.let_call(
        "call",
        "d::ServiceCall::new",
        &[
            "api.clone()".to_owned(),
            names::literal(domain),
            names::literal(service),
        ],
    );
    if matches!(response, Some((false, _))) {
        w.line(&format!("let call = {ident}::Call(call.returning());"));
    } else {
        w.line(&format!("let call = {ident}::Call(call);"));
    }
    for f in &required {
        w.line(&format!("let call = call.{}({});", f.method, arg(f)));
    }
    w.line("call");
    w.close();

    // The builder.
    w.blank();
    w.doc(&format!("`{domain}.{service}`, being built."));
    w.open(&format!("pub mod {ident} {{"));
    w.line("use super::super::super::*;");
    w.blank();
    let alias = format!("type Inner = {inner};");
    if w.width() + alias.len() <= 100 {
        w.line(&alias);
    } else {
        w.line("type Inner =");
        w.indented(&format!("{inner};"));
    }
    w.blank();
    w.doc(&format!(
        "`{domain}.{service}`, being built: set its fields, then `.await` it."
    ));
    w.line("#[derive(Debug)]");
    w.line("#[must_use = \"a service call is sent only when awaited\"]");
    w.line("pub struct Call(pub Inner);");
    w.blank();
    w.open("impl std::future::IntoFuture for Call {");
    w.line("type Output = <Inner as std::future::IntoFuture>::Output;");
    w.line("type IntoFuture = <Inner as std::future::IntoFuture>::IntoFuture;");
    w.blank();
    w.open("fn into_future(self) -> Self::IntoFuture {");
    w.line("self.0.into_future()");
    w.close();
    w.close();
    w.blank();
    w.open("impl Call {");
    for f in &fields {
        write_setter(w, f);
    }
    if let Some(target) = &desc.target {
        write_targets(w, target, model);
    }
    if matches!(response, Some((true, _))) {
        w.blank();
        w.doc("Asks for the service's response.");
        signature(
            w,
            "pub fn with_response",
            &["self".to_owned()],
            "d::ServiceCall<d::Response<hassette_core::serde_json::Value>>",
        );
        w.line("self.0.returning()");
        w.close();
    }
    w.close();
    for f in &fields {
        if let Kind::Enum { name, options, .. } = &f.kind {
            write_enum(w, name, &f.doc, options);
        }
    }
    w.close();
}

/// Fields in key order; a section's fields are taken as the service's own.
fn fields(desc: &ServiceInput, types: &mut Unique) -> Vec<Field> {
    let mut flat: BTreeMap<String, &Value> = BTreeMap::new();
    for (key, value) in &desc.fields {
        match value.get("fields").and_then(Value::as_object) {
            Some(inner) if value.get("selector").is_none() => {
                for (k, v) in inner {
                    flat.insert(k.clone(), v);
                }
            }
            _ => {
                flat.insert(key.clone(), value);
            }
        }
    }
    let mut methods = Unique::default();
    for reserved in ["entity", "area", "device", "data", "with_response"] {
        methods.take(reserved.to_owned(), false);
    }
    flat.into_iter()
        .map(|(key, value)| {
            let selector = value.get("selector").filter(|s| s.is_object());
            let (kind, range) = kind(&key, selector, types);
            let mut doc = String::new();
            if let Some(name) = value.get("name").and_then(Value::as_str) {
                doc.push_str(&names::one_line(name));
                doc.push('.');
            }
            if let Some(d) = value.get("description").and_then(Value::as_str) {
                if !doc.is_empty() {
                    doc.push(' ');
                }
                doc.push_str(&names::one_line(d));
            }
            if let Some(range) = range {
                doc.push_str(&format!(" {range}."));
            }
            if doc.trim().is_empty() {
                doc = format!("`{key}`.");
            }
            Field {
                method: methods.take(names::snake(&key), false),
                required: value.get("required").and_then(Value::as_bool) == Some(true),
                key,
                doc: doc.trim().to_owned(),
                kind,
            }
        })
        .collect()
}

/// The field's kind and, for numbers, its range as text.
fn kind(key: &str, selector: Option<&Value>, types: &mut Unique) -> (Kind, Option<String>) {
    let Some((name, config)) = selector
        .and_then(Value::as_object)
        .and_then(|s| s.iter().next())
    else {
        return (Kind::Json, None);
    };
    // `{"text": null}` is a selector with no settings.
    let empty = serde_json::Map::new();
    let config = config.as_object().unwrap_or(&empty);
    let flag = |k: &str| config.get(k).and_then(Value::as_bool) == Some(true);
    match name.as_str() {
        "number" => number(config),
        "boolean" => (Kind::Bool, None),
        "text" => (Kind::Text, None),
        "icon" | "theme" | "conversation_agent" | "template" | "area" | "device" | "addon"
        | "backup_location" | "language" | "config_entry" | "floor" | "label"
        | "assist_pipeline"
            if !flag("multiple") =>
        {
            (Kind::Text, None)
        }
        "select" => {
            let options = select_options(config);
            if options.is_empty() {
                (Kind::Text, None)
            } else {
                let name = types.take(names::camel(key), true);
                (
                    Kind::Enum {
                        name,
                        options,
                        multiple: flag("multiple"),
                    },
                    None,
                )
            }
        }
        "entity" => (
            Kind::Entities {
                multiple: flag("multiple"),
            },
            None,
        ),
        "color_rgb" => (Kind::Rgb, None),
        "color_temp" => {
            let (kind, range) = number(config);
            let unit = config
                .get("unit")
                .and_then(Value::as_str)
                .unwrap_or("mired");
            (
                kind,
                Some(range.map_or_else(|| unit.to_owned(), |r| format!("{r} {unit}"))),
            )
        }
        "duration" => (Kind::Seconds, None),
        "date" => (Kind::Date, None),
        "time" => (Kind::Time, None),
        "datetime" => (Kind::DateTime, None),
        "constant" => match config.get("value") {
            Some(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => {
                (Kind::Constant(v.to_string()), None)
            }
            _ => (Kind::Json, None),
        },
        _ => (Kind::Json, None),
    }
}

fn number(config: &serde_json::Map<String, Value>) -> (Kind, Option<String>) {
    let get = |k: &str| config.get(k).and_then(Value::as_f64);
    let unit = config
        .get("unit_of_measurement")
        .and_then(Value::as_str)
        .map(names::one_line);
    let (min, max) = (get("min"), get("max"));
    let range = match (min, max) {
        (Some(lo), Some(hi)) => Some(format!(
            "{lo} to {hi}{}",
            unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
        )),
        _ => unit.clone(),
    };
    if matches!(unit.as_deref(), Some("seconds" | "s" | "sec")) {
        return (Kind::Seconds, range);
    }
    let integral = |v: Option<f64>| v.is_some_and(|v| v.fract() == 0.0);
    let step_integral = match config.get("step") {
        None => true,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|s| s.fract() == 0.0),
        Some(_) => false,
    };
    let kind = match (min, max) {
        (Some(lo), Some(hi)) if integral(min) && integral(max) && step_integral => {
            Kind::Int(match (lo >= 0.0, hi) {
                (true, h) if h <= f64::from(u8::MAX) => "u8",
                (true, h) if h <= f64::from(u16::MAX) => "u16",
                (true, h) if h <= f64::from(u32::MAX) => "u32",
                (false, h) if lo >= f64::from(i32::MIN) && h <= f64::from(i32::MAX) => "i32",
                _ => "i64",
            })
        }
        _ => Kind::Float,
    };
    (kind, range)
}

/// `(variant, value)` pairs, with unique variant names; options are strings or
/// `{"label", "value"}` objects.
fn select_options(config: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut variants = Unique::default();
    let mut seen = std::collections::HashSet::new();
    config
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| match o {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) => m.get("value").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .filter(|value| seen.insert(value.clone()))
        .map(|value| (variants.take(names::camel(&value), true), value))
        .collect()
}

fn param_type(kind: &Kind) -> String {
    match kind {
        Kind::Int(ty) => (*ty).to_owned(),
        Kind::Float => "f64".into(),
        Kind::Seconds => "std::time::Duration".into(),
        Kind::Bool => "bool".into(),
        Kind::Text => "&str".into(),
        Kind::Enum {
            name,
            multiple: false,
            ..
        } => name.clone(),
        Kind::Enum {
            name,
            multiple: true,
            ..
        } => format!("&[{name}]"),
        Kind::Entities { .. } => "impl d::IntoEntities".into(),
        Kind::Rgb => "[u8; 3]".into(),
        Kind::Date => "hassette_core::jiff::civil::Date".into(),
        Kind::Time => "hassette_core::jiff::civil::Time".into(),
        Kind::DateTime => "hassette_core::jiff::civil::DateTime".into(),
        Kind::Constant(_) | Kind::Json => "hassette_core::serde_json::Value".into(),
    }
}

fn write_setter(w: &mut Writer, f: &Field) {
    w.blank();
    w.doc(&f.doc);
    let key = names::literal(&f.key);
    if let Kind::Constant(value) = &f.kind {
        w.open(&format!("pub fn {}(self) -> Self {{", f.method));
        w.line(&format!("Self(self.0.data({key}, {value}))"));
        w.close();
        return;
    }
    let body = match &f.kind {
        Kind::Seconds => format!("Self(self.0.seconds({key}, value))"),
        Kind::Entities { multiple } => {
            format!("Self(self.0.entity_field({key}, value, {multiple}))")
        }
        Kind::Enum {
            multiple: false, ..
        } => format!("Self(self.0.data({key}, value.as_str()))"),
        Kind::Enum { multiple: true, .. } => {
            format!(
                "Self(self.0.data({key}, value.iter().map(|v| v.as_str()).collect::<Vec<_>>()))"
            )
        }
        Kind::Rgb => format!("Self(self.0.data({key}, value.to_vec()))"),
        Kind::Date | Kind::Time | Kind::DateTime => {
            format!("Self(self.0.data({key}, value.to_string()))")
        }
        _ => format!("Self(self.0.data({key}, value))"),
    };
    let params = ["self".to_owned(), format!("value: {}", param_type(&f.kind))];
    signature(w, &format!("pub fn {}", f.method), &params, "Self");
    w.line(&body);
    w.close();
}

fn write_targets(w: &mut Writer, target: &Value, model: &Model) {
    let filters: Vec<&Value> = target
        .get("entity")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut domains: Vec<&str> = filters
        .iter()
        .filter_map(|f| f.get("domain").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    domains.sort_unstable();
    domains.dedup();
    let unrestricted = filters.is_empty() || filters.iter().any(|f| f.get("domain").is_none());
    let typed = match domains.as_slice() {
        [one]
            if !unrestricted
                && (model.has_domain(one) || !marker(one).starts_with("domains::")) =>
        {
            Some(marker(one))
        }
        _ => None,
    };
    w.blank();
    match &typed {
        Some(ty) => {
            w.doc(&format!(
                "Targets these entities (of domain `{}`).",
                domains[0]
            ));
            let params = [
                "self".to_owned(),
                format!("entities: impl d::Targets<{ty}>"),
            ];
            signature(w, "pub fn entity", &params, "Self");
        }
        None => {
            w.doc("Targets these entities.");
            w.open("pub fn entity(self, entities: impl d::IntoEntities) -> Self {");
        }
    }
    w.line("Self(self.0.entity(entities))");
    w.close();
    w.blank();
    w.doc("Targets every entity of an area (`kitchen`).");
    w.open("pub fn area(self, area_id: &str) -> Self {");
    w.line("Self(self.0.area(area_id))");
    w.close();
    w.blank();
    w.doc("Targets every entity of a device.");
    w.open("pub fn device(self, device_id: &str) -> Self {");
    w.line("Self(self.0.device(device_id))");
    w.close();
}

fn write_enum(w: &mut Writer, name: &str, doc: &str, options: &[(String, String)]) {
    w.blank();
    w.doc(doc);
    w.line("#[derive(Clone, Debug, PartialEq, Eq, Hash)]");
    w.open(&format!("pub enum {name} {{"));
    for (variant, value) in options {
        w.doc(&format!("`{value}`."));
        w.line(&format!("{variant},"));
    }
    w.doc(
        "A value this module does not list (a later Home Assistant's), as Home Assistant takes it.",
    );
    w.line("Other(String),");
    w.close();
    w.blank();
    w.open(&format!("impl {name} {{"));
    w.doc("The value Home Assistant takes.");
    w.open("pub fn as_str(&self) -> &str {");
    w.open("match self {");
    for (variant, value) in options {
        w.line(&format!("Self::{variant} => {},", names::literal(value)));
    }
    w.line("Self::Other(value) => value,");
    w.close();
    w.close();
    w.close();
}

/// Opens `PREFIX(PARAMS) -> RET {`, on one line or one parameter per line as rustfmt does.
fn signature(w: &mut Writer, prefix: &str, params: &[String], ret: &str) {
    let one = format!("{prefix}({}) -> {ret} {{", params.join(", "));
    if w.width() + one.len() <= 100 {
        w.open(&one);
    } else {
        w.open(&format!("{prefix}("));
        for p in params {
            w.line(&format!("{p},"));
        }
        w.close_with(&format!(") -> {ret} {{"));
        w.open_body();
    }
}
