//! The PostgreSQL backend: runs the writer's own commands (`Cmd`, `Write`,
//! `Query`) against a PostgreSQL server, so every `Store` method works the
//! same on either backend and nothing above the store knows which it is.
//!
//! Like the SQLite writer it lives on one dedicated thread (here running a
//! single-threaded tokio runtime for the async driver) and takes commands in
//! order from the handle's bounded channel: writes gather into a batch that
//! commits in one transaction when it is full, when the channel is
//! momentarily empty or before any query, so a read sees every write sent
//! before it. Consecutive message inserts become one `INSERT ... SELECT
//! FROM UNNEST(...)` statement (one round trip per batch, not per row),
//! which also notifies `clank_chat` with each new row's id: the server
//! delivers those at commit to every console listening ([`team`]).
//!
//! When the server is unreachable the batch is held in memory, in order,
//! and retried on a new connection from the pool (queries meanwhile fail
//! with [`StoreError::Unavailable`]); past a bound the writer stops taking
//! commands so producers block instead of memory growing. A statement the
//! server refuses (bad data) rolls its batch back; the batch is then
//! replayed one write per transaction so only the bad write is lost.

mod copy;
mod rows;
mod schema;
pub mod team;

pub use copy::{MigrateReport, migrate_sqlite};

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::mpsc;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;

use super::writer::{Cmd, Query, Write};
use super::{
    AuthTokenRow, ChannelConfig, ChatMessage, ExportQuery, ExportRow, MessageRef, OperatorLabel,
    Platform, PruneReport, QueueRecord, QueuedMessage, ResponseStatus, RetentionPolicy,
    STOPPED_BEFORE_VERDICT, Shared, StoreConfig, StoreError, StoreStats, StoredMessage,
    StoredResponse,
};
use rows::{PgErr, R};

pub(crate) use rows::describe;

/// Writes held while the server is unreachable, at most; beyond this the
/// writer stops taking commands, so the bounded channel pushes back.
const HELD_LIMIT: usize = 4 * super::CHANNEL_CAPACITY;

/// Commands taken from the channel at once.
const RECV_BATCH: usize = 256;

/// Rows one retention step deletes.
const PRUNE_CHUNK: i64 = 1000;

/// How long to wait before retrying an unreachable server.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Connections the writer's pool keeps: the writer uses one at a time; the
/// second lets a broken one be replaced while it is still being dropped.
const POOL_SIZE: usize = 2;

/// How far back a lookup by id alone searches a channel (as the SQLite writer).
const LOOKBACK_MS: i64 = 24 * 3600 * 1000;

/// True for the URLs this backend takes.
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The URL without its password or options, for errors and logs:
/// `postgres://user@host:port/db`.
pub fn redact_url(url: &str) -> String {
    match tokio_postgres::Config::from_str(url.trim()) {
        Ok(c) => display_config(&c),
        Err(_) => "postgres://(unparsable URL)".to_owned(),
    }
}

fn display_config(c: &tokio_postgres::Config) -> String {
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let db = c.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

/// Parses and checks a PostgreSQL URL; errors name the URL (without its
/// password) and what is allowed.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let shown = redact_url(url);
    let mut config =
        tokio_postgres::Config::from_str(url.trim()).map_err(|e| StoreError::PgUrl {
            url: shown.clone(),
            message: format!(
                "{} (expected postgres://user[:password]@host[:port]/database)",
                describe(&e)
            ),
        })?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(StoreError::PgUrl {
            url: shown,
            message: "sslmode=require asks for TLS, which this build does not speak to \
                      PostgreSQL; use sslmode=disable or sslmode=prefer on a trusted network \
                      (or reach the server through a TLS tunnel)"
                .into(),
        });
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("clank");
    }
    Ok(config)
}

/// What the opened backend gives the handle.
pub(super) struct Opened {
    pub tx: mpsc::Sender<Cmd>,
    pub shared: Arc<Shared>,
    pub handle: JoinHandle<()>,
}

/// Connects, migrates and starts the backend thread. Blocks until the
/// schema is ready, so a wrong URL or an unreachable server fails here.
pub(super) fn open(url: &str, cfg: &StoreConfig) -> Result<Opened, StoreError> {
    let mut pg_config = parse_url(url)?;
    let path = PathBuf::from(display_config(&pg_config));
    let shared = Arc::new(Shared::new(path.clone()));
    let (tx, rx) = mpsc::channel(super::CHANNEL_CAPACITY);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let member = cfg.member_name();
    // The draft trigger names the writing console by its session's
    // application_name, so the others know whose change it was.
    pg_config.application_name(&member);
    let batch_size = cfg.batch_size;
    let shared2 = Arc::clone(&shared);
    let handle = std::thread::Builder::new()
        .name("clank-store-pg".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(StoreError::Spawn {
                        path: shared2.path.clone(),
                        source: e,
                    }));
                    return;
                }
            };
            rt.block_on(async move {
                let writer = match PgWriter::connect(pg_config, shared2, batch_size, member).await {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                writer.run(rx).await;
            });
        })
        .map_err(|source| StoreError::Spawn {
            path: path.clone(),
            source,
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Opened { tx, shared, handle }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(StoreError::Closed { path })
        }
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

async fn exec<C: GenericClient>(c: &C, sql: &str, params: &[&(dyn ToSql + Sync)]) -> R<u64> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, params).await?)
}

async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> R<Vec<tokio_postgres::Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, params).await?)
}

async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> R<Option<tokio_postgres::Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, params).await?)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

const SQL_INSERT_MANY: &str = "WITH ins AS ( \
     INSERT INTO chat_messages (platform, channel, platform_msg_id, author_id, author_name, \
     author_roles, author_months, first_message, content, paid, reply_to, salience_score, \
     salience_breakdown, priority, attention_state, metadata, created_at, processed_at, \
     queued_until) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::bigint[], $8::boolean[], $9::text[], $10::text[], $11::text[], \
     $12::float8[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[], \
     $18::bigint[], $19::bigint[]) \
     ON CONFLICT (platform, created_at, platform_msg_id) DO NOTHING \
     RETURNING id, platform, channel, author_id, created_at), \
     authors AS ( \
     INSERT INTO channel_authors (platform, channel, author_id, since_at) \
     SELECT platform, channel, author_id, MIN(created_at) FROM ins \
     GROUP BY platform, channel, author_id \
     ON CONFLICT (platform, channel, author_id) DO UPDATE SET since_at = excluded.since_at \
     WHERE excluded.since_at < channel_authors.since_at), \
     notes AS (SELECT pg_notify('clank_chat', id::text) FROM ins) \
     SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM notes)";

