//! Connections to a scanner endpoint: TCP or a unix socket, one type for both.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::ScanError;
use super::pool::Pool;
use crate::config::ScannerAddress;

/// A connected scanner socket.
#[derive(Debug)]
pub(crate) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Connects to one address within `timeout`.
pub(crate) async fn connect(addr: &ScannerAddress, timeout: Duration) -> io::Result<Conn> {
    let attempt = async {
        match addr {
            ScannerAddress::Tcp(a) => {
                let s = TcpStream::connect(a.as_str()).await?;
                // Small frames (INSTREAM lengths, the end marker) go out at once.
                s.set_nodelay(true)?;
                Ok(Conn::Tcp(s))
            }
            ScannerAddress::Unix(p) => Ok(Conn::Unix(UnixStream::connect(p).await?)),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect timed out after {timeout:?}"))),
    }
}

/// Connects to the first endpoint of the pool that accepts, in the pool's
/// order; each failure is recorded against its endpoint. Returns the
/// endpoint's index with the connection.
pub(crate) async fn connect_any(pool: &Pool, timeout: Duration) -> Result<(usize, Conn), ScanError> {
    let mut last = None;
    for i in pool.order() {
        match connect(pool.address(i), timeout).await {
            Ok(c) => return Ok((i, c)),
            Err(e) => {
                tracing::debug!(endpoint = %pool.address(i), error = %e, "scanner endpoint unreachable; trying the next");
                pool.failure(i);
                last = Some((i, e));
            }
        }
    }
    let (endpoint, source) = match last {
        Some((i, e)) => (pool.address(i).to_string(), e),
        None => ("(none)".to_owned(), io::Error::new(io::ErrorKind::NotFound, "no endpoints")),
    };
    Err(ScanError::Connect { endpoint, source })
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// `bytes` for an error message: printable ASCII kept, the rest escaped,
/// at most `max` input bytes.
pub(crate) fn escape(bytes: &[u8], max: usize) -> String {
    let mut s: String = bytes.iter().take(max).flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}
