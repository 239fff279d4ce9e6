//! Endpoint pools: requests are spread over a scanner's addresses round
//! robin; an endpoint that fails is skipped until its backoff expires
//! (doubling with each consecutive failure, up to a maximum), then tried
//! again. One dead clamd therefore costs one failed connect per backoff
//! period, not a tempfail per message, while another endpoint is up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ScannerAddress;

/// A scanner's endpoints and their health.
#[derive(Debug)]
pub struct Pool {
    endpoints: Vec<Endpoint>,
    /// Where the next round robin pass starts.
    next: AtomicUsize,
    backoff: Duration,
    max_backoff: Duration,
}

#[derive(Debug)]
struct Endpoint {
    address: ScannerAddress,
    health: Mutex<Health>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Health {
    /// Consecutive failures.
    failures: u32,
    /// Skipped until then.
    retry_at: Option<Instant>,
}

impl Pool {
    /// A pool over `addresses`; a failed endpoint rests `backoff`, doubling
    /// with each further failure up to `max_backoff`.
    pub fn new(addresses: &[ScannerAddress], backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            endpoints: addresses.iter().map(|a| Endpoint { address: a.clone(), health: Mutex::default() }).collect(),
            next: AtomicUsize::new(0),
            backoff,
            max_backoff: max_backoff.max(backoff),
        }
    }

    /// The order in which to try the endpoints for one request: the healthy
    /// ones round robin, then those resting, the soonest to recover first
    /// (better a late try than no try when all are down).
    pub fn order(&self) -> Vec<usize> {
        self.order_at(Instant::now())
    }

    fn order_at(&self, now: Instant) -> Vec<usize> {
        let n = self.endpoints.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut healthy = Vec::with_capacity(n);
        let mut resting = Vec::new();
        for i in (0..n).map(|k| (start + k) % n) {
            match self.health(i).retry_at {
                Some(t) if t > now => resting.push((t, i)),
                _ => healthy.push(i),
            }
        }
        resting.sort();
        healthy.extend(resting.into_iter().map(|(_, i)| i));
        healthy
    }

    /// The address of endpoint `i`.
    pub fn address(&self, i: usize) -> &ScannerAddress {
        &self.endpoints[i].address
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// The pool has no endpoints.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Endpoint `i` answered: it is healthy again.
    pub fn success(&self, i: usize) {
        if let Some(e) = self.endpoints.get(i) {
            *e.health.lock().unwrap_or_else(PoisonError::into_inner) = Health::default();
        }
    }

    /// Endpoint `i` failed: it rests for its backoff.
    pub fn failure(&self, i: usize) {
        self.failure_at(i, Instant::now());
    }

    fn failure_at(&self, i: usize, now: Instant) {
        let Some(e) = self.endpoints.get(i) else {
            return;
        };
        let mut h = e.health.lock().unwrap_or_else(PoisonError::into_inner);
        h.failures = h.failures.saturating_add(1);
        let doublings = h.failures.saturating_sub(1).min(16);
        let rest = self.backoff.saturating_mul(1 << doublings).min(self.max_backoff);
        h.retry_at = Some(now + rest);
    }

    /// Whether endpoint `i` is resting now.
    pub fn is_resting(&self, i: usize) -> bool {
        self.health(i).retry_at.is_some_and(|t| t > Instant::now())
    }

    fn health(&self, i: usize) -> Health {
        *self.endpoints[i].health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        let addrs: Vec<ScannerAddress> = (0..n).map(|i| ScannerAddress::Tcp(format!("10.0.0.{i}:3310"))).collect();
        Pool::new(&addrs, Duration::from_secs(2), Duration::from_secs(10))
    }

    #[test]
    fn round_robin_over_healthy_endpoints() {
        let p = pool(3);
        let now = Instant::now();
        let firsts: Vec<usize> = (0..6).map(|_| p.order_at(now)[0]).collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
        assert_eq!(p.order_at(now), [0, 1, 2]);
    }

    #[test]
    fn failed_endpoint_is_skipped_then_retried_after_backoff() {
        let p = pool(2);
        let now = Instant::now();
        p.failure_at(0, now);
        for _ in 0..4 {
            assert_eq!(p.order_at(now + Duration::from_secs(1)), [1, 0]);
        }
        // Backoff over: back in rotation.
        let later = now + Duration::from_secs(2);
        let mut firsts: Vec<usize> = (0..4).map(|_| p.order_at(later)[0]).collect();
        firsts.sort_unstable();
        assert_eq!(firsts, [0, 0, 1, 1]);
        // A success clears the count.
        p.success(0);
        assert!(!p.is_resting(0));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = pool(2);
        let now = Instant::now();
        let rest = |p: &Pool| p.health(0).retry_at.map(|t| t - now);
        p.failure_at(0, now);
        assert_eq!(rest(&p), Some(Duration::from_secs(2)));
        p.failure_at(0, now);
        assert_eq!(rest(&p), Some(Duration::from_secs(4)));
        p.failure_at(0, now);
        assert_eq!(rest(&p), Some(Duration::from_secs(8)));
        for _ in 0..40 {
            p.failure_at(0, now);
        }
        assert_eq!(rest(&p), Some(Duration::from_secs(10)));
    }

    #[test]
    fn all_down_still_tries_soonest_first() {
        let p = pool(3);
        let now = Instant::now();
        p.failure_at(2, now);
        p.failure_at(0, now);
        p.failure_at(0, now);
        p.failure_at(1, now + Duration::from_millis(500));
        // 2 rests until +2 s, 1 until +2.5 s, 0 until +4 s.
        assert_eq!(p.order_at(now), [2, 1, 0]);
    }
}
