//! Passing the real client to the upstream: XCLIENT once per upstream
//! connection (before the client's HELO is relayed), XFORWARD before each
//! MAIL, or a Received header at delivery (also for a TLS client in every
//! mode: the upstream cannot learn TLS otherwise). PROXY headers are sent
//! at connect (`start.rs`).

use crate::tls::Io;
use crate::upstream::Dialer;

use super::Session;
use crate::config::ClientIdentity;
use crate::upstream::identity::{ClientFacts, received_header, xclient_command, xforward_command};
use crate::upstream::{Stage, UpstreamError};

impl<S: Io, D: Dialer> Session<S, D> {
    /// What the upstream is told about the client; `esmtp`: it said EHLO.
    fn facts<'a>(&'a self, helo: Option<&'a str>, esmtp: bool) -> ClientFacts<'a> {
        ClientFacts {
            addr: self.client.peer,
            name: self.client_name.as_deref(),
            helo,
            esmtp,
            tls: self.conn.tls_summary(),
            authenticated: self.authenticated,
        }
    }

    /// Sends XCLIENT if that is the identity mode and it was not sent yet.
    /// `helo` is the client's HELO/EHLO argument about to be relayed, and
    /// `esmtp` whether it came with EHLO (PROTO=ESMTP).
    pub(super) async fn send_xclient(&mut self, helo: Option<&str>, esmtp: bool) -> Result<(), UpstreamError> {
        if self.identity_sent || self.config.upstream.client_identity != ClientIdentity::Xclient {
            return Ok(());
        }
        // NAME= carries the verified PTR name, when the connect-time check found one.
        self.finish_client_check().await;
        let hostname = self.config.hostname.clone();
        let caps = self.connected()?.ehlo(hostname.as_str()).await?;
        // doorman's own EHLO: what the MTA offers any client.
        self.shield.upstream_caps.learn(&caps);
        let Some(supported) = caps.params("XCLIENT") else {
            return Err(UpstreamError::IdentityUnsupported("XCLIENT"));
        };
        let command = xclient_command(&self.facts(helo, esmtp), supported)?;
        let reply = self.connected()?.line(command.as_bytes(), Stage::Identity).await?;
        if !(reply.is_positive() || reply.code() == 220) {
            return Err(UpstreamError::Unexpected { stage: Stage::Identity, reply });
        }
        self.identity_sent = true;
        Ok(())
    }

    /// Sends XFORWARD before a MAIL if that is the identity mode.
    pub(super) async fn send_xforward(&mut self) -> Result<(), UpstreamError> {
        if self.config.upstream.client_identity != ClientIdentity::Xforward {
            return Ok(());
        }
        let Some(supported) = self.upstream_caps.params("XFORWARD").map(str::to_owned) else {
            return Err(UpstreamError::IdentityUnsupported("XFORWARD"));
        };
        let command = xforward_command(&self.facts(self.helo.as_deref(), self.esmtp), &supported)?;
        let reply = self.connected()?.line(command.as_bytes(), Stage::Identity).await?;
        if !reply.is_positive() {
            return Err(UpstreamError::Unexpected { stage: Stage::Identity, reply });
        }
        Ok(())
    }

    /// Header lines doorman prepends to a relayed message: its `Received:`
    /// header with `client_identity: none`, and for a TLS client in every
    /// mode, since no identity command tells the upstream about TLS.
    pub(super) fn added_headers(&self) -> String {
        if self.config.upstream.client_identity != ClientIdentity::None && !self.conn.is_tls() {
            return String::new();
        }
        let date = crate::date::now();
        received_header(&self.facts(self.helo.as_deref(), self.esmtp), self.config.hostname.as_str(), &self.id, &date)
    }
}
