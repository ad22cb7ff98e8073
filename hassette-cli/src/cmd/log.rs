//! `hassette log`: reads the log store directly, so it works with or without `hassette run`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use hassette_core::app::AppRegistry;
use hassette_core::logging::{Cursor, LogQuery, Match, Matcher, parse_when};
use jiff::Zoned;
use jiff::tz::TimeZone;

use super::Failure;
use crate::cli::{GlobalArgs, LogArgs};

pub(crate) fn log(
    global: &GlobalArgs,
    args: &LogArgs,
    registry: &AppRegistry,
) -> Result<ExitCode, Failure> {
    let dir = logs_dir(global, registry, args.app.as_deref())?;
    let now = Zoned::now();
    let when = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| parse_when(t, &now).map_err(|e| Failure::usage(anyhow!("{flag}: {e}"))))
            .transpose()
    };
    let mut query = LogQuery::default();
    query.app.clone_from(&args.app);
    query.instance.clone_from(&args.instance);
    query.since = when("--since", &args.since)?;
    query.until = when("--until", &args.until)?;
    query.min_level.clone_from(&args.level);
    query.limit = args.limit;
    query.grep = args.grep.as_deref().map(|p| {
        let build = |pattern: &str| {
            regex::RegexBuilder::new(pattern)
                .case_insensitive(args.ignore_case)
                .build()
        };
        // Text or regex: a pattern that is not a valid regex is searched for literally.
        build(p).unwrap_or_else(|_| {
            build(&regex::escape(p)).unwrap_or_else(|_| unreachable!("an escaped pattern is valid"))
        })
    });
    let matcher = Matcher::new(query).map_err(|e| Failure::usage(anyhow!("--level: {e}")))?;
    let has_store = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
    if !has_store && !args.follow {
        super::print_out(&format!(
            "no log store at {} yet: `hassette run` creates it\n",
            dir.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let unreadable = |e: std::io::Error| {
        Failure::runtime(anyhow!(
            "cannot read the log store in {}: {e}",
            dir.display()
        ))
    };
    // `--follow` alone is `tail -f`: only what is logged from now on.
    let history =
        !args.follow || args.since.is_some() || args.until.is_some() || args.limit.is_some();
    let (matches, mut cursor) = if history {
        matcher.run(&dir).map_err(unreadable)?
    } else {
        let end = Cursor::at_end(&dir).map_err(unreadable)?;
        eprintln!(
            "following {} from its end (--since 1h for some history first); Ctrl-C to stop",
            dir.display()
        );
        (Vec::new(), end)
    };
    warn(&matcher);
    let tz = TimeZone::system();
    let mut out = std::io::stdout().lock();
    if print(&mut out, &matches, args.json, &tz).is_err() {
        // The reader went away (`| head`): not an error.
        return Ok(ExitCode::SUCCESS);
    }
    if args.follow {
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let new = matcher.follow(&dir, &mut cursor).map_err(unreadable)?;
            warn(&matcher);
            if print(&mut out, &new, args.json, &tz).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the store's reader skipped, on stderr.
fn warn(matcher: &Matcher) {
    for warning in matcher.take_warnings() {
        eprintln!("warning: {warning}");
    }
}

/// `--data-dir` wins; otherwise the configuration's `data_dir`. An `--app` the configuration
/// does not have is an error listing the ones it has (with `--data-dir` and no readable
/// configuration, any key is searched for).
fn logs_dir(
    global: &GlobalArgs,
    registry: &AppRegistry,
    app: Option<&str>,
) -> Result<PathBuf, Failure> {
    let Some(dir) = &global.data_dir else {
        let config = super::load(global, registry)?;
        super::check_app_keys(&config, app)?;
        return Ok(config.logs_dir());
    };
    if app.is_some()
        && let Ok(config) = super::load(global, registry)
    {
        super::check_app_keys(&config, app)?;
    }
    Ok(dir.join("logs"))
}

fn print(
    out: &mut impl Write,
    matches: &[Match],
    json: bool,
    tz: &TimeZone,
) -> std::io::Result<()> {
    for m in matches {
        if json {
            writeln!(out, "{}", m.line)?;
        } else {
            writeln!(out, "{}", human(m, tz))?;
        }
    }
    out.flush()
}

fn human(m: &Match, tz: &TimeZone) -> String {
    let r = &m.record;
    let when = r.ts.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S%.3f");
    let who = match (&r.app, &r.instance, &r.component) {
        (Some(app), Some(instance), _) => format!("{app}/{instance}"),
        (Some(app), None, _) => app.clone(),
        (None, _, Some(component)) => component.clone(),
        (None, _, None) => r.target.clone(),
    };
    let mut line = format!("{when} {:<5} {who}: {}", r.level, r.msg);
    for (key, value) in &r.fields {
        match value {
            serde_json::Value::String(s) => line.push_str(&format!(" {key}={s}")),
            other => line.push_str(&format!(" {key}={other}")),
        }
    }
    line
}
