//! Concurrent connections per client IP (`limits.max_connections_per_ip`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections per IP; a [`PerIpGuard`] releases its slot on drop.
#[derive(Debug, Default)]
pub(crate) struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's slot.
#[derive(Debug)]
pub(crate) struct PerIpGuard {
    owner: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Takes a slot for `ip`, or `None` if it already has `max` connections.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PerIpGuard> {
        // A poisoned lock only means another thread panicked mid-update of a
        // counter; the map itself is still usable.
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpGuard { owner: self.clone(), ip })
    }
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_ip_and_released() {
        let p = Arc::new(PerIp::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = p.try_acquire(a, 2).unwrap();
        let _g2 = p.try_acquire(a, 2).unwrap();
        assert!(p.try_acquire(a, 2).is_none());
        assert!(p.try_acquire(b, 2).is_some());
        drop(g1);
        assert!(p.try_acquire(a, 2).is_some());
    }
}
