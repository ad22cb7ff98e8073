//! `/healthz`, the process, the app instances, and the actions on them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Web, error};
use crate::runtime::ControlError;

/// 200 `{"healthy":true,"reasons":[]}` or 503 with the reasons.
pub(crate) async fn healthz(State(web): State<Web>) -> Response {
    let health = web.status.health();
    let code = if health.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health)).into_response()
}

pub(crate) async fn process(State(web): State<Web>) -> Response {
    Json(web.status.process()).into_response()
}

pub(crate) async fn apps(State(web): State<Web>) -> Response {
    Json(web.status.instances()).into_response()
}

pub(crate) async fn app(
    State(web): State<Web>,
    Path((app, instance)): Path<(String, String)>,
) -> Response {
    match web.status.instance(&app, &instance) {
        Some(status) => Json(status).into_response(),
        None => control_error(&web.status.control.get(&app, &instance).err()),
    }
}

/// `POST /api/apps/{app}/{instance}/{restart|stop|start}`: the instance's state afterwards.
pub(crate) async fn action(
    State(web): State<Web>,
    Path((app, instance, action)): Path<(String, String, String)>,
) -> Response {
    let status = &web.status;
    let result = match action.as_str() {
        "restart" => status.restart(&app, &instance).await,
        "stop" => status.stop(&app, &instance).await,
        "start" => status.start(&app, &instance).await,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown action {other:?}; use restart, stop or start"),
            );
        }
    };
    match result {
        Ok(state) => Json(serde_json::json!({
            "app": app, "instance": instance, "action": action, "state": state,
        }))
        .into_response(),
        Err(e) => control_error(&Some(e)),
    }
}

/// `POST /api/reload`: what the reload did.
pub(crate) async fn reload(State(web): State<Web>) -> Response {
    match web.status.reload().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => control_error(&Some(e)),
    }
}

fn control_error(e: &Option<ControlError>) -> Response {
    let Some(e) = e else {
        return error(StatusCode::NOT_FOUND, "no such app instance");
    };
    let code = match e {
        ControlError::UnknownInstance { .. } => StatusCode::NOT_FOUND,
        ControlError::AlreadyRunning(_) | ControlError::NotRunning(_) => StatusCode::CONFLICT,
        ControlError::StartFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        ControlError::Reload(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(code, e.to_string())
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "nothing at {}; the API is described in the README (GET /api/process, /api/apps, /api/caches, /api/logs, /healthz)",
            uri.path()
        ),
    )
}
