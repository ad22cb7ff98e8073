//! A loopback TCP proxy to cut: a network partition between hassette and Home Assistant.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Forwards `127.0.0.1:<port>` to a target address until [`Proxy::cut`]; then every open
/// connection is dropped at once (no websocket Close from the far side) and new ones are
/// refused until [`Proxy::restore`]. [`Proxy::freeze`] is the silent kind of partition: every
/// connection stays open but no byte goes through (as a dead router on the path), until
/// [`Proxy::cut`] or [`Proxy::restore`]. Dropping it stops it.
///
/// # Examples
///
/// ```
/// use hassette_core::testing::{FakeHomeAssistant, Proxy};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let fake = FakeHomeAssistant::start().await?;
/// let proxy = Proxy::start(fake.address()).await?;
/// let mut options = fake.client_options();
/// options.base_url = proxy.base_url();
/// proxy.cut();
/// proxy.restore();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    up: watch::Sender<Mode>,
    connections: Arc<AtomicUsize>,
    _stop: DropGuard,
}

impl Proxy {
    /// Starts a proxy to `target` on a free loopback port.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = super::fake_ha::bind_loopback(0)?;
        let port = listener.local_addr()?.port();
        let (up, _) = watch::channel(Mode::Up);
        let cancel = CancellationToken::new();
        let connections = Arc::new(AtomicUsize::new(0));
        tokio::spawn(accept_loop(
            listener,
            port,
            target,
            up.subscribe(),
            cancel.clone(),
            Arc::clone(&connections),
        ));
        Ok(Self {
            port,
            up,
            connections,
            _stop: cancel.drop_guard(),
        })
    }

    /// `http://127.0.0.1:<port>`, to use as hassette's `base_url`.
    #[must_use]
    pub fn base_url(&self) -> url::Url {
        let text = format!("http://127.0.0.1:{}", self.port);
        text.parse()
            .unwrap_or_else(|_| unreachable!("a loopback URL always parses"))
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(Mode::Cut);
    }

    /// Keeps every connection (and accepts new ones) but forwards nothing: a silent network.
    /// Bytes caught in the proxy meanwhile may be lost, so follow it with [`Proxy::cut`] or
    /// expect the connection to be given up.
    pub fn freeze(&self) {
        self.up.send_replace(Mode::Frozen);
    }

    /// Forwards again after [`Proxy::cut`] or [`Proxy::freeze`].
    pub fn restore(&self) {
        self.up.send_replace(Mode::Up);
    }

    /// How many connections it has accepted.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

/// What the proxy does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Up,
    Cut,
    Frozen,
}

async fn accept_loop(
    mut listener: TcpListener,
    port: u16,
    target: SocketAddr,
    mut up: watch::Receiver<Mode>,
    cancel: CancellationToken,
    connections: Arc<AtomicUsize>,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, target, up.clone(), cancel.clone()));
            }
            changed = up.changed() => {
                if changed.is_err() {
                    return;
                }
                if *up.borrow_and_update() == Mode::Cut {
                    // Closed port while cut: connecting is refused.
                    drop(listener);
                    loop {
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            changed = up.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                                if *up.borrow_and_update() != Mode::Cut {
                                    break;
                                }
                            }
                        }
                    }
                    match super::fake_ha::bind_loopback(port) {
                        Ok(l) => listener = l,
                        Err(e) => {
                            tracing::error!(error = %e, "the proxy cannot rebind its port");
                            return;
                        }
                    }
                }
            }
        }
    }
}

async fn forward(
    mut client: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    cancel: CancellationToken,
) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    loop {
        if *mode.borrow_and_update() == Mode::Up {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = mode.changed() => {}
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
            }
        }
        let now = *mode.borrow_and_update();
        match now {
            Mode::Up => {}
            // Both sockets are dropped: the connection is gone without a goodbye.
            Mode::Cut => return,
            Mode::Frozen => {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    changed = mode.changed() => if changed.is_err() { return },
                }
            }
        }
    }
}
