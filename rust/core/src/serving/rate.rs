//! Events per second over a sliding window, counted lock-free.
//!
//! The window is a ring of one-second slots. Each slot packs the second it counts (high 32 bits)
//! and its count (low 32 bits) into one atomic, so an increment that lands in a new second
//! restarts the slot in the same compare-and-swap that counts it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Seconds in the window that [`RateWindow::per_second`] averages over.
pub const WINDOW_SECONDS: u64 = 10;
const SLOTS: usize = WINDOW_SECONDS as usize + 1;

/// A counter of events with their rate over the last [`WINDOW_SECONDS`] seconds.
pub struct RateWindow {
    origin: Instant,
    total: AtomicU64,
    slots: [AtomicU64; SLOTS],
}

impl RateWindow {
    /// An empty window whose seconds count from `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            total: AtomicU64::new(0),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Counts `n` events now.
    pub fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        let second = self.origin.elapsed().as_secs();
        let slot = &self.slots[(second % SLOTS as u64) as usize];
        let stamp = (second & 0xFFFF_FFFF) << 32;
        let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
            let count = if packed & !0xFFFF_FFFF == stamp {
                packed & 0xFFFF_FFFF
            } else {
                0
            };
            Some(stamp | (count + n).min(0xFFFF_FFFF))
        });
    }

    /// Every event ever counted.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Events per second over the completed seconds of the window (or since the start, when
    /// that is shorter), plus the current second's events over its elapsed fraction.
    pub fn per_second(&self) -> f64 {
        let elapsed = self.origin.elapsed();
        let now = elapsed.as_secs();
        let first = now.saturating_sub(WINDOW_SECONDS - 1);
        let mut events = 0u64;
        for second in first..=now {
            let packed = self.slots[(second % SLOTS as u64) as usize].load(Ordering::Relaxed);
            if packed >> 32 == second & 0xFFFF_FFFF {
                events += packed & 0xFFFF_FFFF;
            }
        }
        let span = elapsed.as_secs_f64() - first as f64;
        if span <= 0.0 {
            0.0
        } else {
            events as f64 / span
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_and_rates_events_over_the_window() {
        let origin = Instant::now().checked_sub(Duration::from_secs(30)).unwrap();
        let window = RateWindow::new(origin);
        for _ in 0..100 {
            window.add(3);
        }
        assert_eq!(window.total(), 300);
        // 300 events in the current second of a 10-second window: 30/s give or take the
        // fraction of the current second that has passed.
        let rate = window.per_second();
        assert!((27.0..=34.0).contains(&rate), "{rate}");
    }

    #[test]
    fn a_new_window_rates_over_its_own_age() {
        let window = RateWindow::new(Instant::now());
        assert!(window.per_second() >= 0.0);
        std::thread::sleep(Duration::from_millis(50));
        window.add(10);
        assert!(window.per_second() > 10.0);
    }
}
