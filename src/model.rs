//! The shared vocabulary: platforms, authors, chat messages, moderation events,
//! priorities, attention states and draft replies. Plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a message was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Twitch,
    Youtube,
    Discord,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Twitch, Platform::Youtube, Platform::Discord];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Twitch => "twitch",
            Platform::Youtube => "youtube",
            Platform::Discord => "discord",
        }
    }

    /// The longest message the platform accepts, in characters.
    pub fn max_message_chars(self) -> usize {
        match self {
            Platform::Twitch => 500,
            Platform::Youtube => 200,
            Platform::Discord => 2000,
        }
    }

    /// Index into per-platform arrays (`[T; 3]`).
    pub fn index(self) -> usize {
        match self {
            Platform::Twitch => 0,
            Platform::Youtube => 1,
            Platform::Discord => 2,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (allowed: twitch, youtube, discord)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "twitch" => Ok(Platform::Twitch),
            "youtube" => Ok(Platform::Youtube),
            "discord" => Ok(Platform::Discord),
            _ => Err(UnknownPlatform(s.to_string())),
        }
    }
}

/// An author's standing in a channel. Unknown role names deserialize to `Other`
/// so that a newer log never loses a message over a role clank does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Broadcaster,
    Moderator,
    Vip,
    Subscriber,
    Member,
    Verified,
    Staff,
    #[serde(other)]
    Other,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Broadcaster => "broadcaster",
            Role::Moderator => "moderator",
            Role::Vip => "vip",
            Role::Subscriber => "subscriber",
            Role::Member => "member",
            Role::Verified => "verified",
            Role::Staff => "staff",
            Role::Other => "other",
        }
    }
}

/// Who said it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_message: bool,
    /// Back after a long absence (Twitch's `returning-chatter` tag).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub returning_chatter: bool,
}

impl Author {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Broadcaster or moderator: may run `!clank` commands.
    pub fn is_moderator(&self) -> bool {
        self.has(Role::Broadcaster) || self.has(Role::Moderator) || self.has(Role::Staff)
    }
}

/// What kind of payment came with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaidKind {
    Superchat,
    Supersticker,
    Bits,
    Donation,
}

/// Money attached to a message (super chat, bits, donation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paid {
    pub amount: f64,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub kind: PaidKind,
}

fn default_currency() -> String {
    "USD".to_string()
}

impl Paid {
    /// Rough value in US dollars, so that 500 bits, a $5 super chat and a
    /// ¥750 one weigh alike. The rates are deliberately coarse: salience needs
    /// the order of magnitude, not the exchange rate of the day.
    pub fn usd(&self) -> f64 {
        if self.kind == PaidKind::Bits {
            return self.amount / 100.0;
        }
        let per_unit = match self.currency.to_ascii_uppercase().as_str() {
            "USD" | "CAD" | "AUD" | "NZD" | "SGD" => 1.0,
            "EUR" | "CHF" => 1.08,
            "GBP" => 1.27,
            "JPY" => 1.0 / 150.0,
            "KRW" => 1.0 / 1350.0,
            "INR" => 1.0 / 83.0,
            "BRL" => 0.2,
            "MXN" => 0.055,
            "PHP" => 0.018,
            "TWD" | "RUB" => 0.031,
            "HKD" => 0.128,
            "SEK" | "NOK" | "DKK" => 0.095,
            "PLN" => 0.25,
            "IDR" => 1.0 / 15_500.0,
            "BITS" => 0.01,
            _ => 1.0,
        };
        self.amount * per_unit
    }
}

/// One chat message as the viewer wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub platform: Platform,
    pub channel: String,
    pub id: String,
    pub at: DateTime<Utc>,
    pub author: Author,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<Paid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// Everything a chat source can tell the core.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Message(ChatMessage),
    /// A moderator removed one message.
    Delete {
        platform: Platform,
        channel: String,
        id: String,
        at: DateTime<Utc>,
    },
    /// A ban (`duration_s: None`) or a timeout of one author in one channel.
    Ban {
        platform: Platform,
        channel: String,
        author_id: String,
        at: DateTime<Utc>,
        duration_s: Option<u64>,
    },
}

impl ChatEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ChatEvent::Message(m) => m.at,
            ChatEvent::Delete { at, .. } | ChatEvent::Ban { at, .. } => *at,
        }
    }

    pub fn platform(&self) -> Platform {
        match self {
            ChatEvent::Message(m) => m.platform,
            ChatEvent::Delete { platform, .. } | ChatEvent::Ban { platform, .. } => *platform,
        }
    }

    pub fn channel(&self) -> &str {
        match self {
            ChatEvent::Message(m) => &m.channel,
            ChatEvent::Delete { channel, .. } | ChatEvent::Ban { channel, .. } => channel,
        }
    }
}

/// How urgently a message deserves an answer. Ordered: `Low < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "LOW",
            Priority::Medium => "MEDIUM",
            Priority::High => "HIGH",
            Priority::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "LOW" => Ok(Priority::Low),
            "MEDIUM" => Ok(Priority::Medium),
            "HIGH" => Ok(Priority::High),
            "CRITICAL" => Ok(Priority::Critical),
            _ => Err(format!(
                "unknown priority {s:?} (allowed: LOW, MEDIUM, HIGH, CRITICAL)"
            )),
        }
    }
}

/// The four salience factors, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SalienceBreakdown {
    pub content: f64,
    pub authority: f64,
    pub relevance: f64,
    pub temporal: f64,
}

