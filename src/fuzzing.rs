//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`,
//! off by default: no normal build contains this module). They reach code
//! that is crate-private: the PROXY header parser of the listener, the
//! XCLIENT/XFORWARD builders and their xtext, and a whole session
//! (`session::serve`, the code the server runs) over in-memory pipes, with
//! the upstream's connections handed in by the caller.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::DuplexStream;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ListenerTls};
use crate::session::{ClientInfo, SessionEnv, serve};
use crate::shield::Shield;
use crate::state::Shared;
use crate::upstream::Dialer;
use crate::upstream::identity::{self, ClientFacts};

/// The listener's PROXY v1/v2 parser: `Ok(None)` incomplete,
/// `Ok(Some((client, header length)))` complete (`client` is `None` for v1
/// `UNKNOWN` and v2 `LOCAL`).
///
/// # Errors
/// The header is invalid.
pub fn parse_proxy_header(buf: &[u8]) -> Result<Option<(Option<SocketAddr>, usize)>, String> {
    crate::server::inbound::parse(buf).map_err(|e| e.to_string())
}

/// The PROXY header doorman sends the upstream for `client` (v1 or v2).
///
/// # Errors
/// The v2 builder failed.
pub fn proxy_header(v2: bool, client: SocketAddr, local: SocketAddr) -> std::io::Result<Vec<u8>> {
    identity::proxy_header(v2, client, local)
}

/// RFC 3461 xtext, as XCLIENT and XFORWARD values are encoded.
pub fn xtext(s: &str) -> String {
    identity::xtext(s)
}

/// What the upstream is told about a client.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The client's address and port.
    pub addr: SocketAddr,
    /// Its verified PTR name.
    pub name: Option<&'a str>,
    /// Its HELO argument.
    pub helo: Option<&'a str>,
    /// EHLO rather than HELO.
    pub esmtp: bool,
}

/// The XCLIENT (or, with `xforward`, XFORWARD) command for `client`, given
/// the attributes the upstream advertised.
///
/// # Errors
/// The upstream takes no ADDR, or the identity does not fit a line.
pub fn identity_command(client: Client<'_>, supported: &str, xforward: bool) -> Result<String, String> {
    let facts = ClientFacts {
        addr: client.addr,
        name: client.name,
        helo: client.helo,
        esmtp: client.esmtp,
        tls: None,
        authenticated: false,
    };
    let command = if xforward { identity::xforward_command } else { identity::xclient_command };
    command(&facts, supported).map_err(|e| e.to_string())
}

/// Dials the upstream in memory: each dial takes the next stream handed in;
/// with none left, the connection is refused.
#[derive(Debug, Clone, Default)]
struct PipeDialer(Arc<Mutex<VecDeque<DuplexStream>>>);

impl Dialer for PipeDialer {
    type Stream = DuplexStream;

    async fn dial(&self, _address: &str) -> std::io::Result<DuplexStream> {
        let next = self.0.lock().ok().and_then(|mut streams| streams.pop_front());
        next.ok_or_else(|| std::io::ErrorKind::ConnectionRefused.into())
    }
}

/// A configuration for [`serve_session`].
///
/// # Errors
/// The YAML is not a valid configuration.
pub fn config(yaml: &str) -> Result<Config, String> {
    Config::from_yaml(yaml, Path::new("fuzz.yaml")).map_err(|e| e.to_string())
}

/// Serves one session from greeting to close on `client` (doorman's end of
/// the client's pipe), from `peer`; each upstream connection doorman opens
/// is the next of `upstreams`. The listener is the configuration's first,
/// without TLS. Run it in a runtime with the `time` driver.
///
/// # Errors
/// The shared state cannot be built from `config`.
pub async fn serve_session(
    config: &Config,
    client: DuplexStream,
    peer: SocketAddr,
    upstreams: Vec<DuplexStream>,
) -> Result<(), String> {
    let shared = Arc::new(Shared::new(config.clone())?);
    let sync = config.listen.first().and_then(|l| l.forbid_unauth_pipelining);
    let local: SocketAddr = ([127, 0, 0, 1], 25).into();
    let info = ClientInfo {
        peer,
        local,
        tls: ListenerTls::None,
        sync: sync.unwrap_or(config.limits.forbid_unauth_pipelining),
    };
    let env = SessionEnv {
        shared,
        spooled: Arc::default(),
        dialer: PipeDialer(Arc::new(Mutex::new(upstreams.into()))),
        shield: Arc::new(Shield::default()),
        shutdown: CancellationToken::new(),
    };
    serve(client, info, "fuzz0001".into(), env).await;
    Ok(())
}
