//! The writer thread: owns the connection, batches writes into transactions,
//! answers queries, runs retention in chunks and holds writes while another
//! connection locks the database.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::codec::{
    self, BreakdownOut, MESSAGE_NCOLS, Scratch, json_into, message_from_row, roles_json,
};
use super::{
    AuthTokenRow, ChannelConfig, ChatMessage, Cursor, ExportQuery, ExportRow, MessageRef, Metric,
    NewResponse, OperatorLabel, Platform, PruneReport, QueueRecord, QueuedMessage, ResponseStatus,
    RetentionPolicy, STOPPED_BEFORE_VERDICT, Shared, StoreConfig, StoreError, StoreStats,
    StoredMessage, StoredResponse,
};

/// Where a query's answer goes.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Writes held while the database is locked, at most; beyond this the writer
/// stops taking commands, so the bounded channel pushes back on producers.
const HELD_LIMIT: usize = 4 * super::CHANNEL_CAPACITY;

/// Authors the writer remembers before it starts over: 7/8 of 65536, so
/// the table stays at 65536 slots of 24 bytes (about 1.6 MB).
const AUTHOR_CACHE_MAX: usize = 57_344;

/// Commands taken from the channel at once.
const RECV_BATCH: usize = 256;

/// Rows one retention step deletes, so other commands wait at most one chunk.
const PRUNE_CHUNK: i64 = 1000;

/// A retry after a busy database waits at least this long (when the
/// configured busy timeout is shorter), so the writer never spins.
const MIN_BUSY_PAUSE: Duration = Duration::from_millis(50);

pub(super) enum Cmd {
    Write(Write),
    Query(Query),
    /// Apply everything queued, stop, reply with the final counters.
    Shutdown(Reply<StoreStats>),
    /// The sender's burst of writes is over: commit as soon as the channel
    /// is empty instead of waiting for more (see [`Store::commit_soon`]).
    ///
    /// [`Store::commit_soon`]: super::Store::commit_soon
    CommitSoon,
}

/// Fire-and-forget changes, applied in order inside the open transaction.
/// Messages travel unboxed: the hot path then allocates nothing per row, and
/// the channel's slots are reused blocks anyway.
#[allow(clippy::large_enum_variant)]
pub(super) enum Write {
    Insert(StoredMessage),
    InsertMany(Vec<StoredMessage>),
    Delete(MessageRef),
    Purge {
        platform: Platform,
        channel: String,
        author_id: String,
    },
    Dequeue(MessageRef),
    SetChannelConfig {
        platform: Platform,
        channel: String,
        config: ChannelConfig,
    },
    Metric(Metric),
    /// Boxed: a label is larger than every other write.
    Label(Box<OperatorLabel>),
    /// A held message released (`true`) or discarded by the operator.
    DecideHeld(MessageRef, bool),
    ResponseText {
        id: i64,
        text: String,
        response_type: String,
        status: ResponseStatus,
        generation_time_ms: Option<u64>,
    },
    ResponseStatus {
        id: i64,
        status: ResponseStatus,
        sent_at: Option<DateTime<Utc>>,
    },
    ResponseVerdict {
        id: i64,
        status: ResponseStatus,
        reason: Option<String>,
        at: DateTime<Utc>,
    },
}

impl Write {
    /// How many rows-worth of work it is, for batching and loss counts.
    pub(super) fn weight(&self) -> usize {
        match self {
            Write::InsertMany(ms) => ms.len(),
            _ => 1,
        }
    }

    pub(super) fn op(&self) -> &'static str {
        match self {
            Write::Insert(_) | Write::InsertMany(_) => "insert message",
            Write::Delete(_) => "delete message",
            Write::Purge { .. } => "purge author",
            Write::Dequeue(_) => "dequeue",
            Write::SetChannelConfig { .. } => "set channel config",
            Write::Metric(_) => "insert metric",
            Write::Label(_) => "insert operator label",
            Write::DecideHeld(..) => "decide held message",
            Write::ResponseStatus { .. } => "set response status",
            Write::ResponseVerdict { .. } => "set response verdict",
            Write::ResponseText { .. } => "set response text",
        }
    }
}

/// Requests that need an answer. All but `Prune` first commit every write
/// sent before them.
pub(super) enum Query {
    Flush(Reply<StoreStats>),
    LastMessages {
        platform: Platform,
        channel: String,
        n: usize,
        reply: Reply<Vec<ChatMessage>>,
    },
    ChannelConfig {
        platform: Platform,
        channel: String,
        reply: Reply<Option<ChannelConfig>>,
    },
    ExportPage {
        q: ExportQuery,
        reply: Reply<Vec<ExportRow>>,
    },
    LoadQueue {
        now: DateTime<Utc>,
        reply: Reply<Vec<QueuedMessage>>,
    },
    Prune {
        policy: RetentionPolicy,
        now: DateTime<Utc>,
        reply: Reply<PruneReport>,
    },
    InsertResponse {
        r: NewResponse,
        reply: Reply<i64>,
    },
    GetResponse {
        id: i64,
        reply: Reply<Option<StoredResponse>>,
    },
    /// Replaces the platform's saved login and commits before answering:
    /// a rotated refresh token must survive a crash.
    SaveAuthToken {
        row: AuthTokenRow,
        reply: Reply<()>,
    },
    LoadAuthToken {
        platform: Platform,
        reply: Reply<Option<AuthTokenRow>>,
    },
    DeleteAuthToken {
        platform: Platform,
        reply: Reply<()>,
    },
    ClaimResponse {
        id: i64,
        from: Vec<ResponseStatus>,
        to: ResponseStatus,
        at: Option<DateTime<Utc>>,
        reply: Reply<bool>,
    },
    SentResponseFor {
        original: MessageRef,
        reply: Reply<Option<i64>>,
    },
    ExpireUnsent {
        reply: Reply<u64>,
    },
    NotDelivered {
        limit: usize,
        reply: Reply<Vec<StoredResponse>>,
    },
    /// Sets one adapter value and commits before answering: a page token
    /// or a quota count must survive a crash right after.
    SetAdapterState {
        platform: Platform,
        key: String,
        value: String,
        reply: Reply<()>,
    },
    AdapterState {
        platform: Platform,
        key: String,
        reply: Reply<Option<String>>,
    },
    Labels {
        reply: Reply<Vec<OperatorLabel>>,
    },
    Held {
        reply: Reply<Vec<(ChatMessage, Option<crate::model::Salience>, String)>>,
    },
}

impl Query {
    pub(super) fn fail(self, err: impl Fn() -> StoreError) {
        // A dropped receiver only means the caller stopped waiting.
        match self {
            Query::Flush(reply) => drop(reply.send(Err(err()))),
            Query::LastMessages { reply, .. } => drop(reply.send(Err(err()))),
            Query::ChannelConfig { reply, .. } => drop(reply.send(Err(err()))),
            Query::ExportPage { reply, .. } => drop(reply.send(Err(err()))),
            Query::LoadQueue { reply, .. } => drop(reply.send(Err(err()))),
            Query::Prune { reply, .. } => drop(reply.send(Err(err()))),
            Query::InsertResponse { reply, .. } => drop(reply.send(Err(err()))),
            Query::GetResponse { reply, .. } => drop(reply.send(Err(err()))),
            Query::SaveAuthToken { reply, .. } | Query::DeleteAuthToken { reply, .. } => {
                drop(reply.send(Err(err())))
            }
            Query::LoadAuthToken { reply, .. } => drop(reply.send(Err(err()))),
            Query::ClaimResponse { reply, .. } => drop(reply.send(Err(err()))),
            Query::ExpireUnsent { reply } => drop(reply.send(Err(err()))),
            Query::SentResponseFor { reply, .. } => drop(reply.send(Err(err()))),
            Query::NotDelivered { reply, .. } => drop(reply.send(Err(err()))),
            Query::SetAdapterState { reply, .. } => drop(reply.send(Err(err()))),
            Query::AdapterState { reply, .. } => drop(reply.send(Err(err()))),
            Query::Labels { reply } => drop(reply.send(Err(err()))),
            Query::Held { reply } => drop(reply.send(Err(err()))),
        }
    }
}

const SQL_DECIDE_HELD: &str = "UPDATE chat_messages \
     SET metadata = json_set(COALESCE(metadata, '{}'), '$.decided', ?5) \
     WHERE platform = ?1 AND created_at = ?4 AND platform_msg_id = ?3 AND channel = ?2";

