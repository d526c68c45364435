//! SQLite on its own thread behind a cheap, cloneable handle: batched writes in
//! WAL mode, versioned migrations, channel-isolated queries and retention.
//!
//! One dedicated writer thread owns the only [`rusqlite::Connection`]. Every
//! [`Store`] clone sends commands over one bounded channel (so a slow disk
//! pushes back on producers instead of growing memory). Writes are applied
//! inside an open transaction that commits when it holds `batch_size` writes,
//! when the channel is momentarily empty, or before any query runs, so a read
//! always sees every write sent before it.
//!
//! Each call comes in two flavours: a blocking one for plain threads (and
//! `spawn_blocking`), and an `*_async` twin for tasks inside a tokio runtime.
//! The blocking ones use tokio's `blocking_send`/`blocking_recv`, which panic
//! when called from async code, so async code must use the twins.
//!
//! When another program holds the database locked longer than
//! `busy_timeout_ms`, writes are held in memory in order (up to a bound, then
//! producers block) and retried; queries and `flush` meanwhile fail with
//! [`StoreError::Busy`]. Dropping the last handle commits what was sent and
//! joins the writer thread (briefly blocking); [`Store::close`] does the same
//! and reports the final counters.

#[macro_use]
mod codec;
mod pg;
mod schema;
mod writer;

pub use pg::{MigrateReport, is_postgres_url, migrate_sqlite, redact_url, team};

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::model::{AttentionState, ChannelConfig, ChatMessage, Platform, Priority, Salience};
use crate::validate::{ConfigError, check_range};

use writer::{Cmd, Query, Reply, Write};

/// Commands that may wait in the channel before senders block. Bounded so that
/// memory stays flat when the disk is slower than chat (about 400 bytes each).
const CHANNEL_CAPACITY: usize = 4096;

/// Rows (a write's [`Write::weight`]) that may wait for the writer before
/// senders wait. The channel bounds commands, and one `InsertMany` carries a
/// whole burst: without this, 4,096 bursts of 128 messages could queue.
const QUEUED_ROWS_LIMIT: usize = CHANNEL_CAPACITY;

/// How often a sender over [`QUEUED_ROWS_LIMIT`] looks again (only while
/// the disk is slower than chat: the sender is then the one to slow down).
const QUEUED_ROWS_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// Messages per page when `export` walks a channel (bounds its working set).
const EXPORT_PAGE: usize = 2048;

/// Errors of the store. Each names the database file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the directory for database {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} is read-only, but clank must write to it (check the permissions of the file and its directory)"
    )]
    ReadOnly { path: PathBuf },
    #[error(
        "database {path} has schema version {found}, newer than this clank understands ({supported}); use a newer clank or another database file"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database {path}: migration to schema version {version} failed: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("cannot start the store writer thread for {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the store writer thread for {path} has stopped; reads and writes are no longer possible"
    )]
    Closed { path: PathBuf },
    #[error(
        "database {path} is locked by another connection (waited {waited_ms} ms); {held} writes are held in memory and will be retried"
    )]
    Busy {
        path: PathBuf,
        waited_ms: u64,
        held: usize,
    },
    #[error("database {path}: {op} failed: {source}")]
    Sqlite {
        path: PathBuf,
        op: &'static str,
        source: rusqlite::Error,
    },
    #[error("invalid PostgreSQL URL {url}: {message}")]
    PgUrl { url: String, message: String },
    #[error("database {path}: {op} failed: {message}")]
    Postgres {
        path: PathBuf,
        op: &'static str,
        message: String,
    },
    #[error(
        "database {path} is unreachable ({message}); {held} writes are held in memory and will be retried"
    )]
    Unavailable {
        path: PathBuf,
        held: usize,
        message: String,
    },
    #[error(
        "database {path}: {lost} writes could not be committed before the store closed: {reason}"
    )]
    Lost {
        path: PathBuf,
        lost: u64,
        reason: String,
    },
}

/// The `[store]` section of the configuration.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Database file. Unset: `clank.db` in the platform's data directory.
    /// The `DATABASE_URL` environment variable (`sqlite://path`) overrides it.
    pub path: Option<PathBuf>,
    /// A PostgreSQL server instead of the file (`postgres://user:pw@host/db`),
    /// for a team of consoles on one database. `DATABASE_URL=postgres://...`
    /// sets it. Never printed: it may hold a password.
    pub url: Option<crate::secret::Secret>,
    /// This console's name in a team (who approved a draft, who reads a
    /// channel); two live consoles cannot share one. Unset: `user@host#pid`.
    pub member: Option<String>,
    /// Most writes committed in one transaction (1 to 100000). Larger batches
    /// write faster; a batch also commits whenever the writer goes idle.
    pub batch_size: usize,
    /// Days to keep chat messages, metrics and replies; 0 keeps them forever (0 to 3650).
    pub retention_days: u32,
    /// Most messages kept per channel, oldest pruned first; 0 = unlimited (0 to 1000000000).
    pub max_messages_per_channel: u64,
    /// Milliseconds to wait for a lock held by another program before the
    /// store reports the database busy (0 to 600000).
    pub busy_timeout_ms: u64,
    /// Largest size of the database file in MiB; past it writes fail as on
    /// a full disk (counted, shown, never silently lost); 0 = no limit
    /// besides the disk (0 to 1048576).
    pub max_size_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: None,
            url: None,
            member: None,
            batch_size: 2048,
            retention_days: 30,
            max_messages_per_channel: 1_000_000,
            busy_timeout_ms: 5_000,
            max_size_mb: 0,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("store.batch_size", self.batch_size, 1, 100_000)?;
        check_range("store.retention_days", self.retention_days, 0, 3650)?;
        check_range(
            "store.max_messages_per_channel",
            self.max_messages_per_channel,
            0,
            1_000_000_000,
        )?;
        check_range("store.busy_timeout_ms", self.busy_timeout_ms, 0, 600_000)?;
        check_range("store.max_size_mb", self.max_size_mb, 0, 1_048_576)?;
        if let Some(url) = &self.url
            && !pg::is_postgres_url(url.expose())
        {
            return Err(ConfigError::invalid(
                "store.url",
                "must start with postgres:// or postgresql:// (leave it out to use the SQLite file store.path)",
            ));
        }
        if let Some(member) = &self.member
            && (member.trim().is_empty() || member.chars().count() > 64)
        {
            return Err(ConfigError::invalid(
                "store.member",
                format!("{member:?} must be 1 to 64 characters"),
            ));
        }
        if let Some(path) = &self.path
            && path.as_os_str().is_empty()
        {
            return Err(ConfigError::invalid(
                "store.path",
                "is empty (leave it out to use the default data directory)",
            ));
        }
        Ok(())
    }

    /// The team name of this console: `store.member`, else `user@host#pid`
    /// (the pid keeps two consoles on one machine apart).
    pub fn member_name(&self) -> String {
        if let Some(m) = &self.member {
            return m.trim().to_owned();
        }
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "clank".into());
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        format!("{user}@{host}#{}", std::process::id())
    }

    /// The retention policy these settings describe, for [`Store::prune`].
    pub fn retention(&self) -> RetentionPolicy {
        RetentionPolicy {
            max_age_days: self.retention_days,
            max_messages_per_channel: self.max_messages_per_channel,
        }
    }
}

