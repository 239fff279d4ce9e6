//! Postfix's `smtp-sink` as a real upstream that a test can stop, for the
//! readiness tests (stopping the shared Postfix would disturb other tests).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A running smtp-sink; killed on drop.
pub struct Sink {
    pub addr: SocketAddr,
    child: Child,
}

impl Sink {
    /// Starts smtp-sink on a free loopback port and waits for its banner.
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new("smtp-sink")
            .args(["-u", "nobody", "-h", "sink.test", &format!("127.0.0.1:{port}"), "64"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink is missing: run tests/support/install-deps.sh");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "smtp-sink did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { addr, child }
    }

    /// Stops it now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}
