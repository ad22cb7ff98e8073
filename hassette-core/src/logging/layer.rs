//! The `tracing` layer that turns events into stored [`Record`](super::Record)s.
//!
//! App tags come from spans: the runtime runs each app instance inside a span with the fields
//! `app`, `class` and `instance` (and framework work in spans with `component`), so every
//! record logged inside, by the app or by the framework on its behalf, carries them.

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::record::Record;
use super::store::StoreSender;

/// Writes every event it sees to the log store.
#[derive(Debug)]
pub struct StoreLayer {
    sender: StoreSender,
    /// Replaced by `***` wherever it appears in a record: the access token must never reach
    /// the store, whatever a caller formats into a message.
    secret: Option<String>,
}

impl StoreLayer {
    pub(crate) fn new(sender: StoreSender, secret: Option<String>) -> Self {
        Self {
            sender,
            secret: secret.filter(|s| !s.is_empty()),
        }
    }
}

/// The app and component tags of a span.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tags {
    pub(crate) app: Option<String>,
    pub(crate) class: Option<String>,
    pub(crate) instance: Option<String>,
    pub(crate) component: Option<String>,
}

impl Tags {
    fn is_empty(&self) -> bool {
        self.app.is_none()
            && self.class.is_none()
            && self.instance.is_none()
            && self.component.is_none()
    }

    fn set(&mut self, name: &str, value: String) -> bool {
        let slot = match name {
            "app" => &mut self.app,
            "class" => &mut self.class,
            "instance" => &mut self.instance,
            "component" => &mut self.component,
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    pub(crate) fn fill_from(&mut self, outer: &Tags) {
        for (slot, value) in [
            (&mut self.app, &outer.app),
            (&mut self.class, &outer.class),
            (&mut self.instance, &outer.instance),
            (&mut self.component, &outer.component),
        ] {
            if slot.is_none() {
                slot.clone_from(value);
            }
        }
    }
}

struct TagVisitor<'a>(&'a mut Tags);

impl Visit for TagVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.set(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "app" | "class" | "instance" | "component") {
            self.0.set(
                field.name(),
                format!("{value:?}").trim_matches('"').to_owned(),
            );
        }
    }
}

/// The message, the tags set directly on the event, and the other fields.
#[derive(Default)]
struct EventVisitor {
    msg: String,
    tags: Tags,
    fields: Map<String, Value>,
}

impl Visit for EventVisitor {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else if !self.tags.set(field.name(), value.to_owned()) {
            self.fields.insert(field.name().to_owned(), value.into());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain: "cannot open cache: permission denied".
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(text, ": {s}");
            source = s.source();
        }
        self.fields.insert(field.name().to_owned(), text.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.msg.push_str(&text);
        } else if !self
            .tags
            .set(field.name(), text.trim_matches('"').to_owned())
        {
            self.fields.insert(field.name().to_owned(), text.into());
        }
    }
}

impl<S> Layer<S> for StoreLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut tags = Tags::default();
        attrs.record(&mut TagVisitor(&mut tags));
        if let (false, Some(span)) = (tags.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(tags);
        }
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(tags) = ext.get_mut::<Tags>() {
                values.record(&mut TagVisitor(tags));
            } else {
                let mut tags = Tags::default();
                values.record(&mut TagVisitor(&mut tags));
                if !tags.is_empty() {
                    ext.insert(tags);
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let ts = jiff::Timestamp::now();
        let mut visitor = EventVisitor::default();
        event.record(&mut visitor);
        let mut tags = visitor.tags;
        if let Some(scope) = ctx.event_scope(event) {
            // Innermost span first: the closest tag wins.
            for span in scope {
                if let Some(outer) = span.extensions().get::<Tags>() {
                    tags.fill_from(outer);
                }
            }
        }
        let meta = event.metadata();
        let component = tags
            .component
            .or_else(|| component_of(meta.target()))
            .or_else(|| tags.app.is_some().then(|| "app".to_owned()));
        let record = Record {
            ts,
            level: meta.level().as_str().to_owned(),
            target: meta.target().to_owned(),
            app: tags.app,
            class: tags.class,
            instance: tags.instance,
            component,
            msg: visitor.msg,
            fields: visitor.fields,
        };
        let Ok(mut line) = serde_json::to_string(&record) else {
            return;
        };
        if let Some(secret) = &self.secret
            && line.contains(secret.as_str())
        {
            line = line.replace(secret.as_str(), "***");
        }
        line.push('\n');
        self.sender.send(ts, line.into_bytes());
    }
}

/// The framework component a `hassette_core` module belongs to.
pub(crate) fn component_of(target: &str) -> Option<String> {
    let rest = target.strip_prefix("hassette_core::")?;
    let module = rest.split("::").next().unwrap_or(rest);
    Some(module.to_owned())
}
