//! Slow clients against a real Postfix with 10 smtpd processes: a flood of
//! clients that trickle their commands, or pass MAIL and RCPT and then
//! trickle their message, three times the MTA's processes. An honest client
//! still delivers every message, each within a bound: the late connect keeps
//! the first flood away from the MTA, and `upstream.release_after` gives the
//! second flood's upstream sessions back. (`bench/compare.sh slowloris` runs
//! the full-size flood: 800 clients against 100 processes.)

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::support::binary::Binary;
use crate::support::client::Client;
use crate::support::http::{get, sample};
use crate::support::postfix::small;
use crate::support::rcpt;

const FLOOD: usize = 30;
/// The most one honest message may take with the flood going on: the
/// release, the MTA freeing its processes, the delivery.
const BOUND: Duration = Duration::from_secs(8);

/// A client that gets as far as `phase` and then trickles a byte a second.
async fn slow(addr: std::net::SocketAddr, phase: &'static str) {
    let Some((mut c, _)) = tokio::time::timeout(Duration::from_secs(10), Client::connect(addr)).await.ok() else {
        return;
    };
    if phase == "data" {
        for cmd in ["EHLO slow.example.net", "MAIL FROM:<slow@sender.example>", "RCPT TO:<victim@example.test>", "DATA"]
        {
            if c.cmd(cmd).await.code() >= 400 {
                return;
            }
        }
    }
    for byte in b"EHLO slow.example.net\r\n".iter().cycle().take(60) {
        c.send(&[*byte]).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn honest(d: &Binary, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        let to = rcpt(&format!("honest-{i}"));
        Client::connect(d.addr).await.0.deliver(&to, "honest").await;
        took.push(started.elapsed());
    }
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_client_delivers_through_both_floods() {
    let upstream = format!("{}\n  release_after: 2s", small().addr());
    let d = Binary::start(&upstream, "limits:\n  max_connections_per_ip: 200\n  idle_timeout: 120s").await;
    let mut flood = JoinSet::new();
    for phase in ["commands", "data"] {
        for _ in 0..FLOOD {
            flood.spawn(slow(d.addr, phase));
        }
        // Let the flood settle: every slow client connected, and each of the
        // DATA flood's upstream sessions opened and given back.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let took = honest(&d, 5).await;
        assert!(took.iter().all(|t| *t < BOUND), "{phase} flood: {took:?}");
    }
    let page = get(d.admin, "/metrics").await.1;
    assert!(sample(&page, "doorman_upstream_releases_total") >= 1.0, "{page}");
    flood.abort_all();
}
