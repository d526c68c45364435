//! Safe sending: what may reach the wire (no commands, no line breaks,
//! <= 500 chars) and when (Twitch's rate limits via governor, the room's slow
//! mode, no identical message within 30 s). Time comes from tokio's clock so
//! `tokio::time::pause()` drives it in tests.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::adapters::SendRejection;
use crate::model::Platform;

/// Twitch refuses the same text twice in a channel within this window.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);

/// Checks and cleans one outgoing text. Line breaks and control characters
/// become spaces (a raw CR/LF would let a draft inject IRC commands), and a
/// leading "/" or "." (a chat command such as `/ban` or `.timeout`) is
/// refused outright: this is the last line of defence behind the reply
/// pipeline's own filter.
pub fn clean_outgoing(text: &str) -> Result<String, SendRejection> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(SendRejection::Refused("empty message".into()));
    }
    if cleaned.starts_with('/') || cleaned.starts_with('.') {
        return Err(SendRejection::Refused(
            "starts with \"/\" or \".\", which Twitch runs as a chat command".into(),
        ));
    }
    let max = Platform::Twitch.max_message_chars();
    let len = cleaned.chars().count();
    if len > max {
        return Err(SendRejection::Refused(format!(
            "{len} characters is longer than Twitch's {max}"
        )));
    }
    Ok(cleaned.to_string())
}

/// governor's clock on top of tokio's, so paused test time drives the limiter.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            base: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.base)
    }
}

pub(crate) type Limiter =
    RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// A GCRA quota that can never exceed `limit` messages in any `window`:
/// a burst of half the limit, the other half spread over the window.
pub(crate) fn window_quota(limit: u32, window: Duration) -> Quota {
    let half = (limit / 2).max(1);
    let period = window / half;
    let burst = NonZeroU32::new(limit - half).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// Send limits, from config (`twitch.send_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// Messages per 30 s where the bot is not moderator/VIP/broadcaster.
    pub normal_per_30s: u32,
    /// Messages per 30 s where it is.
    pub privileged_per_30s: u32,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            normal_per_30s: 20,
            privileged_per_30s: 100,
        }
    }
}

#[derive(Debug, Default)]
struct ChannelSendState {
    privileged: bool,
    slow_mode: Duration,
    last_sent: Option<Instant>,
    recent: VecDeque<(Instant, String)>,
}

/// Decides when the next message may go to a channel.
pub struct SendGate {
    clock: TokioClock,
    normal: Limiter,
    privileged: Limiter,
    channels: HashMap<String, ChannelSendState>,
}

impl SendGate {
    pub fn new(limits: SendLimits) -> Self {
        let clock = TokioClock::default();
        let window = Duration::from_secs(30);
        Self {
            clock,
            normal: RateLimiter::direct_with_clock(
                window_quota(limits.normal_per_30s.max(1), window),
                clock,
            ),
            privileged: RateLimiter::direct_with_clock(
                window_quota(limits.privileged_per_30s.max(1), window),
                clock,
            ),
            channels: HashMap::new(),
        }
    }

    /// USERSTATE: moderator, VIP or broadcaster in `channel`.
    pub fn set_privileged(&mut self, channel: &str, privileged: bool) {
        self.channels
            .entry(channel.to_string())
            .or_default()
            .privileged = privileged;
    }

