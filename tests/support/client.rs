//! Clients: a raw socket client that shows every reply (for pipelining and
//! smuggling, where the exact bytes matter), swaks and Python's smtplib.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use doorman::wire::{Reply, ReplyParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw SMTP client (plain or TLS). It tells the oracle of each 2xx to a
/// final dot (the reply after a 354), by the address it connected to.
pub struct Client {
    stream: doorman::tls::UpstreamStream,
    buf: BytesMut,
    peer: SocketAddr,
    in_data: bool,
}

const REPLY_WAIT: Duration = Duration::from_secs(15);

impl Client {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> (Self, Reply) {
        let mut c = Self::connect_raw(addr).await;
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Connects without reading anything.
    pub async fn connect_raw(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect to doorman");
        Self::over(stream, addr)
    }

    /// Connects from a given loopback source address (e.g. 127.0.0.2, an
    /// address the trap Postfix does not trust), without reading anything.
    pub async fn connect_from(addr: SocketAddr, source: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(format!("{source}:0").parse().expect("source")).expect("bind source address");
        let stream = socket.connect(addr).await.expect("connect to doorman");
        Self::over(stream, addr)
    }

    fn over(stream: TcpStream, peer: SocketAddr) -> Self {
        Self { stream: doorman::tls::MaybeTls::Plain(stream), buf: BytesMut::new(), peer, in_data: false }
    }

    /// After a 354, the next reply answers the final dot.
    fn note(&mut self, reply: &Reply) {
        if std::mem::replace(&mut self.in_data, reply.code() == 354) && reply.is_positive() {
            super::oracle::client_accepted(self.peer);
        }
    }

    /// Performs a TLS handshake (after a 220 to STARTTLS, or at once for
    /// implicit TLS). Bytes still buffered from before fail the test.
    pub async fn start_tls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        name: rustls_pki_types::ServerName<'static>,
    ) {
        assert!(self.buf.is_empty(), "bytes buffered before the handshake: {:?}", self.buf);
        let tcp = self.stream.take_plain().expect("plain stream");
        let tls = connector.connect(name, tcp).await.expect("TLS handshake with doorman");
        self.stream = doorman::tls::MaybeTls::Tls(Box::new(tls));
    }

    /// The TLS session, once [`Client::start_tls`] succeeded.
    pub fn tls(&self) -> Option<&tokio_rustls::rustls::ClientConnection> {
        match &self.stream {
            doorman::tls::MaybeTls::Tls(tls) => Some(tls.get_ref().1),
            _ => None,
        }
    }

    /// The plain TCP stream, for a handshake the test drives itself.
    pub fn into_plain(mut self) -> TcpStream {
        assert!(self.buf.is_empty(), "bytes buffered before the handshake");
        self.stream.take_plain().expect("plain stream")
    }

    /// Writes bytes in one write.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to doorman");
    }

    /// Reads the next reply; fails the test if none comes.
    pub async fn reply(&mut self) -> Reply {
        self.try_reply().await.expect("doorman closed the connection instead of replying")
    }

    /// The next reply, or `None` if the connection closed first.
    pub async fn try_reply(&mut self) -> Option<Reply> {
        let reply = tokio::time::timeout(REPLY_WAIT, async {
            loop {
                if let Some(r) = ReplyParser::parse(&mut self.buf).expect("doorman sent a malformed reply") {
                    return Some(r);
                }
                let n = self.stream.read_buf(&mut self.buf).await.ok()?;
                if n == 0 {
                    return None;
                }
            }
        })
        .await
        .expect("no reply from doorman within 15 s");
        if let Some(r) = &reply {
            self.note(r);
        }
        reply
    }

    /// Sends one command line and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends `lines` one by one until a reply is not positive, and returns
    /// that reply (or the last one). With the late connect, an unreachable
    /// upstream shows at EHLO when doorman does not know its extensions
    /// yet, else at MAIL.
    pub async fn until_refused(&mut self, lines: &[&str]) -> Reply {
        let mut last = None;
        for line in lines {
            let reply = self.cmd(line).await;
            if !(200..400).contains(&reply.code()) {
                return reply;
            }
            last = Some(reply);
        }
        last.expect("at least one command")
    }

    /// A whole honest session on a greeted connection: EHLO, one message to
    /// `to` (subject `subject`) accepted with 250, QUIT.
    pub async fn deliver(&mut self, to: &str, subject: &str) {
        assert_code(&self.cmd("EHLO mail.client.example").await, 250);
        assert_code(&self.cmd("MAIL FROM:<a@sender.example>").await, 250);
        assert_code(&self.cmd(&format!("RCPT TO:<{to}>")).await, 250);
        assert_code(&self.cmd("DATA").await, 354);
        self.send(format!("{}.\r\n", super::message(to, subject, &["hello"])).as_bytes()).await;
        assert_code(&self.reply().await, 250);
        assert_code(&self.cmd("QUIT").await, 221);
    }

    /// Asserts the server closes the connection with no further reply.
    pub async fn expect_closed(&mut self) {
        assert_eq!(self.try_reply().await, None, "expected the connection to close");
    }
}

