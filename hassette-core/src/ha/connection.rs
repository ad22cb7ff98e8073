//! One websocket connection: URL, TLS, the auth handshake, and text frames in and out.
//!
//! Nothing here knows about commands or subscriptions (that is [`super::session`]).

use std::sync::{Arc, Once};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use super::client::ClientOptions;
use super::error::HaError;
use super::protocol::{self, Incoming};

/// Turns Home Assistant's base URL into its websocket URL.
///
/// `http` becomes `ws`, `https` becomes `wss`, and the path becomes `/api/websocket` (a path
/// prefix, as behind a reverse proxy, is kept). `ws`/`wss` URLs are accepted as they are, with
/// `/api/websocket` appended unless already present.
///
/// # Errors
///
/// [`HaError::InvalidUrl`] for any other scheme, or a URL without a host.
///
/// # Examples
///
/// ```
/// use hassette_core::ha::websocket_url;
///
/// let url = websocket_url("http://homeassistant.local:8123")?;
/// assert_eq!(url.as_str(), "ws://homeassistant.local:8123/api/websocket");
/// let url = websocket_url("https://example.org/ha/")?;
/// assert_eq!(url.as_str(), "wss://example.org/ha/api/websocket");
/// assert!(websocket_url("ftp://example.org").is_err());
/// # Ok::<(), hassette_core::ha::HaError>(())
/// ```
pub fn websocket_url(base: &str) -> Result<Url, HaError> {
    let invalid = |reason: &str| HaError::InvalidUrl {
        url: base.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(invalid("the scheme must be http or https")),
    };
    url.set_scheme(scheme)
        .map_err(|()| invalid("cannot set the websocket scheme"))?;
    let path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/api/websocket") {
        url.set_path(&format!("{path}/api/websocket"));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An authenticated websocket to Home Assistant.
#[derive(Debug)]
pub(crate) struct Connection {
    ws: Ws,
    /// The id of the last command sent; HA requires strictly increasing ids.
    last_id: u64,
    pub(crate) ha_version: Option<String>,
}

static INSECURE_WARNING: Once = Once::new();

pub(crate) fn tls_config(verify: bool) -> Result<Arc<ClientConfig>, HaError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HaError::Connect {
            url: String::new(),
            source: Box::new(e),
        })?;
    let config = if verify {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        INSECURE_WARNING.call_once(|| {
            tracing::warn!(
                "verify_ssl = false: the certificate of Home Assistant is NOT checked; \
                 anyone on the network path can read the access token"
            );
        });
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Accepts any server certificate (self-signed ones), but still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn ws_err(e: tokio_tungstenite::tungstenite::Error) -> HaError {
    HaError::Websocket(Box::new(e))
}

impl Connection {
    /// Connects, authenticates and enables `coalesce_messages`.
    ///
    /// Every step is bounded by the command timeout, so a server that accepts TCP but never
    /// speaks cannot hang the client.
    pub(crate) async fn open(opts: &ClientOptions) -> Result<Self, HaError> {
        let url = websocket_url(opts.base_url.as_str())?;
        let connect_err = |source: crate::ha::error::BoxError| HaError::Connect {
            url: url.to_string(),
            source,
        };
        let connector = if url.scheme() == "wss" {
            Connector::Rustls(tls_config(opts.verify_ssl)?)
        } else {
            Connector::Plain
        };
        // A real get_states or get_services is tens of KB to several MB; the cap only stops a
        // runaway peer.
        let config = WebSocketConfig::default()
            .max_message_size(opts.max_message_size)
            .max_frame_size(opts.max_message_size);
        // Boxed: the handshake future is large, and would bloat every future awaiting it.
        let handshake = Box::pin(tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(config),
            true,
            Some(connector),
        ));
        let (ws, _response) = tokio::time::timeout(opts.command_timeout, handshake)
            .await
            .map_err(|_| connect_err(Box::new(HaError::Timeout(opts.command_timeout))))?
            .map_err(|e| connect_err(Box::new(e)))?;
        let mut conn = Self {
            ws,
            last_id: 0,
            ha_version: None,
        };
        tokio::time::timeout(opts.command_timeout, conn.authenticate(opts))
            .await
            .map_err(|_| HaError::Timeout(opts.command_timeout))??;
        Ok(conn)
    }

    async fn authenticate(&mut self, opts: &ClientOptions) -> Result<(), HaError> {
        let first = self.expect_one().await?;
        if !matches!(first, Reply::AuthRequired) {
            return Err(HaError::Protocol(format!(
                "expected auth_required, got {first:?}"
            )));
        }
        // The one place the token is exposed; this frame is never logged.
        let auth = protocol::auth_text(opts.token.expose());
        self.ws.send(Message::text(auth)).await.map_err(ws_err)?;
        tracing::debug!("sent auth (token redacted)");
        match self.expect_one().await? {
            Reply::AuthOk(version) => self.ha_version = version,
            Reply::AuthInvalid(message) => return Err(HaError::AuthInvalid { message }),
            other => {
                return Err(HaError::Protocol(format!(
                    "expected auth_ok or auth_invalid, got {other:?}"
                )));
            }
        }
        let id = self.next_id();
        let features = protocol::Command::new("supported_features")
            .with("features", serde_json::json!({"coalesce_messages": 1}));
        self.send_text(features.to_text(id)).await?;
        match self.expect_one().await? {
            Reply::Result(rid, ok) if rid == id => {
                if !ok {
                    // Old HA without the feature: keep going with single-message frames.
                    tracing::debug!("supported_features rejected; continuing without coalescing");
                }
                Ok(())
            }
            other => Err(HaError::Protocol(format!(
                "expected the result of supported_features, got {other:?}"
            ))),
        }
    }

    /// Reads one frame that must hold exactly one handshake-phase message.
    async fn expect_one(&mut self) -> Result<Reply, HaError> {
        let text = self
            .read_text()
            .await?
            .ok_or_else(|| HaError::Websocket("connection closed during the handshake".into()))?;
        let mut reply = None;
        protocol::parse_frame(&text, |m| {
            if reply.is_none() {
                reply = Some(match m {
                    Incoming::AuthRequired => Reply::AuthRequired,
                    Incoming::AuthOk { ha_version } => Reply::AuthOk(ha_version),
                    Incoming::AuthInvalid { message } => Reply::AuthInvalid(message),
                    Incoming::Result { id, outcome } => Reply::Result(id, outcome.is_ok()),
                    other => Reply::Other(format!("{other:?}")),
                });
            }
        })
        .map_err(HaError::Protocol)?;
        reply.ok_or_else(|| HaError::Protocol("empty frame during the handshake".into()))
    }

    /// The next command id.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// Sends one text frame.
    pub(crate) async fn send_text(&mut self, text: String) -> Result<(), HaError> {
        self.ws.send(Message::text(text)).await.map_err(ws_err)
    }

    /// The next text frame; `None` when the peer closed the connection cleanly.
    ///
    /// Websocket pings are answered by tungstenite while reading; binary frames are ignored.
    /// Cancel-safe, so it can sit in a `select!`.
    pub(crate) async fn read_text(&mut self) -> Result<Option<Utf8Bytes>, HaError> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => return Ok(Some(t)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ws_err(e)),
            }
        }
    }

    /// Sends a websocket Close and waits briefly for the peer's answer.
    pub(crate) async fn close(mut self) {
        let closing = async {
            let _ = self.ws.close(None).await;
            // Drain until the peer's Close so the close handshake completes.
            while let Some(Ok(_)) = self.ws.next().await {}
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
    }
}

/// A handshake-phase message, owned so it can outlive the frame.
#[derive(Debug)]
enum Reply {
    AuthRequired,
    AuthOk(Option<String>),
    AuthInvalid(String),
    Result(u64, bool),
    #[allow(dead_code, reason = "shown through Debug in protocol errors")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls() {
        let ok = |b: &str| websocket_url(b).unwrap().to_string();
        assert_eq!(ok("http://h:8123"), "ws://h:8123/api/websocket");
        assert_eq!(ok("http://h:8123/"), "ws://h:8123/api/websocket");
        assert_eq!(ok("https://h"), "wss://h/api/websocket");
        assert_eq!(ok("ws://h/api/websocket"), "ws://h/api/websocket");
        assert_eq!(
            ok("https://h/prefix/?q=1#f"),
            "wss://h/prefix/api/websocket"
        );
        for bad in ["", "h:8123", "ftp://h", "file:///tmp/x", "http://"] {
            assert!(
                matches!(websocket_url(bad), Err(HaError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_configs_build() {
        assert!(tls_config(true).is_ok());
        assert!(tls_config(false).is_ok());
    }
}