const SQL_HELD: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", ",
    salience_cols!(),
    ", json_extract(m.metadata, '$.held') FROM chat_messages m \
     WHERE json_extract(m.metadata, '$.held') IS NOT NULL \
     AND json_extract(m.metadata, '$.decided') IS NULL ORDER BY m.created_at"
);

/// The review lane as the store keeps it (see [`SQL_HELD`]).
#[allow(clippy::type_complexity)]
fn held(
    conn: &Connection,
) -> rusqlite::Result<Vec<(ChatMessage, Option<crate::model::Salience>, String)>> {
    let mut st = conn.prepare_cached(SQL_HELD)?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let message = message_from_row(row, 0)?;
        let salience = codec::salience_from_row(row, MESSAGE_NCOLS)?;
        let reason: String = row.get(MESSAGE_NCOLS + 3)?;
        out.push((message, salience, reason));
    }
    Ok(out)
}

const SQL_INSERT_LABEL: &str = "INSERT INTO operator_labels (platform, channel, message_id, \
     draft_id, action, at, score, content, authority, relevance, temporal, priority) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Every operator label, oldest first (plain SQL both backends run).
pub(super) const SQL_LABELS: &str = "SELECT platform, channel, message_id, draft_id, action, \
     at, score, content, authority, relevance, temporal, priority FROM operator_labels \
     ORDER BY at, id";

/// Every operator label, oldest first. A row this build cannot read (an
/// action or platform it does not know) is skipped, not an error.
fn labels(conn: &Connection) -> rusqlite::Result<Vec<OperatorLabel>> {
    let mut st = conn.prepare_cached(SQL_LABELS)?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            [
                r.get::<_, f64>(6)?,
                r.get::<_, f64>(7)?,
                r.get::<_, f64>(8)?,
                r.get::<_, f64>(9)?,
                r.get::<_, f64>(10)?,
            ],
            r.get::<_, String>(11)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (platform, channel, message_id, draft_id, action, at, v, priority) = row?;
        out.extend(OperatorLabel::from_stored(
            &platform, channel, message_id, draft_id, &action, at, v, &priority,
        ));
    }
    Ok(out)
}

const SQL_BEGIN: &str = "BEGIN IMMEDIATE";
const SQL_COMMIT: &str = "COMMIT";

const SQL_INSERT: &str = "INSERT OR IGNORE INTO chat_messages (platform, channel, \
     platform_msg_id, author_id, author_name, author_roles, author_months, first_message, \
     content, paid, reply_to, salience_score, salience_breakdown, priority, attention_state, \
     metadata, created_at, processed_at, queued_until) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// A message by its key (platform, time, id); the channel must match too.
pub(super) const SQL_FIND_AT: &str = "SELECT id FROM chat_messages \
     WHERE platform = ?1 AND created_at = ?4 AND platform_msg_id = ?3 AND channel = ?2";
/// A message by id alone: the channel's last `?4` ms of chat, newest first.
pub(super) const SQL_FIND_RECENT: &str = "SELECT id FROM chat_messages \
     WHERE platform = ?1 AND channel = ?2 AND platform_msg_id = ?3 AND created_at >= \
     (SELECT MAX(created_at) FROM chat_messages WHERE platform = ?1 AND channel = ?2) - ?4 \
     ORDER BY created_at DESC LIMIT 1";

/// Unsent replies to a message that is going away are withdrawn, not lost.
const SQL_WITHDRAW_ONE: &str = "UPDATE chat_responses SET status = 'withdrawn' \
     WHERE status IN ('pending', 'approved') AND original_message_id = ?1";
const SQL_DELETE_ONE: &str = "DELETE FROM chat_messages WHERE id = ?1";
/// A ban's purge starts at the author's `since_at`: nothing older is stored.
const SQL_AUTHOR_SINCE: &str = "SELECT since_at FROM channel_authors \
     WHERE platform = ?1 AND channel = ?2 AND author_id = ?3";
pub(super) const SQL_WITHDRAW_AUTHOR: &str = "UPDATE chat_responses SET status = 'withdrawn' \
     WHERE status IN ('pending', 'approved') AND original_message_id IN \
     (SELECT id FROM chat_messages WHERE platform = ?1 AND channel = ?2 AND created_at >= ?4 \
     AND author_id = ?3)";
pub(super) const SQL_DELETE_AUTHOR: &str = "DELETE FROM chat_messages \
     WHERE platform = ?1 AND channel = ?2 AND created_at >= ?4 AND author_id = ?3";
const SQL_FORGET_AUTHOR: &str =
    "DELETE FROM channel_authors WHERE platform = ?1 AND channel = ?2 AND author_id = ?3";
/// Only writes for a new author or an older message than any seen; else a read.
const SQL_NOTE_AUTHOR: &str = "INSERT INTO channel_authors (platform, channel, author_id, since_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (platform, channel, author_id) \
     DO UPDATE SET since_at = excluded.since_at WHERE excluded.since_at < since_at";

pub(super) const SQL_DEQUEUE: &str = "UPDATE chat_messages SET queued_until = NULL \
     WHERE platform = ?1 AND created_at = ?4 AND platform_msg_id = ?3 AND channel = ?2 \
     AND queued_until IS NOT NULL";
/// The unexpired tail of the queue index, in time order (sorted after).
pub(super) const SQL_LOAD_QUEUE: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", ",
    salience_cols!(),
    ", m.processed_at, m.queued_until \
     FROM chat_messages m WHERE m.queued_until > ?1"
);
/// When the newest mark was set: the last run's clock had reached at least
/// this, so every mark at or before it had expired then, even if this run's
/// clock starts earlier (a replay into the same file, a clock stepped back).
pub(super) const SQL_QUEUE_HIGH_WATER: &str = "SELECT processed_at FROM chat_messages \
     WHERE queued_until IS NOT NULL ORDER BY queued_until DESC LIMIT 1";

const SQL_SET_CONFIG: &str = "INSERT INTO channel_config (platform, channel, message_threshold, \
     time_delay, context_limit, model, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (platform, channel) DO UPDATE SET message_threshold = excluded.message_threshold, \
     time_delay = excluded.time_delay, context_limit = excluded.context_limit, \
     model = excluded.model, updated_at = excluded.updated_at";
const SQL_GET_CONFIG: &str = "SELECT message_threshold, time_delay, context_limit, model \
     FROM channel_config WHERE platform = ?1 AND channel = ?2";

const SQL_METRIC: &str =
    "INSERT INTO platform_metrics (platform, channel, at, name, value) VALUES (?1, ?2, ?3, ?4, ?5)";

const SQL_INSERT_RESPONSE: &str = "INSERT INTO chat_responses (original_message_id, platform, \
     channel, response_text, response_type, attention_state, generation_time_ms, agent_context, \
     status, created_at) VALUES (?3, ?1, ?2, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const SQL_LINK_RESPONSE: &str = "UPDATE chat_messages SET response_id = ?2 WHERE id = ?1";
const SQL_RESPONSE_STATUS: &str =
    "UPDATE chat_responses SET status = ?2, sent_at = COALESCE(?3, sent_at) WHERE id = ?1";
/// A sent reply is final (see `Store::set_response_verdict`); `sent_at` is
/// the platform's acceptance, so only `sent` sets it.
const SQL_RESPONSE_VERDICT: &str = "UPDATE chat_responses SET status = ?2, \
     status_reason = ?3, sent_at = CASE WHEN ?2 = 'sent' THEN ?4 ELSE sent_at END \
     WHERE id = ?1 AND status <> 'sent'";
/// A finished or edited draft; never touches a reply that went out or may
/// have: the stored text must stay what chat saw.
const SQL_RESPONSE_TEXT: &str = "UPDATE chat_responses SET response_text = ?2, \
     response_type = ?3, status = ?4, generation_time_ms = COALESCE(?5, generation_time_ms) \
     WHERE id = ?1 AND status NOT IN ('sending', 'sent', 'unconfirmed')";
const SQL_EXPIRE_UNSENT: &str = "UPDATE chat_responses SET status = 'expired' \
     WHERE status IN ('pending', 'approved', 'edited')";
/// In flight when the last run stopped: it may be in chat, so it is neither
/// expired (that reads as "never went out") nor ever resent on its own.
const SQL_UNCONFIRM_SENDING: &str = "UPDATE chat_responses SET status = 'unconfirmed', \
     status_reason = ?1 WHERE status = 'sending'";
/// Unconfirmed counts as answered: it may be in chat, and a second answer
/// to one message is the failure this check exists to prevent.
const SQL_SENT_RESPONSE_FOR: &str = "SELECT id FROM chat_responses \
     WHERE original_message_id = ?1 AND status IN ('sending', 'sent', 'unconfirmed') LIMIT 1";
