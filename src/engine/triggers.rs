//! Unprompted speech and mentions: per (platform, channel), decides when the
//! bot should speak without being asked (enough chat since it last spoke and
//! enough time passed) and notices when a message names the bot.
//!
//! Rules:
//! - Every viewer message counts. Once `message_threshold` messages have
//!   arrived since the bot last spoke AND `time_delay_s` has passed since its
//!   last message and since the last unprompted trigger (or neither happened
//!   in the channel), the message that tips it over yields an `Unprompted`
//!   trigger. The count then restarts. The delay runs from the trigger too,
//!   not only from a send: when nothing is sent (auto off, a held fallback,
//!   the LLM down) the trigger would otherwise fire again every
//!   `message_threshold` messages and storm the LLM with unprompted drafts.
//! - The broadcaster's messages never trigger: the streamer talking in their
//!   own chat needs no answer from their bot.
//! - A message that names the bot yields a `Mention` trigger at once,
//!   regardless of threshold and delay: someone is talking to it. (Sending
//!   limits belong to the outbound rate limiter, not here.)
//! - A message whose author IS the bot (some platforms echo our own messages)
//!   counts as `on_bot_message` and never triggers.
//! - Quiet chat (issue 12 item 5): once no viewer has written in a channel
//!   for the quiet time, and `time_delay_s` has passed since the bot last
//!   spoke or was triggered there, [`Triggers::quiet_due`] yields a `Quiet`
//!   trigger: the bot may open a topic. Once per quiet spell: the next one
//!   needs a viewer message first, so an empty room is not talked at.
//!
//! Memory is O(1) per channel (a counter and a timestamp) and the number of
//! channels tracked is capped.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::engine::lexicon::FxMixBuild;
use crate::model::{ChannelConfig, ChatMessage, Platform, Role};

/// Most channels tracked; beyond it the least recently active one is
/// forgotten (it merely starts counting afresh if it comes back).
pub const MAX_CHANNELS: usize = 10_000;

/// Why the bot should speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Enough chat went by since the bot last spoke.
    Unprompted,
    /// The message names the bot.
    Mention,
    /// Nobody has written for the quiet time: the bot may open a topic.
    Quiet,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Unprompted => "unprompted",
            TriggerKind::Mention => "mention",
            TriggerKind::Quiet => "quiet",
        }
    }
}

/// A reason for the bot to draft a message in a channel, tied to the message
/// that set it off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub platform: Platform,
    pub channel: String,
    pub message_id: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct ChannelState {
    since_bot: u32,
    last_bot_at: Option<DateTime<Utc>>,
    /// The last unprompted trigger: its delay counts like a send's.
    last_trigger_at: Option<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
    /// The last viewer message, and whether a quiet trigger may follow it
    /// (cleared when one fires, set again by the next viewer message).
    last_viewer_at: Option<DateTime<Utc>>,
    quiet_armed: bool,
}

/// Trigger state of every channel, plus the bot's names for mentions.
#[derive(Debug, Clone)]
pub struct Triggers {
    names: Vec<String>,
    /// By [`Platform::index`], then channel name: looked up by `&str`, so a
    /// message costs no key allocation.
    channels: [HashMap<String, ChannelState, FxMixBuild>; 3],
}

/// Lower-case, trimmed, without a leading `@`: how names are compared.
fn normalize_name(name: &str) -> String {
    name.trim().trim_start_matches('@').trim().to_lowercase()
}

