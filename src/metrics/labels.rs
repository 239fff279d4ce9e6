//! The fixed label values of doorman's counters: each set an enum, its
//! spelling in one place, and every value listed so that each series exists
//! from the start (at zero).

/// Declares a label enum: its variants, their fixed spellings, and `ALL`
/// (every value, so each series exists from the start, at zero).
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }
    };
}

label_enum! {
    /// What became of a client connection (`doorman_connections_total{result}`).
    ConnectionResult {
        /// A session started.
        Accepted => "accepted",
        /// `limits.max_connections` reached.
        RefusedLimit => "refused_limit",
        /// `limits.max_connections_per_ip` reached.
        RefusedPerIp => "refused_per_ip",
        /// The PROXY header was missing, invalid, or from an untrusted peer.
        RefusedProxy => "refused_proxy",
        /// Over `limits.max_connection_rate_per_ip`.
        RefusedRate => "refused_rate",
    }
}

label_enum! {
    /// How a SIGHUP reload ended (`doorman_config_reloads_total{result}`).
    ReloadResult {
        /// New sessions use the new configuration.
        Ok => "ok",
        /// Invalid, or it needs a restart: the running one stays.
        Refused => "refused",
    }
}

label_enum! {
    /// How a message transaction ended (`doorman_messages_total{outcome}`).
    MessageOutcome {
        /// The upstream accepted it.
        Relayed => "relayed",
        /// The upstream refused it (5xx).
        UpstreamRejected => "upstream_rejected",
        /// The upstream deferred it (4xx).
        UpstreamTempfail => "upstream_tempfail",
        /// Over `limits.max_message_size`.
        RefusedSize => "refused_size",
        /// A line over 1000 octets.
        RefusedLineLength => "refused_line_length",
        /// Bare CR, bare LF or NUL under `reject`.
        RefusedBareLineEndings => "refused_bare_line_endings",
        /// The spool could not be written.
        RefusedSpool => "refused_spool",
        /// No room to spool it (disk, total, reserve).
        RefusedStorage => "refused_storage",
        /// A virus.
        RejectedVirus => "rejected_virus",
        /// Spam over the reject score.
        RejectedSpam => "rejected_spam",
        /// A scanner failed under `on_error: reject`.
        RejectedScanner => "rejected_scanner",
        /// A scanner failed (or deferred) under `tempfail`.
        TempfailScanner => "tempfail_scanner",
        /// No final reply within `limits.final_reply_timeout`.
        TempfailTimeout => "tempfail_timeout",
        /// The client went away or timed out before the final dot.
        Aborted => "aborted",
    }
}

label_enum! {
    /// Why doorman refused a client itself (`doorman_rejections_total{reason}`).
    Reason {
        /// A command doorman does not know.
        UnknownCommand => "unknown_command",
        /// A command's arguments are malformed.
        Syntax => "syntax",
        /// A command line over 512 octets.
        LineTooLong => "line_too_long",
        /// NUL or bare CR in a command.
        BadBytes => "bad_bytes",
        /// 8-bit bytes outside an address.
        NotAscii => "not_ascii",
        /// A malformed sender path.
        BadSender => "bad_sender",
        /// A malformed recipient path.
        BadRecipient => "bad_recipient",
        /// A malformed MAIL/RCPT parameter.
        BadParameter => "bad_parameter",
        /// ETRN, TURN and the like.
        NotImplemented => "not_implemented",
        /// BDAT that ends the session: CHUNKING not offered, no readable size, or over the size limit.
        Bdat => "bdat",
        /// XCLIENT/XFORWARD from a client.
        ForbiddenCommand => "forbidden_command",
        /// HTTP or a header line sent as a command.
        NonSmtp => "non_smtp",
        /// A command out of sequence.
        Sequence => "sequence",
        /// A parameter of an extension not advertised, or over a limit.
        Parameter => "parameter",
        /// A non-ASCII address without SMTPUTF8.
        Utf8 => "utf8",
        /// AUTH not possible now.
        Auth => "auth",
        /// A command ending in a bare LF.
        BareLf => "bare_lf",
        /// STARTTLS not offered.
        NotOffered => "not_offered",
        /// STARTTLS again, or after AUTH.
        Tls => "tls",
        /// Mail in plaintext on a `tls: required` listener.
        TlsRequired => "tls_required",
        /// A HELO/EHLO or client rule.
        Helo => "helo",
        /// Over `limits.max_recipients`.
        TooManyRecipients => "too_many_recipients",
        /// `limits.max_errors` reached.
        TooManyErrors => "too_many_errors",
        /// A junk command beyond `limits.max_junk_commands`.
        JunkCommand => "junk_command",
        /// Silent for `limits.idle_timeout`.
        IdleTimeout => "idle_timeout",
        /// A DATA transfer over `limits.data_timeout`.
        DataTimeout => "data_timeout",
        /// No final reply within `limits.final_reply_timeout`.
        FinalReplyTimeout => "final_reply_timeout",
        /// Over `limits.session_timeout`.
        SessionTimeout => "session_timeout",
        /// Talked before the greeting.
        EarlyTalker => "early_talker",
        /// Plaintext pipelined after STARTTLS (discarded).
        StarttlsPipelining => "starttls_pipelining",
        /// Broke SMTP's command synchronization under `limits.forbid_unauth_pipelining: reject`.
        ProtocolSync => "protocol_sync",
        /// Kept its upstream session waiting more often than doorman allows.
        SlowClient => "slow_client",
    }
}

label_enum! {
    /// Why a session ended without ever opening an upstream session
    /// (`doorman_sessions_without_upstream_total{reason}`): the MTA was spared it.
    NoUpstream {
        /// Talked before the greeting.
        EarlyTalker => "early_talker",
        /// Over `limits.max_connection_rate_per_ip`.
        ConnectionRate => "connection_rate",
        /// A HELO/EHLO or client rule refused the client.
        Refused => "refused",
        /// Broke SMTP's command synchronization (`limits.forbid_unauth_pipelining`).
        ProtocolSync => "protocol_sync",
        /// Spoke something that is not SMTP (HTTP, a header line).
        NonSmtp => "non_smtp",
        /// `limits.max_errors` reached.
        TooManyErrors => "too_many_errors",
        /// Idle or over the session time limit.
        Timeout => "timeout",
        /// doorman shut down.
        Shutdown => "shutdown",
        /// Said QUIT before anything needed the MTA.
        Quit => "quit",
        /// Closed the connection before anything needed the MTA.
        ClientClosed => "client_closed",
        /// The upstream could not be reached when the client needed it.
        UpstreamDown => "upstream_down",
    }
}
