//! The adapter contract: what every platform adapter tells the core
//! ([`Inbound`]), what it takes from the core ([`Outbound`]) and the
//! connection status it reports ([`AdapterStatus`]).
//!
//! Each adapter runs as one tokio task that owns its connection, started by
//! the [`hub`] from its list of platforms. It is given a clone of the
//! runtime's one bounded `mpsc::Sender<Inbound>`, an `mpsc::Receiver<Outbound>`
//! for the sends the hub routes to its platforms, and a `CancellationToken`. Losing one platform never stops the others: failures
//! become [`Inbound::Status`] events, never panics or task exits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::model::{Author, ChatEvent, Platform};
use crate::store::Store;

pub use backoff::Backoff;

pub mod backoff;
pub mod chatlog;
pub mod discord;
pub mod hub;
pub mod twitch;
pub mod youtube;

/// A boxed, sendable future (keeps adapter and sink traits dyn-compatible).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything an adapter can tell the core, in arrival order per channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A chat message, a deletion or a ban/timeout: what the store and queue see.
    Chat(ChatEvent),
    /// The connection (channel `None`) or one channel changed state.
    Status {
        platform: Platform,
        channel: Option<String>,
        status: AdapterStatus,
    },
    /// Something the platform told us that the operator should see
    /// (rate limit hit, slow mode, banned from a channel, ...).
    Notice {
        platform: Platform,
        channel: Option<String>,
        kind: NoticeKind,
        text: String,
    },
    /// Another streamer sent their viewers here: an attention event.
    Raid {
        platform: Platform,
        channel: String,
        /// Display name of the raiding streamer.
        from: String,
        /// Platform user id of the raiding streamer.
        from_id: String,
        viewers: u32,
        at: DateTime<Utc>,
    },
    /// A subscription, resubscription or gifted subscription.
    Sub {
        platform: Platform,
        channel: String,
        kind: SubKind,
        /// Who subscribed, or who gave the gift.
        author: Author,
        /// Cumulative months (subs and resubs), when the platform says.
        months: Option<u32>,
        /// Display name of the gift's recipient; `None` for a plain sub.
        recipient: Option<String>,
        /// Number of gifts for a mystery (community) gift.
        count: Option<u32>,
        /// What the subscriber wrote with a resub, if anything.
        text: Option<String>,
        at: DateTime<Utc>,
    },
    /// A highlighted message from the broadcaster or a moderator.
    Announcement {
        platform: Platform,
        channel: String,
        author: Author,
        text: String,
        at: DateTime<Utc>,
    },
    /// The channel's chat settings (sent on join and on every change;
    /// a field is `None` when this update did not mention it).
    RoomState {
        platform: Platform,
        channel: String,
        /// Seconds a non-moderator must wait between two messages; `Some(0)` = off.
        slow_mode_s: Option<u64>,
        /// Minutes a viewer must have followed to chat; `Some(None)` = off.
        followers_only_min: Option<Option<u64>>,
        subscribers_only: Option<bool>,
        emote_only: Option<bool>,
    },
    /// What the platform says about our own account in a channel.
    SelfState {
        platform: Platform,
        channel: String,
        /// Moderator, VIP or broadcaster: higher send limits, slow mode exempt.
        privileged: bool,
    },
    /// A moderator cleared the whole chat of one channel.
    ChatCleared {
        platform: Platform,
        channel: String,
        at: DateTime<Utc>,
    },
    /// A finite source (a chat log) has played everything it will. It still
    /// answers sends until it is cancelled.
    Ended { adapter: String, detail: String },
    /// The platform's verdict on one [`Outbound::Send`]; exactly once per draft.
    SendResult { draft_id: i64, verdict: SendVerdict },
    /// Team mode (PostgreSQL): what the other consoles did to the shared
    /// drafts, who is connected, and which channels this console reads.
    Team(crate::store::team::TeamEvent),
}

impl Inbound {
    /// When it happened, for events that carry a time (chat and platform
    /// events; statuses, notices and verdicts are "now").
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Inbound::Chat(ev) => Some(ev.at()),
            Inbound::Raid { at, .. }
            | Inbound::Sub { at, .. }
            | Inbound::Announcement { at, .. }
            | Inbound::ChatCleared { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// Moves the event's time by `by` (a looped or rebased chat log).
    pub fn shift_time(&mut self, by: chrono::Duration) {
        match self {
            Inbound::Chat(ChatEvent::Message(m)) => m.at += by,
            Inbound::Chat(ChatEvent::Delete { at, .. } | ChatEvent::Ban { at, .. })
            | Inbound::Raid { at, .. }
            | Inbound::Sub { at, .. }
            | Inbound::Announcement { at, .. }
            | Inbound::ChatCleared { at, .. } => *at += by,
            _ => {}
        }
    }
}

/// Connection state, shown to the operator beside the platform's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterStatus {
    Connecting,
    /// Connected and logged in; sends are possible.
    Connected,
    /// Connected without an account (or after a revoked token): reading works,
    /// sending does not.
    ReadOnly {
        reason: String,
    },
    /// Lost the connection; the next attempt starts in `in_s` seconds.
    Reconnecting {
        in_s: u64,
        reason: String,
    },
    /// Given up on (the channel or connection); needs the operator.
    Down {
        reason: String,
    },
}

