//! Certificate checks for registries given extra certificates (`--registry-ca`, certs.d).
//!
//! A registry serving a self-signed certificate is usually trusted by handing that very
//! certificate over as its "CA", as Docker, skopeo and podman accept. Such a certificate made
//! by `openssl req -x509` says `CA:TRUE`, and WebPKI refuses a CA certificate as a server's
//! own (`CaUsedAsEndEntity`). So a server certificate byte-equal to one of the given
//! certificates is accepted as itself (its name still checked, and the handshake still proves
//! the server holds its key); every other certificate goes through the usual verification
//! with the given certificates added to the system's roots.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use std::sync::Arc;

/// Verifies as the platform does with `given` as extra roots, and accepts a server
/// certificate that is exactly one of `given`.
#[derive(Debug)]
pub struct GivenOrPlatform {
    given: Vec<CertificateDer<'static>>,
    platform: LazyPlatform,
}

/// The platform's verifier, made when the first server certificate is to be checked: making
/// it reads every certificate of the system's store (a few milliseconds), which a publish to
/// a plain-HTTP registry — whose HTTPS attempt ends before any certificate — never needs.
#[derive(Debug)]
struct LazyPlatform {
    given: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    made: std::sync::OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error>>,
}

impl LazyPlatform {
    fn get(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        let made = self.made.get_or_init(|| {
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                self.given.clone(),
                self.provider.clone(),
            )
            .map(Arc::new)
        });
        made.as_deref().map_err(Clone::clone)
    }
}

impl ServerCertVerifier for GivenOrPlatform {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.given.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            // Pinned by the user, byte for byte: its issuer and validity period are what the
            // user chose to trust; the name must still be the server's.
            let parsed = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.platform.get()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    // The signature checks are the crypto provider's, as the platform verifier's own are.
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
            &self.platform.provider.signature_verification_algorithms,
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
            &self.platform.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.platform
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS library's cryptography: ring, whose random numbers come from the kernel
/// (`getrandom`). aws-lc, reqwest's default, seeds its generator from CPU jitter on first use:
/// 20–30 ms of computation on the way to the first connection of every publish, even to a
/// plain-HTTP registry (HTTPS is tried first).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes [`provider`] the process's default, which every HTTP client lade builds without a
/// configuration of its own uses (reqwest is built without a provider of its own). Called
/// before each client is built; the first call wins, later ones change nothing.
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when a default is already installed: then that one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A TLS client configuration (HTTP/1.1 only, as lade's clients are) trusting the system's
/// roots, `given` as extra roots (there may be none), and a server certificate equal to one
/// of `given`.
pub fn client_config(
    given: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = GivenOrPlatform {
        given: given.clone(),
        platform: LazyPlatform {
            given,
            provider: provider.clone(),
            made: std::sync::OnceLock::new(),
        },
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The DER certificates of a PEM file's text.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}
