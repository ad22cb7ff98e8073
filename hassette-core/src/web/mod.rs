//! The status API and web UI of `hassette run` (feature `web`, on by default).
//!
//! An axum server on the runtime's own tokio runtime, listening on `[hassette.web] listen`
//! (`127.0.0.1:8126` by default). JSON under `/api/`, `/healthz` for supervisors, and a small
//! UI at `/` (plain HTML, CSS and JavaScript compiled into the binary: it works offline).
//!
//! # Safety
//!
//! - Without a `token` it listens on loopback only ([`serve`] refuses anything else), and
//!   requests must name a loopback host (`Host: 127.0.0.1:8126`, `localhost`), so a web page
//!   elsewhere cannot reach it through DNS rebinding.
//! - With a `token`, every request but `/healthz` and the UI's static files needs
//!   `Authorization: Bearer <token>`.
//! - Actions are `POST` or `DELETE` only, and a request another site's page makes
//!   (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not this server) is refused.
//! - No response carries the Home Assistant token: the API has no field that holds it.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(runtime: &hassette_core::runtime::Runtime) -> Result<(), hassette_core::web::WebError> {
//! let config = hassette_core::config::WebConfig::default();
//! let server = hassette_core::web::serve(runtime.status(), &config).await?;
//! println!("web UI at http://{}/", server.local_addr());
//! # Ok(()) }
//! ```

// Handlers answer a bad request with its response (`Result<_, Response>`), as axum does;
// a large error type costs nothing on that path.
#![allow(clippy::result_large_err)]

mod api;
mod cache;
pub mod client;
mod guard;
mod logs;

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::WebConfig;
use crate::runtime::StatusHandle;

/// Why the web server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The address is in use, or not ours to bind.
    #[error("cannot listen on {addr} ([hassette.web] listen): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {0} without a token: set [hassette.web] token, or listen on 127.0.0.1"
    )]
    NoToken(SocketAddr),
}

/// A running web server; dropping it stops it.
#[derive(Debug)]
pub struct WebServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl WebServer {
    /// The address it listens on (with the real port when `listen` asked for port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests and ends open ones (live log streams included).
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What every handler reaches.
#[derive(Clone, Debug)]
pub(crate) struct Web {
    pub(crate) status: StatusHandle,
    pub(crate) token: Option<crate::config::Secret>,
    pub(crate) stop: CancellationToken,
}

/// Starts the status API and UI for `status` on `config.listen`.
///
/// # Errors
///
/// [`WebError::NoToken`] for a non-loopback address without a token, [`WebError::Bind`] when
/// the address cannot be bound.
pub async fn serve(status: StatusHandle, config: &WebConfig) -> Result<WebServer, WebError> {
    if !config.listen.ip().is_loopback() && config.token.is_none() {
        return Err(WebError::NoToken(config.listen));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| WebError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| WebError::Bind {
        addr: config.listen,
        source,
    })?;
    let stop = CancellationToken::new();
    let web = Web {
        status,
        token: config.token.clone(),
        stop: stop.clone(),
    };
    let app = router(web);
    let until = stop.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { until.cancelled().await })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the web server stopped");
        }
    });
    tracing::info!(%addr, "status API and web UI listening");
    Ok(WebServer {
        addr,
        stop,
        task: Some(task),
    })
}

fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html", INDEX_HTML) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", APP_JS) }),
        )
        .route("/app.css", get(|| async { asset("text/css", APP_CSS) }))
        .route("/healthz", get(api::healthz))
        .route("/api/process", get(api::process))
        .route("/api/apps", get(api::apps))
        .route("/api/apps/{app}/{instance}", get(api::app))
        .route("/api/apps/{app}/{instance}/{action}", post(api::action))
        .route("/api/reload", post(api::reload))
        .route("/api/caches", get(cache::classes))
        .route(
            "/api/caches/{class}",
            get(cache::class).delete(cache::clear),
        )
        .route("/api/caches/{class}/keys", get(cache::keys))
        .route(
            "/api/caches/{class}/keys/{key}",
            get(cache::value).delete(cache::remove),
        )
        .route("/api/logs", get(logs::query))
        .route("/api/logs/stream", get(logs::stream))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            guard::guard,
        ))
        .with_state(web)
}

const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const APP_CSS: &str = include_str!("ui/app.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A JSON error body: `{"error": "..."}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}
