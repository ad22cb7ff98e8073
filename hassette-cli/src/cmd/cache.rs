//! `hassette cache`: ls, get, rm, clear, stats. Through the running hassette's status API when
//! it answers; otherwise straight from the cache files (which only work when no process holds
//! them).

use std::process::ExitCode;

use anyhow::anyhow;
use hassette_core::cache::{Cache, CacheError, CacheOptions};
use hassette_core::config::Config;
use hassette_core::web::client::encode_segment;
use serde_json::{Value, json};

use super::Failure;
use super::api::{Api, Unreachable, human_bytes, human_secs, table};
use crate::cli::CacheCommand;

/// Where the caches are read: the API of the running hassette, or the files.
enum Backend<'a> {
    Api(Api),
    Files {
        config: &'a Config,
        unreachable: Unreachable,
    },
}

pub(crate) fn cache(config: &Config, command: &CacheCommand) -> Result<ExitCode, Failure> {
    let backend = match Api::find(config) {
        Ok(api) => Backend::Api(api),
        Err(unreachable) => Backend::Files {
            config,
            unreachable,
        },
    };
    let out = match command {
        CacheCommand::Ls {
            class,
            prefix,
            json,
        } => ls(&backend, config, class.as_deref(), prefix, *json),
        CacheCommand::Get { class, key } => backend.value(class, key).map(|v| {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&v["value"]).unwrap_or_default()
            )
        }),
        CacheCommand::Rm { class, key } => backend
            .remove(class, key)
            .map(|()| format!("deleted {key:?} from the {class} cache\n")),
        CacheCommand::Clear { class } => backend
            .clear(class)
            .map(|n| format!("cleared the {class} cache ({n} entries)\n")),
        CacheCommand::Stats { class, json } => stats(&backend, config, class.as_deref(), *json),
    };
    let text = out.map_err(Failure::runtime)?;
    super::print_out(&text);
    Ok(ExitCode::SUCCESS)
}

/// The configured classes, or the one asked for (an unknown one is an error naming the known).
fn classes(config: &Config, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut all: Vec<String> = config.apps.iter().map(|a| a.class_name.clone()).collect();
    all.sort();
    all.dedup();
    match only {
        None => Ok(all),
        Some(c) if all.iter().any(|a| a == c) => Ok(vec![c.to_owned()]),
        Some(c) => Err(anyhow!(
            "no app class {c:?} in {}; classes: {}",
            config.file.display(),
            all.join(", ")
        )),
    }
}

fn ls(
    backend: &Backend<'_>,
    config: &Config,
    only: Option<&str>,
    prefix: &str,
    as_json: bool,
) -> anyhow::Result<String> {
    let mut listings = Vec::new();
    for class in classes(config, only)? {
        listings.push(backend.keys(&class, prefix)?);
    }
    if as_json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&listings)?));
    }
    let mut rows = vec![
        ["CLASS", "KEY", "SIZE", "AGE", "EXPIRES IN"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for listing in &listings {
        for key in listing["keys"].as_array().into_iter().flatten() {
            rows.push(vec![
                listing["class"].as_str().unwrap_or("").to_owned(),
                key["key"].as_str().unwrap_or("").to_owned(),
                human_bytes(key["size"].as_u64().unwrap_or(0)),
                human_secs(key["age_secs"].as_i64().unwrap_or(0)),
                key["ttl_secs"]
                    .as_i64()
                    .map_or_else(|| "never".to_owned(), human_secs),
            ]);
        }
    }
    Ok(table(&rows))
}

fn stats(
    backend: &Backend<'_>,
    config: &Config,
    only: Option<&str>,
    as_json: bool,
) -> anyhow::Result<String> {
    let mut all = Vec::new();
    for class in classes(config, only)? {
        all.push(backend.stats(&class)?);
    }
    if as_json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&all)?));
    }
    let mut rows = vec![
        [
            "CLASS",
            "ENTRIES",
            "BYTES",
            "LIMIT",
            "HIT RATE",
            "EVICTIONS",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for s in &all {
        rows.push(vec![
            s["class"].as_str().unwrap_or("").to_owned(),
            s["entries"].to_string(),
            human_bytes(s["bytes"].as_u64().unwrap_or(0)),
            human_bytes(s["limit"].as_u64().unwrap_or(0)),
            s["hit_rate"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0)),
            s["evictions"].to_string(),
        ]);
    }
    Ok(table(&rows))
}