/// Turns a `DATABASE_URL` value into a file path. Accepts `sqlite://path`,
/// `sqlite:path`, `file:path` (with `//` or `//localhost` authority and an
/// ignored `?query`) or a plain path. `sqlite:///abs/db` is `/abs/db`,
/// `sqlite://rel/db` is the relative `rel/db`, as sqlx reads them.
pub fn parse_database_url(s: &str) -> PathBuf {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let rest = if lower.starts_with("sqlite:") {
        let rest = &s["sqlite:".len()..];
        rest.strip_prefix("//").unwrap_or(rest)
    } else if lower.starts_with("file:") {
        let rest = &s["file:".len()..];
        match rest.strip_prefix("//") {
            // An authority may only be empty or localhost; keep the path's leading '/'.
            Some(after) if after.starts_with('/') => after,
            Some(after) if after.to_ascii_lowercase().starts_with("localhost/") => {
                &after["localhost".len()..]
            }
            Some(after) => after,
            None => rest,
        }
    } else {
        return PathBuf::from(s);
    };
    // URL query parameters (`?mode=rwc`) are connection options, not part of the path.
    let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
    PathBuf::from(rest)
}

/// What the store keeps about one message. The message and its score are
/// shared with the salience queue and the console's chat line: a row waiting
/// in a batch costs a reference count, not a copy of its strings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub message: Arc<ChatMessage>,
    pub salience: Option<Arc<Salience>>,
    pub attention_state: Option<AttentionState>,
    pub metadata: Option<serde_json::Value>,
    /// When it entered the salience queue (the queue's `enqueued_at`).
    pub processed_at: Option<DateTime<Utc>>,
    /// In the salience queue until then; `None` if it never was queued.
    /// Written with the row, so queueing costs no statement of its own.
    pub queued_until: Option<DateTime<Utc>>,
}

impl From<ChatMessage> for StoredMessage {
    fn from(message: ChatMessage) -> Self {
        Self {
            message: Arc::new(message),
            salience: None,
            attention_state: None,
            metadata: None,
            processed_at: None,
            queued_until: None,
        }
    }
}

/// One restored entry of the salience queue: the message's stored score
/// and priority, `processed_at` as `enqueued_at`, `queued_until` as
/// `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRecord {
    pub platform: Platform,
    pub channel: String,
    pub id: String,
    pub priority: Priority,
    pub score: f64,
    pub enqueued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One message named by its key: platform, channel, platform id, and its
/// time when known (the key index starts with it).
#[derive(Debug, Clone, PartialEq)]
struct MessageRef {
    platform: Platform,
    channel: String,
    id: String,
    at_ms: Option<i64>,
}

impl MessageRef {
    fn new(platform: Platform, channel: &str, id: &str, at: Option<DateTime<Utc>>) -> Self {
        MessageRef {
            platform,
            channel: channel.to_owned(),
            id: id.to_owned(),
            at_ms: at.map(|t| t.timestamp_millis()),
        }
    }
}

/// A restored queue entry with its message and stored salience.
pub type QueuedMessage = (QueueRecord, ChatMessage, Option<Salience>);

/// How long chat history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete messages (and metrics and replies) older than this; 0 keeps them.
    pub max_age_days: u32,
    /// Keep at most this many messages per channel, newest first; 0 = unlimited.
    pub max_messages_per_channel: u64,
}

/// What one [`Store::prune`] run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Messages older than `max_age_days`.
    pub by_age: u64,
    /// Messages beyond `max_messages_per_channel`.
    pub by_count: u64,
    /// Replies older than `max_age_days`.
    pub responses: u64,
    /// Metric samples older than `max_age_days`.
    pub metrics: u64,
}

/// One sample of a platform metric (viewers, chat rate, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub platform: Platform,
    pub channel: String,
    pub at: DateTime<Utc>,
    pub name: String,
    pub value: f64,
}

/// What the operator did with a draft for a message: a label for
/// learning from the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelAction {
    Approved,
    Edited,
    Rejected,
    /// The draft expired with nobody acting on it.
    Ignored,
}

