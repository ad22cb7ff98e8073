//! `/api/caches`: every app class's cache, its keys, one value, delete and clear.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Web, error};
use crate::cache::{AppCache, CacheError, CacheStats, MAX_KEY_LEN};
use crate::runtime::ClassCache;

/// Keys listed at most per request.
pub(crate) const MAX_KEYS: usize = 10_000;

/// One class's cache, for `/api/caches`.
#[derive(Debug, Serialize)]
pub(crate) struct ClassSummary {
    class: String,
    dir: String,
    /// Whether the cache directory exists (an app that never used its cache has none).
    exists: bool,
    entries: u64,
    bytes: u64,
    disk_bytes: u64,
    limit: u64,
    hits: u64,
    misses: u64,
    /// hits / (hits + misses), or `null` before the first read.
    hit_rate: Option<f64>,
    evictions: u64,
    expirations: u64,
    /// Why the numbers are missing, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn summary(info: &ClassCache, cache: Option<&AppCache>) -> ClassSummary {
    let exists = info.dir.exists();
    let stats: Result<CacheStats, String> = match cache {
        // `len` waits for the index, so a cache just opened here reports real counts.
        Some(c) if exists => c.len().and_then(|_| c.stats()).map_err(|e| e.to_string()),
        _ => Ok(CacheStats::default()),
    };
    let (stats, error) = match stats {
        Ok(s) => (s, None),
        Err(e) => (CacheStats::default(), Some(e)),
    };
    let reads = stats.hits + stats.misses;
    #[allow(clippy::cast_precision_loss)]
    let hit_rate =
        (reads > 0).then(|| (stats.hits as f64 / reads as f64 * 1000.0).round() / 1000.0);
    ClassSummary {
        class: info.class.clone(),
        dir: info.dir.display().to_string(),
        exists,
        entries: stats.entries,
        bytes: stats.value_bytes,
        disk_bytes: stats.disk_bytes,
        limit: info.size_limit,
        hits: stats.hits,
        misses: stats.misses,
        hit_rate,
        evictions: stats.evictions,
        expirations: stats.expirations,
        error,
    }
}

pub(crate) async fn classes(State(web): State<Web>) -> Response {
    let out: Vec<ClassSummary> = web
        .status
        .cache_classes()
        .iter()
        .map(|info| summary(info, web.status.cache(&info.class).as_ref()))
        .collect();
    Json(out).into_response()
}

/// The class's cache, or the response saying why there is none.
fn open(web: &Web, class: &str) -> Result<(ClassCache, AppCache), Response> {
    let classes = web.status.cache_classes();
    let Some(info) = classes.iter().find(|c| c.class == class).cloned() else {
        let known: Vec<&str> = classes.iter().map(|c| c.class.as_str()).collect();
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "no app class {class:?} in this configuration; classes: {}",
                known.join(", ")
            ),
        ));
    };
    match web.status.cache(class) {
        Some(cache) => Ok((info, cache)),
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("no cache for {class:?}"),
        )),
    }
}

