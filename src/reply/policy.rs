//! The auto-send policy (pure): whether a finished draft may go out on its own,
//! and why not. The attention machine's per-state response rate was already
//! applied when the message was selected; this adds the channel's delay between
//! bot messages, a global cap on sends per minute and a lowest priority.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::model::{DraftSource, Platform, Priority};
use crate::validate::{ConfigError, check_range};

/// The `[auto]` config section: what `--auto` (and the console's auto-send) may send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoConfig {
    /// Most replies sent per minute over all channels (1..=120); also caps
    /// operator-approved sends, as platforms rate-limit bots.
    pub max_sends_per_minute: u32,
    /// Lowest priority of a message that is answered without the operator:
    /// "LOW", "MEDIUM", "HIGH" or "CRITICAL".
    pub min_priority: Priority,
    /// Let fallback replies (the LLM failed) go out on their own. Off: a
    /// fallback always waits for the operator.
    pub send_fallbacks: bool,
    /// Seconds a draft waits for approval before it expires (10..=3600).
    pub draft_ttl_s: u64,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            max_sends_per_minute: 6,
            min_priority: Priority::Medium,
            send_fallbacks: false,
            draft_ttl_s: 120,
        }
    }
}

impl AutoConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range(
            "auto.max_sends_per_minute",
            self.max_sends_per_minute,
            1,
            120,
        )?;
        check_range("auto.draft_ttl_s", self.draft_ttl_s, 10, 3600)
    }
}

/// What the policy needs to know about a draft.
#[derive(Debug, Clone, Copy)]
pub struct DraftFacts<'a> {
    pub platform: Platform,
    pub channel: &'a str,
    pub source: DraftSource,
    /// The answered message's priority; `None` for unprompted lines.
    pub priority: Option<Priority>,
    /// The channel's `time_delay_s`.
    pub time_delay_s: u64,
    /// The answered message was held for review and released by the
    /// operator: its reply is the operator's to send, never the policy's.
    pub reviewed: bool,
}

/// A policy verdict with its reason, for the decision log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub send: bool,
    pub reason: String,
}

impl Verdict {
    fn no(reason: String) -> Self {
        Self {
            send: false,
            reason,
        }
    }
}

/// The policy's memory: recent sends overall and the last send per channel.
#[derive(Debug, Clone)]
pub struct AutoPolicy {
    cfg: AutoConfig,
    recent: VecDeque<DateTime<Utc>>,
    last_in_channel: HashMap<(Platform, String), DateTime<Utc>>,
}

impl AutoPolicy {
    pub fn new(cfg: AutoConfig) -> Self {
        Self {
            cfg,
            recent: VecDeque::new(),
            last_in_channel: HashMap::new(),
        }
    }

    pub fn config(&self) -> &AutoConfig {
        &self.cfg
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let minute_ago = now - TimeDelta::seconds(60);
        while self.recent.front().is_some_and(|t| *t <= minute_ago) {
            self.recent.pop_front();
        }
    }

    /// The platform-safety part every send passes, the operator's included.
    pub fn rate_allows(&mut self, now: DateTime<Utc>) -> Verdict {
        self.prune(now);
        let n = self.recent.len() as u32;
        if n >= self.cfg.max_sends_per_minute {
            return Verdict::no(format!(
                "{n} sends in the last minute (max {})",
                self.cfg.max_sends_per_minute
            ));
        }
        Verdict {
            send: true,
            reason: format!(
                "{n} sends in the last minute (max {})",
                self.cfg.max_sends_per_minute
            ),
        }
    }

    /// Whether a finished draft may be sent without the operator at `now`.
    pub fn auto_send(&mut self, d: &DraftFacts<'_>, now: DateTime<Utc>) -> Verdict {
        if d.reviewed {
            return Verdict::no(
                "answers a message released from review: waits for the operator".into(),
            );
        }
        if d.source == DraftSource::Fallback && !self.cfg.send_fallbacks {
            return Verdict::no("fallback reply: waits for the operator".into());
        }
        if let Some(p) = d.priority
            && p < self.cfg.min_priority
        {
            return Verdict::no(format!(
                "priority {p} below the minimum {}",
                self.cfg.min_priority
            ));
        }
        if let Some(last) = self
            .last_in_channel
            .get(&(d.platform, d.channel.to_string()))
        {
            let gap = now - *last;
            let delay =
                TimeDelta::seconds(i64::try_from(d.time_delay_s).unwrap_or(i64::MAX / 1000));
            if gap < delay {
                return Verdict::no(format!(
                    "the bot spoke in {} #{} {} s ago (time_delay {} s)",
                    d.platform,
                    d.channel,
                    gap.num_seconds(),
                    d.time_delay_s
                ));
            }
        }
        let rate = self.rate_allows(now);
        if !rate.send {
            return rate;
        }
        let prio = d
            .priority
            .map_or_else(|| "unprompted".to_string(), |p| format!("priority {p}"));
        Verdict {
            send: true,
            reason: format!("{prio}, channel delay passed, {}", rate.reason),
        }
    }

