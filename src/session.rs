//! The contract between the running core (runtime) and its two front ends,
//! the console (`ui/`) and the headless JSON log: what the runtime tells them
//! ([`Update`]) and what the operator can ask of it ([`Request`]). Plain data:
//! the console is a view over these, never the place where logic lives.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::CoreEvent;
use crate::engine::salience::SalienceWeights;
use crate::model::{AttentionState, ChatMessage, DraftId, DraftView, Platform, Salience};

/// One queued message with its score, for the salience queue view; shared
/// with the core's queue entry, not copied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub message: Arc<ChatMessage>,
    pub salience: Arc<Salience>,
}

/// A message in the review lane, for the console: `message.text` is
/// already masked (the flagged words starred), so the raw text never
/// reaches the screen before the operator releases it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldItem {
    pub message: ChatMessage,
    pub reason: String,
    pub salience: Salience,
    pub held_at: DateTime<Utc>,
}

/// Health of one platform connection, or of the LLM, agent and avatar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Health {
    Connecting,
    Connected,
    ReadOnly,
    Reconnecting {
        in_s: u64,
        reason: String,
    },
    Down {
        reason: String,
    },
    /// Up but not answering in time (drafts time out while the server is
    /// busy): not the same as down, where nothing answers at all.
    Slow {
        reason: String,
    },
    Off,
}

/// Which part a [`Health`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Platform(Platform),
    Llm,
    Agent,
    Avatar,
    Store,
}

/// The slowly changing picture, sent when it changes (at most a few per second).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub at: DateTime<Utc>,
    pub state: AttentionState,
    pub state_since: DateTime<Utc>,
    pub next_transition_at: DateTime<Utc>,
    pub auto_send: bool,
    pub paused: bool,
    pub topic: String,
    pub weights: SalienceWeights,
    /// Best first, at most a few hundred entries.
    pub queue: Vec<QueueItem>,
    pub queue_len: usize,
    pub sent: u64,
    pub rejected: u64,
    /// Messages per minute per platform, indexed by `Platform::index()`.
    pub msgs_per_min: [f64; 3],
    pub counts_by_priority: [u64; 4],
    /// The review lane, oldest first (masked).
    pub held: Vec<HeldItem>,
    /// Held messages released and discarded so far.
    pub released: u64,
    pub discarded: u64,
    /// Weights fitted to the operator's choices, for the weight tuner to
    /// offer (never applied without the operator).
    pub suggestion: Option<crate::engine::tuning::Suggestion>,
}

/// Everything the runtime tells the front ends, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A chat message that passed the input filter, with its score.
    /// Shared with the core's queue and the store's batch, not copied.
    Chat {
        message: Arc<ChatMessage>,
        salience: Option<Arc<Salience>>,
    },
    /// A message left the chat (deleted by a moderator or its author banned).
    ChatRemoved {
        platform: Platform,
        channel: String,
        message_ids: Vec<String>,
    },
    /// An author was banned or timed out in a channel: every message of
    /// theirs there leaves the chat.
    AuthorRemoved {
        platform: Platform,
        channel: String,
        author_id: String,
    },
    /// A decision, transition, trigger, filter hit, command or warning.
    Core(CoreEvent),
    /// A draft was created or changed (including each streamed token).
    Draft(DraftView),
    /// What the reply side decided or did (draft ready, sent, blocked,
    /// withdrawn, an auto-send verdict with its reason, agent and avatar calls).
    Pipeline(crate::reply::pipeline::PipelineEvent),
    Health {
        component: Component,
        health: Health,
    },
    Snapshot(Box<Snapshot>),
    /// A platform event that is not chat (raid, sub, announcement, chat
    /// cleared): a system line in the chat pane.
    System(SystemLine),
    /// Where a platform's API quota stands, shown beside its health.
    Quota {
        platform: Platform,
        text: String,
    },
    /// Something failed that the operator should see (never fatal).
    Error {
        at: DateTime<Utc>,
        what: String,
    },
    /// Team mode: who is connected, who reads what, the reader's state.
    Team(TeamView),
}

/// The team as the console header shows it (PostgreSQL store only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TeamView {
    /// This console's member name.
    pub me: String,
    /// Every connected console and the channels it reads.
    pub members: Vec<crate::store::team::TeamMember>,
    /// The attention state a reading console last published.
    pub reader_attention: Option<(String, crate::model::AttentionState)>,
}

/// The kinds of system lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    Raid,
    Sub,
    Announcement,
    ChatCleared,
}

/// A platform event shown between chat lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemLine {
    pub at: DateTime<Utc>,
    pub platform: Platform,
    pub channel: String,
    pub kind: SystemKind,
    /// Ready to show, e.g. "raid from Foo with 120 viewers".
    pub text: String,
}

/// What the operator (keys or the auto policy) asks of the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Approve(DraftId),
    /// Send this text instead (it still goes through the output filter).
    Edit(DraftId, String),
    Reject(DraftId),
    Regenerate(DraftId),
    /// Send a refused, failed or unconfirmed draft again (the operator's
    /// choice; clank never resends on its own).
    Retry(DraftId),
    /// Drop a refused, failed or unconfirmed draft from the not-delivered list.
    Discard(DraftId),
    SetAutoSend(bool),
    SetPaused(bool),
    SetTopic(String),
    ForceState(AttentionState),
    SetWeights(SalienceWeights),
    /// The operator's verdict on a held message: into the queue, or not.
    ReleaseHeld {
        platform: Platform,
        message_id: String,
    },
    DiscardHeld {
        platform: Platform,
        message_id: String,
    },
    /// Draft a reply to this queued message now.
    DraftFor {
        platform: Platform,
        message_id: String,
    },
    Quit,
}