/// Columns `response_from_row` reads, in its order.
macro_rules! response_cols {
    () => {
        "r.id, r.platform, r.channel, m.platform_msg_id, r.response_text, r.response_type, \
         r.attention_state, r.generation_time_ms, r.agent_context, r.status, r.created_at, \
         r.sent_at, r.status_reason"
    };
}
const SQL_GET_RESPONSE: &str = concat!(
    "SELECT ",
    response_cols!(),
    " FROM chat_responses r \
     LEFT JOIN chat_messages m ON m.id = r.original_message_id WHERE r.id = ?1"
);
/// The status list must read exactly as in the partial index
/// `chat_responses_not_delivered`, or SQLite will not use it.
pub(super) const SQL_NOT_DELIVERED: &str = concat!(
    "SELECT ",
    response_cols!(),
    " FROM chat_responses r \
     LEFT JOIN chat_messages m ON m.id = r.original_message_id \
     WHERE r.status IN ('refused', 'failed', 'unconfirmed') \
     ORDER BY r.created_at DESC, r.id DESC LIMIT ?1"
);

pub(super) const SQL_LAST_MESSAGES: &str = concat!(
    "SELECT ",
    message_cols!(),
    " FROM chat_messages m WHERE m.platform = ?1 AND m.channel = ?2 \
     ORDER BY m.created_at DESC, m.author_id DESC, m.id DESC LIMIT ?3"
);
/// Keyset pages: rows strictly after the previous page's last
/// `(created_at, author_id, id)`, in the index's own order.
pub(super) const SQL_EXPORT_CHANNEL: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", m.id FROM chat_messages m WHERE m.platform = ?1 AND m.channel = ?2 \
     AND m.created_at >= ?3 AND (m.created_at, m.author_id, m.id) > (?4, ?5, ?6) \
     ORDER BY m.created_at, m.author_id, m.id LIMIT ?7"
);
pub(super) const SQL_EXPORT_PLATFORM: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", m.id FROM chat_messages m WHERE m.platform = ?1 \
     AND m.created_at >= ?2 AND (m.created_at, m.author_id, m.id) > (?3, ?4, ?5) \
     ORDER BY m.created_at, m.author_id, m.id LIMIT ?6"
);

pub(super) const SQL_PRUNE_AGE: &str = "DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages \
     WHERE platform = ?1 AND created_at < ?2 LIMIT ?3)";
const SQL_PRUNE_RESPONSES: &str = "DELETE FROM chat_responses WHERE id IN \
     (SELECT id FROM chat_responses WHERE created_at < ?1 LIMIT ?2)";
const SQL_PRUNE_METRICS: &str = "DELETE FROM platform_metrics WHERE id IN \
     (SELECT id FROM platform_metrics WHERE at < ?1 LIMIT ?2)";
pub(super) const SQL_FIRST_CHANNEL: &str =
    "SELECT platform, channel FROM chat_messages ORDER BY platform, channel LIMIT 1";
pub(super) const SQL_NEXT_CHANNEL: &str = "SELECT platform, channel FROM chat_messages \
     WHERE (platform, channel) > (?1, ?2) ORDER BY platform, channel LIMIT 1";
/// The newest row that is one too many: it and everything older goes.
pub(super) const SQL_COUNT_CUTOFF: &str = "SELECT created_at, author_id, id FROM chat_messages \
     WHERE platform = ?1 AND channel = ?2 \
     ORDER BY created_at DESC, author_id DESC, id DESC LIMIT 1 OFFSET ?3";
pub(super) const SQL_PRUNE_COUNT: &str = "DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages \
     WHERE platform = ?1 AND channel = ?2 AND (created_at, author_id, id) <= (?3, ?4, ?5) \
     LIMIT ?6)";

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The writer's memory of `channel_authors`, so an insert by an author it
/// has already noted costs a hash lookup instead of a statement (~2-3 us per
/// row). Only this thread writes that table, so the memory cannot go stale
/// except by a rollback, which clears it; it is cleared when full, too, as
/// it is only a shortcut. Authors are keyed by a 128-bit hash (two SipHash
/// runs) instead of their strings: no allocation per author, and a false
/// match, the only way to skip a needed upsert, is beyond any real chance.
#[derive(Default)]
struct AuthorCache {
    /// First hash half -> (second half, `since_at` it is sure of).
    map: HashMap<u64, (u64, i64)>,
}

/// An author's 128-bit identity in the cache.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct AuthorHash(u64, u64);

impl AuthorCache {
    fn hash(platform: Platform, channel: &str, author: &str) -> AuthorHash {
        let half = |salt: u8| {
            let mut h = std::hash::DefaultHasher::new();
            (salt, platform, channel, author).hash(&mut h);
            h.finish()
        };
        AuthorHash(half(0), half(1))
    }

    /// True if the stored `since_at` is surely at or before `at`.
    fn covers(&self, h: AuthorHash, at: i64) -> bool {
        self.map
            .get(&h.0)
            .is_some_and(|&(check, since)| check == h.1 && since <= at)
    }

    /// After a successful upsert: the stored `since_at` is at or before `at`.
    fn note(&mut self, h: AuthorHash, at: i64) {
        if self.map.len() >= AUTHOR_CACHE_MAX {
            self.map.clear();
        }
        match self.map.get_mut(&h.0) {
            Some((check, since)) if *check == h.1 => *since = (*since).min(at),
            _ => {
                self.map.insert(h.0, (h.1, at));
            }
        }
    }

    fn forget(&mut self, h: AuthorHash) {
        if self.map.get(&h.0).is_some_and(|&(check, _)| check == h.1) {
            self.map.remove(&h.0);
        }
    }
}

/// Where a prune run stands; each step deletes at most one chunk.
enum Phase {
    AgeMessages(usize),
    AgeResponses,
    AgeMetrics,
    NextChannel(Option<(String, String)>),
    CountDelete {
        platform: String,
        channel: String,
        cut: Cursor,
    },
    Done,
}

struct PruneJob {
    policy: RetentionPolicy,
    cutoff_ms: i64,
    phase: Phase,
    report: PruneReport,
    reply: Reply<PruneReport>,
}

impl PruneJob {
    fn new(policy: RetentionPolicy, now: DateTime<Utc>, reply: Reply<PruneReport>) -> Self {
        let age_ms = i64::from(policy.max_age_days) * 86_400_000;
        let phase = if policy.max_age_days > 0 {
            Phase::AgeMessages(0)
        } else {
            Phase::NextChannel(None)
        };
        PruneJob {
            policy,
            cutoff_ms: now.timestamp_millis().saturating_sub(age_ms),
            phase,
            report: PruneReport::default(),
            reply,
        }
    }

    /// Runs one step inside the open transaction; returns rows deleted.
    fn step(&mut self, conn: &Connection) -> rusqlite::Result<usize> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        let count_phase = || {
            if self.policy.max_messages_per_channel > 0 {
                Phase::NextChannel(None)
            } else {
                Phase::Done
            }
        };
        let (deleted, next) = match phase {
            Phase::AgeMessages(i) => match Platform::ALL.get(i) {
                Some(p) => {
                    let n = conn.prepare_cached(SQL_PRUNE_AGE)?.execute(params![
                        p.as_str(),
                        self.cutoff_ms,
                        PRUNE_CHUNK
                    ])?;
                    self.report.by_age += n as u64;
                    let next = if (n as i64) < PRUNE_CHUNK { i + 1 } else { i };
                    (n, Phase::AgeMessages(next))
                }
                None => (0, Phase::AgeResponses),
            },
            Phase::AgeResponses => {
                let n = conn
                    .prepare_cached(SQL_PRUNE_RESPONSES)?
                    .execute(params![self.cutoff_ms, PRUNE_CHUNK])?;
                self.report.responses += n as u64;
                let next = if (n as i64) < PRUNE_CHUNK {
                    Phase::AgeMetrics
                } else {
                    Phase::AgeResponses
                };
                (n, next)
            }
            Phase::AgeMetrics => {
                let n = conn
                    .prepare_cached(SQL_PRUNE_METRICS)?
                    .execute(params![self.cutoff_ms, PRUNE_CHUNK])?;
                self.report.metrics += n as u64;
                let next = if (n as i64) < PRUNE_CHUNK {
                    count_phase()
                } else {
                    Phase::AgeMetrics
                };
                (n, next)
            }
            Phase::NextChannel(after) => {
                if self.policy.max_messages_per_channel == 0 {
                    return Ok(0);
                }
                let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get(1)?));
                let found = match &after {
                    None => conn
                        .prepare_cached(SQL_FIRST_CHANNEL)?
                        .query_row([], row)
                        .optional()?,
                    Some((p, c)) => conn
                        .prepare_cached(SQL_NEXT_CHANNEL)?
                        .query_row(params![p, c], row)
                        .optional()?,
                };
                match found {
                    None => (0, Phase::Done),
                    Some((platform, channel)) => {
                        let cut: Option<Cursor> = conn
                            .prepare_cached(SQL_COUNT_CUTOFF)?
                            .query_row(
                                params![platform, channel, self.policy.max_messages_per_channel],
                                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                            )
                            .optional()?;
                        match cut {
                            Some(cut) => (
                                0,
                                Phase::CountDelete {
                                    platform,
                                    channel,
                                    cut,
                                },
                            ),
                            None => (0, Phase::NextChannel(Some((platform, channel)))),
                        }
                    }
                }
            }
            Phase::CountDelete {
                platform,
                channel,
                cut,
            } => {
                let n = conn.prepare_cached(SQL_PRUNE_COUNT)?.execute(params![
                    platform,
                    channel,
                    cut.0,
                    cut.1,
                    cut.2,
                    PRUNE_CHUNK
                ])?;
                self.report.by_count += n as u64;
                let next = if (n as i64) < PRUNE_CHUNK {
                    Phase::NextChannel(Some((platform, channel)))
                } else {
                    Phase::CountDelete {
                        platform,
                        channel,
                        cut,
                    }
                };
                (n, next)
            }
            Phase::Done => (0, Phase::Done),
        };
        self.phase = next;
        Ok(deleted)
    }
}