    pub fn is_privileged(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|c| c.privileged)
    }

    /// ROOMSTATE: the room's slow mode, 0 = off.
    pub fn set_slow_mode(&mut self, channel: &str, secs: u64) {
        self.channels
            .entry(channel.to_string())
            .or_default()
            .slow_mode = Duration::from_secs(secs);
    }

    /// `Err(Duplicate)` if the same text went to `channel` within 30 s.
    pub fn check_duplicate(
        &self,
        channel: &str,
        text: &str,
        now: Instant,
    ) -> Result<(), SendRejection> {
        let Some(ch) = self.channels.get(channel) else {
            return Ok(());
        };
        let dup = ch
            .recent
            .iter()
            .any(|(at, t)| now.saturating_duration_since(*at) < DUPLICATE_WINDOW && t == text);
        if dup {
            Err(SendRejection::Duplicate)
        } else {
            Ok(())
        }
    }

    /// `Ok(())` if a message may go to `channel` now, and then the rate
    /// limiter's cell is taken; else the instant to try again.
    pub fn try_acquire(&mut self, channel: &str, now: Instant) -> Result<(), Instant> {
        let ch = self.channels.entry(channel.to_string()).or_default();
        if let Some(last) = ch.last_sent {
            // A little margin: Twitch measures on its side of the network.
            let ready = last
                + ch.slow_mode
                + if ch.slow_mode.is_zero() {
                    Duration::ZERO
                } else {
                    Duration::from_millis(250)
                };
            if ready > now {
                return Err(ready);
            }
        }
        let limiter = if ch.privileged {
            &self.privileged
        } else {
            &self.normal
        };
        match limiter.check() {
            Ok(()) => Ok(()),
            Err(not_until) => Err(now + not_until.wait_time_from(self.clock.now())),
        }
    }

    /// Twitch refused a message: it is not in chat, so sending the same
    /// text again is no duplicate.
    pub fn forget_sent(&mut self, channel: &str, text: &str) {
        if let Some(ch) = self.channels.get_mut(channel)
            && let Some(i) = ch.recent.iter().rposition(|(_, t)| t == text)
        {
            ch.recent.remove(i);
        }
    }

    /// Records a message written to the wire.
    pub fn record_sent(&mut self, channel: &str, text: &str, now: Instant) {
        let ch = self.channels.entry(channel.to_string()).or_default();
        ch.last_sent = Some(now);
        while ch
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= DUPLICATE_WINDOW)
        {
            ch.recent.pop_front();
        }
        ch.recent.push_back((now, text.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_line_breaks_never_pass() {
        for bad in [
            "/ban rin",
            ".timeout rin 600",
            "   /mod x",
            "\n/ban x",
            "",
            "  \r\n ",
        ] {
            assert!(clean_outgoing(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            clean_outgoing("hi\r\nPRIVMSG #x :pwned").unwrap(),
            "hi  PRIVMSG #x :pwned"
        );
        assert_eq!(clean_outgoing("\u{1}ACTION x\u{1}").unwrap(), "ACTION x");
        assert_eq!(
            clean_outgoing("good game, 1/2 done.").unwrap(),
            "good game, 1/2 done."
        );
        let long = "é".repeat(501);
        assert!(matches!(
            clean_outgoing(&long),
            Err(SendRejection::Refused(_))
        ));
        assert!(clean_outgoing(&"é".repeat(500)).is_ok());
    }

    /// Counts acquisitions in every 30 s window while always waiting as told.
    async fn max_in_window(privileged: bool, sends: usize) -> usize {
        let mut gate = SendGate::new(SendLimits::default());
        gate.set_privileged("c", privileged);
        let mut times = Vec::new();
        while times.len() < sends {
            let now = Instant::now();
            match gate.try_acquire("c", now) {
                Ok(()) => {
                    gate.record_sent("c", &format!("m{}", times.len()), now);
                    times.push(now);
                }
                Err(at) => {
                    assert!(at > now, "must wait a positive time");
                    tokio::time::sleep_until(at).await;
                }
            }
        }
        let w = Duration::from_secs(30);
        times
            .iter()
            .map(|&start| {
                times
                    .iter()
                    .filter(|&&t| t >= start && t < start + w)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_20_per_30s_or_100_when_privileged() {
        let normal = max_in_window(false, 80).await;
        assert!((15..=20).contains(&normal), "normal window max {normal}");
        let privileged = max_in_window(true, 300).await;
        assert!(
            privileged <= 100 && privileged > 20,
            "privileged window max {privileged}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_mode_and_duplicates() {
        let mut gate = SendGate::new(SendLimits::default());
        gate.set_slow_mode("c", 10);
        let t0 = Instant::now();
        assert!(gate.try_acquire("c", t0).is_ok());
        gate.record_sent("c", "hello", t0);
        let again = gate
            .try_acquire("c", t0 + Duration::from_secs(1))
            .unwrap_err();
        assert!(again >= t0 + Duration::from_secs(10));
        // Another channel is not slowed by this one.
        assert!(gate.try_acquire("d", t0).is_ok());
        assert_eq!(
            gate.check_duplicate("c", "hello", t0 + Duration::from_secs(29)),
            Err(SendRejection::Duplicate)
        );
        assert!(
            gate.check_duplicate("c", "hello", t0 + Duration::from_secs(30))
                .is_ok()
        );
        assert!(gate.check_duplicate("d", "hello", t0).is_ok());
        assert!(gate.check_duplicate("c", "hello!", t0).is_ok());
    }
}