/// A deletion or a ban purge, for the other consoles' views (delivered at
/// commit, like the chat notifications).
const SQL_NOTIFY_MOD: &str = "SELECT pg_notify('clank_mod', $1)";
const SQL_FIND_AT: &str = "SELECT id FROM chat_messages \
     WHERE platform = $1 AND created_at = $4 AND platform_msg_id = $3 AND channel = $2";
const SQL_FIND_RECENT: &str = "SELECT id FROM chat_messages \
     WHERE platform = $1 AND channel = $2 AND platform_msg_id = $3 AND created_at >= \
     (SELECT MAX(created_at) FROM chat_messages WHERE platform = $1 AND channel = $2) - $4 \
     ORDER BY created_at DESC LIMIT 1";
const SQL_WITHDRAW_ONE: &str = "UPDATE chat_responses SET status = 'withdrawn' \
     WHERE status IN ('pending', 'approved') AND original_message_id = $1";
const SQL_DELETE_ONE: &str = "DELETE FROM chat_messages WHERE id = $1";
const SQL_AUTHOR_SINCE: &str = "SELECT since_at FROM channel_authors \
     WHERE platform = $1 AND channel = $2 AND author_id = $3";
const SQL_WITHDRAW_AUTHOR: &str = "UPDATE chat_responses SET status = 'withdrawn' \
     WHERE status IN ('pending', 'approved') AND original_message_id IN \
     (SELECT id FROM chat_messages WHERE platform = $1 AND channel = $2 AND created_at >= $4 \
     AND author_id = $3)";
const SQL_DELETE_AUTHOR: &str = "DELETE FROM chat_messages \
     WHERE platform = $1 AND channel = $2 AND created_at >= $4 AND author_id = $3";
const SQL_FORGET_AUTHOR: &str =
    "DELETE FROM channel_authors WHERE platform = $1 AND channel = $2 AND author_id = $3";
const SQL_DEQUEUE: &str = "UPDATE chat_messages SET queued_until = NULL \
     WHERE platform = $1 AND created_at = $4 AND platform_msg_id = $3 AND channel = $2 \
     AND queued_until IS NOT NULL";
const SQL_LOAD_QUEUE: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", ",
    salience_cols!(),
    ", m.processed_at, m.queued_until \
     FROM chat_messages m WHERE m.queued_until > $1 ORDER BY m.queued_until"
);
const SQL_HELD: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", ",
    salience_cols!(),
    ", (m.metadata::jsonb ->> 'held') FROM chat_messages m \
     WHERE (m.metadata::jsonb ->> 'held') IS NOT NULL \
     AND (m.metadata::jsonb ->> 'decided') IS NULL ORDER BY m.created_at"
);
const SQL_DECIDE_HELD: &str = "UPDATE chat_messages \
     SET metadata = jsonb_set(COALESCE(metadata, '{}')::jsonb, '{decided}', to_jsonb($5::text))::text \
     WHERE platform = $1 AND created_at = $4 AND platform_msg_id = $3 AND channel = $2";
const SQL_INSERT_LABEL: &str = "INSERT INTO operator_labels (platform, channel, message_id, \
     draft_id, action, at, score, content, authority, relevance, temporal, priority) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
const SQL_QUEUE_HIGH_WATER: &str = "SELECT processed_at FROM chat_messages \
     WHERE queued_until IS NOT NULL ORDER BY queued_until DESC LIMIT 1";
const SQL_SET_CONFIG: &str = "INSERT INTO channel_config (platform, channel, message_threshold, \
     time_delay, context_limit, model, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (platform, channel) DO UPDATE SET message_threshold = excluded.message_threshold, \
     time_delay = excluded.time_delay, context_limit = excluded.context_limit, \
     model = excluded.model, updated_at = excluded.updated_at";
const SQL_GET_CONFIG: &str = "SELECT message_threshold, time_delay, context_limit, model \
     FROM channel_config WHERE platform = $1 AND channel = $2";
const SQL_METRIC: &str =
    "INSERT INTO platform_metrics (platform, channel, at, name, value) VALUES ($1, $2, $3, $4, $5)";
const SQL_INSERT_RESPONSE: &str = "INSERT INTO chat_responses (original_message_id, platform, \
     channel, response_text, response_type, attention_state, generation_time_ms, agent_context, \
     status, created_at, drafted_by) VALUES ($3, $1, $2, $4, $5, $6, $7, $8, $9, $10, $11) \
     RETURNING id";
const SQL_LINK_RESPONSE: &str = "UPDATE chat_messages SET response_id = $2 WHERE id = $1";
const SQL_RESPONSE_STATUS: &str =
    "UPDATE chat_responses SET status = $2, sent_at = COALESCE($3, sent_at) WHERE id = $1";
const SQL_RESPONSE_VERDICT: &str = "UPDATE chat_responses SET status = $2::text, \
     status_reason = $3, sent_at = CASE WHEN $2::text = 'sent' THEN $4 ELSE sent_at END \
     WHERE id = $1 AND status <> 'sent'";
const SQL_RESPONSE_TEXT: &str = "UPDATE chat_responses SET response_text = $2, \
     response_type = $3, status = $4, generation_time_ms = COALESCE($5, generation_time_ms) \
     WHERE id = $1 AND status NOT IN ('sending', 'sent', 'unconfirmed')";
/// Only this member's drafts, and those of members no longer connected:
/// another console's live drafts are not "of an earlier run".
const SQL_EXPIRE_UNSENT: &str = "UPDATE chat_responses SET status = 'expired' \
     WHERE status IN ('pending', 'approved', 'edited') AND (drafted_by IS NULL \
     OR drafted_by = $1 OR drafted_by NOT IN (SELECT member FROM team_live))";
