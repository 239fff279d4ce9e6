//! A byte stream that is plain or TLS, used on both sides: the client's
//! connection (STARTTLS, implicit TLS) and the upstream's (STARTTLS). One
//! type per side, so an upgrade happens in place. The plain stream is a
//! TCP socket in production and an in-memory pipe in the session tests.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a session can talk over: a TCP socket, or an in-memory pipe.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A plain stream `S`, or TLS `T` over it.
#[derive(Debug)]
pub enum MaybeTls<S, T> {
    /// Plaintext.
    Plain(S),
    /// TLS over the plain stream.
    Tls(Box<T>),
    /// Only during a handshake, or after one failed.
    Gone,
}

/// The client's side.
pub type ClientStream<S = TcpStream> = MaybeTls<S, tokio_rustls::server::TlsStream<S>>;
/// The upstream's side.
pub type UpstreamStream<S = TcpStream> = MaybeTls<S, tokio_rustls::client::TlsStream<S>>;

impl<S, T> MaybeTls<S, T> {
    /// TLS is active.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Takes the plain stream out for a handshake; the caller puts the TLS
    /// stream back with `*self = MaybeTls::Tls(..)`.
    ///
    /// # Errors
    /// TLS is already active or the stream is gone.
    pub fn take_plain(&mut self) -> io::Result<S> {
        match std::mem::replace(self, Self::Gone) {
            Self::Plain(plain) => Ok(plain),
            other => {
                *self = other;
                Err(io::Error::other("the stream is not plain"))
            }
        }
    }
}

impl<S> ClientStream<S> {
    /// What the client's TLS session negotiated; `None` in plaintext.
    pub fn tls_summary(&self) -> Option<super::TlsSummary> {
        match self {
            Self::Tls(tls) => super::TlsSummary::of(tls.get_ref().1),
            Self::Plain(_) | Self::Gone => None,
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stream closed after a failed TLS handshake")
}

impl<S: AsyncRead + AsyncWrite + Unpin, T: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S, T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S, T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }
}
