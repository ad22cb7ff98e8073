//! The one task that owns the socket (mini-redis style).
//!
//! It `select!`s over incoming frames, requests from [`super::Client`] handles, the heartbeat
//! and shutdown. It never awaits a consumer: events go to byte-bounded queues without waiting.
//! On loss it reconnects (backoff cut short by a TCP probe, see `retry`), waits for
//! `RUNNING` and restores every subscription. It holds no entity state: what changed while
//! away is for the owner of the subscriptions to find out.
//!
//! `book` keeps the bookkeeping (ids, pending commands, subscriptions); this file does the
//! I/O.

mod book;
mod retry;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) use retry::Retry;

use super::connection::Connection;
use super::error::HaError;
use super::options::ClientOptions;
use super::protocol::Command;
use super::status::{ConnectionEvent, ConnectionState};
use super::subscription::Request;
use super::types::HaConfig;
use book::Book;

enum Exit {
    Shutdown,
    Lost(String),
}

enum Step {
    Frame(Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, HaError>),
    Request(Option<Request>),
    Beat,
    PongOverdue,
    Shutdown,
}

pub(crate) struct Session {
    opts: ClientOptions,
    requests: mpsc::UnboundedReceiver<Request>,
    state_tx: watch::Sender<ConnectionState>,
    events_tx: broadcast::Sender<ConnectionEvent>,
    cancel: CancellationToken,
    book: Book,
    /// The oldest unanswered heartbeat and when its pong is overdue.
    pong_deadline: Option<(u64, Instant)>,
}

impl Session {
    pub(crate) fn new(
        opts: ClientOptions,
        requests: mpsc::UnboundedReceiver<Request>,
        state_tx: watch::Sender<ConnectionState>,
        events_tx: broadcast::Sender<ConnectionEvent>,
        cancel: CancellationToken,
        dropped_total: Arc<AtomicU64>,
    ) -> Self {
        Self {
            opts,
            requests,
            state_tx,
            events_tx,
            cancel,
            book: Book::new(dropped_total),
            pong_deadline: None,
        }
    }

    /// Runs until shutdown or a final auth failure. On shutdown it sends the websocket Close
    /// and waits briefly for the peer's answer before returning.
    pub(crate) async fn run(mut self, mut conn: Connection) {
        loop {
            match self.serve(&mut conn).await {
                Exit::Shutdown => {
                    conn.close().await;
                    self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                    return;
                }
                Exit::Lost(reason) => {
                    tracing::warn!(%reason, "lost the connection to Home Assistant; reconnecting");
                    self.book.lose();
                    let _ = self.state_tx.send(ConnectionState::Reconnecting);
                    let _ = self
                        .events_tx
                        .send(ConnectionEvent::Disconnected { reason });
                }
            }
            drop(conn);
            match self.reconnect().await {
                Some(c) => conn = c,
                None => return,
            }
        }
    }

    async fn serve(&mut self, conn: &mut Connection) -> Exit {
        let period = self.opts.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.pong_deadline = None;
        loop {
            let deadline = self.pong_deadline.map(|(_, d)| d);
            let step = tokio::select! {
                biased;
                () = self.cancel.cancelled() => Step::Shutdown,
                () = sleep_until_opt(deadline), if deadline.is_some() => Step::PongOverdue,
                frame = conn.read_text() => Step::Frame(frame),
                req = self.requests.recv() => Step::Request(req),
                _ = heartbeat.tick() => Step::Beat,
            };
            let out = match step {
                Step::Shutdown | Step::Request(None) => return Exit::Shutdown,
                Step::PongOverdue => {
                    return Exit::Lost(format!(
                        "no pong within {:?}: the connection is dead",
                        self.opts.heartbeat_timeout
                    ));
                }
                Step::Frame(Ok(Some(text))) => {
                    if let Err(e) = self.book.on_frame(&text) {
                        return Exit::Lost(format!("malformed frame: {e}"));
                    }
                    if let Some(ponged) = self.book.take_pong()
                        && self.pong_deadline.is_some_and(|(id, _)| id <= ponged)
                    {
                        self.pong_deadline = None;
                    }
                    continue;
                }
                Step::Frame(Ok(None)) => return Exit::Lost("closed by Home Assistant".into()),
                Step::Frame(Err(e)) => return Exit::Lost(error_chain(&e)),
                Step::Request(Some(req)) => match self.book.accept(req, || conn.next_id()) {
                    Some(text) => text,
                    None => continue,
                },
                Step::Beat => {
                    let id = conn.next_id();
                    self.book.heartbeat(id);
                    if self.pong_deadline.is_none() {
                        self.pong_deadline =
                            Some((id, Instant::now() + self.opts.heartbeat_timeout));
                    }
                    Command::new("ping").to_text(id)
                }
            };
            if let Err(e) = self.send(conn, out).await {
                return Exit::Lost(error_chain(&e));
            }
        }
    }