impl Backend<'_> {
    fn keys(&self, class: &str, prefix: &str) -> anyhow::Result<Value> {
        match self {
            Self::Api(api) => api.get(&format!(
                "/api/caches/{}/keys?prefix={}&limit=10000",
                encode_segment(class),
                encode_segment(prefix)
            )),
            Self::Files { .. } => {
                let Some(cache) = self.open(class)? else {
                    return Ok(json!({"class": class, "prefix": prefix, "total": 0, "keys": []}));
                };
                let mut keys = Vec::new();
                for key in cache.keys_with_prefix(prefix)? {
                    if let Some(i) = cache.info(&key)? {
                        keys.push(json!({
                            "key": key, "size": i.size, "created_at": i.created_at,
                            "age_secs": i.age.as_secs(), "expires_at": i.expires_at,
                            "ttl_secs": i.ttl.map(|t| t.as_secs()),
                        }));
                    }
                }
                Ok(json!({"class": class, "prefix": prefix, "total": keys.len(), "keys": keys}))
            }
        }
    }

    fn value(&self, class: &str, key: &str) -> anyhow::Result<Value> {
        match self {
            Self::Api(api) => api.get(&key_target(class, key)),
            Self::Files { .. } => {
                let value = match self.open(class)? {
                    Some(cache) => cache.get_json(key)?,
                    None => None,
                };
                let value = value.ok_or_else(|| anyhow!("no key {key:?} in the {class} cache"))?;
                Ok(json!({"class": class, "key": key, "value": value}))
            }
        }
    }

    fn remove(&self, class: &str, key: &str) -> anyhow::Result<()> {
        match self {
            Self::Api(api) => api.delete(&key_target(class, key)).map(drop),
            Self::Files { .. } => {
                let deleted = match self.open(class)? {
                    Some(cache) => {
                        let d = cache.delete(key)?;
                        cache.close()?;
                        d
                    }
                    None => false,
                };
                if deleted {
                    Ok(())
                } else {
                    Err(anyhow!("no key {key:?} in the {class} cache"))
                }
            }
        }
    }

    fn clear(&self, class: &str) -> anyhow::Result<u64> {
        match self {
            Self::Api(api) => {
                let r = api.delete(&format!("/api/caches/{}", encode_segment(class)))?;
                Ok(r["cleared"].as_u64().unwrap_or(0))
            }
            Self::Files { .. } => match self.open(class)? {
                Some(cache) => {
                    let n = cache.len()? as u64;
                    cache.clear()?;
                    cache.close()?;
                    Ok(n)
                }
                None => Ok(0),
            },
        }
    }

    fn stats(&self, class: &str) -> anyhow::Result<Value> {
        match self {
            Self::Api(api) => api.get(&format!("/api/caches/{}", encode_segment(class))),
            Self::Files { config, .. } => {
                let limit = size_limit(config, class);
                let Some(cache) = self.open(class)? else {
                    return Ok(
                        json!({"class": class, "exists": false, "entries": 0, "bytes": 0, "limit": limit, "hit_rate": null, "evictions": 0}),
                    );
                };
                let s = cache.stats();
                Ok(json!({
                    "class": class, "exists": true, "entries": s.entries, "bytes": s.value_bytes,
                    "disk_bytes": s.disk_bytes, "limit": s.size_limit,
                    // Hits and evictions are counted by the process that had it open.
                    "hit_rate": null, "evictions": s.evictions,
                }))
            }
        }
    }

    /// Opens a class's cache files; `None` when the class never created them.
    fn open(&self, class: &str) -> anyhow::Result<Option<Cache>> {
        let Self::Files {
            config,
            unreachable,
        } = self
        else {
            return Ok(None);
        };
        let dir = config.cache_dir(class);
        if !dir.exists() {
            return Ok(None);
        }
        let options = CacheOptions::new(&dir, class)
            .size_limit(size_limit(config, class))
            .flush_interval(config.cache_flush_interval);
        match Cache::open(options) {
            Ok(cache) => Ok(Some(cache)),
            Err(CacheError::Locked { .. }) => Err(anyhow!(
                "the {class} cache at {} is held by a running process, and no hassette status API \
                 answers at http://{} ({}); enable [hassette.web] in that hassette (or make \
                 `listen` and `token` here match it), or stop it to read the files directly",
                dir.display(),
                unreachable.addr,
                unreachable.why
            )),
            Err(e) => Err(e.into()),
        }
    }
}

fn size_limit(config: &Config, class: &str) -> u64 {
    config
        .apps
        .iter()
        .find(|a| a.class_name == class)
        .map_or(config.default_cache_size, |a| config.cache_size(a))
}

fn key_target(class: &str, key: &str) -> String {
    format!(
        "/api/caches/{}/keys/{}",
        encode_segment(class),
        encode_segment(key)
    )
}