/// Usernames are made of these, so a name inside them is not a mention.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `needle` occurs in `hay` with no word character on either side.
fn contains_word(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = hay[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word_char(c));
        let after_ok = hay[end..].chars().next().is_none_or(|c| !is_word_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Whether `text` names one of `names`: case-insensitive, as `@name` or the
/// bare name as a whole word ("hi clank!", "@Clank", "clank's"), never inside
/// another word ("clanky", "xclank", "clank_fan"). Empty names never match.
pub fn is_mention(text: &str, names: &[String]) -> bool {
    let names: Vec<String> = names
        .iter()
        .map(|n| normalize_name(n))
        .filter(|n| !n.is_empty())
        .collect();
    mentions(text, &names)
}

/// [`is_mention`] over names already normalized (and none empty). Chat is
/// mostly ASCII, and ASCII text is searched in place, ignoring ASCII case,
/// without lowercasing a copy of it: this runs on every message.
fn mentions(text: &str, normalized: &[String]) -> bool {
    if normalized.is_empty() {
        return false;
    }
    if text.is_ascii() {
        // Lowercased ASCII stays ASCII, so a name with other characters cannot occur.
        return normalized
            .iter()
            .any(|n| n.is_ascii() && contains_word_ascii(text.as_bytes(), n.as_bytes()));
    }
    let hay = text.to_lowercase();
    normalized.iter().any(|n| contains_word(&hay, n))
}

/// [`contains_word`] for ASCII `hay`, any case, and lowercase ASCII `needle`.
fn contains_word_ascii(hay: &[u8], needle: &[u8]) -> bool {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let (Some(&lower), Some(last)) = (needle.first(), hay.len().checked_sub(needle.len())) else {
        return false;
    };
    let upper = lower.to_ascii_uppercase();
    // A plain loop over candidate first bytes: this is a per-message cost.
    for (start, &b) in hay[..=last].iter().enumerate() {
        if b != lower && b != upper {
            continue;
        }
        let end = start + needle.len();
        if hay[start..end].eq_ignore_ascii_case(needle)
            && (start == 0 || !is_word(hay[start - 1]))
            && hay.get(end).is_none_or(|&b| !is_word(b))
        {
            return true;
        }
    }
    false
}

impl Triggers {
    /// `names`: the bot's names on all platforms (with or without `@`).
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let names = names
            .into_iter()
            .map(|n| normalize_name(n.as_ref()))
            .filter(|n| !n.is_empty())
            .collect();
        Self {
            names,
            channels: Default::default(),
        }
    }

    /// The bot's names, normalized.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Viewer messages since the bot last spoke (or the last unprompted trigger).
    pub fn messages_since_bot(&self, platform: Platform, channel: &str) -> u32 {
        self.channels[platform.index()]
            .get(channel)
            .map_or(0, |s| s.since_bot)
    }

    pub fn last_bot_message_at(&self, platform: Platform, channel: &str) -> Option<DateTime<Utc>> {
        self.channels[platform.index()]
            .get(channel)
            .and_then(|s| s.last_bot_at)
    }

    /// Number of channels tracked.
    pub fn channel_count(&self) -> usize {
        self.channels.iter().map(HashMap::len).sum()
    }

    /// Drops a channel's state (the bot left it).
    pub fn forget(&mut self, platform: Platform, channel: &str) {
        self.channels[platform.index()].remove(channel);
    }

    /// The channel's state, made fresh if it is new. (`None` cannot happen:
    /// the entry is there after the insert. Two lookups rather than one
    /// `entry`, because `entry` needs an owned key: a `String` per message.)
    fn channel_mut(
        &mut self,
        platform: Platform,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Option<&mut ChannelState> {
        let p = platform.index();
        if !self.channels[p].contains_key(channel) {
            if self.channel_count() >= MAX_CHANNELS {
                // O(n), but only when a new channel arrives at the cap.
                let oldest = self
                    .channels
                    .iter()
                    .enumerate()
                    .flat_map(|(i, m)| m.iter().map(move |(k, s)| (i, k, s.last_seen)))
                    .min_by_key(|(_, _, seen)| *seen)
                    .map(|(i, k, _)| (i, k.clone()));
                if let Some((i, k)) = oldest {
                    self.channels[i].remove(&k);
                }
            }
            self.channels[p].insert(
                channel.to_string(),
                ChannelState {
                    since_bot: 0,
                    last_bot_at: None,
                    last_trigger_at: None,
                    last_seen: now,
                    last_viewer_at: None,
                    quiet_armed: false,
                },
            );
        }
        let state = self.channels[p].get_mut(channel)?;
        state.last_seen = state.last_seen.max(now);
        Some(state)
    }

    /// The author is the bot's (or the streamer's) own account.
    pub fn is_bot(&self, author_name: &str) -> bool {
        let trimmed = author_name.trim().trim_start_matches('@').trim();
        if trimmed.is_ascii() {
            // `normalize_name` without the copy: the names are lowercase already.
            return self.names.iter().any(|n| n.eq_ignore_ascii_case(trimmed));
        }
        let n = normalize_name(author_name);
        self.names.contains(&n)
    }

    /// One viewer message arrived in its channel at `now`.
    pub fn on_message(
        &mut self,
        msg: &ChatMessage,
        cfg: &ChannelConfig,
        now: DateTime<Utc>,
    ) -> Option<Trigger> {
        if self.is_bot(&msg.author.name) {
            self.on_bot_message(msg.platform, &msg.channel, now);
            return None;
        }
        if msg.author.has(Role::Broadcaster) {
            return None;
        }
        let mentioned = mentions(&msg.text, &self.names);
        let threshold = cfg.message_threshold.max(1);
        let delay = TimeDelta::seconds(i64::try_from(cfg.time_delay_s).unwrap_or(i64::MAX / 1000));
        let state = self.channel_mut(msg.platform, &msg.channel, now)?;
        state.since_bot = state.since_bot.saturating_add(1);
        state.last_viewer_at = Some(state.last_viewer_at.map_or(now, |t| t.max(now)));
        state.quiet_armed = true;
        let count = state.since_bot;

        let trigger = |kind, reason| Trigger {
            kind,
            platform: msg.platform,
            channel: msg.channel.clone(),
            message_id: msg.id.clone(),
            reason,
            at: now,
        };
        if mentioned {
            return Some(trigger(
                TriggerKind::Mention,
                format!("{} mentioned the bot", msg.author.name),
            ));
        }
        if count < threshold {
            return None;
        }
        // The later of the last send and the last trigger starts the delay.
        let last = match (state.last_bot_at, state.last_trigger_at) {
            (Some(b), Some(t)) if t > b => Some((t, "the last unprompted trigger")),
            (Some(b), _) => Some((b, "the bot last spoke")),
            (None, Some(t)) => Some((t, "the last unprompted trigger")),
            (None, None) => None,
        };
        let since_last = match last {
            None => None,
            Some((last, what)) => {
                let elapsed = now - last;
                if elapsed < delay {
                    return None;
                }
                Some((elapsed, what))
            }
        };
        state.since_bot = 0;
        state.last_trigger_at = Some(state.last_trigger_at.map_or(now, |t| t.max(now)));
        let reason = match since_last {
            None => format!(
                "{count} messages (threshold {threshold}) and the bot has not spoken here yet"
            ),
            Some((e, what)) => format!(
                "{count} messages (threshold {threshold}) and {}s since {what} (delay {}s)",
                e.num_seconds(),
                cfg.time_delay_s
            ),
        };
        Some(trigger(TriggerKind::Unprompted, reason))
    }

    /// Channels that have been quiet for `quiet_after` at `now` and whose
    /// delay (`delay_s` of the channel) has passed since the bot last spoke
    /// or was triggered there: one `Quiet` trigger each, in a stable order.
    /// The caller decides whether the streamer's attention allows it.
    pub fn quiet_due(
        &mut self,
        now: DateTime<Utc>,
        quiet_after: TimeDelta,
        delay_s: impl Fn(Platform, &str) -> u64,
    ) -> Vec<Trigger> {
        let mut out = Vec::new();
        for platform in Platform::ALL {
            let mut due: Vec<&String> = self.channels[platform.index()]
                .iter()
                .filter(|(_, st)| st.quiet_armed)
                .filter(|(_, st)| st.last_viewer_at.is_some_and(|t| now - t >= quiet_after))
                .map(|(name, _)| name)
                .collect();
            due.sort();
            let due: Vec<String> = due.into_iter().cloned().collect();
            for channel in due {
                let delay_s = delay_s(platform, &channel);
                let delay = TimeDelta::seconds(i64::try_from(delay_s).unwrap_or(i64::MAX / 1000));
                let Some(st) = self.channels[platform.index()].get_mut(&channel) else {
                    continue;
                };
                let last = st.last_bot_at.max(st.last_trigger_at);
                if last.is_some_and(|t| now - t < delay) {
                    continue;
                }
                let quiet_for = st.last_viewer_at.map_or(0, |t| (now - t).num_seconds());
                st.quiet_armed = false;
                st.since_bot = 0;
                st.last_trigger_at = Some(st.last_trigger_at.map_or(now, |t| t.max(now)));
                out.push(Trigger {
                    kind: TriggerKind::Quiet,
                    platform,
                    channel,
                    message_id: String::new(),
                    reason: format!(
                        "no viewer message for {quiet_for} s (quiet after {} s, delay {delay_s} s)",
                        quiet_after.num_seconds()
                    ),
                    at: now,
                });
            }
        }
        out
    }

    /// The bot spoke in the channel at `now`: the count and the delay restart.
    pub fn on_bot_message(&mut self, platform: Platform, channel: &str, now: DateTime<Utc>) {
        if let Some(state) = self.channel_mut(platform, channel, now) {
            state.since_bot = 0;
            state.last_bot_at = Some(state.last_bot_at.map_or(now, |t| t.max(now)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Author;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(s: i64) -> DateTime<Utc> {
        t0() + TimeDelta::seconds(s)
    }

    fn msg(platform: Platform, channel: &str, id: &str, author: &str, text: &str) -> ChatMessage {
        ChatMessage {
            platform,
            channel: channel.into(),
            id: id.into(),
            at: t0(),
            author: Author {
                id: author.to_lowercase(),
                name: author.into(),
                ..Author::default()
            },
            text: text.into(),
            paid: None,
            reply_to: None,
        }
    }

    fn cfg(threshold: u32, delay: u64) -> ChannelConfig {
        ChannelConfig {
            message_threshold: threshold,
            time_delay_s: delay,
            ..ChannelConfig::default()
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Sends `n` plain messages at `t`; returns the triggers.
    fn send(tr: &mut Triggers, c: &ChannelConfig, chan: &str, n: u32, t: i64) -> Vec<Trigger> {
        (0..n)
            .filter_map(|i| {
                tr.on_message(
                    &msg(
                        Platform::Twitch,
                        chan,
                        &format!("{t}-{i}"),
                        "viewer",
                        "nice play",
                    ),
                    c,
                    at(t),
                )
            })
            .collect()
    }

    #[test]
    fn mention_detection() {
        let n = names(&["Clank"]);
        for yes in [
            "@clank hi",
            "hey Clank!",
            "CLANK",
            "clank's take?",
            "ok,clank.",
            "(@Clank)",
            "clank-bot",
            "yo\nclank",
        ] {
            assert!(is_mention(yes, &n), "{yes:?}");
        }
        for no in [
            "clanky",
            "xclank",
            "clank_fan",
            "clank2",
            "@clanker",
            "cl ank",
            "",
            "ÜberClank",
        ] {
            assert!(!is_mention(no, &n), "{no:?}");
        }
        // A later whole-word occurrence counts even after one inside a word.
        assert!(is_mention("clanky says clank", &n));
        // Configured names may carry an @, spaces around, capitals, spaces inside.
        assert!(is_mention("hi @mika_bot", &names(&[" @Mika_Bot "])));
        assert!(is_mention("ask clank bot", &names(&["Clank Bot"])));
        assert!(!is_mention("ask clank botty", &names(&["Clank Bot"])));
        // Empty names match nothing.
        assert!(!is_mention("anything", &names(&["", "@", "  "])));
        assert!(!is_mention("anything", &[]));
        // Non-ASCII names and text.
        assert!(is_mention("danke, Glühbot!", &names(&["glühbot"])));
    }

    #[test]
    fn unprompted_after_threshold_when_never_spoken() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(3, 300);
        assert!(send(&mut tr, &c, "chan", 2, 0).is_empty());
        let ts = send(&mut tr, &c, "chan", 1, 1);
        assert_eq!(ts.len(), 1);
        let t = &ts[0];
        assert_eq!(
            (
                t.kind,
                t.platform,
                t.channel.as_str(),
                t.message_id.as_str(),
                t.at
            ),
            (
                TriggerKind::Unprompted,
                Platform::Twitch,
                "chan",
                "1-0",
                at(1)
            )
        );
        assert!(
            t.reason.contains("3 messages (threshold 3)") && t.reason.contains("not spoken"),
            "{}",
            t.reason
        );
        // The count restarted and the delay runs from the trigger: a rejected
        // (or never sent) draft does not re-fire after the next 3 messages.
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "chan"), 0);
        assert!(send(&mut tr, &c, "chan", 3, 2).is_empty());
        assert!(send(&mut tr, &c, "chan", 30, 300).is_empty(), "299 s after");
        let again = send(&mut tr, &c, "chan", 1, 301);
        assert_eq!(again.len(), 1);
        assert!(
            again[0]
                .reason
                .contains("300s since the last unprompted trigger (delay 300s)"),
            "{}",
            again[0].reason
        );
    }

    /// Nothing is ever sent (auto off, LLM down, fallbacks held): a day of busy
    /// chat on the virtual clock yields at most one trigger per delay.
    #[test]
    fn no_trigger_storm_when_nothing_is_sent() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(30, 300);
        let mut fired = Vec::new();
        // 300,000 messages, 10 a second: 30,000 s of chat.
        for i in 0..300_000i64 {
            let m = msg(
                Platform::Twitch,
                "chan",
                &i.to_string(),
                "viewer",
                "nice play",
            );
            if let Some(t) = tr.on_message(&m, &c, at(i / 10)) {
                fired.push(t.at);
            }
        }
        assert!(fired.len() <= 30_000 / 300 + 1, "{} triggers", fired.len());
        assert!(fired.len() >= 30_000 / 301, "still speaks: {}", fired.len());
        for w in fired.windows(2) {
            assert!(w[1] - w[0] >= TimeDelta::seconds(300), "{:?}", w);
        }
    }

    #[test]
    fn the_broadcaster_never_triggers() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(1, 0);
        let mut m = msg(
            Platform::Twitch,
            "chan",
            "b1",
            "Mika",
            "@clank say hi to chat",
        );
        m.author.roles = vec![Role::Broadcaster];
        assert!(tr.on_message(&m, &c, at(0)).is_none());
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "chan"), 0);
    }

    #[test]
    fn delay_since_the_bot_spoke_must_pass_exactly() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(3, 300);
        tr.on_bot_message(Platform::Twitch, "chan", at(0));
        assert!(send(&mut tr, &c, "chan", 10, 10).is_empty());
        assert!(send(&mut tr, &c, "chan", 1, 299).is_empty());
        let ts = send(&mut tr, &c, "chan", 1, 300);
        assert_eq!(ts.len(), 1);
        assert!(
            ts[0]
                .reason
                .contains("300s since the bot last spoke (delay 300s)"),
            "{}",
            ts[0].reason
        );
    }

    #[test]
    fn zero_delay_and_clock_going_backwards() {
        let mut tr = Triggers::new(["clank"]);
        tr.on_bot_message(Platform::Twitch, "chan", at(100));
        assert_eq!(send(&mut tr, &cfg(1, 0), "chan", 1, 100).len(), 1);
        // A message stamped before the bot's last one: the delay has not passed.
        assert!(send(&mut tr, &cfg(1, 10), "chan", 1, 50).is_empty());
        // An older bot timestamp does not move the delay back.
        tr.on_bot_message(Platform::Twitch, "chan", at(20));
        assert_eq!(
            tr.last_bot_message_at(Platform::Twitch, "chan"),
            Some(at(100))
        );
    }

    #[test]
    fn bot_message_resets_the_count() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(3, 0);
        assert!(send(&mut tr, &c, "chan", 2, 0).is_empty());
        tr.on_bot_message(Platform::Twitch, "chan", at(1));
        assert!(send(&mut tr, &c, "chan", 2, 2).is_empty());
        assert_eq!(send(&mut tr, &c, "chan", 1, 3).len(), 1);
    }

    #[test]
    fn channels_and_platforms_count_separately() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(2, 0);
        assert!(send(&mut tr, &c, "a", 1, 0).is_empty());
        assert!(send(&mut tr, &c, "b", 1, 0).is_empty());
        let yt = msg(Platform::Youtube, "a", "y1", "viewer", "hello");
        assert!(tr.on_message(&yt, &c, at(0)).is_none());
        assert_eq!(tr.messages_since_bot(Platform::Youtube, "a"), 1);
        assert_eq!(send(&mut tr, &c, "a", 1, 1).len(), 1);
        tr.on_bot_message(Platform::Twitch, "b", at(1));
        assert_eq!(tr.messages_since_bot(Platform::Youtube, "a"), 1);
        assert_eq!(tr.channel_count(), 3);
        tr.forget(Platform::Twitch, "a");
        assert_eq!(tr.channel_count(), 2);
    }

    #[test]
    fn mention_fires_regardless_of_threshold_and_delay() {
        let mut tr = Triggers::new(["Clank"]);
        let c = cfg(100, 3600);
        tr.on_bot_message(Platform::Twitch, "chan", at(0));
        let m = msg(
            Platform::Twitch,
            "chan",
            "m1",
            "Rin",
            "@clank what's the build?",
        );
        let t = tr.on_message(&m, &c, at(1)).unwrap();
        assert_eq!(
            (t.kind, t.message_id.as_str()),
            (TriggerKind::Mention, "m1")
        );
        assert!(t.reason.contains("Rin mentioned the bot"));
        // It still counts towards the threshold.
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "chan"), 1);
        let plain = msg(Platform::Twitch, "chan", "m2", "Rin", "clanky clank_fan");
        assert!(tr.on_message(&plain, &c, at(2)).is_none());
    }

    #[test]
    fn the_bots_own_echo_never_triggers_and_resets() {
        let mut tr = Triggers::new(["@Clank"]);
        let c = cfg(2, 0);
        assert!(send(&mut tr, &c, "chan", 1, 0).is_empty());
        let echo = msg(
            Platform::Twitch,
            "chan",
            "e1",
            "clank",
            "hi chat, clank here",
        );
        assert!(tr.on_message(&echo, &c, at(5)).is_none());
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "chan"), 0);
        assert_eq!(
            tr.last_bot_message_at(Platform::Twitch, "chan"),
            Some(at(5))
        );
    }

    #[test]
    fn threshold_zero_behaves_as_one() {
        let mut tr = Triggers::new(["clank"]);
        assert_eq!(send(&mut tr, &cfg(0, 0), "chan", 1, 0).len(), 1);
    }

    #[test]
    fn channel_count_is_capped_by_evicting_the_least_recent() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(1000, 0);
        for i in 0..MAX_CHANNELS {
            send(&mut tr, &c, &format!("c{i}"), 1, i as i64);
        }
        assert_eq!(tr.channel_count(), MAX_CHANNELS);
        send(&mut tr, &c, "new", 1, 1_000_000);
        assert_eq!(tr.channel_count(), MAX_CHANNELS);
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "c0"), 0);
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "c1"), 1);
        assert_eq!(tr.messages_since_bot(Platform::Twitch, "new"), 1);
    }

    #[test]
    fn ascii_fast_paths_agree_with_lowercasing_a_copy() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let alphabet: Vec<char> = "clankCLANK_ @x1!-'\u{e9}".chars().collect();
        let names = names(&["clank", "cla", "clank bot", "k", "\u{e9}clank"]);
        let normalized: Vec<String> = names.iter().map(|n| normalize_name(n)).collect();
        let tr = Triggers::new(&names);
        for _ in 0..20_000 {
            let len = rng.random_range(0..12);
            let text: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let hay = text.to_lowercase();
            for n in &normalized {
                let slow = contains_word(&hay, n);
                assert_eq!(
                    mentions(&text, std::slice::from_ref(n)),
                    slow,
                    "{text:?} {n:?}"
                );
            }
            let slow_bot = tr.names.contains(&normalize_name(&text));
            assert_eq!(tr.is_bot(&text), slow_bot, "{text:?}");
        }
    }

    #[test]
    fn a_quiet_channel_gets_one_starter_after_the_quiet_time_and_the_delay() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(1000, 300);
        let quiet = TimeDelta::seconds(600);
        let delay = |_: Platform, _: &str| 300;
        assert!(send(&mut tr, &c, "a", 3, 0).is_empty());
        // Not yet quiet long enough.
        assert!(tr.quiet_due(at(599), quiet, delay).is_empty());
        let fired = tr.quiet_due(at(600), quiet, delay);
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].kind, TriggerKind::Quiet);
        assert_eq!(fired[0].channel, "a");
        assert!(fired[0].reason.contains("600 s"), "{}", fired[0].reason);
        // Once per quiet spell: an empty room is not talked at again.
        assert!(tr.quiet_due(at(5000), quiet, delay).is_empty());
        // A viewer speaks, chat goes quiet again: another one.
        send(&mut tr, &c, "a", 1, 5000);
        assert_eq!(tr.quiet_due(at(5600), quiet, delay).len(), 1);
    }

    #[test]
    fn a_quiet_starter_never_fires_inside_the_channel_delay() {
        let mut tr = Triggers::new(["clank"]);
        let c = cfg(1000, 900);
        let quiet = TimeDelta::seconds(120);
        let delay = |_: Platform, _: &str| 900;
        send(&mut tr, &c, "a", 2, 0);
        // The bot spoke at 100 s: its 900 s delay runs to 1000 s.
        tr.on_bot_message(Platform::Twitch, "a", at(100));
        for t in [120, 500, 999] {
            assert!(tr.quiet_due(at(t), quiet, delay).is_empty(), "at {t}");
        }
        assert_eq!(tr.quiet_due(at(1000), quiet, delay).len(), 1);
    }
}