impl LabelAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelAction::Approved => "approved",
            LabelAction::Edited => "edited",
            LabelAction::Rejected => "rejected",
            LabelAction::Ignored => "ignored",
        }
    }

    /// Approved or edited: the operator chose to answer the message.
    pub fn chosen(self) -> bool {
        matches!(self, LabelAction::Approved | LabelAction::Edited)
    }

    fn parse_stored(s: &str) -> Option<LabelAction> {
        [
            LabelAction::Approved,
            LabelAction::Edited,
            LabelAction::Rejected,
            LabelAction::Ignored,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One operator choice with the salience the message had then.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorLabel {
    pub platform: Platform,
    pub channel: String,
    pub message_id: String,
    pub draft_id: Option<i64>,
    pub action: LabelAction,
    pub at: DateTime<Utc>,
    pub salience: Salience,
}

impl OperatorLabel {
    /// A label as either backend stores it (the breakdown as score,
    /// content, authority, relevance, temporal); `None` for a row this
    /// build cannot read (an action, platform or priority it does not
    /// know), which is skipped rather than failing the whole read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_stored(
        platform: &str,
        channel: String,
        message_id: String,
        draft_id: Option<i64>,
        action: &str,
        at_ms: i64,
        v: [f64; 5],
        priority: &str,
    ) -> Option<Self> {
        Some(OperatorLabel {
            platform: platform.parse::<Platform>().ok()?,
            channel,
            message_id,
            draft_id,
            action: LabelAction::parse_stored(action)?,
            at: DateTime::from_timestamp_millis(at_ms)?,
            salience: Salience {
                score: v[0],
                breakdown: crate::model::SalienceBreakdown {
                    content: v[1],
                    authority: v[2],
                    relevance: v[3],
                    temporal: v[4],
                },
                priority: priority.parse::<crate::model::Priority>().ok()?,
                reasons: Vec::new(),
            },
        })
    }
}

/// Where a drafted reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// Drafted, waiting for the operator or the auto policy.
    Pending,
    /// Approved, waiting for the platform's rate limit.
    Approved,
    /// Handed to the adapter; waiting for the platform's verdict.
    Sending,
    /// The platform accepted it.
    Sent,
    /// The platform refused it (reason in `status_reason`).
    Refused,
    /// Written, but no verdict came in time: it may or may not be in chat.
    Unconfirmed,
    Rejected,
    /// Its message was deleted or its author banned before it went out.
    Withdrawn,
    /// It could not be delivered (reason in `status_reason`).
    Failed,
    /// The operator changed the text; waits like `Approved`.
    Edited,
    /// Nobody approved it in time.
    Expired,
    /// The output filter refused it; it can never be sent.
    Blocked,
}

impl ResponseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::Pending => "pending",
            ResponseStatus::Approved => "approved",
            ResponseStatus::Sending => "sending",
            ResponseStatus::Sent => "sent",
            ResponseStatus::Refused => "refused",
            ResponseStatus::Unconfirmed => "unconfirmed",
            ResponseStatus::Rejected => "rejected",
            ResponseStatus::Withdrawn => "withdrawn",
            ResponseStatus::Failed => "failed",
            ResponseStatus::Edited => "edited",
            ResponseStatus::Expired => "expired",
            ResponseStatus::Blocked => "blocked",
        }
    }
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResponseStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ResponseStatus::Pending,
            ResponseStatus::Approved,
            ResponseStatus::Sending,
            ResponseStatus::Sent,
            ResponseStatus::Refused,
            ResponseStatus::Unconfirmed,
            ResponseStatus::Rejected,
            ResponseStatus::Withdrawn,
            ResponseStatus::Failed,
            ResponseStatus::Edited,
            ResponseStatus::Expired,
            ResponseStatus::Blocked,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!(
                "unknown response status {s:?} (allowed: pending, approved, sending, sent, refused, unconfirmed, rejected, withdrawn, failed, edited, expired, blocked)"
            )
        })
    }
}

/// A reply to record. `original_id` is the platform id of the message it
/// answers, `original_at` that message's time (its key with the id; without
/// it the channel's last day is searched for the id).
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponse {
    pub platform: Platform,
    pub channel: String,
    pub original_id: Option<String>,
    pub original_at: Option<DateTime<Utc>>,
    pub response_text: String,
    pub response_type: String,
    pub attention_state: Option<AttentionState>,
    pub generation_time_ms: Option<u64>,
    pub agent_context: Option<serde_json::Value>,
    pub status: ResponseStatus,
    pub created_at: DateTime<Utc>,
}

/// Why a reply left in `sending` by an earlier run is `unconfirmed`: the
/// platform's verdict, if any came, went with that process.
pub const STOPPED_BEFORE_VERDICT: &str = "clank stopped before the platform answered";

/// A recorded reply. `original_id` is `None` once its message is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub id: i64,
    pub platform: Platform,
    pub channel: String,
    pub original_id: Option<String>,
    pub response_text: String,
    pub response_type: String,
    pub attention_state: Option<AttentionState>,
    pub generation_time_ms: Option<u64>,
    pub agent_context: Option<serde_json::Value>,
    pub status: ResponseStatus,
    pub created_at: DateTime<Utc>,
    /// When the platform accepted it; only ever set for `Sent`.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why it is refused, failed or unconfirmed (the platform's or the
    /// adapter's words); `None` otherwise.
    pub status_reason: Option<String>,
}

/// Counters since the store was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Messages newly stored.
    pub inserted: u64,
    /// Messages ignored because the same platform id was already stored.
    pub duplicates: u64,
    /// Messages removed by `delete_message` and `purge_author`.
    pub deleted: u64,
    /// Messages removed by `prune`.
    pub pruned: u64,
    /// Messages taken off the persisted queue before they expired.
    pub dequeued: u64,
    pub commits: u64,
    /// Failed statements (each also logged; the latest is `last_error`).
    pub errors: u64,
    /// Writes dropped by a failure (a rolled-back batch, a failed statement).
    pub lost: u64,
    /// Writes held in memory while another connection locks the database.
    pub held: u64,
    pub last_error: Option<String>,
}

/// Counters the writer bumps and any handle reads without a round trip.
#[derive(Default)]
struct Counters {
    inserted: AtomicU64,
    duplicates: AtomicU64,
    deleted: AtomicU64,
    pruned: AtomicU64,
    dequeued: AtomicU64,
    commits: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    held: AtomicU64,
}