    /// Sends one frame; a peer that does not take it within the heartbeat timeout is dead.
    async fn send(&self, conn: &mut Connection, text: String) -> Result<(), HaError> {
        tracing::debug!(frame = %text, "ha send");
        tokio::time::timeout(self.opts.heartbeat_timeout, conn.send_text(text))
            .await
            .map_err(|_| HaError::Timeout(self.opts.heartbeat_timeout))?
    }

    fn finish(&mut self, state: ConnectionState, event: ConnectionEvent) {
        while let Ok(req) = self.requests.try_recv() {
            self.book.refuse(req);
        }
        self.book.close();
        let _ = self.state_tx.send(state);
        let _ = self.events_tx.send(event);
    }

    /// Reconnects with backoff and probe. `None` when it must stop (shutdown, token rejected).
    async fn reconnect(&mut self) -> Option<Connection> {
        let mut retry = Retry::new(&self.opts);
        let mut attempts: u32 = 0;
        let mut delay = retry.after(None);
        loop {
            {
                let wait = retry.wait(delay);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = self.cancel.cancelled() => {
                            self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                            return None;
                        }
                        () = &mut wait => break,
                        req = self.requests.recv() => match req {
                            Some(req) => self.book.refuse(req),
                            None => {
                                self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                                return None;
                            }
                        },
                    }
                }
            }
            attempts += 1;
            let cancel = self.cancel.clone();
            let result = tokio::select! {
                () = cancel.cancelled() => {
                    self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                    return None;
                }
                r = self.open_and_setup() => r,
            };
            match result {
                Ok(conn) => {
                    // The runtime tells the reconnect, with what changed, in one line.
                    tracing::debug!(attempts, "reconnected to Home Assistant");
                    let _ = self.state_tx.send(ConnectionState::Connected);
                    let _ = self
                        .events_tx
                        .send(ConnectionEvent::Reconnected { attempts });
                    return Some(conn);
                }
                Err(HaError::AuthInvalid { message }) => {
                    tracing::error!(
                        %message,
                        "the access token was rejected by Home Assistant; not retrying (retries \
                         would get this address banned). Fix the token and restart"
                    );
                    self.finish(
                        ConnectionState::AuthFailed,
                        ConnectionEvent::AuthFailed { message },
                    );
                    return None;
                }
                Err(e) => {
                    self.book.lose();
                    delay = retry.after(Some(&e));
                    tracing::warn!(
                        attempt = attempts,
                        error = %error_chain(&e),
                        next_attempt_in = ?delay,
                        "reconnecting to Home Assistant failed"
                    );
                }
            }
        }
    }

    async fn open_and_setup(&mut self) -> Result<Connection, HaError> {
        let mut conn = Connection::open(&self.opts).await?;
        self.setup(&mut conn).await?;
        Ok(conn)
    }

    /// After authenticating: wait for `RUNNING`, then (re)subscribe.
    pub(crate) async fn setup(&mut self, conn: &mut Connection) -> Result<(), HaError> {
        let mut told = false;
        loop {
            let raw = self.call(conn, &Command::new("get_config")).await?;
            let config: HaConfig = serde_json::from_str(raw.get()).map_err(HaError::Decode)?;
            if config.is_running() {
                break;
            }
            if !told {
                tracing::info!(state = %config.state, "waiting for Home Assistant to finish starting");
                told = true;
            }
            tokio::select! {
                () = self.cancel.cancelled() => return Err(HaError::Disconnected),
                () = tokio::time::sleep(self.opts.startup_poll) => {}
            }
        }
        let frames = self.book.restore(|| conn.next_id());
        let restored = !frames.is_empty();
        for text in frames {
            self.send(conn, text).await?;
        }
        if restored {
            // Home Assistant handles one connection's commands in order: once this is
            // answered, every subscription is in place, and no event after "reconnected" is
            // missed.
            self.call(conn, &Command::new("ping")).await?;
        }
        Ok(())
    }

    /// One command during setup: send it and read frames (handling everything else) until its
    /// result arrives.
    async fn call(
        &mut self,
        conn: &mut Connection,
        cmd: &Command,
    ) -> Result<Box<RawValue>, HaError> {
        let (tx, mut rx) = oneshot::channel();
        let id = conn.next_id();
        self.book.command(id, tx);
        self.send(conn, cmd.to_text(id)).await?;
        let deadline = Instant::now() + self.opts.command_timeout;
        loop {
            match rx.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(HaError::Disconnected),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let frame = tokio::select! {
                () = self.cancel.cancelled() => return Err(HaError::Disconnected),
                f = tokio::time::timeout_at(deadline, conn.read_text()) => f,
            };
            match frame {
                Err(_) => return Err(HaError::Timeout(self.opts.command_timeout)),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(None)) => return Err(HaError::Disconnected),
                Ok(Ok(Some(text))) => self.book.on_frame(&text).map_err(HaError::Protocol)?,
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// An error and its causes in one line; a cause whose text its parent already shows is left
/// out, so nothing is printed twice.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
