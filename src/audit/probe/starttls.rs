//! STARTTLS on its own connection: the handshake with TLS 1.3 and 1.2
//! offered, the chain as sent, EHLO again under TLS; then, when 1.3 was
//! chosen, a TLS 1.2-only handshake on another connection. Any certificate
//! is accepted so it can be inspected (the handshake signatures are still
//! checked); no credentials are ever sent.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::version::{TLS12, TLS13};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme, SupportedProtocolVersion};

use super::super::cert;
use super::super::conn::Conn;
use super::super::plan::Plan;
use super::super::transcript::{TlsFacts, TlsOutcome};

/// Accepts every certificate: the audit reports on it instead of trusting it.
#[derive(Debug)]
struct Inspect(Arc<CryptoProvider>);

impl ServerCertVerifier for Inspect {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(versions: &[&'static SupportedProtocolVersion]) -> Result<Arc<ClientConfig>, String> {
    let provider = crate::tls::provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS client: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Inspect(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']').to_owned())
        .map_err(|e| format!("{name:?} cannot be sent as a TLS server name: {e}"))
}

/// Greeting, EHLO and STARTTLS on a new connection; the connection when the
/// server said 220 to STARTTLS, else its reply.
async fn up_to_starttls(plan: &Plan) -> Result<Result<Conn, String>, String> {
    let mut conn = Conn::connect(&plan.target.addr(), plan.limits).await?;
    let greeting = conn.read_reply().await;
    if !greeting.is_positive() {
        return Err(format!("no 220 greeting: {}", greeting.summary()));
    }
    let ehlo = conn.command(&format!("EHLO {}", plan.helo)).await;
    if !ehlo.reply.is_positive() {
        return Err(format!("EHLO → {}", ehlo.reply.summary()));
    }
    let starttls = conn.command("STARTTLS").await;
    if starttls.reply.is_positive() {
        Ok(Ok(conn))
    } else {
        Ok(Err(format!("STARTTLS → {}", starttls.reply.summary())))
    }
}

/// Runs the probe; `offered` says whether EHLO listed STARTTLS.
///
/// # Errors
/// The connection or the session before STARTTLS failed: the probe could
/// not finish (a refused STARTTLS or handshake is an outcome, not an error).
pub(super) async fn run(plan: &Plan, offered: bool, expected_name: &str) -> Result<TlsOutcome, String> {
    if !offered {
        return Ok(TlsOutcome::NotOffered);
    }
    let name = server_name(expected_name)?;
    let mut conn = match up_to_starttls(plan).await? {
        Ok(conn) => conn,
        Err(reply) => return Ok(TlsOutcome::Failed { stage: "STARTTLS command".into(), error: reply }),
    };
    if let Err(error) = conn.start_tls(client_config(&[&TLS13, &TLS12])?, name.clone()).await {
        return Ok(TlsOutcome::Failed { stage: "handshake".into(), error });
    }
    let Some(tls) = conn.tls() else {
        return Err("no TLS session after the handshake".into());
    };
    let version = tls.protocol_version().map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"));
    let suite = tls.negotiated_cipher_suite().map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite()));
    let chain = tls.peer_certificates().unwrap_or_default().iter().map(|c| cert::parse(c)).collect();
    let ehlo_after = conn.command(&format!("EHLO {}", plan.helo)).await.reply;
    conn.quit().await;
    let tls13 = version == "TLSv1_3";
    // A second connection that fails (a connection limit) leaves 1.2 untried.
    let tls12 = if tls13 { tls12_accepted(plan, name).await.ok() } else { None };
    let facts = TlsFacts {
        version,
        suite,
        tls12,
        tls13,
        chain,
        expected_name: expected_name.to_owned(),
        ehlo_after: Some(ehlo_after),
    };
    Ok(TlsOutcome::Done(Box::new(facts)))
}

/// Whether a handshake offering only TLS 1.2 works.
async fn tls12_accepted(plan: &Plan, name: ServerName<'static>) -> Result<bool, String> {
    let Ok(mut conn) = up_to_starttls(plan).await? else {
        return Ok(false);
    };
    let ok = conn.start_tls(client_config(&[&TLS12])?, name).await.is_ok();
    if ok {
        conn.quit().await;
    }
    Ok(ok)
}
