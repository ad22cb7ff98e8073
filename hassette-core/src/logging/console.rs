//! The console format: `2026-11-21 10:00:00.123  INFO porch_light/porch: light on entity=light.porch`.

use std::fmt;

use jiff::tz::TimeZone;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::layer::{Tags, component_of};

/// Local time, level (coloured on a terminal), who logged it (app/instance, or the framework
/// component), the message and the fields.
#[derive(Debug)]
pub(crate) struct Console {
    tz: TimeZone,
}

impl Console {
    pub(crate) fn new() -> Self {
        Self {
            tz: TimeZone::system(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Console
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = jiff::Timestamp::now().to_zoned(self.tz.clone());
        write!(writer, "{} ", now.strftime("%Y-%m-%d %H:%M:%S%.3f"))?;
        let level = *event.metadata().level();
        if writer.has_ansi_escapes() {
            let colour = match level {
                Level::ERROR => "31",
                Level::WARN => "33",
                Level::INFO => "32",
                Level::DEBUG => "34",
                Level::TRACE => "35",
            };
            write!(writer, "\x1b[{colour}m{:>5}\x1b[0m ", level.as_str())?;
        } else {
            write!(writer, "{:>5} ", level.as_str())?;
        }
        let mut tags = Tags::default();
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                if let Some(outer) = span.extensions().get::<Tags>() {
                    tags.fill_from(outer);
                }
            }
        }
        match (&tags.app, &tags.instance) {
            (Some(app), Some(instance)) => write!(writer, "{app}/{instance}: ")?,
            (Some(app), None) => write!(writer, "{app}: ")?,
            _ => {
                let target = event.metadata().target();
                let who = tags.component.or_else(|| component_of(target));
                write!(writer, "{}: ", who.as_deref().unwrap_or(target))?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