struct Shared {
    path: PathBuf,
    counters: Counters,
    last_error: Mutex<Option<String>>,
    /// Rows sent and not yet taken by the writer (see [`QUEUED_ROWS_LIMIT`]).
    queued_rows: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn new(path: PathBuf) -> Self {
        Shared {
            path,
            counters: Counters::default(),
            last_error: Mutex::new(None),
            queued_rows: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Whether `rows` more may be queued now. One write always may when
    /// nothing waits, however large, so a big import still goes through.
    fn room_for(&self, rows: usize) -> bool {
        let queued = self.queued_rows.load(Ordering::Acquire);
        queued == 0 || queued + rows <= QUEUED_ROWS_LIMIT
    }

    /// The writer took a write off the channel.
    pub(super) fn taken(&self, rows: usize) {
        self.queued_rows.fetch_sub(rows, Ordering::AcqRel);
    }

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStats {
            inserted: get(&c.inserted),
            duplicates: get(&c.duplicates),
            deleted: get(&c.deleted),
            pruned: get(&c.pruned),
            dequeued: get(&c.dequeued),
            commits: get(&c.commits),
            errors: get(&c.errors),
            lost: get(&c.lost),
            held: get(&c.held),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            path: self.path.clone(),
        }
    }
}

/// Joins the writer thread when the last handle goes away, so that a reopen
/// right after a drop finds every write committed and the file released.
struct Joiner {
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Joiner {
    fn join(&self) -> bool {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        match handle {
            Some(h) => h.join().is_ok(),
            None => true,
        }
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        if !self.join() {
            tracing::error!("store writer thread panicked");
        }
    }
}

/// One saved platform login, sealed by `auth::TokenVault`: the store never
/// sees a plain token. `scopes` (space separated) and `expires_at` are not
/// secret and stay readable for diagnostics.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthTokenRow {
    pub platform: Platform,
    pub account: String,
    pub sealed: Vec<u8>,
    pub scopes: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for AuthTokenRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthTokenRow")
            .field("platform", &self.platform)
            .field("account", &self.account)
            .field("sealed", &format_args!("{} bytes", self.sealed.len()))
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A handle to the store's writer thread. Cheap to clone; `Send + Sync`.
/// Dropping the last handle commits what was sent and joins the thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    // Declared after `tx` on purpose: fields drop in order, so the last
    // handle closes the channel before it waits for the writer to finish.
    joiner: Arc<Joiner>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies pending
    /// migrations and starts the writer thread. When `cfg.url` names a
    /// PostgreSQL server, that server is the database and `path` is unused.
    pub fn open(path: &Path, cfg: &StoreConfig) -> Result<Store, StoreError> {
        cfg.validate()?;
        if let Some(url) = &cfg.url {
            let opened = pg::open(url.expose(), cfg)?;
            return Ok(Store {
                tx: opened.tx,
                shared: opened.shared,
                joiner: Arc::new(Joiner {
                    handle: Mutex::new(Some(opened.handle)),
                }),
            });
        }
        let path = path.to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: path.clone(),
                source,
            })?;
        }
        let conn = schema::open(&path, cfg)?;
        let shared = Arc::new(Shared::new(path.clone()));
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let writer = writer::Writer::new(conn, Arc::clone(&shared), cfg);
        let handle = std::thread::Builder::new()
            .name("clank-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| StoreError::Spawn { path, source })?;
        Ok(Store {
            tx,
            shared,
            joiner: Arc::new(Joiner {
                handle: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The database file (for PostgreSQL, its URL without the password).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Counters so far, without waiting for pending writes (see [`Store::flush`]).
    pub fn stats(&self) -> StoreStats {
        self.shared.stats()
    }

    /// Write errors so far (cheap: one atomic load), so callers can notice
    /// a new failure without reading the whole [`StoreStats`].
    pub fn error_count(&self) -> u64 {
        self.shared.counters.errors.load(Ordering::Relaxed)
    }

    fn write(&self, w: Write) -> Result<(), StoreError> {
        let rows = w.weight();
        while !self.shared.room_for(rows) && !self.tx.is_closed() {
            std::thread::sleep(QUEUED_ROWS_PAUSE);
        }
        self.shared.queued_rows.fetch_add(rows, Ordering::AcqRel);
        self.tx.blocking_send(Cmd::Write(w)).map_err(|_| {
            self.shared.taken(rows);
            self.shared.closed()
        })
    }

    async fn write_async(&self, w: Write) -> Result<(), StoreError> {
        let rows = w.weight();
        while !self.shared.room_for(rows) && !self.tx.is_closed() {
            tokio::time::sleep(QUEUED_ROWS_PAUSE).await;
        }
        self.shared.queued_rows.fetch_add(rows, Ordering::AcqRel);
        self.tx.send(Cmd::Write(w)).await.map_err(|_| {
            self.shared.taken(rows);
            self.shared.closed()
        })
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Query) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .blocking_send(Cmd::Query(make(reply)))
            .map_err(|_| self.shared.closed())?;
        rx.blocking_recv().map_err(|_| self.shared.closed())?
    }

    async fn ask_async<T>(&self, make: impl FnOnce(Reply<T>) -> Query) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Query(make(reply)))
            .await
            .map_err(|_| self.shared.closed())?;
        rx.await.map_err(|_| self.shared.closed())?
    }

    /// Stores a message (fire and forget, batched). A message whose platform
    /// id is already stored is ignored and counted in `duplicates`.
    pub fn insert_message(&self, m: StoredMessage) -> Result<(), StoreError> {
        self.write(Write::Insert(m))
    }

    pub async fn insert_message_async(&self, m: StoredMessage) -> Result<(), StoreError> {
        self.write_async(Write::Insert(m)).await
    }

    /// Stores many messages with one channel operation (replay, import).
    pub fn insert_messages(&self, ms: Vec<StoredMessage>) -> Result<(), StoreError> {
        self.write(Write::InsertMany(ms))
    }

    pub async fn insert_messages_async(&self, ms: Vec<StoredMessage>) -> Result<(), StoreError> {
        self.write_async(Write::InsertMany(ms)).await
    }

    /// Removes one message (and so its queue mark) and withdraws its unsent
    /// replies. `at`, the message's own time, finds it through the key; when
    /// unknown, the channel's last day of chat is searched for the id.
    pub fn delete_message(
        &self,
        platform: Platform,
        channel: &str,
        id: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.write(Write::Delete(MessageRef::new(platform, channel, id, at)))
    }

    pub async fn delete_message_async(
        &self,
        platform: Platform,
        channel: &str,
        id: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.write_async(Write::Delete(MessageRef::new(platform, channel, id, at)))
            .await
    }

    /// Removes every message of one author in one channel (a ban or timeout),
    /// their queue entries, and withdraws unsent replies to them.
    pub fn purge_author(
        &self,
        platform: Platform,
        channel: &str,
        author_id: &str,
    ) -> Result<(), StoreError> {
        self.write(Write::Purge {
            platform,
            channel: channel.to_owned(),
            author_id: author_id.to_owned(),
        })
    }

    pub async fn purge_author_async(
        &self,
        platform: Platform,
        channel: &str,
        author_id: &str,
    ) -> Result<(), StoreError> {
        self.write_async(Write::Purge {
            platform,
            channel: channel.to_owned(),
            author_id: author_id.to_owned(),
        })
        .await
    }

    /// Takes a message off the persisted queue before its mark expires (it
    /// was answered, dropped or evicted). Messages are queued by inserting
    /// them with [`StoredMessage::queued_until`] set; expiry needs no write.
    pub fn dequeue(
        &self,
        platform: Platform,
        channel: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(Write::Dequeue(MessageRef::new(
            platform,
            channel,
            id,
            Some(at),
        )))
    }

    pub async fn dequeue_async(
        &self,
        platform: Platform,
        channel: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_async(Write::Dequeue(MessageRef::new(
            platform,
            channel,
            id,
            Some(at),
        )))
        .await
    }

    /// The persisted queue at `now`: messages whose mark has not expired,
    /// highest score first (ties: oldest first).
    pub fn load_queue(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMessage>, StoreError> {
        self.ask(|reply| Query::LoadQueue { now, reply })
    }

    pub async fn load_queue_async(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.ask_async(|reply| Query::LoadQueue { now, reply })
            .await
    }

    /// The last `n` messages of one channel, oldest first (by `at`; within
    /// one millisecond by author id, then arrival).
    pub fn last_messages(
        &self,
        platform: Platform,
        channel: &str,
        n: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let channel = channel.to_owned();
        self.ask(|reply| Query::LastMessages {
            platform,
            channel,
            n,
            reply,
        })
    }

    pub async fn last_messages_async(
        &self,
        platform: Platform,
        channel: &str,
        n: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let channel = channel.to_owned();
        self.ask_async(|reply| Query::LastMessages {
            platform,
            channel,
            n,
            reply,
        })
        .await
    }

    /// The channel's settings, or `None` if none were ever set (the caller
    /// applies its configured defaults).
    pub fn channel_config(
        &self,
        platform: Platform,
        channel: &str,
    ) -> Result<Option<ChannelConfig>, StoreError> {
        let channel = channel.to_owned();
        self.ask(|reply| Query::ChannelConfig {
            platform,
            channel,
            reply,
        })
    }

    pub async fn channel_config_async(
        &self,
        platform: Platform,
        channel: &str,
    ) -> Result<Option<ChannelConfig>, StoreError> {
        let channel = channel.to_owned();
        self.ask_async(|reply| Query::ChannelConfig {
            platform,
            channel,
            reply,
        })
        .await
    }

    pub fn set_channel_config(
        &self,
        platform: Platform,
        channel: &str,
        config: &ChannelConfig,
    ) -> Result<(), StoreError> {
        self.write(Write::SetChannelConfig {
            platform,
            channel: channel.to_owned(),
            config: config.clone(),
        })
    }

    pub async fn set_channel_config_async(
        &self,
        platform: Platform,
        channel: &str,
        config: &ChannelConfig,
    ) -> Result<(), StoreError> {
        self.write_async(Write::SetChannelConfig {
            platform,
            channel: channel.to_owned(),
            config: config.clone(),
        })
        .await
    }

    /// Replaces the saved login of `row.platform`; durable when it returns.
    pub async fn save_auth_token_async(&self, row: AuthTokenRow) -> Result<(), StoreError> {
        self.ask_async(|reply| Query::SaveAuthToken { row, reply })
            .await
    }

    pub fn save_auth_token(&self, row: AuthTokenRow) -> Result<(), StoreError> {
        self.ask(|reply| Query::SaveAuthToken { row, reply })
    }

    /// The saved login of `platform`, if any.
    pub async fn load_auth_token_async(
        &self,
        platform: Platform,
    ) -> Result<Option<AuthTokenRow>, StoreError> {
        self.ask_async(|reply| Query::LoadAuthToken { platform, reply })
            .await
    }

    pub fn load_auth_token(&self, platform: Platform) -> Result<Option<AuthTokenRow>, StoreError> {
        self.ask(|reply| Query::LoadAuthToken { platform, reply })
    }

    /// Forgets the saved login of `platform` (`clank logout`).
    pub async fn delete_auth_token_async(&self, platform: Platform) -> Result<(), StoreError> {
        self.ask_async(|reply| Query::DeleteAuthToken { platform, reply })
            .await
    }

    /// Sets one value an adapter keeps across restarts (a page token, a
    /// quota count); on disk when it returns.
    pub async fn set_adapter_state_async(
        &self,
        platform: Platform,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.ask_async(|reply| Query::SetAdapterState {
            platform,
            key: key.to_owned(),
            value: value.to_owned(),
            reply,
        })
        .await
    }

    /// A value set by [`Store::set_adapter_state_async`], if any.
    pub async fn adapter_state_async(
        &self,
        platform: Platform,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.ask_async(|reply| Query::AdapterState {
            platform,
            key: key.to_owned(),
            reply,
        })
        .await
    }

    /// The operator released (`true`) or discarded a held message: its row
    /// says so, and it is no longer restored to the review lane.
    pub fn decide_held(
        &self,
        platform: Platform,
        channel: &str,
        id: &str,
        at: DateTime<Utc>,
        released: bool,
    ) -> Result<(), StoreError> {
        self.write(Write::DecideHeld(
            MessageRef::new(platform, channel, id, Some(at)),
            released,
        ))
    }

    /// Held messages the operator has not decided on, oldest first, with
    /// their score and why they were held.
    pub fn load_held(&self) -> Result<Vec<(ChatMessage, Option<Salience>, String)>, StoreError> {
        self.ask(|reply| Query::Held { reply })
    }

    /// Records one operator choice (fire and forget, batched).
    pub async fn insert_label_async(&self, l: OperatorLabel) -> Result<(), StoreError> {
        self.write_async(Write::Label(Box::new(l))).await
    }

    pub fn insert_label(&self, l: OperatorLabel) -> Result<(), StoreError> {
        self.write(Write::Label(Box::new(l)))
    }

    /// Every operator choice, oldest first (after committing what was sent).
    pub fn labels(&self) -> Result<Vec<OperatorLabel>, StoreError> {
        self.ask(|reply| Query::Labels { reply })
    }

    pub async fn labels_async(&self) -> Result<Vec<OperatorLabel>, StoreError> {
        self.ask_async(|reply| Query::Labels { reply }).await
    }

    /// Records one metric sample (fire and forget, batched).
    pub fn insert_metric(&self, m: Metric) -> Result<(), StoreError> {
        self.write(Write::Metric(m))
    }

    pub async fn insert_metric_async(&self, m: Metric) -> Result<(), StoreError> {
        self.write_async(Write::Metric(m)).await
    }

    /// Records a reply and links it from its message; returns the reply's id.
    pub fn insert_response(&self, r: NewResponse) -> Result<i64, StoreError> {
        self.ask(|reply| Query::InsertResponse { r, reply })
    }

    pub async fn insert_response_async(&self, r: NewResponse) -> Result<i64, StoreError> {
        self.ask_async(|reply| Query::InsertResponse { r, reply })
            .await
    }

    /// Moves a reply to `status` (fire and forget); `sent_at` is kept if `None`.
    pub fn set_response_status(
        &self,
        id: i64,
        status: ResponseStatus,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.write(Write::ResponseStatus {
            id,
            status,
            sent_at,
        })
    }

    pub async fn set_response_status_async(
        &self,
        id: i64,
        status: ResponseStatus,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.write_async(Write::ResponseStatus {
            id,
            status,
            sent_at,
        })
        .await
    }

    /// Records the platform's verdict on a reply (fire and forget): `Sent`,
    /// `Refused`, `Failed` or `Unconfirmed`, with the reason for the last
    /// three; also the operator's discard (`Rejected`, with its reason). `at`
    /// becomes `sent_at` for `Sent` only; the other verdicts keep no time (no
    /// column fits, and `sent_at` on a reply that is not in chat would lie to
    /// every "what went out" query).
    ///
    /// A `sent` reply is left alone: the platform accepted it, which no later
    /// word can undo. Anything else takes the verdict, so a late `Sent`
    /// corrects an `unconfirmed` reply (it was in chat after all). Claim the
    /// reply to `Sending` with [`Store::claim_response_async`] before handing
    /// it to the adapter: the claim, not this, is what keeps it from going
    /// out twice.
    pub fn set_response_verdict(
        &self,
        id: i64,
        status: ResponseStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(Write::ResponseVerdict {
            id,
            status,
            reason: reason.map(str::to_owned),
            at,
        })
    }

    pub async fn set_response_verdict_async(
        &self,
        id: i64,
        status: ResponseStatus,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_async(Write::ResponseVerdict {
            id,
            status,
            reason: reason.map(str::to_owned),
            at,
        })
        .await
    }

    /// The operator's not-delivered list: the `limit` most recent replies
    /// that are refused, failed or unconfirmed, newest first (by when they
    /// were drafted). They stay until someone retries or discards them
    /// (claim them out of these states), so the list survives a restart.
    pub fn not_delivered(&self, limit: usize) -> Result<Vec<StoredResponse>, StoreError> {
        self.ask(|reply| Query::NotDelivered { limit, reply })
    }

    pub async fn not_delivered_async(
        &self,
        limit: usize,
    ) -> Result<Vec<StoredResponse>, StoreError> {
        self.ask_async(|reply| Query::NotDelivered { limit, reply })
            .await
    }

    /// Records a draft's final (or edited) text, source and status (fire and
    /// forget); a reply that went out, or may have (sending, sent,
    /// unconfirmed), is left as it went out.
    pub async fn set_response_text_async(
        &self,
        id: i64,
        text: &str,
        response_type: &str,
        status: ResponseStatus,
        generation_time_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.write_async(Write::ResponseText {
            id,
            text: text.to_owned(),
            response_type: response_type.to_owned(),
            status,
            generation_time_ms,
        })
        .await
    }

    /// Marks every reply still waiting to be sent (pending, approved, edited)
    /// as expired, committed, and says how many. For the start of a run:
    /// drafts live in memory, so those of an earlier run can never go out.
    ///
    /// A reply left in `sending` (the run stopped between handing it to the
    /// adapter and the platform's verdict) may be in chat, so it is not
    /// expired but made `unconfirmed` with the reason
    /// [`STOPPED_BEFORE_VERDICT`], in the same transaction; those show in
    /// [`Store::not_delivered`] and are not in the count (it says what
    /// expired; the store logs how many became unconfirmed).
    pub async fn expire_unsent_responses_async(&self) -> Result<u64, StoreError> {
        self.ask_async(|reply| Query::ExpireUnsent { reply }).await
    }

    /// Moves a reply from one of `from` to `to` in one committed step and says
    /// whether it did: the guard that keeps a reply from being sent twice, even
    /// by two processes or after a restart. A manual retry is
    /// `[Refused, Failed, Unconfirmed] -> Sending`; a discard the same `from`
    /// to `Rejected`. `at` becomes `sent_at` only when `to` is `Sent`: a claim
    /// to `Sending` is not a send yet. A claim clears `status_reason`, which
    /// described the state the reply leaves.
    pub async fn claim_response_async(
        &self,
        id: i64,
        from: &[ResponseStatus],
        to: ResponseStatus,
        at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let from = from.to_vec();
        self.ask_async(|reply| Query::ClaimResponse {
            id,
            from,
            to,
            at,
            reply,
        })
        .await
    }

    /// The id of a reply that answered this message, or may have (sending,
    /// sent or unconfirmed), if any: checked before drafting, so a restarted
    /// replay never answers a message twice. An unconfirmed reply may well be
    /// in chat, and a second answer is worse than none.
    pub async fn sent_response_for_async(
        &self,
        platform: Platform,
        channel: &str,
        original_id: &str,
        original_at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let original = MessageRef::new(platform, channel, original_id, Some(original_at));
        self.ask_async(|reply| Query::SentResponseFor { original, reply })
            .await
    }

    pub fn get_response(&self, id: i64) -> Result<Option<StoredResponse>, StoreError> {
        self.ask(|reply| Query::GetResponse { id, reply })
    }

    pub async fn get_response_async(&self, id: i64) -> Result<Option<StoredResponse>, StoreError> {
        self.ask_async(|reply| Query::GetResponse { id, reply })
            .await
    }

    /// Every message of `channel` (of one platform, or of all platforms when
    /// `None`) since `since`, in time order (as [`Store::last_messages`]
    /// orders them). Times are kept to the millisecond. An empty `channel` means every
    /// channel. For big exports prefer [`Store::export_pages`], which never
    /// holds more than a page in memory.
    pub fn export(
        &self,
        platform: Option<Platform>,
        channel: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut out = Vec::new();
        for page in self.export_pages(platform, channel, since, EXPORT_PAGE) {
            out.extend(page?);
        }
        Ok(out)
    }

    pub async fn export_async(
        &self,
        platform: Option<Platform>,
        channel: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut merge = ExportMerge::new(platform, channel, since, EXPORT_PAGE);
        let mut out = Vec::new();
        loop {
            while let Some((i, q)) = merge.needs() {
                let rows = self
                    .ask_async(|reply| Query::ExportPage { q, reply })
                    .await?;
                merge.feed(i, rows);
            }
            match merge.take_page() {
                Some(page) => out.extend(page),
                None => return Ok(out),
            }
        }
    }

    /// Like [`Store::export`], one page of at most `page_size` messages at a
    /// time (blocking iterator). Writes sent meanwhile may or may not show up.
    pub fn export_pages(
        &self,
        platform: Option<Platform>,
        channel: &str,
        since: Option<DateTime<Utc>>,
        page_size: usize,
    ) -> ExportPages {
        ExportPages {
            store: self.clone(),
            merge: ExportMerge::new(platform, channel, since, page_size.max(1)),
            failed: false,
        }
    }

    /// Applies a retention policy. Deletes in chunks of at most a thousand
    /// rows, interleaved with other commands so the writer stays responsive;
    /// queue entries of deleted messages go with them.
    pub fn prune(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<PruneReport, StoreError> {
        let policy = *policy;
        self.ask(|reply| Query::Prune { policy, now, reply })
    }

    pub async fn prune_async(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<PruneReport, StoreError> {
        let policy = *policy;
        self.ask_async(|reply| Query::Prune { policy, now, reply })
            .await
    }

    /// Asks for the writes sent so far to be committed as soon as the
    /// writer has applied them, without waiting for a reply: the sender's
    /// burst is over, so the batch need not wait for company (the live path
    /// sends one per burst it read, which bounds what a `kill -9` can lose
    /// to the burst's own wait). Dropped when the channel is full: a full
    /// channel commits by size anyway.
    pub fn commit_soon(&self) {
        let _ = self.tx.try_send(Cmd::CommitSoon);
    }

    /// Waits until every write sent before it is committed; returns the counters.
    pub fn flush(&self) -> Result<StoreStats, StoreError> {
        self.ask(Query::Flush)
    }

    pub async fn flush_async(&self) -> Result<StoreStats, StoreError> {
        self.ask_async(Query::Flush).await
    }

    /// Commits everything sent so far (from every handle), stops the writer
    /// and waits for it to release the file. Other handles then get
    /// [`StoreError::Closed`].
    pub fn close(self) -> Result<StoreStats, StoreError> {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.blocking_send(Cmd::Shutdown(reply));
        let result = match sent {
            Ok(()) => rx.blocking_recv().map_err(|_| self.shared.closed())?,
            Err(_) => Err(self.shared.closed()),
        };
        if !self.joiner.join() {
            tracing::error!(path = %self.shared.path.display(), "store writer thread panicked");
        }
        result
    }

    /// [`Store::close`] for async callers (joins the thread off the runtime).
    pub async fn close_async(self) -> Result<StoreStats, StoreError> {
        let (reply, rx) = oneshot::channel();
        let result = match self.tx.send(Cmd::Shutdown(reply)).await {
            Ok(()) => rx.await.map_err(|_| self.shared.closed())?,
            Err(_) => Err(self.shared.closed()),
        };
        let joiner = Arc::clone(&self.joiner);
        drop(self);
        // The join is quick (the writer already replied) but still blocking.
        let _ = tokio::task::spawn_blocking(move || joiner.join()).await;
        result
    }
}

/// Keyset position: `(created_at ms, author id, row id)`, the order of the
/// time indexes, which is a total order over the whole table.
type Cursor = (i64, String, i64);

/// A message with its row id, as an export page returns it.
type ExportRow = (i64, ChatMessage);

fn row_key(row: &ExportRow) -> (i64, &str, i64) {
    (row.1.at.timestamp_millis(), row.1.author.id.as_str(), row.0)
}

/// One page request of an export, for one platform.
#[derive(Debug, Clone)]
struct ExportQuery {
    platform: Platform,
    /// Empty: every channel.
    channel: String,
    since_ms: Option<i64>,
    after: Option<Cursor>,
    limit: usize,
}

/// Merges per-platform keyset pages into one time-ordered stream, so an export
/// across platforms walks indexes instead of sorting the whole table.
struct ExportMerge {
    streams: Vec<ExportStream>,
    page_size: usize,
}

struct ExportStream {
    q: ExportQuery,
    buf: VecDeque<ExportRow>,
    done: bool,
}

impl ExportMerge {
    fn new(
        platform: Option<Platform>,
        channel: &str,
        since: Option<DateTime<Utc>>,
        page_size: usize,
    ) -> Self {
        let platforms: Vec<Platform> = match platform {
            Some(p) => vec![p],
            None => Platform::ALL.to_vec(),
        };
        let streams = platforms
            .into_iter()
            .map(|platform| ExportStream {
                q: ExportQuery {
                    platform,
                    channel: channel.to_owned(),
                    since_ms: since.map(|t| t.timestamp_millis()),
                    after: None,
                    limit: page_size,
                },
                buf: VecDeque::new(),
                done: false,
            })
            .collect();
        Self { streams, page_size }
    }

    /// The next page request needed before a merged page can be cut.
    fn needs(&self) -> Option<(usize, ExportQuery)> {
        self.streams
            .iter()
            .enumerate()
            .find(|(_, s)| s.buf.is_empty() && !s.done)
            .map(|(i, s)| (i, s.q.clone()))
    }

    fn feed(&mut self, i: usize, rows: Vec<ExportRow>) {
        let s = &mut self.streams[i];
        if rows.len() < s.q.limit {
            s.done = true;
        }
        if let Some(last) = rows.last() {
            let (at, author, id) = row_key(last);
            s.q.after = Some((at, author.to_owned(), id));
        }
        s.buf.extend(rows);
    }

    /// Cuts the next merged page; stops early when a stream needs a refill.
    fn take_page(&mut self) -> Option<Vec<ChatMessage>> {
        let mut page = Vec::new();
        while page.len() < self.page_size {
            if self.streams.iter().any(|s| s.buf.is_empty() && !s.done) {
                break;
            }
            let best = self
                .streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.buf.front().map(|row| (row_key(row), i)))
                .min()
                .map(|(_, i)| i);
            match best.and_then(|i| self.streams[i].buf.pop_front()) {
                Some((_, m)) => page.push(m),
                None => break,
            }
        }
        if page.is_empty() { None } else { Some(page) }
    }
}

/// Blocking iterator over export pages; see [`Store::export_pages`].
pub struct ExportPages {
    store: Store,
    merge: ExportMerge,
    failed: bool,
}

impl Iterator for ExportPages {
    type Item = Result<Vec<ChatMessage>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while let Some((i, q)) = self.merge.needs() {
            match self.store.ask(|reply| Query::ExportPage { q, reply }) {
                Ok(rows) => self.merge.feed(i, rows),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        self.merge.take_page().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_become_paths() {
        assert_eq!(
            parse_database_url("sqlite:///var/lib/clank.db"),
            PathBuf::from("/var/lib/clank.db")
        );
        assert_eq!(
            parse_database_url("sqlite://data/clank.db"),
            PathBuf::from("data/clank.db")
        );
        assert_eq!(
            parse_database_url("sqlite:clank.db?mode=rwc"),
            PathBuf::from("clank.db")
        );
        assert_eq!(
            parse_database_url("file:///tmp/x.db"),
            PathBuf::from("/tmp/x.db")
        );
        assert_eq!(
            parse_database_url("file://localhost/tmp/x.db"),
            PathBuf::from("/tmp/x.db")
        );
        assert_eq!(parse_database_url("file:x.db"), PathBuf::from("x.db"));
        assert_eq!(
            parse_database_url(" /plain/path.db "),
            PathBuf::from("/plain/path.db")
        );
        assert_eq!(parse_database_url("SQLITE://x.db"), PathBuf::from("x.db"));
    }

    #[test]
    fn config_ranges_name_their_keys() {
        assert!(StoreConfig::default().validate().is_ok());
        let bad = StoreConfig {
            batch_size: 0,
            ..StoreConfig::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("store.batch_size"), "{err}");
        assert!(err.contains("1 to 100000"), "{err}");
        let bad = StoreConfig {
            retention_days: 4000,
            ..StoreConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("store.retention_days")
        );
    }

    #[test]
    fn config_parses_from_toml_and_rejects_unknown_keys() {
        let cfg: StoreConfig = toml::from_str("batch_size = 64\npath = \"/x/clank.db\"").unwrap();
        assert_eq!(cfg.batch_size, 64);
        assert_eq!(cfg.path, Some(PathBuf::from("/x/clank.db")));
        assert_eq!(cfg.retention_days, 30);
        let err = toml::from_str::<StoreConfig>("batch = 1").unwrap_err();
        assert!(err.to_string().contains("batch"));
    }

    #[test]
    fn response_status_round_trips() {
        for s in [
            ResponseStatus::Pending,
            ResponseStatus::Approved,
            ResponseStatus::Sending,
            ResponseStatus::Sent,
            ResponseStatus::Refused,
            ResponseStatus::Unconfirmed,
            ResponseStatus::Rejected,
            ResponseStatus::Withdrawn,
            ResponseStatus::Failed,
        ] {
            assert_eq!(s.as_str().parse::<ResponseStatus>(), Ok(s));
        }
        assert!("lost".parse::<ResponseStatus>().is_err());
    }
}
