//! Reconnect timing shared by every adapter: capped, jittered, exponential.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Reconnect timing: `initial * 2^attempt`, capped at `max`, then a uniform
/// pick in `[d/2, d]` so many clients do not reconnect in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0-based).
    pub fn delay(&self, attempt: u32, rng: &mut ChaCha8Rng) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        let full = self.initial.saturating_mul(factor).min(self.max);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for attempt in 0..30 {
            let full = Duration::from_secs(1u64 << attempt.min(10)).min(b.max);
            let d = b.delay(attempt, &mut rng);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        let a: Vec<_> = (0..5).map(|_| b.delay(6, &mut rng)).collect();
        assert!(a.windows(2).any(|w| w[0] != w[1]), "jittered: {a:?}");
    }
}