/// The longest a batch stays open, under a steady stream of writes or
/// waiting for more (group commit): what a `kill -9` can lose of what was
/// already read, with the time it takes to reach the writer. Half the
/// issue's 100 ms target, so the rest of the path fits in the other half.
const MAX_BATCH_AGE: Duration = Duration::from_millis(50);

/// A batch this old commits as soon as the channel is empty instead of
/// waiting out [`MAX_BATCH_AGE`]: writes that come in bursts then commit
/// right after a burst rather than on a timer of its own, which saves the
/// writer a wake-up per commit. (The live path says when its burst is over,
/// [`Cmd::CommitSoon`], and its batches commit at once.)
const EARLY_COMMIT_AGE: Duration = Duration::from_millis(30);

pub(super) struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    batch_size: usize,
    busy_timeout: Duration,
    /// Writes applied inside the open transaction.
    pending: usize,
    /// When the open transaction began: a batch also commits by age, so a
    /// crash under a steady stream loses at most [`MAX_BATCH_AGE`] of input.
    tx_started: Option<std::time::Instant>,
    /// Messages inserted in the open transaction: counted as stored only
    /// when it commits, so a rolled-back batch (disk full) is never reported
    /// as stored.
    tx_inserted: u64,
    /// When an error was last logged and how many were not logged since:
    /// a failing disk would otherwise log thousands of lines a second.
    log_gate: std::cell::Cell<(Option<std::time::Instant>, u64)>,
    /// Writes not applied yet because another connection holds the lock, in
    /// order. While non-empty every new write queues behind them.
    held: VecDeque<Write>,
    /// Set while the database is locked, so the lock is logged once.
    locked: bool,
    jobs: VecDeque<PruneJob>,
    scratch: Scratch,
    authors: AuthorCache,
    /// Since when the disk (or `max_size_mb`) has been full, until a
    /// checkpoint gave the WAL's space back (see `recover_space`).
    disk_full: std::cell::Cell<Option<std::time::Instant>>,
    checkpoint_tried: Option<std::time::Instant>,
    /// A [`Cmd::CommitSoon`] came for the open batch: it does not wait for
    /// company.
    commit_soon: bool,
}

impl Writer {
    pub(super) fn new(conn: Connection, shared: Arc<Shared>, cfg: &StoreConfig) -> Self {
        Writer {
            conn,
            shared,
            batch_size: cfg.batch_size,
            busy_timeout: Duration::from_millis(cfg.busy_timeout_ms),
            pending: 0,
            tx_started: None,
            tx_inserted: 0,
            log_gate: std::cell::Cell::new((None, 0)),
            held: VecDeque::new(),
            locked: false,
            jobs: VecDeque::new(),
            scratch: Scratch::default(),
            authors: AuthorCache::default(),
            disk_full: std::cell::Cell::new(None),
            checkpoint_tried: None,
            commit_soon: false,
        }
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut shutdown = None;
        let mut since_step = 0usize;
        let mut buf = Vec::with_capacity(RECV_BATCH);
        // A timer to wait on the channel with a deadline (group commit);
        // without one the writer commits whenever the channel is empty.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .inspect_err(|e| tracing::warn!(error = %e, "store: no timer; committing when idle"))
            .ok();
        loop {
            if rx.is_empty()
                && let (Some(timer), Some(started), true) = (
                    &timer,
                    self.tx_started,
                    self.held.is_empty() && shutdown.is_none() && !self.commit_soon,
                )
                && started.elapsed() < EARLY_COMMIT_AGE
            {
                // Group commit: an open batch waits for more writes until it
                // is MAX_BATCH_AGE old. Committing whenever the channel
                // emptied made a commit (several index pages into the WAL)
                // per message or two at ordinary chat rates; now a commit
                // carries every write of its 50 ms. Reads still see every
                // write (a query commits first), and a kill -9 still loses
                // at most MAX_BATCH_AGE of input.
                let deadline = tokio::time::Instant::from_std(started + MAX_BATCH_AGE);
                // The timer future must be made inside the runtime.
                let got = timer.block_on(async {
                    tokio::time::timeout_at(deadline, rx.recv_many(&mut buf, RECV_BATCH)).await
                });
                match got {
                    Ok(0) => break, // every handle is gone and the channel is drained
                    Ok(_) => {
                        self.take(&mut buf, &mut rx, &mut shutdown, &mut since_step);
                        continue;
                    }
                    Err(_) => {} // old enough: commit below
                }
            }
            if rx.is_empty() {
                // Idle: make everything so far durable and visible. Under
                // load the channel never empties and batches grow to
                // `batch_size`, so batching adapts by itself.
                self.commit();
                self.recover_space(false);
                if !self.held.is_empty() {
                    if !self.drain_held() {
                        if rx.is_closed() && rx.is_empty() {
                            break;
                        }
                        self.pause_after_busy();
                    }
                    continue;
                }
                if !self.jobs.is_empty() {
                    if !self.step_job() {
                        self.pause_after_busy();
                    }
                    continue;
                }
            }
            // Taking commands in bulk frees channel slots in bulk, so a
            // blocked producer wakes once per bulk, not once per message.
            if rx.blocking_recv_many(&mut buf, RECV_BATCH) == 0 {
                break; // every handle is gone and the channel is drained
            }
            self.take(&mut buf, &mut rx, &mut shutdown, &mut since_step);
        }
        let result = self.finish();
        match shutdown {
            Some(reply) => drop(reply.send(result)),
            None => {
                if let Err(e) = result {
                    tracing::error!(error = %e, "store closed with errors");
                }
            }
        }
    }

    /// Applies commands taken from the channel, in order.
    fn take(
        &mut self,
        buf: &mut Vec<Cmd>,
        rx: &mut mpsc::Receiver<Cmd>,
        shutdown: &mut Option<Reply<StoreStats>>,
        since_step: &mut usize,
    ) {
        for cmd in buf.drain(..) {
            match cmd {
                Cmd::Write(w) => {
                    self.shared.taken(w.weight());
                    self.write(w)
                }
                Cmd::Query(q) => self.query(q),
                // Only an open batch is hurried: a hint that finds everything
                // committed must not cut the next batch's wait short.
                Cmd::CommitSoon => self.commit_soon = self.tx_started.is_some(),
                Cmd::Shutdown(reply) => {
                    // Refuse new commands but still apply what is queued.
                    rx.close();
                    *shutdown = Some(reply);
                }
            }
            // Under a steady stream, a prune still advances one chunk per batch.
            if !self.jobs.is_empty() {
                *since_step += 1;
                if *since_step >= self.batch_size {
                    *since_step = 0;
                    self.step_job();
                }
            }
        }
    }