/// Asserts a reply's code, showing the whole reply on failure.
#[track_caller]
pub fn assert_code(reply: &Reply, code: u16) {
    assert_eq!(reply.code(), code, "unexpected reply: {reply}");
}

/// Asserts a reply's code and the start of its enhanced code.
#[track_caller]
pub fn assert_reply(reply: &Reply, code: u16, enhanced: &str) {
    assert_eq!(reply.code(), code, "unexpected reply: {reply}");
    assert!(reply.enhanced_code().is_some_and(|e| e.starts_with(enhanced)), "unexpected reply: {reply}");
}

/// Runs swaks against `addr` with extra arguments; returns (success,
/// transcript). swaks's own default HELO is this machine's host name: the
/// tests give one (`client.example.net` unless `args` has `--helo`).
pub async fn swaks(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let helo: &[&str] = if args.contains(&"--helo") { &[] } else { &["--helo", "client.example.net"] };
    let out = tokio::process::Command::new("swaks")
        .arg("--server")
        .arg(addr.to_string())
        .args(["--timeout", "20"])
        .args(helo)
        .args(args)
        .output()
        .await
        .expect("swaks is not installed: run tests/support/install-deps.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for _ in 0..swaks_accepted(&text) {
        super::oracle::client_accepted(addr);
    }
    (out.status.success(), text)
}

/// The 2xx replies to a final dot in a swaks transcript (` -> .`, then
/// `<-  250 ...`).
fn swaks_accepted(transcript: &str) -> usize {
    let mut after_dot = false;
    let mut n = 0;
    for line in transcript.lines().map(str::trim) {
        if line == "-> ." {
            after_dot = true;
        } else if after_dot && (line.starts_with("<-") || line.starts_with("<**")) {
            n += usize::from(line.strip_prefix("<-").is_some_and(|r| r.trim_start().starts_with('2')));
            after_dot = false;
        }
    }
    n
}

/// Sends one message with Python's smtplib from `source` (a loopback
/// address), with STARTTLS when `ca` (the certificate to trust) is given.
pub async fn smtplib_send_from(
    addr: SocketAddr,
    source: &str,
    ca: Option<&std::path::Path>,
    from: &str,
    to: &str,
    message: &str,
) -> (bool, String) {
    const SCRIPT: &str = r#"
import smtplib, ssl, sys
host, port, source, ca, sender, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
msg = sys.stdin.read()
with smtplib.SMTP(host, port, local_hostname="client.example.net", timeout=20, source_address=(source, 0)) as s:
    s.ehlo()
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        s.starttls(context=ctx)
        s.ehlo()
    print("tls:", bool(ca) and s.sock.version() is not None)
    refused = s.sendmail(sender, [rcpt], msg.encode())
    print("refused:", refused)
"#;
    let ca = ca.map(|p| p.display().to_string()).unwrap_or_default();
    let args = [addr.ip().to_string(), addr.port().to_string(), source.to_owned(), ca, from.to_owned(), to.to_owned()];
    python(addr, SCRIPT, &args, message).await
}

/// Runs an smtplib script sending one message to `addr`; its success is
/// the 250 to its final dot.
async fn python(addr: SocketAddr, script: &str, args: &[String], stdin_text: &str) -> (bool, String) {
    let mut child = tokio::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 is missing: run tests/support/install-deps.sh");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(stdin_text.as_bytes()).await.expect("write message");
    drop(stdin);
    let out = child.wait_with_output().await.expect("python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() && text.contains("refused:") {
        super::oracle::client_accepted(addr);
    }
    (out.status.success(), text)
}

/// Sends one message with Python's smtplib (Debian's /usr/bin/python3);
/// returns (exit success, output).
pub async fn smtplib_send(addr: SocketAddr, from: &str, to: &str, message: &str) -> (bool, String) {
    const SCRIPT: &str = r#"
import smtplib, sys
host, port, sender, rcpt, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.stdin.read()
with smtplib.SMTP(host, port, local_hostname="client.example.net", timeout=20) as s:
    s.ehlo()
    print("ESMTP features:", sorted(s.esmtp_features))
    refused = s.sendmail(sender, [rcpt], msg.encode())
    print("refused:", refused)
"#;
    let args = [addr.ip().to_string(), addr.port().to_string(), from.to_owned(), to.to_owned()];
    python(addr, SCRIPT, &args, message).await
}