pub(crate) async fn class(State(web): State<Web>, Path(class): Path<String>) -> Response {
    match open(&web, &class) {
        Ok((info, cache)) => Json(summary(&info, Some(&cache))).into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeysQuery {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct KeyInfo {
    key: String,
    size: u64,
    created_at: jiff::Timestamp,
    age_secs: i64,
    expires_at: Option<jiff::Timestamp>,
    ttl_secs: Option<i64>,
}

/// `GET /api/caches/{class}/keys?prefix=P&limit=N`: keys with size, age and expiry.
pub(crate) async fn keys(
    State(web): State<Web>,
    Path(class): Path<String>,
    Query(q): Query<KeysQuery>,
) -> Response {
    if q.prefix.len() > MAX_KEY_LEN {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "prefix is {} bytes; keys are at most {MAX_KEY_LEN}",
                q.prefix.len()
            ),
        );
    }
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_KEYS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be between 1 and {MAX_KEYS}"),
        );
    }
    let (info, cache) = match open(&web, &class) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !info.dir.exists() {
        return Json(serde_json::json!({"class": class, "prefix": q.prefix, "total": 0, "truncated": false, "keys": []})).into_response();
    }
    let prefix = q.prefix.clone();
    let listed =
        tokio::task::spawn_blocking(move || -> Result<(usize, Vec<KeyInfo>), CacheError> {
            let all = cache.keys_with_prefix(&prefix)?;
            let total = all.len();
            let mut out = Vec::new();
            for key in all.into_iter().take(limit) {
                // A key that expired or was deleted since the listing is left out.
                if let Some(i) = cache.info(&key)? {
                    out.push(KeyInfo {
                        key,
                        size: i.size,
                        created_at: i.created_at,
                        age_secs: i64::try_from(i.age.as_secs()).unwrap_or(i64::MAX),
                        expires_at: i.expires_at,
                        ttl_secs: i
                            .ttl
                            .map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX)),
                    });
                }
            }
            Ok((total, out))
        })
        .await;
    match listed {
        Ok(Ok((total, keys))) => Json(serde_json::json!({
            "class": class, "prefix": q.prefix, "total": total,
            "truncated": total > keys.len(), "keys": keys,
        }))
        .into_response(),
        Ok(Err(e)) => cache_error(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn check_key(key: &str) -> Result<(), Response> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "a key is 1 to {MAX_KEY_LEN} bytes; this one is {}",
                key.len()
            ),
        ));
    }
    Ok(())
}

/// `GET /api/caches/{class}/keys/{key}`: the value as JSON, with its age and expiry.
pub(crate) async fn value(
    State(web): State<Web>,
    Path((class, key)): Path<(String, String)>,
) -> Response {
    if let Err(r) = check_key(&key) {
        return r;
    }
    let (info, cache) = match open(&web, &class) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !info.dir.exists() {
        return missing(&class, &key);
    }
    match (cache.get_json(&key), cache.info(&key)) {
        (Ok(Some(value)), Ok(entry)) => Json(serde_json::json!({
            "class": class, "key": key, "value": value,
            "size": entry.map(|i| i.size),
            "created_at": entry.map(|i| i.created_at),
            "expires_at": entry.and_then(|i| i.expires_at),
        }))
        .into_response(),
        (Ok(None), _) => missing(&class, &key),
        (Err(e), _) | (_, Err(e)) => cache_error(&e),
    }
}

/// `DELETE /api/caches/{class}/keys/{key}`.
pub(crate) async fn remove(
    State(web): State<Web>,
    Path((class, key)): Path<(String, String)>,
) -> Response {
    if let Err(r) = check_key(&key) {
        return r;
    }
    let (info, cache) = match open(&web, &class) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !info.dir.exists() {
        return missing(&class, &key);
    }
    match cache.delete(&key) {
        Ok(true) => {
            tracing::info!(class = %class, key = %key, "cache key deleted through the web API");
            Json(serde_json::json!({"class": class, "key": key, "deleted": true})).into_response()
        }
        Ok(false) => missing(&class, &key),
        Err(e) => cache_error(&e),
    }
}

/// `DELETE /api/caches/{class}`: every entry.
pub(crate) async fn clear(State(web): State<Web>, Path(class): Path<String>) -> Response {
    let (info, cache) = match open(&web, &class) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !info.dir.exists() {
        return Json(serde_json::json!({"class": class, "cleared": 0})).into_response();
    }
    let before = cache.len().unwrap_or(0);
    match cache.clear() {
        Ok(()) => {
            tracing::info!(class = %class, entries = before, "cache cleared through the web API");
            Json(serde_json::json!({"class": class, "cleared": before})).into_response()
        }
        Err(e) => cache_error(&e),
    }
}

fn missing(class: &str, key: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no key {key:?} in the {class} cache"),
    )
}

fn cache_error(e: &CacheError) -> Response {
    let code = match e {
        CacheError::InvalidKey { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(code, e.to_string())
}