    /// After the disk filled up: a TRUNCATE checkpoint folds the WAL into
    /// the database and gives the WAL's space back, tried after each commit
    /// that works again (room came back) and otherwise at most once a
    /// second. Without it nothing shrinks the
    /// WAL (its automatic checkpoint waits for 10,000 pages, more than a
    /// nearly full disk holds), so a WAL made mostly of page versions that
    /// many small commits rewrote kept the disk full after space came back.
    /// The automatic checkpoint then comes at half the WAL's size when the
    /// disk filled, so the WAL cannot fill it again.
    fn recover_space(&mut self, committed: bool) {
        let Some(since) = self.disk_full.get() else {
            return;
        };
        // A commit that worked shows there is room again: try at once.
        if !self.conn.is_autocommit()
            || (!committed
                && self
                    .checkpoint_tried
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(1)))
        {
            return;
        }
        self.checkpoint_tried = Some(std::time::Instant::now());
        let wal = std::fs::metadata(format!("{}-wal", self.shared.path.display()))
            .map(|m| m.len())
            .unwrap_or(0);
        let r = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match r {
            Ok(0) => {
                self.disk_full.set(None);
                self.checkpoint_tried = None;
                let page = self
                    .conn
                    .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
                    .unwrap_or(4096)
                    .max(512);
                let pages = (wal as i64 / page / 2).clamp(16, super::schema::WAL_AUTOCHECKPOINT);
                if let Err(e) = self
                    .conn
                    .execute_batch(&format!("PRAGMA wal_autocheckpoint = {pages}"))
                {
                    tracing::debug!(error = %e, "could not lower wal_autocheckpoint");
                }
                tracing::info!(
                    path = %self.shared.path.display(),
                    full_for_ms = since.elapsed().as_millis() as u64,
                    wal_bytes = wal,
                    autocheckpoint_pages = pages,
                    "store: the disk filled up; the WAL was checkpointed and truncated"
                );
            }
            // Another connection reads: the WAL could not be reset; later.
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "checkpoint after a full disk failed; retrying"),
        }
    }

    /// Completes prunes, commits, retries held writes a few times, and
    /// reports what could not be saved.
    fn finish(&mut self) -> Result<StoreStats, StoreError> {
        let mut busy_rounds = 0;
        while !self.jobs.is_empty() {
            if !self.step_job() {
                busy_rounds += 1;
                if busy_rounds >= 3 {
                    for job in self.jobs.drain(..) {
                        drop(job.reply.send(Err(StoreError::Busy {
                            path: self.shared.path.clone(),
                            waited_ms: self.busy_timeout.as_millis() as u64,
                            held: 0,
                        })));
                    }
                }
                self.pause_after_busy();
            }
        }
        self.commit();
        for _ in 0..3 {
            if self.drain_held() {
                break;
            }
            self.pause_after_busy();
        }
        self.commit();
        let mut lost: u64 = self.held.iter().map(|w| w.weight() as u64).sum();
        if !self.conn.is_autocommit() {
            // A commit that failed for good; closing the connection rolls it back.
            lost += self.pending as u64;
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA optimize") {
            tracing::debug!(error = %e, "PRAGMA optimize failed");
        }
        if lost > 0 {
            bump(&self.shared.counters.lost, lost);
            let reason = self
                .shared
                .stats()
                .last_error
                .unwrap_or_else(|| "unknown".into());
            return Err(StoreError::Lost {
                path: self.shared.path.clone(),
                lost,
                reason,
            });
        }
        Ok(self.shared.stats())
    }

    fn record_error(&self, op: &str, e: &rusqlite::Error) {
        bump(&self.shared.counters.errors, 1);
        if e.sqlite_error_code() == Some(ErrorCode::DiskFull) && self.disk_full.get().is_none() {
            self.disk_full.set(Some(std::time::Instant::now()));
        }
        // At most one line a second; the count says how many were left out.
        let (last, skipped) = self.log_gate.get();
        let now = std::time::Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            tracing::error!(path = %self.shared.path.display(), op, error = %e, not_logged_since = skipped, "store write failed");
            self.log_gate.set((Some(now), 0));
        } else {
            self.log_gate.set((last, skipped + 1));
        }
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(format!("{op}: {e}"));
    }

    fn note_busy(&mut self, e: &rusqlite::Error) {
        if !self.locked {
            self.locked = true;
            self.record_error("begin transaction (database locked)", e);
            tracing::warn!(
                path = %self.shared.path.display(),
                "database locked by another connection; holding writes until it is released"
            );
        }
    }

    fn pause_after_busy(&self) {
        if self.busy_timeout < MIN_BUSY_PAUSE {
            std::thread::sleep(MIN_BUSY_PAUSE - self.busy_timeout);
        }
    }

    fn sqlite_err(&self, op: &'static str, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.shared.path.clone(),
            op,
            source,
        }
    }

    fn busy_err(&self) -> StoreError {
        StoreError::Busy {
            path: self.shared.path.clone(),
            waited_ms: self.busy_timeout.as_millis() as u64,
            held: self.held.len(),
        }
    }

    /// Opens a write transaction unless one is open. IMMEDIATE takes the
    /// write lock now (waiting up to busy_timeout), so a busy database shows
    /// up here, before any write of the batch was applied, never halfway.
    fn begin(&mut self) -> rusqlite::Result<()> {
        if self.conn.is_autocommit() {
            self.pending = 0;
            self.conn.prepare_cached(SQL_BEGIN)?.execute([])?;
            self.tx_started = Some(std::time::Instant::now());
            self.tx_inserted = 0;
        }
        Ok(())
    }

    /// The open batch is full or old enough to commit.
    fn batch_due(&self) -> bool {
        self.pending >= self.batch_size
            || self
                .tx_started
                .is_some_and(|t| t.elapsed() >= MAX_BATCH_AGE)
    }

    fn commit(&mut self) {
        self.commit_soon = false;
        if self.conn.is_autocommit() {
            self.pending = 0;
            return;
        }
        let result = self
            .conn
            .prepare_cached(SQL_COMMIT)
            .and_then(|mut s| s.execute([]));
        match result {
            Ok(_) => {
                bump(&self.shared.counters.commits, 1);
                bump(&self.shared.counters.inserted, self.tx_inserted);
                self.tx_inserted = 0;
                self.pending = 0;
                self.tx_started = None;
                self.recover_space(true);
            }
            // The transaction stays open; the next commit point retries it.
            Err(e) if is_busy(&e) => self.record_error("commit", &e),
            Err(e) => {
                self.record_error("commit", &e);
                self.authors.map.clear();
                if !self.conn.is_autocommit()
                    && let Err(e) = self.conn.execute_batch("ROLLBACK")
                {
                    self.record_error("rollback", &e);
                }
                bump(&self.shared.counters.lost, self.pending as u64);
                self.pending = 0;
                self.tx_started = None;
                self.tx_inserted = 0;
                self.recover_space(false);
            }
        }
    }

    fn update_held(&self) {
        self.shared
            .counters
            .held
            .store(self.held.len() as u64, Ordering::Relaxed);
    }

    fn write(&mut self, w: Write) {
        if self.held.is_empty() {
            if let Some(w) = self.try_apply(w) {
                self.held.push_back(w);
                self.update_held();
            }
            return;
        }
        self.held.push_back(w);
        self.update_held();
        if self.held.len() >= HELD_LIMIT {
            // Stop taking commands until the lock goes; the bounded channel
            // then blocks producers instead of memory growing without end.
            while !self.drain_held() {
                self.pause_after_busy();
            }
        }
    }

    /// Applies `w`, or hands it back when the database is locked.
    fn try_apply(&mut self, w: Write) -> Option<Write> {
        if let Err(e) = self.begin() {
            if is_busy(&e) {
                self.note_busy(&e);
                return Some(w);
            }
            self.record_error("begin transaction", &e);
            bump(&self.shared.counters.lost, w.weight() as u64);
            return None;
        }
        self.apply(w);
        if self.batch_due() {
            self.commit();
        }
        None
    }

    /// Applies held writes in order; false if the database is still locked.
    fn drain_held(&mut self) -> bool {
        while let Some(w) = self.held.pop_front() {
            if let Some(w) = self.try_apply(w) {
                self.held.push_front(w);
                self.update_held();
                return false;
            }
        }
        self.update_held();
        if self.locked {
            self.locked = false;
            tracing::info!(path = %self.shared.path.display(), "database lock released; held writes applied");
        }
        true
    }

    /// Applies one write inside the open transaction.
    fn apply(&mut self, w: Write) {
        let op = w.op();
        match w {
            Write::Insert(m) => {
                let r = self.insert(&m);
                self.after(op, 1, r);
            }
            Write::InsertMany(ms) => {
                for m in &ms {
                    let r = self.insert(m);
                    self.after(op, 1, r);
                }
            }
            w => {
                let r = self.apply_other(&w);
                self.after(op, 1, r);
            }
        }
    }

    /// Bookkeeping after one statement: batch size, errors, losses.
    fn after(&mut self, op: &'static str, weight: usize, r: rusqlite::Result<()>) {
        self.pending += weight;
        if let Err(e) = r {
            self.record_error(op, &e);
            bump(&self.shared.counters.lost, 1);
            if self.conn.is_autocommit() {
                // SQLite rolled the whole batch back (disk full, I/O error),
                // channel_authors rows of the batch included.
                self.authors.map.clear();
                bump(
                    &self.shared.counters.lost,
                    self.pending.saturating_sub(weight) as u64,
                );
                self.pending = 0;
                self.tx_inserted = 0;
                if let Err(e) = self.begin() {
                    self.record_error("begin transaction", &e);
                }
            }
        }
    }

    fn apply_other(&mut self, w: &Write) -> rusqlite::Result<()> {
        let conn = &self.conn;
        let c = &self.shared.counters;
        match w {
            Write::Insert(_) | Write::InsertMany(_) => {}
            Write::Delete(m) => {
                if let Some(row) = find_message(conn, m)? {
                    conn.prepare_cached(SQL_WITHDRAW_ONE)?.execute([row])?;
                    let n = conn.prepare_cached(SQL_DELETE_ONE)?.execute([row])?;
                    bump(&c.deleted, n as u64);
                }
            }
            Write::Purge {
                platform,
                channel,
                author_id,
            } => {
                let key = params![platform.as_str(), channel, author_id];
                let since: Option<i64> = conn
                    .prepare_cached(SQL_AUTHOR_SINCE)?
                    .query_row(key, |r| r.get(0))
                    .optional()?;
                // No row: nothing of this author is stored in this channel.
                if let Some(since) = since {
                    let key = params![platform.as_str(), channel, author_id, since];
                    conn.prepare_cached(SQL_WITHDRAW_AUTHOR)?.execute(key)?;
                    let n = conn.prepare_cached(SQL_DELETE_AUTHOR)?.execute(key)?;
                    bump(&c.deleted, n as u64);
                    conn.prepare_cached(SQL_FORGET_AUTHOR)?.execute(&key[..3])?;
                    self.authors
                        .forget(AuthorCache::hash(*platform, channel, author_id));
                }
            }
            Write::Dequeue(m) => {
                let n = conn.prepare_cached(SQL_DEQUEUE)?.execute(params![
                    m.platform.as_str(),
                    m.channel,
                    m.id,
                    m.at_ms,
                ])?;
                bump(&c.dequeued, n as u64);
            }
            Write::SetChannelConfig {
                platform,
                channel,
                config,
            } => {
                conn.prepare_cached(SQL_SET_CONFIG)?.execute(params![
                    platform.as_str(),
                    channel,
                    config.message_threshold,
                    config.time_delay_s,
                    config.context_limit,
                    config.model,
                    Utc::now().timestamp_millis(),
                ])?;
            }
            Write::DecideHeld(m, released) => {
                conn.prepare_cached(SQL_DECIDE_HELD)?.execute(params![
                    m.platform.as_str(),
                    m.channel,
                    m.id,
                    m.at_ms,
                    if *released { "released" } else { "discarded" },
                ])?;
            }
            Write::Label(l) => {
                conn.prepare_cached(SQL_INSERT_LABEL)?.execute(params![
                    l.platform.as_str(),
                    l.channel,
                    l.message_id,
                    l.draft_id,
                    l.action.as_str(),
                    l.at.timestamp_millis(),
                    l.salience.score,
                    l.salience.breakdown.content,
                    l.salience.breakdown.authority,
                    l.salience.breakdown.relevance,
                    l.salience.breakdown.temporal,
                    l.salience.priority.as_str(),
                ])?;
            }
            Write::Metric(m) => {
                conn.prepare_cached(SQL_METRIC)?.execute(params![
                    m.platform.as_str(),
                    m.channel,
                    m.at.timestamp_millis(),
                    m.name,
                    m.value,
                ])?;
            }
            Write::ResponseText {
                id,
                text,
                response_type,
                status,
                generation_time_ms,
            } => {
                conn.prepare_cached(SQL_RESPONSE_TEXT)?.execute(params![
                    id,
                    text,
                    response_type,
                    status.as_str(),
                    generation_time_ms,
                ])?;
            }
            Write::ResponseStatus {
                id,
                status,
                sent_at,
            } => {
                conn.prepare_cached(SQL_RESPONSE_STATUS)?.execute(params![
                    id,
                    status.as_str(),
                    sent_at.map(|t| t.timestamp_millis()),
                ])?;
            }
            Write::ResponseVerdict {
                id,
                status,
                reason,
                at,
            } => {
                conn.prepare_cached(SQL_RESPONSE_VERDICT)?.execute(params![
                    id,
                    status.as_str(),
                    reason,
                    at.timestamp_millis(),
                ])?;
            }
        }
        Ok(())
    }

    /// One retention step; false if the database was locked.
    fn step_job(&mut self) -> bool {
        let Some(mut job) = self.jobs.pop_front() else {
            return true;
        };
        if let Err(e) = self.begin() {
            if is_busy(&e) {
                self.note_busy(&e);
                self.jobs.push_front(job);
                return false;
            }
            drop(job.reply.send(Err(self.sqlite_err("prune", e))));
            return true;
        }
        let before = job.report.by_age + job.report.by_count;
        match job.step(&self.conn) {
            Ok(n) => {
                self.pending += n;
                bump(
                    &self.shared.counters.pruned,
                    job.report.by_age + job.report.by_count - before,
                );
                if matches!(job.phase, Phase::Done) {
                    self.commit();
                    drop(job.reply.send(Ok(job.report)));
                } else {
                    self.jobs.push_front(job);
                    if self.batch_due() {
                        self.commit();
                    }
                }
            }
            Err(e) => {
                self.record_error("prune", &e);
                drop(job.reply.send(Err(self.sqlite_err("prune", e))));
            }
        }
        true
    }

    fn query(&mut self, q: Query) {
        if let Query::Prune { policy, now, reply } = q {
            self.jobs.push_back(PruneJob::new(policy, now, reply));
            return;
        }
        // Reads must see every write sent before them.
        if !self.drain_held() {
            q.fail(|| self.busy_err());
            return;
        }
        self.commit();
        match q {
            Query::Flush(reply) => drop(reply.send(Ok(self.shared.stats()))),
            Query::LastMessages {
                platform,
                channel,
                n,
                reply,
            } => {
                let r = last_messages(&self.conn, platform, &channel, n)
                    .map_err(|e| self.sqlite_err("last messages", e));
                drop(reply.send(r));
            }
            Query::ChannelConfig {
                platform,
                channel,
                reply,
            } => {
                let r = channel_config(&self.conn, platform, &channel)
                    .map_err(|e| self.sqlite_err("channel config", e));
                drop(reply.send(r));
            }
            Query::ExportPage { q, reply } => {
                let r = export_page(&self.conn, &q).map_err(|e| self.sqlite_err("export", e));
                drop(reply.send(r));
            }
            Query::LoadQueue { now, reply } => {
                let r = load_queue(&self.conn, now).map_err(|e| self.sqlite_err("load queue", e));
                drop(reply.send(r));
            }
            Query::InsertResponse { r, reply } => {
                let result = match self.begin() {
                    Ok(()) => insert_response(&self.conn, &r)
                        .map_err(|e| self.sqlite_err("insert response", e)),
                    Err(e) if is_busy(&e) => Err(self.busy_err()),
                    Err(e) => Err(self.sqlite_err("insert response", e)),
                };
                if result.is_ok() {
                    self.pending += 1;
                }
                drop(reply.send(result));
            }
            Query::GetResponse { id, reply } => {
                let r =
                    get_response(&self.conn, id).map_err(|e| self.sqlite_err("get response", e));
                drop(reply.send(r));
            }
            Query::SaveAuthToken { row, reply } => {
                let r = self.in_committed_tx("save auth token", |conn| save_auth_token(conn, &row));
                drop(reply.send(r));
            }
            Query::LoadAuthToken { platform, reply } => {
                let r = load_auth_token(&self.conn, platform)
                    .map_err(|e| self.sqlite_err("load auth token", e));
                drop(reply.send(r));
            }
            Query::DeleteAuthToken { platform, reply } => {
                let r = self.in_committed_tx("delete auth token", |conn| {
                    conn.prepare_cached(SQL_DELETE_AUTH)?
                        .execute([platform.as_str()])
                        .map(|_| ())
                });
                drop(reply.send(r));
            }
            Query::ClaimResponse {
                id,
                from,
                to,
                at,
                reply,
            } => {
                // Queries run after a commit, so this UPDATE autocommits: the
                // claim is on disk before the caller acts on it.
                let r = claim_response(&self.conn, id, &from, to, at)
                    .map_err(|e| self.sqlite_err("claim response", e));
                drop(reply.send(r));
            }
            Query::ExpireUnsent { reply } => {
                let (mut expired, mut unconfirmed) = (0, 0);
                let r = self
                    .in_committed_tx("expire unsent replies", |conn| {
                        expired = conn.prepare_cached(SQL_EXPIRE_UNSENT)?.execute([])? as u64;
                        unconfirmed = conn
                            .prepare_cached(SQL_UNCONFIRM_SENDING)?
                            .execute([STOPPED_BEFORE_VERDICT])?;
                        Ok(())
                    })
                    .map(|()| expired);
                if r.is_ok() && unconfirmed > 0 {
                    // The count answers "how many expired"; these are the
                    // ones the operator must look at (they may be in chat).
                    tracing::warn!(
                        unconfirmed,
                        "replies in flight when clank last stopped are now unconfirmed"
                    );
                }
                drop(reply.send(r));
            }
            Query::NotDelivered { limit, reply } => {
                let r = not_delivered(&self.conn, limit)
                    .map_err(|e| self.sqlite_err("not delivered", e));
                drop(reply.send(r));
            }
            Query::SentResponseFor { original, reply } => {
                let r = sent_response_for(&self.conn, &original)
                    .map_err(|e| self.sqlite_err("sent response for", e));
                drop(reply.send(r));
            }
            Query::SetAdapterState {
                platform,
                key,
                value,
                reply,
            } => {
                let r = self.in_committed_tx("set adapter state", |conn| {
                    conn.prepare_cached(
                        "INSERT INTO adapter_state (platform, key, value, updated_at) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (platform, key) \
                         DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )?
                    .execute(params![
                        platform.as_str(),
                        key,
                        value,
                        Utc::now().timestamp_millis()
                    ])
                    .map(|_| ())
                });
                drop(reply.send(r));
            }
            Query::AdapterState {
                platform,
                key,
                reply,
            } => {
                let r = self
                    .conn
                    .prepare_cached(
                        "SELECT value FROM adapter_state WHERE platform = ?1 AND key = ?2",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![platform.as_str(), key], |row| row.get(0))
                            .optional()
                    })
                    .map_err(|e| self.sqlite_err("adapter state", e));
                drop(reply.send(r));
            }
            Query::Held { reply } => {
                let r = held(&self.conn).map_err(|e| self.sqlite_err("held messages", e));
                drop(reply.send(r));
            }
            Query::Labels { reply } => {
                let r = labels(&self.conn).map_err(|e| self.sqlite_err("operator labels", e));
                drop(reply.send(r));
            }
            Query::Prune { .. } => {}
        }
    }

    /// Runs `f` in a transaction and commits it before returning, for the
    /// few writes that must be durable when the caller hears "done".
    fn in_committed_tx(
        &mut self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        match self.begin() {
            Ok(()) => {}
            Err(e) if is_busy(&e) => return Err(self.busy_err()),
            Err(e) => return Err(self.sqlite_err(op, e)),
        }
        if let Err(e) = f(&self.conn) {
            // Nothing else is in this transaction: query() committed first.
            let _ = self.conn.execute_batch("ROLLBACK");
            self.pending = 0;
            return Err(self.sqlite_err(op, e));
        }
        self.pending += 1;
        self.commit();
        if self.conn.is_autocommit() {
            Ok(())
        } else {
            Err(self.busy_err())
        }
    }
}

