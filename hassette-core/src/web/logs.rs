//! `/api/logs`: the filters of `hassette log`, and a live tail as server-sent events.
//!
//! Both read the log store's files (on the blocking pool), exactly as `hassette log` does, so
//! an open live view costs the apps nothing: no record waits for a viewer.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Web, error};
use crate::logging::{LogQuery, Matcher, parse_when};

/// Records returned at most per request.
pub(crate) const MAX_RECORDS: usize = 5000;
/// How often the live tail looks for new records.
const TAIL_EVERY: Duration = Duration::from_millis(300);

#[derive(Debug, Deserialize)]
pub(crate) struct LogParams {
    app: Option<String>,
    instance: Option<String>,
    since: Option<String>,
    until: Option<String>,
    level: Option<String>,
    grep: Option<String>,
    limit: Option<usize>,
}

fn matcher(p: &LogParams, default_limit: usize) -> Result<Matcher, Response> {
    let now = jiff::Zoned::now();
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let when = |name: &str, text: &Option<String>| {
        text.as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| parse_when(t, &now).map_err(|e| bad(format!("{name}: {e}"))))
            .transpose()
    };
    let limit = p.limit.unwrap_or(default_limit);
    if limit > MAX_RECORDS {
        return Err(bad(format!("limit must be at most {MAX_RECORDS}")));
    }
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let query = LogQuery {
        app: nonempty(&p.app),
        instance: nonempty(&p.instance),
        since: when("since", &p.since)?,
        until: when("until", &p.until)?,
        min_level: nonempty(&p.level),
        limit: Some(limit),
        // As `hassette log --grep`: text or regex; a pattern that is no regex is literal.
        grep: nonempty(&p.grep).map(|g| {
            regex::Regex::new(&g).unwrap_or_else(|_| {
                regex::Regex::new(&regex::escape(&g))
                    .unwrap_or_else(|_| unreachable!("an escaped pattern is valid"))
            })
        }),
    };
    Matcher::new(query).map_err(|e| bad(format!("level: {e}")))
}

fn record_json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
}

/// `GET /api/logs?app=&instance=&since=&until=&level=&grep=&limit=`: the last matching records,
/// oldest first.
pub(crate) async fn query(State(web): State<Web>, Query(p): Query<LogParams>) -> Response {
    let matcher = match matcher(&p, 200) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let dir = web.status.logs_dir();
    if !dir.exists() {
        // No log store yet (nothing was logged to it): no records, not an error.
        return Json(Vec::<serde_json::Value>::new()).into_response();
    }
    let read = tokio::task::spawn_blocking(move || matcher.run(&dir)).await;
    match read {
        Ok(Ok((matches, _))) => {
            let records: Vec<serde_json::Value> =
                matches.iter().map(|m| record_json(&m.line)).collect();
            Json(records).into_response()
        }
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the log store: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/logs/stream?...`: the last `limit` (default 50) matching records, then every new
/// one as it is stored; one `data:` event per record, as JSON.
pub(crate) async fn stream(State(web): State<Web>, Query(p): Query<LogParams>) -> Response {
    let matcher = match matcher(&p, 50) {
        Ok(m) => std::sync::Arc::new(m),
        Err(r) => return r,
    };
    let dir = web.status.logs_dir();
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(256);
    let stop = web.stop.clone();
    tokio::spawn(async move {
        // Until the store exists (nothing logged yet), wait for it.
        while !dir.exists() {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tx.closed() => return,
                () = tokio::time::sleep(TAIL_EVERY) => {}
            }
        }
        let first = {
            let (m, d) = (matcher.clone(), dir.clone());
            tokio::task::spawn_blocking(move || m.run(&d)).await
        };
        let Ok(Ok((matches, mut cursor))) = first else {
            return;
        };
        for m in matches {
            if tx.send(Event::default().data(m.line)).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tx.closed() => return,
                () = tokio::time::sleep(TAIL_EVERY) => {}
            }
            let (m, d, mut c) = (matcher.clone(), dir.clone(), cursor.clone());
            let Ok(Ok((new, c))) =
                tokio::task::spawn_blocking(move || m.follow(&d, &mut c).map(|new| (new, c))).await
            else {
                continue;
            };
            cursor = c;
            for m in new {
                if tx.send(Event::default().data(m.line)).await.is_err() {
                    return;
                }
            }
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
