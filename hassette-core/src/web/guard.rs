//! The checks every request passes before a handler runs: size, host, token, cross-site.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{Web, error};

/// Longer request targets are refused (a key, a prefix and a filter fit easily).
pub(crate) const MAX_URI: usize = 4096;

/// Paths served without the token: the UI's own files (it asks for the token) and health.
const OPEN_PATHS: &[&str] = &["/", "/app.js", "/app.css", "/healthz"];

pub(crate) async fn guard(State(web): State<Web>, request: Request, next: Next) -> Response {
    let uri_len = request.uri().to_string().len();
    if uri_len > MAX_URI {
        return error(
            StatusCode::URI_TOO_LONG,
            format!("the request target is {uri_len} bytes; at most {MAX_URI} are accepted"),
        );
    }
    let headers = request.headers();
    let path = request.uri().path();
    match &web.token {
        None => {
            // Loopback only: a page from elsewhere that rebinds its name to 127.0.0.1 still
            // sends its own name as Host.
            if !host_is_loopback(headers) {
                return error(
                    StatusCode::FORBIDDEN,
                    "the Host header must be a loopback address (127.0.0.1, [::1] or localhost) \
                     when [hassette.web] has no token",
                );
            }
        }
        Some(token) if !OPEN_PATHS.contains(&path) => {
            if !bearer_matches(headers, token.expose()) {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "this hassette needs its web token: send `Authorization: Bearer <token>` \
                     ([hassette.web] token)",
                );
            }
        }
        Some(_) => {}
    }
    let is_action = matches!(
        *request.method(),
        Method::POST | Method::DELETE | Method::PUT
    );
    if is_action && let Some(why) = cross_site(headers) {
        return error(StatusCode::FORBIDDEN, why);
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    response
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.0 without Host comes from a tool, not a browser.
        return true;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in constant time, so the answer's timing does not leak the token.
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why an action request looks cross-site, if it does.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "refusing a cross-site request (Sec-Fetch-Site: {site}): actions come from hassette's own UI or a tool"
        ));
    }
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same = host.is_some_and(|h| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(h))
    });
    (!same).then(|| format!("refusing a request from another origin ({origin})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, header::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hosts() {
        assert!(host_is_loopback(&headers(&[("host", "127.0.0.1:8126")])));
        assert!(host_is_loopback(&headers(&[("host", "localhost:8126")])));
        assert!(host_is_loopback(&headers(&[("host", "[::1]:8126")])));
        assert!(!host_is_loopback(&headers(&[(
            "host",
            "evil.example:8126"
        )])));
        assert!(!host_is_loopback(&headers(&[("host", "192.168.1.2:8126")])));
    }

    #[test]
    fn tokens() {
        let t = "0123456789abcdef";
        assert!(bearer_matches(
            &headers(&[("authorization", "Bearer 0123456789abcdef")]),
            t
        ));
        assert!(!bearer_matches(
            &headers(&[("authorization", "Bearer 0123456789abcdeX")]),
            t
        ));
        assert!(!bearer_matches(&headers(&[]), t));
    }

    #[test]
    fn cross_site_requests() {
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])).is_some());
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-origin")])).is_none());
        assert!(
            cross_site(&headers(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8126")
            ]))
            .is_some()
        );
        assert!(
            cross_site(&headers(&[
                ("origin", "http://127.0.0.1:8126"),
                ("host", "127.0.0.1:8126")
            ]))
            .is_none()
        );
        assert!(cross_site(&headers(&[])).is_none());
    }
}