const SQL_DELETE_AUTH: &str = "DELETE FROM auth_tokens WHERE platform = ?1";

/// One account per platform: saving replaces whatever was there. The sealed
/// token (nonce included) goes in `access_token_enc`; `refresh_token_enc`
/// and `nonce` stay NULL because the vault seals both tokens as one unit.
fn save_auth_token(conn: &Connection, row: &AuthTokenRow) -> rusqlite::Result<()> {
    conn.prepare_cached(SQL_DELETE_AUTH)?
        .execute([row.platform.as_str()])?;
    conn.prepare_cached(
        "INSERT INTO auth_tokens (platform, account, access_token_enc, refresh_token_enc, \
         nonce, scopes, expires_at, updated_at) VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.platform.as_str(),
        row.account,
        row.sealed,
        row.scopes,
        row.expires_at.map(|t| t.timestamp_millis()),
        Utc::now().timestamp_millis(),
    ])?;
    Ok(())
}

fn load_auth_token(
    conn: &Connection,
    platform: Platform,
) -> rusqlite::Result<Option<AuthTokenRow>> {
    conn.prepare_cached(
        "SELECT account, access_token_enc, scopes, expires_at FROM auth_tokens \
         WHERE platform = ?1 ORDER BY updated_at DESC LIMIT 1",
    )?
    .query_row([platform.as_str()], |row| {
        Ok(AuthTokenRow {
            platform,
            account: row.get(0)?,
            sealed: row.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
            scopes: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
            expires_at: codec::opt_time(row, 3)?,
        })
    })
    .optional()
}

