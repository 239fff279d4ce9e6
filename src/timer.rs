//! A connection's one timer. Every wait on a peer is bounded, and a fresh
//! tokio timer per wait costs a timer-wheel insert and removal each time: a
//! tenth of doorman's instructions per relayed message went there. A
//! connection instead keeps one timer armed at or before the deadline it
//! waits for; when it fires early, it is re-armed. Deadlines that move later,
//! the usual case (each command pushes the idle deadline on), cost nothing.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Where a new timer points before its first wait: far enough never to fire.
const UNARMED: Duration = Duration::from_secs(86_400 * 365);

/// One connection's timer; see the module docs.
#[derive(Debug)]
pub(crate) struct Timer {
    sleep: Pin<Box<Sleep>>,
}

impl Timer {
    /// A timer that is not armed yet.
    pub(crate) fn new() -> Self {
        Self { sleep: Box::pin(tokio::time::sleep_until(Instant::now() + UNARMED)) }
    }

    /// Completes once `deadline` has passed. Cancel-safe: dropped early, the
    /// timer stays armed for the next wait.
    pub(crate) async fn until(&mut self, deadline: Instant) {
        loop {
            if self.sleep.deadline() > deadline {
                self.sleep.as_mut().reset(deadline);
            }
            (&mut self.sleep).await;
            if Instant::now() >= deadline {
                return;
            }
            self.sleep.as_mut().reset(deadline);
        }
    }

    /// Runs `fut` until `deadline`; `None` if the deadline came first (and
    /// `fut` is dropped).
    pub(crate) async fn within<F: Future>(&mut self, deadline: Instant, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = fut => Some(out),
            () = self.until(deadline) => None,
        }
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_at_each_deadline_earlier_or_later() {
        let mut timer = Timer::new();
        let start = Instant::now();
        timer.until(start + Duration::from_secs(10)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // Later than the armed time: re-armed when the old one fires.
        timer.until(start + Duration::from_secs(25)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(25));
        // A deadline that moved on while the timer was armed earlier.
        let pending = timer.within(start + Duration::from_secs(40), std::future::pending::<()>());
        assert_eq!(pending.await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(40));
        // Earlier than the armed time: re-armed at once.
        let early = Instant::now() + Duration::from_secs(3);
        timer.sleep.as_mut().reset(Instant::now() + Duration::from_secs(100));
        timer.until(early).await;
        assert_eq!(start.elapsed(), Duration::from_secs(43));
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_future_wins_and_a_past_deadline_still_stops_a_pending_one() {
        let mut timer = Timer::new();
        assert_eq!(timer.within(Instant::now(), async { 7 }).await, Some(7));
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(timer.within(past, std::future::pending::<()>()).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_leaves_the_next_one_exact() {
        let mut timer = Timer::new();
        let start = Instant::now();
        let long = timer.within(start + Duration::from_secs(300), std::future::ready(()));
        assert_eq!(long.await, Some(()));
        timer.until(start + Duration::from_secs(400)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(400));
    }
}