/// A scored message: the weighted total, its four factors, the priority level
/// and the human-readable reasons behind it (shown to the streamer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Salience {
    pub score: f64,
    pub breakdown: SalienceBreakdown,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// Per-channel settings that moderators change with `!clank` commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Messages in the channel before the bot may speak unprompted.
    pub message_threshold: u32,
    /// Seconds that must pass between two bot messages in the channel.
    pub time_delay_s: u64,
    /// How many recent messages of the channel a draft may see.
    pub context_limit: u32,
    /// LLM model for this channel; `None` uses the global one.
    pub model: Option<String>,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            message_threshold: 30,
            time_delay_s: 300,
            context_limit: 200,
            model: None,
        }
    }
}

/// Identifies one message across the whole store: ids are unique per platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    pub platform: Platform,
    pub id: String,
}

impl ChatMessage {
    pub fn key(&self) -> MessageKey {
        MessageKey {
            platform: self.platform,
            id: self.id.clone(),
        }
    }
}

/// The streamer's attention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionState {
    FocusedInteraction,
    CasualMonitoring,
    DeepFocus,
    BreakTransition,
}

impl AttentionState {
    pub const ALL: [AttentionState; 4] = [
        AttentionState::FocusedInteraction,
        AttentionState::CasualMonitoring,
        AttentionState::DeepFocus,
        AttentionState::BreakTransition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttentionState::FocusedInteraction => "focused_interaction",
            AttentionState::CasualMonitoring => "casual_monitoring",
            AttentionState::DeepFocus => "deep_focus",
            AttentionState::BreakTransition => "break_transition",
        }
    }

    /// Index into per-state arrays (`[T; 4]`), in the order of `ALL`.
    pub fn index(self) -> usize {
        match self {
            AttentionState::FocusedInteraction => 0,
            AttentionState::CasualMonitoring => 1,
            AttentionState::DeepFocus => 2,
            AttentionState::BreakTransition => 3,
        }
    }
}

impl fmt::Display for AttentionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttentionState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttentionState::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown attention state {s:?} (allowed: focused_interaction, casual_monitoring, deep_focus, break_transition)"
                )
            })
    }
}

/// Identifies a draft reply (the `chat_responses` row id).
pub type DraftId = i64;

/// Where a draft's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftSource {
    Llm,
    Fallback,
    Operator,
}

/// A draft's place in its lifecycle (persisted in `chat_responses.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftState {
    /// The LLM is still writing it.
    Streaming,
    Pending,
    Approved,
    Edited,
    Rejected,
    Expired,
    /// Handed to the platform's adapter; waiting for the platform's verdict.
    Sending,
    /// The platform accepted it (Twitch answered with USERSTATE).
    Sent,
    /// The platform (or the adapter for it, e.g. read-only) said no; `why` says why.
    Refused,
    /// It could not be delivered (no adapter, the adapter stopped, never written).
    Failed,
    /// Written, but no verdict came in time (or the connection dropped first):
    /// it may or may not be in chat. Never resent automatically.
    Unconfirmed,
    Withdrawn,
    Blocked,
}

impl DraftState {
    /// Refused, failed or unconfirmed: kept for the operator to retry or discard.
    pub fn not_delivered(self) -> bool {
        matches!(
            self,
            DraftState::Refused | DraftState::Failed | DraftState::Unconfirmed
        )
    }
}

/// One draft as the front ends see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftView {
    pub id: DraftId,
    /// The message it answers; `None` for unprompted messages.
    pub message_id: Option<String>,
    pub platform: Platform,
    pub channel: String,
    /// Exactly what would go on the wire (already through the output filter),
    /// or the partial text while streaming.
    pub text: String,
    pub source: DraftSource,
    pub state: DraftState,
    /// Why it is blocked, failed, withdrawn or expired.
    pub why: Option<String>,
    /// The platform's length limit, for the "123/500" counter.
    pub limit: usize,
    pub time_to_first_token_ms: Option<u64>,
    /// Team mode: who drafted, approved and sent it, when not only this console.
    pub team: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parses_case_insensitively_and_names_bad_values() {
        assert_eq!("Twitch".parse::<Platform>(), Ok(Platform::Twitch));
        let err = "myspace".parse::<Platform>().unwrap_err();
        assert!(err.to_string().contains("myspace"));
        assert!(err.to_string().contains("twitch, youtube, discord"));
    }

    #[test]
    fn unknown_roles_do_not_fail_a_message() {
        let a: Author =
            serde_json::from_str(r#"{"id":"1","name":"x","roles":["moderator","artist"]}"#)
                .unwrap();
        assert_eq!(a.roles, vec![Role::Moderator, Role::Other]);
        assert!(a.is_moderator());
    }

    #[test]
    fn priorities_are_ordered() {
        assert!(Priority::Critical > Priority::High);
        assert!(Priority::Medium > Priority::Low);
    }

    #[test]
    fn bits_are_weighed_in_dollars() {
        let p = Paid {
            amount: 500.0,
            currency: "bits".into(),
            kind: PaidKind::Bits,
        };
        assert!((p.usd() - 5.0).abs() < 1e-9);
        let yen = Paid {
            amount: 10_000.0,
            currency: "JPY".into(),
            kind: PaidKind::Superchat,
        };
        assert!((60.0..=80.0).contains(&yen.usd()), "{}", yen.usd());
    }
}