fn claim_response(
    conn: &Connection,
    id: i64,
    from: &[ResponseStatus],
    to: ResponseStatus,
    at: Option<DateTime<Utc>>,
) -> rusqlite::Result<bool> {
    if from.is_empty() {
        return Ok(false);
    }
    let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    // The statuses are our own fixed words, never user text, so inlining is
    // safe. `sent_at` means the platform accepted it, so a claim to
    // `sending` (not a send yet) leaves it alone; the old reason described
    // the state being left.
    let sql = format!(
        "UPDATE chat_responses SET status = ?2, status_reason = NULL, \
         sent_at = CASE WHEN ?2 = 'sent' THEN COALESCE(?3, sent_at) ELSE sent_at END \
         WHERE id = ?1 AND status IN ({})",
        list.join(", ")
    );
    let n = conn.prepare_cached(&sql)?.execute(params![
        id,
        to.as_str(),
        at.map(|t| t.timestamp_millis())
    ])?;
    Ok(n == 1)
}

impl Writer {
    fn insert(&mut self, m: &StoredMessage) -> rusqlite::Result<()> {
        let (conn, sc) = (&self.conn, &mut self.scratch);
        let msg = &m.message;
        roles_json(&msg.author.roles, &mut sc.roles);
        let paid = match &msg.paid {
            Some(p) => Some(json_into(p, &mut sc.paid)?),
            None => None,
        };
        let (score, breakdown, priority) = match &m.salience {
            Some(s) => {
                let b = BreakdownOut::new(&s.breakdown, &s.reasons);
                (
                    Some(s.score),
                    Some(json_into(&b, &mut sc.breakdown)?),
                    Some(s.priority.as_str()),
                )
            }
            None => (None, None, None),
        };
        let metadata = match &m.metadata {
            Some(v) => Some(json_into(v, &mut sc.metadata)?),
            None => None,
        };
        let at = msg.at.timestamp_millis();
        let n = conn.prepare_cached(SQL_INSERT)?.execute(params![
            msg.platform.as_str(),
            msg.channel,
            msg.id,
            msg.author.id,
            msg.author.name,
            sc.roles,
            msg.author.months,
            msg.author.first_message,
            msg.text,
            paid,
            msg.reply_to,
            score,
            breakdown,
            priority,
            m.attention_state.map(|a| a.as_str()),
            metadata,
            at,
            m.processed_at.map(|t| t.timestamp_millis()),
            m.queued_until.map(|t| t.timestamp_millis()),
        ])?;
        let c = &self.shared.counters;
        if n == 0 {
            bump(&c.duplicates, 1);
            return Ok(());
        }
        let (platform, channel, author) = (msg.platform, &msg.channel, &msg.author.id);
        let h = AuthorCache::hash(platform, channel, author);
        if !self.authors.covers(h, at) {
            conn.prepare_cached(SQL_NOTE_AUTHOR)?.execute(params![
                platform.as_str(),
                channel,
                author,
                at
            ])?;
            self.authors.note(h, at);
        }
        self.tx_inserted += 1;
        Ok(())
    }
}

