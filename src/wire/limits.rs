//! Protocol limits, with where each number comes from.

/// Maximum command line, including the command word and CRLF (RFC 5321 §4.5.3.1.4).
pub const COMMAND_LINE_MAX: usize = 512;

/// Maximum AUTH command or continuation line, including CRLF. RFC 4954 §4 requires
/// servers to accept at least 12288 octets for SASL exchanges; it is also the
/// read-buffer bound of the command channel.
pub const AUTH_LINE_MAX: usize = 12288;

/// Maximum message text line, including CRLF (RFC 5321 §4.5.3.1.6).
pub const TEXT_LINE_MAX: usize = 1000;

/// Maximum reply line, including the code and CRLF (RFC 5321 §4.5.3.1.5).
pub const REPLY_LINE_MAX: usize = 512;

/// Maximum line of the upstream's greeting. doorman replaces the greeting
/// (`banner.mode` rewrite or text) or checks it (pass) before a client sees
/// it, so its lines may be longer than a reply's: a long legal banner is
/// what doorman is put in front of an MTA to fix.
pub const GREETING_LINE_MAX: usize = 4096;

/// How many lines one upstream reply may have before it is treated as garbage.
/// Real EHLO replies have about 15; this bounds memory for a hostile upstream.
pub const REPLY_LINES_MAX: usize = 100;

/// Maximum local part of a mailbox (RFC 5321 §4.5.3.1.1).
pub const LOCAL_PART_MAX: usize = 64;

/// Maximum domain (RFC 5321 §4.5.3.1.2).
pub const DOMAIN_MAX: usize = 255;

/// Maximum reverse- or forward-path, including the angle brackets (RFC 5321 §4.5.3.1.3).
pub const PATH_MAX: usize = 256;
