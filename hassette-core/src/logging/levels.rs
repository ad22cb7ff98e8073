//! The log filter: the global `log_level` (a level or `tracing` directives, targets keeping
//! their case), and each app's own `log_level`, which applies to everything logged inside that
//! app's instances, up or down from the global level.

use std::collections::HashMap;
use std::str::FromStr;

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber, span};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The span name every app instance runs in (see `runtime::supervisor`).
const APP_SPAN: &str = "app";

/// Lowercases the levels of a filter and only them (`INFO,hassette_core::ha=DEBUG,MyApp=Warning`
/// → `info,hassette_core::ha=debug,MyApp=warn`): targets and span fields keep their case.
pub(crate) fn normalize(filter: &str) -> String {
    filter
        .split(',')
        .map(|directive| {
            let directive = directive.trim();
            // The level follows the last `=` that is not inside a `[span{field=value}]`.
            let split = directive
                .rfind('=')
                .filter(|&i| directive.rfind(']').is_none_or(|close| i > close));
            match split {
                Some(i) => format!("{}={}", &directive[..i], level_word(&directive[i + 1..])),
                None if LevelFilter::from_str(&level_word(directive)).is_ok() => {
                    level_word(directive)
                }
                None => directive.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn level_word(text: &str) -> String {
    match text.trim().to_ascii_lowercase().as_str() {
        "warning" => "warn".to_owned(),
        other => other.to_owned(),
    }
}

/// Parses one app's `log_level`: a single level.
pub(crate) fn app_level(text: &str) -> Result<LevelFilter, String> {
    LevelFilter::from_str(&level_word(text)).map_err(|_| {
        format!("{text:?} is not a log level; use TRACE, DEBUG, INFO, WARN, ERROR or OFF")
    })
}

/// The app key an app span carries, kept in the span's extensions.
struct AppKey(String);

/// The global filter, with the per-app levels over it.
pub(crate) struct Levels {
    global: EnvFilter,
    apps: HashMap<String, LevelFilter>,
}

impl Levels {
    pub(crate) fn new(global: EnvFilter, apps: HashMap<String, LevelFilter>) -> Self {
        Self { global, apps }
    }

    fn app_of<S>(&self, ctx: &Context<'_, S>) -> Option<LevelFilter>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let current = ctx.lookup_current()?;
        current.scope().find_map(|span| {
            let ext = span.extensions();
            ext.get::<AppKey>()
                .and_then(|key| self.apps.get(&key.0).copied())
        })
    }
}

impl<S> Layer<S> for Levels
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        let global = Layer::<S>::register_callsite(&self.global, metadata);
        if self.apps.is_empty() {
            global
        } else {
            // Whether it is logged depends on the app it is logged in.
            Interest::sometimes()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let global = Layer::<S>::max_level_hint(&self.global);
        let apps = self.apps.values().copied().max();
        match (global, apps) {
            (Some(g), Some(a)) => Some(g.max(a)),
            (g, None) => g,
            (None, Some(_)) => None,
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if !self.apps.is_empty() {
            if metadata.is_span() && metadata.name() == APP_SPAN {
                // The app span must exist for its app's level to apply inside it.
                return true;
            }
            if let Some(level) = self.app_of(&ctx) {
                return *metadata.level() <= level;
            }
        }
        Layer::<S>::enabled(&self.global, metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !self.apps.is_empty()
            && attrs.metadata().name() == APP_SPAN
            && let Some(span) = ctx.span(id)
        {
            let mut visitor = KeyVisitor(None);
            attrs.record(&mut visitor);
            if let Some(key) = visitor.0 {
                span.extensions_mut().insert(AppKey(key));
            }
        }
        Layer::<S>::on_new_span(&self.global, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        Layer::<S>::on_record(&self.global, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_enter(&self.global, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_exit(&self.global, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_close(&self.global, id, ctx);
    }
}

/// Reads the `app` field of an app span.
struct KeyVisitor(Option<String>);

impl tracing::field::Visit for KeyVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "app" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "app" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn levels_are_lowercased_and_targets_keep_their_case() {
        assert_eq!(normalize("INFO"), "info");
        assert_eq!(normalize("Warning"), "warn");
        assert_eq!(
            normalize("INFO,my_crate::MotionLight=DEBUG"),
            "info,my_crate::MotionLight=debug"
        );
        assert_eq!(
            normalize("[app{instance=Porch.0}]=TRACE"),
            "[app{instance=Porch.0}]=trace"
        );
        assert_eq!(normalize("MyTarget"), "MyTarget");
    }
}
