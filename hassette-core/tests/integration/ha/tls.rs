//! `https://` Home Assistant behind TLS with a self-signed certificate: `verify_ssl = false`
//! connects, `verify_ssl = true` refuses with a clear error. The TLS server is a real
//! rustls acceptor on loopback in front of the fake Home Assistant.

use std::sync::Arc;
use std::time::Duration;

use hassette_core::ha::{Client, HaError};
use hassette_core::testing::FakeHomeAssistant;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

const CERT: &[u8] = include_bytes!("../../data/self-signed.crt");
const KEY: &[u8] = include_bytes!("../../data/self-signed.key");

/// Terminates TLS on a loopback port and forwards the plain stream to the fake.
async fn tls_front(fake: &FakeHomeAssistant) -> url::Url {
    let certs = vec![CertificateDer::from_pem_slice(CERT).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = fake.base_url().socket_addrs(|| None).unwrap()[0];
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    url::Url::parse(&format!("https://127.0.0.1:{port}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ssl_false_accepts_a_self_signed_certificate() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut options = fake.client_options();
    options.base_url = tls_front(&fake).await;
    options.verify_ssl = false;
    let cancel = tokio_util::sync::CancellationToken::new();
    let (client, _session) = tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect(options, cancel.clone()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!client.get_states().await.unwrap().is_empty());
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ssl_true_refuses_a_self_signed_certificate_clearly() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut options = fake.client_options();
    options.base_url = tls_front(&fake).await;
    options.verify_ssl = true;
    let cancel = tokio_util::sync::CancellationToken::new();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect(options, cancel.clone()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, HaError::Connect { .. }), "{err:?}");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    assert!(chain.contains("wss://127.0.0.1"), "{chain}");
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");
    assert_eq!(
        fake.auth_attempts(),
        0,
        "no token was sent to an unverified server"
    );
}