/// Sends this member or a dead one handed to an adapter may be in chat, as
/// may this member's own claims. Another console's approval no adapter
/// took yet (`sent_by` empty) is left to the channel's reader, which sends
/// it once (`team::ReaderLease::pick_up`).
const SQL_UNCONFIRM_SENDING: &str = "UPDATE chat_responses SET status = 'unconfirmed', \
     status_reason = $1 WHERE status = 'sending' AND (sent_by = $2 \
     OR sent_by NOT IN (SELECT member FROM team_live) OR (sent_by IS NULL AND (claimed_by = $2 \
     OR (claimed_by IS NULL AND (drafted_by IS NULL OR drafted_by = $2 \
     OR drafted_by NOT IN (SELECT member FROM team_live))))))";
const SQL_SENT_RESPONSE_FOR: &str = "SELECT id FROM chat_responses \
     WHERE original_message_id = $1 AND status IN ('sending', 'sent', 'unconfirmed') LIMIT 1";
/// One conditional UPDATE: whichever console's claim the server applies
/// first wins; the others see zero rows (`RETURNING` nothing).
const SQL_CLAIM: &str = "UPDATE chat_responses SET status = $2::text, status_reason = NULL, \
     claimed_by = $5, \
     sent_at = CASE WHEN $2::text = 'sent' THEN COALESCE($3, sent_at) ELSE sent_at END \
     WHERE id = $1 AND status = ANY($4::text[]) RETURNING id";
macro_rules! pg_response_cols {
    () => {
        "r.id, r.platform, r.channel, m.platform_msg_id, r.response_text, r.response_type, \
         r.attention_state, r.generation_time_ms, r.agent_context, r.status, r.created_at, \
         r.sent_at, r.status_reason"
    };
}
const SQL_GET_RESPONSE: &str = concat!(
    "SELECT ",
    pg_response_cols!(),
    " FROM chat_responses r \
     LEFT JOIN chat_messages m ON m.id = r.original_message_id WHERE r.id = $1"
);
const SQL_NOT_DELIVERED: &str = concat!(
    "SELECT ",
    pg_response_cols!(),
    " FROM chat_responses r \
     LEFT JOIN chat_messages m ON m.id = r.original_message_id \
     WHERE r.status IN ('refused', 'failed', 'unconfirmed') \
     ORDER BY r.created_at DESC, r.id DESC LIMIT $1"
);
const SQL_LAST_MESSAGES: &str = concat!(
    "SELECT ",
    message_cols!(),
    " FROM chat_messages m WHERE m.platform = $1 AND m.channel = $2 \
     ORDER BY m.created_at DESC, m.author_id DESC, m.id DESC LIMIT $3"
);
const SQL_EXPORT_CHANNEL: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", m.id FROM chat_messages m WHERE m.platform = $1 AND m.channel = $2 \
     AND m.created_at >= $3 AND (m.created_at, m.author_id, m.id) > ($4, $5, $6) \
     ORDER BY m.created_at, m.author_id, m.id LIMIT $7"
);
const SQL_EXPORT_PLATFORM: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", m.id FROM chat_messages m WHERE m.platform = $1 \
     AND m.created_at >= $2 AND (m.created_at, m.author_id, m.id) > ($3, $4, $5) \
     ORDER BY m.created_at, m.author_id, m.id LIMIT $6"
);
const SQL_PRUNE_AGE: &str = "DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages \
     WHERE platform = $1 AND created_at < $2 LIMIT $3)";
const SQL_PRUNE_RESPONSES: &str = "DELETE FROM chat_responses WHERE id IN \
     (SELECT id FROM chat_responses WHERE created_at < $1 LIMIT $2)";
const SQL_PRUNE_METRICS: &str = "DELETE FROM platform_metrics WHERE id IN \
     (SELECT id FROM platform_metrics WHERE at < $1 LIMIT $2)";
const SQL_NEXT_CHANNEL: &str = "SELECT platform, channel FROM chat_messages \
     WHERE (platform, channel) > ($1, $2) ORDER BY platform, channel LIMIT 1";
const SQL_COUNT_CUTOFF: &str = "SELECT created_at, author_id, id FROM chat_messages \
     WHERE platform = $1 AND channel = $2 \
     ORDER BY created_at DESC, author_id DESC, id DESC LIMIT 1 OFFSET $3";
const SQL_PRUNE_COUNT: &str = "DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages \
     WHERE platform = $1 AND channel = $2 AND (created_at, author_id, id) <= ($3, $4, $5) \
     LIMIT $6)";
const SQL_DELETE_AUTH: &str = "DELETE FROM auth_tokens WHERE platform = $1";
const SQL_SAVE_AUTH: &str = "INSERT INTO auth_tokens (platform, account, access_token_enc, \
     refresh_token_enc, nonce, scopes, expires_at, updated_at) \
     VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6)";
const SQL_LOAD_AUTH: &str = "SELECT account, access_token_enc, scopes, expires_at \
     FROM auth_tokens WHERE platform = $1 ORDER BY updated_at DESC LIMIT 1";
const SQL_SET_ADAPTER_STATE: &str = "INSERT INTO adapter_state (platform, key, value, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (platform, key) \
     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
const SQL_ADAPTER_STATE: &str = "SELECT value FROM adapter_state WHERE platform = $1 AND key = $2";

/// Column arrays for one `SQL_INSERT_MANY`.
#[derive(Default)]
struct InsertColumns {
    platform: Vec<&'static str>,
    channel: Vec<String>,
    id: Vec<String>,
    author_id: Vec<String>,
    author_name: Vec<String>,
    roles: Vec<String>,
    months: Vec<Option<i64>>,
    first: Vec<bool>,
    text: Vec<String>,
    paid: Vec<Option<String>>,
    reply_to: Vec<Option<String>>,
    score: Vec<Option<f64>>,
    breakdown: Vec<Option<String>>,
    priority: Vec<Option<&'static str>>,
    attention: Vec<Option<&'static str>>,
    metadata: Vec<Option<String>>,
    at: Vec<i64>,
    processed: Vec<Option<i64>>,
    queued: Vec<Option<i64>>,
}