fn last_messages(
    conn: &Connection,
    platform: Platform,
    channel: &str,
    n: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(SQL_LAST_MESSAGES)?;
    let limit = i64::try_from(n).unwrap_or(i64::MAX);
    let mut out = Vec::with_capacity(n.min(4096));
    let mut rows = stmt.query(params![platform.as_str(), channel, limit])?;
    while let Some(row) = rows.next()? {
        out.push(message_from_row(row, 0)?);
    }
    out.reverse();
    Ok(out)
}

fn channel_config(
    conn: &Connection,
    platform: Platform,
    channel: &str,
) -> rusqlite::Result<Option<ChannelConfig>> {
    conn.prepare_cached(SQL_GET_CONFIG)?
        .query_row(params![platform.as_str(), channel], |r| {
            Ok(ChannelConfig {
                message_threshold: r.get(0)?,
                time_delay_s: r.get(1)?,
                context_limit: r.get(2)?,
                model: r.get(3)?,
            })
        })
        .optional()
}

fn export_page(conn: &Connection, q: &ExportQuery) -> rusqlite::Result<Vec<ExportRow>> {
    let since = q.since_ms.unwrap_or(i64::MIN);
    let (after_at, after_author, after_id) = match &q.after {
        Some((at, author, id)) => (*at, author.as_str(), *id),
        // Below every row: any author id sorts after the empty string.
        None => (i64::MIN, "", i64::MIN),
    };
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let map = |row: &rusqlite::Row<'_>| -> rusqlite::Result<ExportRow> {
        Ok((row.get(MESSAGE_NCOLS)?, message_from_row(row, 0)?))
    };
    let mut out = Vec::with_capacity(q.limit.min(4096));
    if q.channel.is_empty() {
        let mut stmt = conn.prepare_cached(SQL_EXPORT_PLATFORM)?;
        let mut rows = stmt.query(params![
            q.platform.as_str(),
            since,
            after_at,
            after_author,
            after_id,
            limit
        ])?;
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
    } else {
        let mut stmt = conn.prepare_cached(SQL_EXPORT_CHANNEL)?;
        let mut rows = stmt.query(params![
            q.platform.as_str(),
            q.channel,
            since,
            after_at,
            after_author,
            after_id,
            limit
        ])?;
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
    }
    Ok(out)
}

/// How far back a lookup by id alone searches a channel, in ms: the core
/// gives the time of every id it still remembers, so this only serves ids
/// from before a restart or older than the core's memory.
const LOOKBACK_MS: i64 = 24 * 3600 * 1000;

/// The row of a message: through the key when its time is known, else by
/// searching the channel's last day of chat for the id.
fn find_message(conn: &Connection, m: &MessageRef) -> rusqlite::Result<Option<i64>> {
    let find = |sql: &str, at: i64| -> rusqlite::Result<Option<i64>> {
        conn.prepare_cached(sql)?
            .query_row(params![m.platform.as_str(), m.channel, m.id, at], |r| {
                r.get(0)
            })
            .optional()
    };
    if let Some(at) = m.at_ms
        && let Some(row) = find(SQL_FIND_AT, at)?
    {
        return Ok(Some(row));
    }
    // No time, or a time that did not match (the same id said elsewhere
    // or at another time): the id alone, in the channel's last day.
    find(SQL_FIND_RECENT, LOOKBACK_MS)
}

fn sent_response_for(conn: &Connection, original: &MessageRef) -> rusqlite::Result<Option<i64>> {
    let Some(row) = find_message(conn, original)? else {
        return Ok(None);
    };
    conn.prepare_cached(SQL_SENT_RESPONSE_FOR)?
        .query_row([row], |r| r.get(0))
        .optional()
}

fn load_queue(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<QueuedMessage>> {
    let high_water: Option<i64> = conn
        .prepare_cached(SQL_QUEUE_HIGH_WATER)?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten();
    let after = now.timestamp_millis().max(high_water.unwrap_or(i64::MIN));
    let mut stmt = conn.prepare_cached(SQL_LOAD_QUEUE)?;
    let mut rows = stmt.query([after])?;
    let mut out = Vec::new();
    let q = MESSAGE_NCOLS + 3;
    while let Some(row) = rows.next()? {
        let message = message_from_row(row, 0)?;
        let salience = codec::salience_from_row(row, MESSAGE_NCOLS)?;
        let (Some(s), Some(enqueued_at)) = (&salience, codec::opt_time(row, q)?) else {
            // Only a hand-made row lacks these; one must not keep clank
            // from starting, so it is left out (its mark expires by itself).
            tracing::warn!(
                platform = %message.platform,
                channel = %message.channel,
                id = %message.id,
                "queued message without a score or queue time: not restored"
            );
            continue;
        };
        let record = QueueRecord {
            platform: message.platform,
            channel: message.channel.clone(),
            id: message.id.clone(),
            priority: s.priority,
            score: s.score,
            enqueued_at,
            expires_at: codec::opt_time(row, q + 1)?,
        };
        out.push((record, message, salience));
    }
    // Highest score first, ties oldest first; the sort is stable, so equal
    // times keep the index's order. Done here, not in SQL: a bounded queue
    // sorts in microseconds and the index stays a plain time index.
    out.sort_by(|(a, _, _), (b, _, _)| {
        b.score
            .total_cmp(&a.score)
            .then(a.enqueued_at.cmp(&b.enqueued_at))
    });
    Ok(out)
}

fn insert_response(conn: &Connection, r: &NewResponse) -> rusqlite::Result<i64> {
    let agent_context = r
        .agent_context
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let original = match &r.original_id {
        Some(id) => find_message(
            conn,
            &MessageRef {
                platform: r.platform,
                channel: r.channel.clone(),
                id: id.clone(),
                at_ms: r.original_at.map(|t| t.timestamp_millis()),
            },
        )?,
        None => None,
    };
    conn.prepare_cached(SQL_INSERT_RESPONSE)?.execute(params![
        r.platform.as_str(),
        r.channel,
        original,
        r.response_text,
        r.response_type,
        r.attention_state.map(|a| a.as_str()),
        r.generation_time_ms,
        agent_context,
        r.status.as_str(),
        r.created_at.timestamp_millis(),
    ])?;
    let id = conn.last_insert_rowid();
    if let Some(original) = original {
        conn.prepare_cached(SQL_LINK_RESPONSE)?
            .execute([original, id])?;
    }
    Ok(id)
}

/// One reply from the columns of `response_cols!`.
fn response_from_row(row: &rusqlite::Row) -> rusqlite::Result<StoredResponse> {
    Ok(StoredResponse {
        id: row.get(0)?,
        platform: codec::platform_at(row, 1)?,
        channel: row.get(2)?,
        original_id: row.get(3)?,
        response_text: row.get(4)?,
        response_type: row.get(5)?,
        attention_state: codec::opt_attention(row, 6)?,
        generation_time_ms: row.get(7)?,
        agent_context: codec::opt_json(row, 8)?,
        status: codec::opt_parse(row, 9)?.unwrap_or(ResponseStatus::Pending),
        created_at: codec::ms_to_time(row.get(10)?, 10)?,
        sent_at: codec::opt_time(row, 11)?,
        status_reason: row.get(12)?,
    })
}

fn get_response(conn: &Connection, id: i64) -> rusqlite::Result<Option<StoredResponse>> {
    conn.prepare_cached(SQL_GET_RESPONSE)?
        .query_row([id], response_from_row)
        .optional()
}

fn not_delivered(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<StoredResponse>> {
    // SQLite's LIMIT is an i64; a larger ask means "all of them".
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(SQL_NOT_DELIVERED)?;
    let rows = stmt.query_map([limit], response_from_row)?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_author_cache_only_vouches_for_what_it_saw() {
        let mut c = AuthorCache::default();
        let u = AuthorCache::hash(Platform::Twitch, "c", "u");
        assert!(!c.covers(u, 100));
        c.note(u, 100);
        assert!(c.covers(u, 100));
        assert!(c.covers(u, 500));
        assert!(!c.covers(u, 99), "an older message needs the upsert");
        c.note(u, 50);
        assert!(c.covers(u, 60));
        // Another author, platform or channel is someone else.
        for other in [
            AuthorCache::hash(Platform::Twitch, "c", "v"),
            AuthorCache::hash(Platform::Youtube, "c", "u"),
            AuthorCache::hash(Platform::Twitch, "d", "u"),
            AuthorCache::hash(Platform::Twitch, "cu", ""),
        ] {
            assert_ne!(other, u);
            assert!(!c.covers(other, 500));
        }
        // Same first half, different second half: not a match.
        assert!(!c.covers(AuthorHash(u.0, u.1 ^ 1), 500));
        c.forget(u);
        assert!(!c.covers(u, 500));
    }
}
