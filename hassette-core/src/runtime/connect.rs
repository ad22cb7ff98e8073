//! Connecting at startup: wait for Home Assistant as long as it takes, unless it can never
//! work.
//!
//! After a power cut the machine running hassette is often up before Home Assistant. So a
//! first connection that is refused, times out or meets a proxy's "bad gateway" is retried
//! forever (backoff cut short by the TCP probe, as for reconnects), logged once with the URL;
//! a rejected token, a malformed URL, a TLS failure or an answer from something that is not
//! Home Assistant ends the wait with one clear error.

use tokio_util::sync::CancellationToken;

use crate::ha::{Client, ClientOptions, HaError, Retry, SessionHandle, error_chain};

/// Connects, waiting for Home Assistant until it answers and is `RUNNING`. The session runs
/// until `session_cancel`.
///
/// # Errors
///
/// A failure that waiting cannot fix (see [`is_permanent`]).
pub(crate) async fn connect(
    opts: &ClientOptions,
    session_cancel: &CancellationToken,
) -> Result<(Client, SessionHandle), HaError> {
    let mut retry = Retry::new(opts);
    let mut waiting = false;
    let url = crate::ha::websocket_url(opts.base_url.as_str())?;
    loop {
        match Client::connect(opts.clone(), session_cancel.child_token()).await {
            Ok(connected) => {
                if waiting {
                    tracing::info!(%url, "Home Assistant answers");
                }
                return Ok(connected);
            }
            Err(e) if is_permanent(&e) => return Err(e),
            Err(e) => {
                let delay = retry.after(Some(&e));
                if waiting {
                    tracing::debug!(error = %error_chain(&e), next_attempt_in = ?delay, "Home Assistant does not answer yet");
                } else {
                    tracing::warn!(%url, error = %error_chain(&e), "waiting for Home Assistant: it does not answer yet; retrying until it does");
                    waiting = true;
                }
                retry.wait(delay).await;
            }
        }
    }
}

/// Whether `e` will not go away by waiting: a rejected token (retrying would get the address
/// banned), a URL that cannot work, a TLS failure, or an HTTP answer that says the address is
/// wrong (404, 401, ...; but not a proxy's 502/503/504, which means Home Assistant is down).
pub(crate) fn is_permanent(e: &HaError) -> bool {
    use tokio_tungstenite::tungstenite::Error as Ws;
    match e {
        HaError::AuthInvalid { .. } | HaError::InvalidUrl { .. } | HaError::Protocol(_) => true,
        HaError::Connect { source, .. } => match source.downcast_ref::<Ws>() {
            Some(Ws::Http(response)) => {
                let status = response.status().as_u16();
                (400..500).contains(&status) && status != 408 && status != 429
            }
            Some(Ws::Tls(_) | Ws::Url(_) | Ws::HttpFormat(_)) => true,
            _ => false,
        },
        _ => false,
    }
}
