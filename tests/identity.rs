//! TLS, AUTH and the real client toward the upstream, against the open-relay
//! trap: a real Postfix whose `mynetworks` trusts doorman's own address
//! (127.0.0.1/32) and that authorizes XCLIENT from it; a second listener
//! requires a PROXY header. Clients connect from 127.0.0.2, which Postfix does
//! not trust: relaying for them must be refused in every identity mode that
//! carries their address, and the `none` mode shows the trap is real.

mod support;

#[path = "identity/relay_trap.rs"]
mod relay_trap;
#[path = "identity/tls.rs"]
mod tls;
#[path = "identity/tls_offer.rs"]
mod tls_offer;
#[path = "identity/tls_received.rs"]
mod tls_received;
