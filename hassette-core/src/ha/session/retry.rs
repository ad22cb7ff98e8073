//! How long to wait before the next connection attempt: exponential backoff, cut short by a
//! cheap TCP probe the moment Home Assistant's port opens again.
//!
//! A restarting Home Assistant closes its port, then opens it a little before it is `RUNNING`.
//! Waiting out a long backoff delay then would leave hassette away for up to a minute after
//! Home Assistant is back; knocking on the port every [`ClientOptions::probe_interval`] costs
//! one TCP handshake and never authenticates (so it cannot get the address banned).

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::ha::connection::websocket_url;
use crate::ha::error::HaError;
use crate::ha::options::ClientOptions;

/// Exponential backoff with ±20 % jitter, so that many clients do not reconnect in lockstep.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial.max(Duration::from_millis(1)),
            max: max.max(initial),
        }
    }

    /// The delay before the next attempt; each call doubles the base, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(0.8 + 0.4 * fastrand::f64()).min(self.max)
    }
}

/// Backoff plus the TCP probe, for one run of failed attempts.
#[derive(Debug)]
pub(crate) struct Retry {
    backoff: Backoff,
    /// Host and port to knock on; `None` when the URL has none (then only the backoff runs).
    target: Option<(String, u16)>,
    interval: Duration,
    /// The port was found closed since the last attempt: its opening ends the wait.
    port_closed: bool,
}

impl Retry {
    pub(crate) fn new(opts: &ClientOptions) -> Self {
        let target = websocket_url(opts.base_url.as_str()).ok().and_then(|url| {
            let host = url.host_str()?.trim_matches(['[', ']']).to_owned();
            Some((host, url.port_or_known_default()?))
        });
        Self {
            backoff: Backoff::new(opts.reconnect_initial, opts.reconnect_max),
            target,
            interval: opts.probe_interval.max(Duration::from_millis(10)),
            port_closed: false,
        }
    }

    /// The delay before the next attempt, after `failure` (`None`: the connection was lost).
    pub(crate) fn after(&mut self, failure: Option<&HaError>) -> Duration {
        self.port_closed = failure.is_some_and(is_refused);
        self.backoff.next_delay()
    }

    /// Waits `delay`, or less: until a probe finds the port open after it was found closed.
    pub(crate) async fn wait(&mut self, delay: Duration) {
        let Some((host, port)) = self.target.clone() else {
            tokio::time::sleep(delay).await;
            return;
        };
        let deadline = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let tick = (now + self.interval).min(deadline);
            let probe = tokio::time::timeout_at(tick, TcpStream::connect((host.as_str(), port)));
            let open = matches!(probe.await, Ok(Ok(_)));
            if open && self.port_closed {
                tracing::debug!(host, port, "Home Assistant's port is open again");
                self.port_closed = false;
                return;
            }
            if !open {
                self.port_closed = true;
            }
            tokio::time::sleep_until(tick).await;
        }
    }
}

/// Whether the attempt failed because nothing listened (or the network was down), rather
/// than after a TCP connection was made.
pub(crate) fn is_refused(e: &HaError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
            );
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<f64> = (0..10).map(|_| b.next_delay().as_secs_f64()).collect();
        let bases = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0];
        for (d, base) in delays.iter().zip(bases) {
            assert!(
                *d >= base * 0.8 - 1e-9 && *d <= (base * 1.2).min(60.0) + 1e-9,
                "{d} vs {base}"
            );
        }
    }

    #[test]
    fn refused_is_told_from_other_failures() {
        let refused = HaError::Connect {
            url: "ws://h".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        assert!(is_refused(&refused));
        assert!(!is_refused(&HaError::Timeout(Duration::from_secs(1))));
        assert!(!is_refused(&HaError::AuthInvalid {
            message: "no".into()
        }));
    }
}
