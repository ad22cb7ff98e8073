//! A loopback TCP proxy to cut: a network partition between hassette and Home Assistant.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Forwards `127.0.0.1:<port>` to a target address until [`Proxy::cut`]; then every open
/// connection is dropped at once (no websocket Close, no TCP FIN from the far side: as a cable
/// pulled) and new ones are refused until [`Proxy::restore`]. Dropping it stops it.
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
    up: watch::Sender<bool>,
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
        let (up, _) = watch::channel(true);
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
        self.up.send_replace(false);
    }

    /// Forwards again after [`Proxy::cut`].
    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// How many connections it has accepted.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

async fn accept_loop(
    mut listener: TcpListener,
    port: u16,
    target: SocketAddr,
    mut up: watch::Receiver<bool>,
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
                if !*up.borrow_and_update() {
                    // Closed port while cut: connecting is refused.
                    drop(listener);
                    loop {
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            changed = up.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                                if *up.borrow_and_update() {
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
    mut up: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    tokio::select! {
        () = cancel.cancelled() => {}
        _ = up.wait_for(|up| !*up) => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
    // Both sockets are dropped here: the connection is gone without a goodbye.
}