impl InsertColumns {
    fn push(&mut self, m: &StoredMessage) -> R<()> {
        let json = |v: Result<String, serde_json::Error>| v.map_err(|e| PgErr::Bad(e.to_string()));
        let msg = &m.message;
        let mut roles = String::new();
        super::codec::roles_json(&msg.author.roles, &mut roles);
        self.platform.push(msg.platform.as_str());
        self.channel.push(msg.channel.clone());
        self.id.push(msg.id.clone());
        self.author_id.push(msg.author.id.clone());
        self.author_name.push(msg.author.name.clone());
        self.roles.push(roles);
        self.months.push(msg.author.months.map(i64::from));
        self.first.push(msg.author.first_message);
        self.text.push(msg.text.clone());
        self.paid.push(
            msg.paid
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| PgErr::Bad(e.to_string()))?,
        );
        self.reply_to.push(msg.reply_to.clone());
        match &m.salience {
            Some(s) => {
                let b = super::codec::BreakdownOut::new(&s.breakdown, &s.reasons);
                self.score.push(Some(s.score));
                self.breakdown.push(Some(json(serde_json::to_string(&b))?));
                self.priority.push(Some(s.priority.as_str()));
            }
            None => {
                self.score.push(None);
                self.breakdown.push(None);
                self.priority.push(None);
            }
        }
        self.attention.push(m.attention_state.map(|a| a.as_str()));
        self.metadata.push(
            m.metadata
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| PgErr::Bad(e.to_string()))?,
        );
        self.at.push(msg.at.timestamp_millis());
        self.processed
            .push(m.processed_at.map(|t| t.timestamp_millis()));
        self.queued
            .push(m.queued_until.map(|t| t.timestamp_millis()));
        Ok(())
    }

    fn len(&self) -> usize {
        self.at.len()
    }

    /// Inserts the rows; returns how many were new (the rest were duplicates).
    async fn insert<C: GenericClient>(&self, c: &C) -> R<u64> {
        let st = c.prepare_cached(SQL_INSERT_MANY).await?;
        let row = c
            .query_one(
                &st,
                &[
                    &self.platform,
                    &self.channel,
                    &self.id,
                    &self.author_id,
                    &self.author_name,
                    &self.roles,
                    &self.months,
                    &self.first,
                    &self.text,
                    &self.paid,
                    &self.reply_to,
                    &self.score,
                    &self.breakdown,
                    &self.priority,
                    &self.attention,
                    &self.metadata,
                    &self.at,
                    &self.processed,
                    &self.queued,
                ],
            )
            .await?;
        let n: i64 = row.try_get(0)?;
        Ok(n as u64)
    }
}

struct PgWriter {
    pool: Pool,
    shared: Arc<Shared>,
    batch_size: usize,
    /// Writes not committed yet, in order: the open batch, or what is held
    /// while the server is unreachable.
    batch: Vec<Write>,
    /// Rows-worth of work in `batch`.
    weight: usize,
    /// Why the server is unreachable, while it is.
    down: Option<String>,
    /// This console's name in the team (`claimed_by`, `drafted_by`).
    member: String,
}