    /// Why a draft for `platform`/`channel` started at `now` could never be
    /// auto-sent: the channel's delay since the bot last spoke there ends only
    /// after the draft expires (`draft_ttl_s`). Drafting it would spend the
    /// LLM's time on text that can only expire. `None`: it may be sent in time.
    pub fn delay_outlasts_draft(
        &self,
        platform: Platform,
        channel: &str,
        time_delay_s: u64,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let last = self.last_in_channel.get(&(platform, channel.to_string()))?;
        let delay = TimeDelta::seconds(i64::try_from(time_delay_s).unwrap_or(i64::MAX / 1000));
        let ttl =
            TimeDelta::seconds(i64::try_from(self.cfg.draft_ttl_s).unwrap_or(i64::MAX / 1000));
        let delay_ends = *last + delay;
        (delay_ends > now + ttl).then(|| {
            format!(
                "the bot spoke in {platform} #{channel} {} s ago: its delay ({time_delay_s} s) \
                 ends after a draft started now would expire ({} s)",
                (now - *last).num_seconds(),
                self.cfg.draft_ttl_s
            )
        })
    }

    /// A reply went out on `platform`/`channel` at `now`.
    pub fn record_send(&mut self, platform: Platform, channel: &str, now: DateTime<Utc>) {
        self.recent.push_back(now);
        let e = self
            .last_in_channel
            .entry((platform, channel.to_string()))
            .or_insert(now);
        *e = (*e).max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_draft_starts_when_the_delay_outlasts_its_life() {
        let mut p = AutoPolicy::new(AutoConfig {
            draft_ttl_s: 120,
            ..AutoConfig::default()
        });
        assert_eq!(
            p.delay_outlasts_draft(Platform::Twitch, "mika", 300, t(0)),
            None,
            "never spoke there"
        );
        p.record_send(Platform::Twitch, "mika", t(0));
        // 300 s delay ends at t=300; a draft made at t=179 expires at t=299.
        let why = p.delay_outlasts_draft(Platform::Twitch, "mika", 300, t(179));
        assert!(
            why.as_deref().is_some_and(|w| w.contains("179 s ago")),
            "{why:?}"
        );
        // Made at t=180 it lives until t=300, when the delay has passed.
        assert_eq!(
            p.delay_outlasts_draft(Platform::Twitch, "mika", 300, t(180)),
            None
        );
        assert_eq!(
            p.delay_outlasts_draft(Platform::Twitch, "other", 300, t(1)),
            None
        );
        assert_eq!(
            p.delay_outlasts_draft(Platform::Youtube, "mika", 300, t(1)),
            None
        );
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::seconds(s)
    }

    fn facts(source: DraftSource, priority: Option<Priority>, delay: u64) -> DraftFacts<'static> {
        DraftFacts {
            platform: Platform::Twitch,
            channel: "mika",
            source,
            priority,
            time_delay_s: delay,
            reviewed: false,
        }
    }

    #[test]
    fn a_reply_to_a_released_message_never_goes_out_on_its_own() {
        let mut p = AutoPolicy::new(AutoConfig::default());
        let f = DraftFacts {
            reviewed: true,
            ..facts(DraftSource::Llm, Some(Priority::Critical), 0)
        };
        let v = p.auto_send(&f, t(0));
        assert!(
            !v.send && v.reason.contains("released from review"),
            "{v:?}"
        );
    }

    #[test]
    fn fallbacks_and_low_priority_wait_for_the_operator() {
        let mut p = AutoPolicy::new(AutoConfig::default());
        let v = p.auto_send(
            &facts(DraftSource::Fallback, Some(Priority::Critical), 0),
            t(0),
        );
        assert!(!v.send && v.reason.contains("fallback"), "{v:?}");
        let v = p.auto_send(&facts(DraftSource::Llm, Some(Priority::Low), 0), t(0));
        assert!(!v.send && v.reason.contains("below"), "{v:?}");
        let v = p.auto_send(&facts(DraftSource::Llm, Some(Priority::Medium), 0), t(0));
        assert!(v.send, "{v:?}");
        let mut p = AutoPolicy::new(AutoConfig {
            send_fallbacks: true,
            ..AutoConfig::default()
        });
        assert!(
            p.auto_send(&facts(DraftSource::Fallback, Some(Priority::High), 0), t(0))
                .send
        );
    }

    #[test]
    fn channel_delay_and_rate_cap_hold_sends() {
        let mut p = AutoPolicy::new(AutoConfig {
            max_sends_per_minute: 2,
            ..AutoConfig::default()
        });
        let f = facts(DraftSource::Llm, Some(Priority::High), 30);
        assert!(p.auto_send(&f, t(0)).send);
        p.record_send(Platform::Twitch, "mika", t(0));
        let v = p.auto_send(&f, t(10));
        assert!(!v.send && v.reason.contains("time_delay 30"), "{v:?}");
        assert!(p.auto_send(&f, t(30)).send);
        p.record_send(Platform::Twitch, "mika", t(30));
        // Another channel has no delay yet, but the per-minute cap (2) is reached.
        let other = DraftFacts {
            channel: "other",
            ..f
        };
        let v = p.auto_send(&other, t(40));
        assert!(!v.send && v.reason.contains("max 2"), "{v:?}");
        // A minute after the first send, one slot is free again.
        assert!(p.auto_send(&other, t(61)).send);
    }

    #[test]
    fn config_validates_and_parses_priority_names() {
        let c: AutoConfig = toml::from_str("min_priority = \"HIGH\"").unwrap();
        assert_eq!(c.min_priority, Priority::High);
        assert!(c.validate().is_ok());
        let bad = AutoConfig {
            max_sends_per_minute: 0,
            ..AutoConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("auto.max_sends_per_minute")
        );
    }
}