impl fmt::Display for AdapterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterStatus::Connecting => f.write_str("connecting"),
            AdapterStatus::Connected => f.write_str("connected"),
            AdapterStatus::ReadOnly { reason } => write!(f, "read-only: {reason}"),
            AdapterStatus::Reconnecting { in_s, reason } => {
                write!(f, "reconnecting in {in_s} s: {reason}")
            }
            AdapterStatus::Down { reason } => write!(f, "down: {reason}"),
        }
    }
}

/// The kinds of platform notices the core and the console tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// We sent too fast.
    RateLimited,
    /// We sent the same text twice within 30 s.
    Duplicate,
    /// We sent faster than the channel's slow mode allows.
    SlowMode,
    /// Our account is banned or timed out in the channel.
    Banned,
    /// The login was refused (bad or revoked token).
    AuthFailed,
    /// The channel is suspended, unavailable or similar.
    ChannelUnavailable,
    /// Where the platform's API quota stands (units used, left, projected
    /// run-out): the console keeps the latest beside the platform's health.
    Quota,
    /// Anything else the platform said.
    Other,
}

/// Which kind of subscription event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubKind {
    Sub,
    Resub,
    /// One gifted sub to `recipient`.
    Gift,
    /// A batch of gifts to random viewers (`count`).
    MysteryGift,
    /// A gifted sub turned into a paid one.
    GiftUpgrade,
}

/// Why a send did not reach chat. Never retried blindly: the operator decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRejection {
    /// Refused before the wire: empty, too long, or a command ("/", ".").
    Refused(String),
    /// The same text went to that channel less than 30 s ago.
    Duplicate,
    /// The platform said we were too fast (rate limit or slow mode).
    RateLimited(String),
    /// Our account may not speak in that channel.
    Banned(String),
    /// Connected without an account.
    ReadOnly,
    /// The channel is not one this adapter joined.
    UnknownChannel(String),
    /// The connection dropped before the platform confirmed the send.
    ConnectionLost,
    /// Any other platform refusal, with its text.
    Platform(String),
}

impl fmt::Display for SendRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendRejection::Refused(why) => write!(f, "refused: {why}"),
            SendRejection::Duplicate => {
                f.write_str("identical to a message sent less than 30 s ago; edit it")
            }
            SendRejection::RateLimited(t) => write!(f, "rate limited: {t}"),
            SendRejection::Banned(t) => write!(f, "banned: {t}"),
            SendRejection::ReadOnly => f.write_str("read-only: log in to send"),
            SendRejection::UnknownChannel(c) => write!(f, "not joined to channel {c:?}"),
            SendRejection::ConnectionLost => {
                f.write_str("connection lost before the platform confirmed; not retried")
            }
            SendRejection::Platform(t) => write!(f, "platform refused: {t}"),
        }
    }
}

/// What became of one send, as the platform told us. Only `Sent` means the
/// platform accepted it; nothing is ever resent automatically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendVerdict {
    /// The platform accepted the message (Twitch: USERSTATE for the channel).
    Sent,
    /// The platform, or the adapter on its behalf, said no.
    Refused(SendRejection),
    /// Never reached the platform (not connected, never written, adapter gone).
    Failed(String),
    /// Written, but no verdict came (timeout, or the connection dropped first).
    Unconfirmed(String),
}

impl fmt::Display for SendVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendVerdict::Sent => f.write_str("sent"),
            SendVerdict::Refused(r) => write!(f, "refused: {r}"),
            SendVerdict::Failed(why) => write!(f, "failed: {why}"),
            SendVerdict::Unconfirmed(why) => write!(f, "unconfirmed: {why}"),
        }
    }
}

/// What the core asks an adapter to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// Post `text` in `channel`, optionally as a reply to a platform message id.
    /// Answered by exactly one [`Inbound::SendResult`] with the same `draft_id`.
    Send {
        draft_id: i64,
        /// Which platform it is for (an adapter may serve several).
        platform: Platform,
        channel: String,
        text: String,
        reply_to: Option<String>,
    },
}

/// What the runtime needs from every adapter: its name, the platforms it
/// serves (sends for them are routed to it), and a task body that owns its
/// connection until `cancel` fires, reporting into `inbound` and taking sends
/// from `outbound`. It never returns early on a platform failure (that is a
/// status, then a reconnect); the hub reports an adapter that stops anyway.
pub trait PlatformAdapter: Send + 'static {
    /// Short name for statuses and logs ("twitch", "chat log").
    fn name(&self) -> &'static str;

    /// The platforms this adapter reads and sends for.
    fn platforms(&self) -> Vec<Platform>;

    /// A source that ends on its own (a chat log) says so with
    /// [`Inbound::Ended`]; a live platform never ends.
    fn finite(&self) -> bool {
        false
    }

    fn run(
        self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()>;
}

/// What building an adapter needs beside its own config section.
pub struct AdapterContext<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
}

/// A built adapter, with what the operator should know about how it starts
/// (e.g. "login failed; reading anonymously").
pub struct Built {
    pub adapter: Box<dyn PlatformAdapter>,
    pub warning: Option<String>,
}

/// Builds a platform's adapter; `Ok(None)` when the platform is not configured.
pub type BuildFn =
    for<'a> fn(&'a AdapterContext<'a>) -> BoxFuture<'a, Result<Option<Built>, String>>;

/// One platform clank can read.
pub struct PlatformEntry {
    pub platform: Platform,
    pub build: BuildFn,
}