impl PgWriter {
    async fn connect(
        pg_config: tokio_postgres::Config,
        shared: Arc<Shared>,
        batch_size: usize,
        member: String,
    ) -> Result<Self, StoreError> {
        let path = shared.path.clone();
        let mgr = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Postgres {
                path: path.clone(),
                op: "create connection pool",
                message: e.to_string(),
            })?;
        // Migrations need a plain client (a transaction on `&mut Client`).
        let (mut client, conn) =
            pg_config
                .connect(NoTls)
                .await
                .map_err(|e| StoreError::Postgres {
                    path: path.clone(),
                    op: "connect",
                    message: describe(&e),
                })?;
        let conn_task = tokio::spawn(conn);
        let migrated = schema::migrate(&mut client).await;
        drop(client);
        let _ = conn_task.await;
        match migrated {
            Ok(()) => {}
            Err(schema::MigrateError::TooNew { found }) => {
                return Err(StoreError::TooNew {
                    path,
                    found,
                    supported: schema::latest_version(),
                });
            }
            Err(schema::MigrateError::Failed { version, e }) => {
                return Err(StoreError::Postgres {
                    path,
                    op: "migrate",
                    message: format!("migration to schema version {version}: {}", describe(&e)),
                });
            }
        }
        let w = PgWriter {
            pool,
            shared,
            batch_size,
            batch: Vec::new(),
            weight: 0,
            down: None,
            member,
        };
        // Check the pool now so the first write does not find a bad URL.
        let first = w.pool.get().await.map_err(|e| StoreError::Postgres {
            path: w.shared.path.clone(),
            op: "connect",
            message: describe(&e),
        })?;
        drop(first);
        Ok(w)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut shutdown = None;
        let mut buf = Vec::with_capacity(RECV_BATCH);
        loop {
            if self.down.is_some() {
                // Held writes: retry on a timer, still taking commands
                // unless too much is held.
                if self.weight >= HELD_LIMIT {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    self.flush().await;
                    continue;
                }
                match tokio::time::timeout(RETRY_PAUSE, rx.recv_many(&mut buf, RECV_BATCH)).await {
                    Err(_) => {
                        self.flush().await;
                        continue;
                    }
                    Ok(0) => break,
                    Ok(_) => {}
                }
            } else if rx.recv_many(&mut buf, RECV_BATCH).await == 0 {
                break;
            }
            for cmd in buf.drain(..) {
                match cmd {
                    Cmd::Write(w) => {
                        self.shared.taken(w.weight());
                        self.weight += w.weight();
                        self.batch.push(w);
                        if self.weight >= self.batch_size && self.down.is_none() {
                            self.flush().await;
                        }
                    }
                    Cmd::Query(q) => self.query(q).await,
                    // This writer flushes whenever the channel empties.
                    Cmd::CommitSoon => {}
                    Cmd::Shutdown(reply) => {
                        rx.close();
                        shutdown = Some(reply);
                    }
                }
            }
            if rx.is_empty() {
                tokio::task::yield_now().await;
            }
            if rx.is_empty() && self.down.is_none() {
                self.flush().await;
            }
        }
        let result = self.finish().await;
        match shutdown {
            Some(reply) => drop(reply.send(result)),
            None => {
                if let Err(e) = result {
                    tracing::error!(error = %e, "store closed with errors");
                }
            }
        }
    }

    async fn finish(&mut self) -> Result<StoreStats, StoreError> {
        for _ in 0..3 {
            if self.flush().await {
                break;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        let lost = self.weight as u64;
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

    fn record_error(&self, op: &str, message: &str) {
        bump(&self.shared.counters.errors, 1);
        tracing::error!(path = %self.shared.path.display(), op, error = %message, "store write failed");
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(format!("{op}: {message}"));
    }

    fn err(&self, op: &'static str, e: PgErr) -> StoreError {
        if e.is_connection() {
            StoreError::Unavailable {
                path: self.shared.path.clone(),
                held: self.weight,
                message: e.describe(),
            }
        } else {
            StoreError::Postgres {
                path: self.shared.path.clone(),
                op,
                message: e.describe(),
            }
        }
    }

    fn note_down(&mut self, e: &PgErr) {
        if self.down.is_none() {
            let msg = e.describe();
            self.record_error("connect (server unreachable)", &msg);
            tracing::warn!(path = %self.shared.path.display(), "PostgreSQL unreachable; holding writes until it is back");
            self.down = Some(msg);
        }
        self.shared
            .counters
            .held
            .store(self.weight as u64, Ordering::Relaxed);
    }

    fn note_up(&mut self) {
        if self.down.take().is_some() {
            tracing::info!(path = %self.shared.path.display(), "PostgreSQL reachable again; held writes applied");
        }
        self.shared.counters.held.store(0, Ordering::Relaxed);
    }

    async fn client(&self) -> R<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => PgErr::Pg(e),
            other => PgErr::Bad(other.to_string()),
        })
    }

    /// Commits the batch; false if the server is unreachable (the batch is
    /// kept for the next try).
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            self.note_up();
            return true;
        }
        let batch = std::mem::take(&mut self.batch);
        match self.apply_batch(&batch).await {
            Ok(inserted) => {
                bump(&self.shared.counters.commits, 1);
                bump(&self.shared.counters.inserted, inserted);
                self.weight = 0;
                self.note_up();
                true
            }
            Err(e) if e.is_connection() => {
                self.batch = batch;
                self.note_down(&e);
                false
            }
            Err(e) => {
                // The server refused a statement; the transaction is gone.
                // Replay one write per transaction so only the bad one is lost.
                self.record_error("batch", &e.describe());
                self.weight = 0;
                let singles = batch.into_iter().flat_map(|w| match w {
                    Write::InsertMany(ms) => ms.into_iter().map(Write::Insert).collect(),
                    w => vec![w],
                });
                for w in singles {
                    let weight = w.weight();
                    let op = w.op();
                    match self.apply_batch(std::slice::from_ref(&w)).await {
                        Ok(inserted) => {
                            bump(&self.shared.counters.commits, 1);
                            bump(&self.shared.counters.inserted, inserted);
                        }
                        Err(e) if e.is_connection() => {
                            self.weight += weight;
                            self.batch.push(w);
                            self.note_down(&e);
                        }
                        Err(e) => {
                            self.record_error(op, &e.describe());
                            bump(&self.shared.counters.lost, weight as u64);
                        }
                    }
                }
                self.down.is_none()
            }
        }
    }

    /// Applies writes in one transaction; returns how many messages were new.
    async fn apply_batch(&self, batch: &[Write]) -> R<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut inserted = 0;
        let mut dups = 0;
        let mut cols = InsertColumns::default();
        for w in batch {
            match w {
                Write::Insert(m) => cols.push(m)?,
                Write::InsertMany(ms) => {
                    for m in ms {
                        cols.push(m)?;
                    }
                }
                other => {
                    if cols.len() > 0 {
                        let n = cols.insert(&tx).await?;
                        inserted += n;
                        dups += cols.len() as u64 - n;
                        cols = InsertColumns::default();
                    }
                    self.apply_other(&tx, other).await?;
                }
            }
        }
        if cols.len() > 0 {
            let n = cols.insert(&tx).await?;
            inserted += n;
            dups += cols.len() as u64 - n;
        }
        tx.commit().await?;
        bump(&self.shared.counters.duplicates, dups);
        Ok(inserted)
    }

    async fn apply_other<C: GenericClient>(&self, c: &C, w: &Write) -> R<()> {
        let counters = &self.shared.counters;
        match w {
            Write::Insert(_) | Write::InsertMany(_) => {}
            Write::Delete(m) => {
                if let Some(row) = find_message(c, m).await? {
                    exec(c, SQL_WITHDRAW_ONE, &[&row]).await?;
                    let n = exec(c, SQL_DELETE_ONE, &[&row]).await?;
                    bump(&counters.deleted, n);
                    let note = serde_json::json!({
                        "kind": "delete",
                        "platform": m.platform.as_str(),
                        "channel": m.channel,
                        "id": m.id,
                        "at_ms": m.at_ms,
                    });
                    exec(c, SQL_NOTIFY_MOD, &[&note.to_string()]).await?;
                }
            }
            Write::Purge {
                platform,
                channel,
                author_id,
            } => {
                let p = platform.as_str();
                let since = query_opt(c, SQL_AUTHOR_SINCE, &[&p, channel, author_id]).await?;
                if let Some(since) = since {
                    let since: i64 = since.try_get(0)?;
                    let key: [&(dyn ToSql + Sync); 4] = [&p, channel, author_id, &since];
                    exec(c, SQL_WITHDRAW_AUTHOR, &key).await?;
                    let n = exec(c, SQL_DELETE_AUTHOR, &key).await?;
                    bump(&counters.deleted, n);
                    exec(c, SQL_FORGET_AUTHOR, &key[..3]).await?;
                    let note = serde_json::json!({
                        "kind": "ban",
                        "platform": p,
                        "channel": channel,
                        "author_id": author_id,
                    });
                    exec(c, SQL_NOTIFY_MOD, &[&note.to_string()]).await?;
                }
            }
            Write::Dequeue(m) => {
                let n = exec(
                    c,
                    SQL_DEQUEUE,
                    &[&m.platform.as_str(), &m.channel, &m.id, &m.at_ms],
                )
                .await?;
                bump(&counters.dequeued, n);
            }
            Write::SetChannelConfig {
                platform,
                channel,
                config,
            } => {
                exec(
                    c,
                    SQL_SET_CONFIG,
                    &[
                        &platform.as_str(),
                        channel,
                        &i64::from(config.message_threshold),
                        &i64::try_from(config.time_delay_s).unwrap_or(i64::MAX),
                        &i64::from(config.context_limit),
                        &config.model,
                        &Utc::now().timestamp_millis(),
                    ],
                )
                .await?;
            }
            Write::DecideHeld(m, released) => {
                let decision = if *released { "released" } else { "discarded" };
                exec(
                    c,
                    SQL_DECIDE_HELD,
                    &[&m.platform.as_str(), &m.channel, &m.id, &m.at_ms, &decision],
                )
                .await?;
            }
            Write::Label(l) => {
                let b = &l.salience.breakdown;
                exec(
                    c,
                    SQL_INSERT_LABEL,
                    &[
                        &l.platform.as_str(),
                        &l.channel,
                        &l.message_id,
                        &l.draft_id,
                        &l.action.as_str(),
                        &l.at.timestamp_millis(),
                        &l.salience.score,
                        &b.content,
                        &b.authority,
                        &b.relevance,
                        &b.temporal,
                        &l.salience.priority.as_str(),
                    ],
                )
                .await?;
            }
            Write::Metric(m) => {
                exec(
                    c,
                    SQL_METRIC,
                    &[
                        &m.platform.as_str(),
                        &m.channel,
                        &m.at.timestamp_millis(),
                        &m.name,
                        &m.value,
                    ],
                )
                .await?;
            }
            Write::ResponseText {
                id,
                text,
                response_type,
                status,
                generation_time_ms,
            } => {
                let gen_ms = generation_time_ms.map(|g| i64::try_from(g).unwrap_or(i64::MAX));
                exec(
                    c,
                    SQL_RESPONSE_TEXT,
                    &[id, text, response_type, &status.as_str(), &gen_ms],
                )
                .await?;
            }
            Write::ResponseStatus {
                id,
                status,
                sent_at,
            } => {
                exec(
                    c,
                    SQL_RESPONSE_STATUS,
                    &[id, &status.as_str(), &sent_at.map(|t| t.timestamp_millis())],
                )
                .await?;
            }
            Write::ResponseVerdict {
                id,
                status,
                reason,
                at,
            } => {
                exec(
                    c,
                    SQL_RESPONSE_VERDICT,
                    &[id, &status.as_str(), reason, &at.timestamp_millis()],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn query(&mut self, q: Query) {
        // Reads must see every write sent before them.
        if !self.flush().await {
            let (path, held) = (self.shared.path.clone(), self.weight);
            let message = self.down.clone().unwrap_or_default();
            q.fail(|| StoreError::Unavailable {
                path: path.clone(),
                held,
                message: message.clone(),
            });
            return;
        }
        macro_rules! answer {
            ($reply:expr, $op:literal, $fut:expr) => {{
                let r = $fut.await.map_err(|e| self.err($op, e));
                drop($reply.send(r));
            }};
        }
        match q {
            Query::Flush(reply) => drop(reply.send(Ok(self.shared.stats()))),
            Query::LastMessages {
                platform,
                channel,
                n,
                reply,
            } => answer!(
                reply,
                "last messages",
                self.last_messages(platform, &channel, n)
            ),
            Query::ChannelConfig {
                platform,
                channel,
                reply,
            } => answer!(
                reply,
                "channel config",
                self.channel_config(platform, &channel)
            ),
            Query::ExportPage { q, reply } => answer!(reply, "export", self.export_page(&q)),
            Query::LoadQueue { now, reply } => answer!(reply, "load queue", self.load_queue(now)),
            Query::Prune { policy, now, reply } => {
                answer!(reply, "prune", self.prune(policy, now))
            }
            Query::InsertResponse { r, reply } => {
                answer!(reply, "insert response", self.insert_response(&r))
            }
            Query::GetResponse { id, reply } => {
                answer!(reply, "get response", self.get_response(id))
            }
            Query::SaveAuthToken { row, reply } => {
                answer!(reply, "save auth token", self.save_auth_token(&row))
            }
            Query::LoadAuthToken { platform, reply } => {
                answer!(reply, "load auth token", self.load_auth_token(platform))
            }
            Query::DeleteAuthToken { platform, reply } => answer!(
                reply,
                "delete auth token",
                self.simple(SQL_DELETE_AUTH, &[&platform.as_str()])
            ),
            Query::ClaimResponse {
                id,
                from,
                to,
                at,
                reply,
            } => answer!(reply, "claim response", self.claim(id, &from, to, at)),
            Query::SentResponseFor { original, reply } => answer!(
                reply,
                "sent response for",
                self.sent_response_for(&original)
            ),
            Query::ExpireUnsent { reply } => {
                answer!(reply, "expire unsent replies", self.expire_unsent())
            }
            Query::NotDelivered { limit, reply } => {
                answer!(reply, "not delivered", self.not_delivered(limit))
            }
            Query::SetAdapterState {
                platform,
                key,
                value,
                reply,
            } => answer!(
                reply,
                "set adapter state",
                self.simple(
                    SQL_SET_ADAPTER_STATE,
                    &[
                        &platform.as_str(),
                        &key,
                        &value,
                        &Utc::now().timestamp_millis()
                    ]
                )
            ),
            Query::AdapterState {
                platform,
                key,
                reply,
            } => answer!(reply, "adapter state", self.adapter_state(platform, &key)),
            Query::Held { reply } => answer!(reply, "held messages", self.held()),
            Query::Labels { reply } => answer!(reply, "operator labels", self.labels()),
        }
    }

    /// The review lane's undecided messages, oldest first.
    async fn held(&self) -> R<Vec<(ChatMessage, Option<crate::model::Salience>, String)>> {
        let c = self.client().await?;
        let n = super::codec::MESSAGE_NCOLS;
        let mut out = Vec::new();
        for row in &query(&c, SQL_HELD, &[]).await? {
            out.push((
                rows::message(row, 0)?,
                rows::salience(row, n)?,
                row.try_get(n + 3)?,
            ));
        }
        Ok(out)
    }

    /// Every operator label, oldest first; rows this build cannot read are
    /// skipped, as on SQLite.
    async fn labels(&self) -> R<Vec<OperatorLabel>> {
        let c = self.client().await?;
        let mut out = Vec::new();
        for r in &query(&c, super::writer::SQL_LABELS, &[]).await? {
            let v = [
                r.try_get(6)?,
                r.try_get(7)?,
                r.try_get(8)?,
                r.try_get(9)?,
                r.try_get(10)?,
            ];
            out.extend(OperatorLabel::from_stored(
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                v,
                r.try_get(11)?,
            ));
        }
        Ok(out)
    }

    /// One statement in autocommit: durable when it returns.
    async fn simple(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> R<()> {
        let c = self.client().await?;
        exec(&c, sql, params).await.map(|_| ())
    }

    async fn last_messages(
        &self,
        platform: Platform,
        channel: &str,
        n: usize,
    ) -> R<Vec<ChatMessage>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let rows = query(
            &c,
            SQL_LAST_MESSAGES,
            &[&platform.as_str(), &channel, &limit(n)],
        )
        .await?;
        let mut out = rows
            .iter()
            .map(|r| rows::message(r, 0))
            .collect::<R<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn channel_config(&self, platform: Platform, channel: &str) -> R<Option<ChannelConfig>> {
        let c = self.client().await?;
        let Some(r) = query_opt(&c, SQL_GET_CONFIG, &[&platform.as_str(), &channel]).await? else {
            return Ok(None);
        };
        let num = |i: usize| -> R<i64> { Ok(r.try_get::<_, i64>(i)?) };
        Ok(Some(ChannelConfig {
            message_threshold: u32::try_from(num(0)?).unwrap_or(u32::MAX),
            time_delay_s: u64::try_from(num(1)?).unwrap_or(0),
            context_limit: u32::try_from(num(2)?).unwrap_or(u32::MAX),
            model: r.try_get(3)?,
        }))
    }

    async fn export_page(&self, q: &ExportQuery) -> R<Vec<ExportRow>> {
        let since = q.since_ms.unwrap_or(i64::MIN);
        let (after_at, after_author, after_id) = match &q.after {
            Some((at, author, id)) => (*at, author.as_str(), *id),
            None => (i64::MIN, "", i64::MIN),
        };
        let c = self.client().await?;
        let p = q.platform.as_str();
        let rows = if q.channel.is_empty() {
            query(
                &c,
                SQL_EXPORT_PLATFORM,
                &[
                    &p,
                    &since,
                    &after_at,
                    &after_author,
                    &after_id,
                    &limit(q.limit),
                ],
            )
            .await?
        } else {
            query(
                &c,
                SQL_EXPORT_CHANNEL,
                &[
                    &p,
                    &q.channel,
                    &since,
                    &after_at,
                    &after_author,
                    &after_id,
                    &limit(q.limit),
                ],
            )
            .await?
        };
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(super::codec::MESSAGE_NCOLS)?,
                    rows::message(r, 0)?,
                ))
            })
            .collect()
    }

    async fn load_queue(&self, now: DateTime<Utc>) -> R<Vec<QueuedMessage>> {
        let c = self.client().await?;
        let high_water: Option<i64> = query_opt(&c, SQL_QUEUE_HIGH_WATER, &[])
            .await?
            .map(|r| r.try_get::<_, Option<i64>>(0))
            .transpose()?
            .flatten();
        let after = now.timestamp_millis().max(high_water.unwrap_or(i64::MIN));
        let rows = query(&c, SQL_LOAD_QUEUE, &[&after]).await?;
        let n = super::codec::MESSAGE_NCOLS;
        let mut out = Vec::new();
        for row in &rows {
            let message = rows::message(row, 0)?;
            let salience = rows::salience(row, n)?;
            let (Some(s), Some(enqueued_at)) = (&salience, rows::opt_time(row, n + 3)?) else {
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
                expires_at: rows::opt_time(row, n + 4)?,
            };
            out.push((record, message, salience));
        }
        out.sort_by(|(a, _, _), (b, _, _)| {
            b.score
                .total_cmp(&a.score)
                .then(a.enqueued_at.cmp(&b.enqueued_at))
        });
        Ok(out)
    }

    /// Retention in chunks of [`PRUNE_CHUNK`] rows, each committed on its
    /// own, so no transaction grows with the table.
    async fn prune(&self, policy: RetentionPolicy, now: DateTime<Utc>) -> R<PruneReport> {
        let c = self.client().await?;
        let mut report = PruneReport::default();
        let chunked = |sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>| {
            let c = &c;
            async move {
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                let mut total = 0u64;
                loop {
                    let n = exec(c, sql, &refs).await?;
                    total += n;
                    if (n as i64) < PRUNE_CHUNK {
                        return Ok::<u64, PgErr>(total);
                    }
                }
            }
        };
        if policy.max_age_days > 0 {
            let cutoff = now
                .timestamp_millis()
                .saturating_sub(i64::from(policy.max_age_days) * 86_400_000);
            for p in Platform::ALL {
                report.by_age += chunked(
                    SQL_PRUNE_AGE,
                    vec![
                        Box::new(p.as_str()),
                        Box::new(cutoff),
                        Box::new(PRUNE_CHUNK),
                    ],
                )
                .await?;
            }
            report.responses += chunked(
                SQL_PRUNE_RESPONSES,
                vec![Box::new(cutoff), Box::new(PRUNE_CHUNK)],
            )
            .await?;
            report.metrics += chunked(
                SQL_PRUNE_METRICS,
                vec![Box::new(cutoff), Box::new(PRUNE_CHUNK)],
            )
            .await?;
        }
        if policy.max_messages_per_channel > 0 {
            let keep = i64::try_from(policy.max_messages_per_channel).unwrap_or(i64::MAX);
            // "" sorts before every platform name.
            let (mut p, mut ch) = (String::new(), String::new());
            while let Some(r) = query_opt(&c, SQL_NEXT_CHANNEL, &[&p, &ch]).await? {
                p = r.try_get(0)?;
                ch = r.try_get(1)?;
                let cut = query_opt(&c, SQL_COUNT_CUTOFF, &[&p, &ch, &keep]).await?;
                if let Some(cut) = cut {
                    let (at, author, id): (i64, String, i64) =
                        (cut.try_get(0)?, cut.try_get(1)?, cut.try_get(2)?);
                    report.by_count += chunked(
                        SQL_PRUNE_COUNT,
                        vec![
                            Box::new(p.clone()),
                            Box::new(ch.clone()),
                            Box::new(at),
                            Box::new(author),
                            Box::new(id),
                            Box::new(PRUNE_CHUNK),
                        ],
                    )
                    .await?;
                }
            }
        }
        bump(
            &self.shared.counters.pruned,
            report.by_age + report.by_count,
        );
        Ok(report)
    }

    async fn insert_response(&self, r: &super::NewResponse) -> R<i64> {
        let agent_context = r
            .agent_context
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| PgErr::Bad(e.to_string()))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let original = match &r.original_id {
            Some(id) => {
                find_message(
                    &tx,
                    &MessageRef {
                        platform: r.platform,
                        channel: r.channel.clone(),
                        id: id.clone(),
                        at_ms: r.original_at.map(|t| t.timestamp_millis()),
                    },
                )
                .await?
            }
            None => None,
        };
        let gen_ms = r
            .generation_time_ms
            .map(|g| i64::try_from(g).unwrap_or(i64::MAX));
        let st = tx.prepare_cached(SQL_INSERT_RESPONSE).await?;
        let id: i64 = tx
            .query_one(
                &st,
                &[
                    &r.platform.as_str(),
                    &r.channel,
                    &original,
                    &r.response_text,
                    &r.response_type,
                    &r.attention_state.map(|a| a.as_str()),
                    &gen_ms,
                    &agent_context,
                    &r.status.as_str(),
                    &r.created_at.timestamp_millis(),
                    &self.member,
                ],
            )
            .await?
            .try_get(0)?;
        if let Some(original) = original {
            exec(&tx, SQL_LINK_RESPONSE, &[&original, &id]).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn get_response(&self, id: i64) -> R<Option<StoredResponse>> {
        let c = self.client().await?;
        query_opt(&c, SQL_GET_RESPONSE, &[&id])
            .await?
            .map(|r| rows::response(&r))
            .transpose()
    }

    async fn not_delivered(&self, n: usize) -> R<Vec<StoredResponse>> {
        let c = self.client().await?;
        query(&c, SQL_NOT_DELIVERED, &[&limit(n)])
            .await?
            .iter()
            .map(rows::response)
            .collect()
    }

    async fn save_auth_token(&self, row: &AuthTokenRow) -> R<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let p = row.platform.as_str();
        exec(&tx, SQL_DELETE_AUTH, &[&p]).await?;
        exec(
            &tx,
            SQL_SAVE_AUTH,
            &[
                &p,
                &row.account,
                &row.sealed,
                &row.scopes,
                &row.expires_at.map(|t| t.timestamp_millis()),
                &Utc::now().timestamp_millis(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn load_auth_token(&self, platform: Platform) -> R<Option<AuthTokenRow>> {
        let c = self.client().await?;
        let Some(r) = query_opt(&c, SQL_LOAD_AUTH, &[&platform.as_str()]).await? else {
            return Ok(None);
        };
        Ok(Some(AuthTokenRow {
            platform,
            account: r.try_get(0)?,
            sealed: r.try_get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
            scopes: r.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
            expires_at: rows::opt_time(&r, 3)?,
        }))
    }

    async fn claim(
        &self,
        id: i64,
        from: &[ResponseStatus],
        to: ResponseStatus,
        at: Option<DateTime<Utc>>,
    ) -> R<bool> {
        if from.is_empty() {
            return Ok(false);
        }
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let c = self.client().await?;
        let won = query_opt(
            &c,
            SQL_CLAIM,
            &[
                &id,
                &to.as_str(),
                &at.map(|t| t.timestamp_millis()),
                &from,
                &self.member,
            ],
        )
        .await?;
        Ok(won.is_some())
    }

    async fn sent_response_for(&self, original: &MessageRef) -> R<Option<i64>> {
        let c = self.client().await?;
        let Some(row) = find_message(&c, original).await? else {
            return Ok(None);
        };
        query_opt(&c, SQL_SENT_RESPONSE_FOR, &[&row])
            .await?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }

    async fn expire_unsent(&self) -> R<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let expired = exec(&tx, SQL_EXPIRE_UNSENT, &[&self.member]).await?;
        let unconfirmed = exec(
            &tx,
            SQL_UNCONFIRM_SENDING,
            &[&STOPPED_BEFORE_VERDICT, &self.member],
        )
        .await?;
        tx.commit().await?;
        if unconfirmed > 0 {
            tracing::warn!(
                unconfirmed,
                "replies in flight when clank last stopped are now unconfirmed"
            );
        }
        Ok(expired)
    }

    async fn adapter_state(&self, platform: Platform, key: &str) -> R<Option<String>> {
        let c = self.client().await?;
        query_opt(&c, SQL_ADAPTER_STATE, &[&platform.as_str(), &key])
            .await?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }
}

/// The row of a message: through the key when its time is known, else by
/// searching the channel's last day of chat for the id.
async fn find_message<C: GenericClient>(c: &C, m: &MessageRef) -> R<Option<i64>> {
    let p = m.platform.as_str();
    if let Some(at) = m.at_ms
        && let Some(r) = query_opt(c, SQL_FIND_AT, &[&p, &m.channel, &m.id, &at]).await?
    {
        return Ok(Some(r.try_get(0)?));
    }
    query_opt(c, SQL_FIND_RECENT, &[&p, &m.channel, &m.id, &LOOKBACK_MS])
        .await?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
}
