//! Opening the database: connection settings and the versioned migrations
//! tracked in `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{StoreConfig, StoreError};

/// SQLite's page cache for the one connection, in KiB (negative = KiB to
/// SQLite). Modest on purpose: a 1M-message flood must stay under 64 MB
/// (8 MiB cost 6 MB of peak RSS there), and the OS page cache holds the rest
/// of the file anyway, so a miss costs a copy, not a disk read.
const CACHE_KIB: i64 = 2 * 1024;

/// Pages in the WAL before it is copied back into the database (SQLite's
/// default is 1000). Fewer, larger checkpoints write a page rewritten by many
/// batches only once; this bought ~40% insert throughput.
pub(super) const WAL_AUTOCHECKPOINT: i64 = 10_000;

/// The WAL file is truncated back to this size after a checkpoint, so a burst
/// does not leave a huge file behind.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Migration `i` (0-based) brings the schema from version `i` to `i + 1`.
/// Never edit an entry that reached main; append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE chat_messages (
        id                 INTEGER PRIMARY KEY,
        platform           TEXT    NOT NULL,
        channel            TEXT    NOT NULL,
        platform_msg_id    TEXT    NOT NULL,
        author_id          TEXT    NOT NULL,
        author_name        TEXT    NOT NULL,
        author_roles       TEXT    NOT NULL DEFAULT '[]',  -- JSON array of role names
        author_months      INTEGER,
        first_message      INTEGER NOT NULL DEFAULT 0,
        content            TEXT    NOT NULL,
        paid               TEXT,                           -- JSON object or NULL
        reply_to           TEXT,                           -- platform id of the message answered
        salience_score     REAL,
        salience_breakdown TEXT,                           -- JSON: four factors + reasons
        priority           TEXT,
        attention_state    TEXT,
        metadata           TEXT,                           -- JSON
        created_at         INTEGER NOT NULL,               -- unix ms, when it was said
        processed_at       INTEGER,                        -- unix ms
        -- Latest reply; no foreign key, so deleting a reply needs no scan of this table.
        response_id        INTEGER,
        UNIQUE (platform, platform_msg_id)
    );
    -- Ascending on purpose: SQLite walks an index both ways, and the implicit
    -- trailing rowid then agrees with `ORDER BY created_at DESC, id DESC`
    -- (last N) as well as `ASC, ASC` (export), so neither needs a sort.
    CREATE INDEX chat_messages_channel_time ON chat_messages (platform, channel, created_at);
    CREATE INDEX chat_messages_salience ON chat_messages (platform, channel, salience_score DESC);
    CREATE INDEX chat_messages_platform_time ON chat_messages (platform, created_at);
    -- A ban purges one author's messages without scanning the channel.
    CREATE INDEX chat_messages_author ON chat_messages (platform, channel, author_id);

    CREATE TABLE chat_responses (
        id                  INTEGER PRIMARY KEY,
        original_message_id INTEGER REFERENCES chat_messages (id) ON DELETE SET NULL,
        platform            TEXT    NOT NULL,
        channel             TEXT    NOT NULL,
        response_text       TEXT    NOT NULL,
        response_type       TEXT    NOT NULL,
        attention_state     TEXT,
        generation_time_ms  INTEGER,
        agent_context       TEXT,                          -- JSON
        status              TEXT    NOT NULL DEFAULT 'pending',
        created_at          INTEGER NOT NULL,
        sent_at             INTEGER
    );
    CREATE INDEX chat_responses_original ON chat_responses (original_message_id);
    CREATE INDEX chat_responses_channel_time ON chat_responses (platform, channel, created_at);
    CREATE INDEX chat_responses_time ON chat_responses (created_at);

    CREATE TABLE platform_metrics (
        id       INTEGER PRIMARY KEY,
        platform TEXT    NOT NULL,
        channel  TEXT    NOT NULL,
        at       INTEGER NOT NULL,
        name     TEXT    NOT NULL,
        value    REAL    NOT NULL
    );
    CREATE INDEX platform_metrics_series ON platform_metrics (platform, channel, name, at);
    CREATE INDEX platform_metrics_time ON platform_metrics (at);

    CREATE TABLE channel_config (
        platform          TEXT    NOT NULL,
        channel           TEXT    NOT NULL,
        message_threshold INTEGER NOT NULL DEFAULT 30,
        time_delay        INTEGER NOT NULL DEFAULT 300,
        context_limit     INTEGER NOT NULL DEFAULT 200,
        model             TEXT,
        updated_at        INTEGER NOT NULL,
        PRIMARY KEY (platform, channel)
    ) WITHOUT ROWID;

    CREATE TABLE auth_tokens (
        platform          TEXT    NOT NULL,
        account           TEXT    NOT NULL,
        access_token_enc  BLOB,
        refresh_token_enc BLOB,
        nonce             BLOB,
        scopes            TEXT,
        expires_at        INTEGER,
        updated_at        INTEGER NOT NULL,
        PRIMARY KEY (platform, account)
    );

    -- The salience queue, so a restart (even kill -9) restores it. Keyed by the
    -- message row: deleting or pruning a message drops its entry by cascade.
    CREATE TABLE queue_entries (
        message_id  INTEGER PRIMARY KEY REFERENCES chat_messages (id) ON DELETE CASCADE,
        priority    TEXT    NOT NULL,
        score       REAL    NOT NULL,
        enqueued_at INTEGER NOT NULL,
        expires_at  INTEGER
    );
    CREATE INDEX queue_entries_order ON queue_entries (score DESC, enqueued_at);
    "#,
    // 2: keep the hot insert path append-only. Profiling showed an index
    // keyed by anything random (author, score) dirties about one page per
    // row per commit once it outgrows a batch: inserts fell from ~150k to
    // ~6k rows/s at a million rows. The UNIQUE (platform, platform_msg_id)
    // key is the one random index kept (the spec's dedupe key).
    r#"
    DROP INDEX chat_messages_channel_time;
    DROP INDEX chat_messages_salience;
    DROP INDEX chat_messages_platform_time;
    DROP INDEX chat_messages_author;
    DROP INDEX queue_entries_order;

    -- Ascending on purpose: SQLite walks an index both ways, and with
    -- author_id and the implicit rowid as tie-breakers both
    -- `ORDER BY created_at DESC, author_id DESC, id DESC` (last N) and the
    -- ascending export order come straight from the index, no sort.
    -- author_id also lets a ban purge filter inside the index.
    CREATE INDEX chat_messages_channel_time
        ON chat_messages (platform, channel, created_at, author_id);
    CREATE INDEX chat_messages_platform_time
        ON chat_messages (platform, created_at, author_id);
    -- Salience order for the messages that matter; partial, so it stays small.
    CREATE INDEX chat_messages_salience
        ON chat_messages (platform, channel, salience_score DESC)
        WHERE priority IN ('HIGH', 'CRITICAL');
    -- (queue_entries has no score index: the queue is small and read once.)

    -- One row per author and channel, instead of an author index on every
    -- message: no message of the author in the channel is older than
    -- since_at, so a ban purge scans the channel's time index from there on.
    -- An insert only reads it (it writes when an author is new), so it adds
    -- no random page writes to a batch.
    CREATE TABLE channel_authors (
        platform  TEXT    NOT NULL,
        channel   TEXT    NOT NULL,
        author_id TEXT    NOT NULL,
        since_at  INTEGER NOT NULL,  -- unix ms
        PRIMARY KEY (platform, channel, author_id)
    ) WITHOUT ROWID;
    INSERT INTO channel_authors (platform, channel, author_id, since_at)
        SELECT platform, channel, author_id, MIN(created_at) FROM chat_messages
        GROUP BY platform, channel, author_id;
    "#,
    // 3: no random index on the hot insert path at all. The dedupe key
    // UNIQUE (platform, platform_msg_id) was the last one: message ids are
    // random (UUIDs), so at a million rows every batch dirtied about one
    // index page per row and inserts fell to ~25k rows/s. The key is now
    // (platform, created_at, platform_msg_id): time first, so it appends.
    // A message's id and time come together from the platform, so a copy
    // of a message (a reconnect, a restart, a replayed log) still collides;
    // lookups by id carry the time (the core remembers it for recent ids).
    // The salience queue moves into the row as `queued_until`, written with
    // the insert: queue_entries cost two more statements per message.
    // Rebuilt by hand (a UNIQUE constraint cannot be dropped); the caller
    // turns foreign keys off around migrations, as SQLite's docs ask.
    r#"
    CREATE TABLE chat_messages_v3 (
        id                 INTEGER PRIMARY KEY,
        platform           TEXT    NOT NULL,
        channel            TEXT    NOT NULL,
        platform_msg_id    TEXT    NOT NULL,
        author_id          TEXT    NOT NULL,
        author_name        TEXT    NOT NULL,
        author_roles       TEXT    NOT NULL DEFAULT '[]',  -- JSON array of role names
        author_months      INTEGER,
        first_message      INTEGER NOT NULL DEFAULT 0,
        content            TEXT    NOT NULL,
        paid               TEXT,                           -- JSON object or NULL
        reply_to           TEXT,                           -- platform id of the message answered
        salience_score     REAL,
        salience_breakdown TEXT,                           -- JSON: four factors + reasons
        priority           TEXT,
        attention_state    TEXT,
        metadata           TEXT,                           -- JSON
        created_at         INTEGER NOT NULL,               -- unix ms, when it was said
        processed_at       INTEGER,                        -- unix ms; when it entered the queue
        response_id        INTEGER,
        -- In the salience queue until then (unix ms); NULL once answered,
        -- dropped or evicted. Expired marks are left alone: the time says it.
        queued_until       INTEGER
    );
    INSERT INTO chat_messages_v3 (id, platform, channel, platform_msg_id, author_id,
        author_name, author_roles, author_months, first_message, content, paid, reply_to,
        salience_score, salience_breakdown, priority, attention_state, metadata, created_at,
        processed_at, response_id, queued_until)
    SELECT m.id, m.platform, m.channel, m.platform_msg_id, m.author_id, m.author_name,
        m.author_roles, m.author_months, m.first_message, m.content, m.paid, m.reply_to,
        COALESCE(q.score, m.salience_score), m.salience_breakdown, COALESCE(q.priority, m.priority),
        m.attention_state, m.metadata, m.created_at,
        COALESCE(q.enqueued_at, m.processed_at), m.response_id,
        -- An entry without an expiry gets the default queue max age (180 s).
        CASE WHEN q.message_id IS NULL THEN NULL
             ELSE COALESCE(q.expires_at, q.enqueued_at + 180000) END
    FROM chat_messages m LEFT JOIN queue_entries q ON q.message_id = m.id;
    DROP TABLE queue_entries;
    DROP TABLE chat_messages;
    ALTER TABLE chat_messages_v3 RENAME TO chat_messages;

    CREATE UNIQUE INDEX chat_messages_key
        ON chat_messages (platform, created_at, platform_msg_id);
    CREATE INDEX chat_messages_channel_time
        ON chat_messages (platform, channel, created_at, author_id);
    CREATE INDEX chat_messages_platform_time
        ON chat_messages (platform, created_at, author_id);
    CREATE INDEX chat_messages_salience
        ON chat_messages (platform, channel, salience_score DESC)
        WHERE priority IN ('HIGH', 'CRITICAL');
    -- Marks are set in time order, so this appends too; load_queue reads
    -- the unexpired tail.
    CREATE INDEX chat_messages_queued
        ON chat_messages (queued_until) WHERE queued_until IS NOT NULL;
    "#,
    // 4: a reply is `sent` only when the platform accepted it. Refused,
    // failed and unconfirmed replies say why in `status_reason` (NULL for
    // the rest and for every older row). The partial index keeps the
    // operator's not-delivered list a short walk however many replies went
    // out: it holds only the rows that list shows.
    r#"
    ALTER TABLE chat_responses ADD COLUMN status_reason TEXT;
    CREATE INDEX chat_responses_not_delivered ON chat_responses (created_at)
        WHERE status IN ('refused', 'failed', 'unconfirmed');
    "#,
    // 5: small values an adapter must keep across restarts, per platform:
    // YouTube's last page token (resume without duplicates or a gap) and
    // the day's quota usage (the budget is per Pacific day, not per run).
    r#"
    CREATE TABLE adapter_state (
        platform   TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        value      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL,  -- unix ms
        PRIMARY KEY (platform, key)
    ) WITHOUT ROWID;
    "#,
    // 6: the operator's choices as labels (issue 12, learn from the
    // operator): what was done with each draft for a message (approved,
    // edited, rejected, ignored) and the salience that message had, kept
    // apart from the messages so pruning chat does not forget what the
    // operator taught. And an index of held messages not yet decided (the
    // review lane, restored at start).
    r#"
    CREATE TABLE operator_labels (
        id         INTEGER PRIMARY KEY,
        platform   TEXT    NOT NULL,
        channel    TEXT    NOT NULL,
        message_id TEXT    NOT NULL,
        draft_id   INTEGER,
        action     TEXT    NOT NULL,  -- approved, edited, rejected, ignored
        at         INTEGER NOT NULL,  -- unix ms
        score      REAL    NOT NULL,
        content    REAL    NOT NULL,
        authority  REAL    NOT NULL,
        relevance  REAL    NOT NULL,
        temporal   REAL    NOT NULL,
        priority   TEXT    NOT NULL
    );
    CREATE INDEX operator_labels_channel_at ON operator_labels (platform, channel, at);
    -- The review lane's messages still waiting for the operator, found at
    -- start without a walk over all chat.
    CREATE INDEX chat_messages_held ON chat_messages (created_at)
        WHERE json_extract(metadata, '$.held') IS NOT NULL
          AND json_extract(metadata, '$.decided') IS NULL;
    "#,
];

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Opens the file read-write, sets the connection up and migrates it.
pub(super) fn open(path: &Path, cfg: &StoreConfig) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    // SQLite quietly falls back to read-only when the file is write-protected;
    // say so now rather than failing on the first batch.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(open_err)? {
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    conn.busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
        .map_err(open_err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| map_open_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some file systems (network shares) cannot do WAL; it still works, slower.
        tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
    }
    // NORMAL in WAL mode: a power cut may lose the last commits, never corrupt.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -{CACHE_KIB};
         PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT};
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT};"
    ))
    .map_err(open_err)?;
    if cfg.max_size_mb > 0 {
        let page: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(open_err)?;
        let pages = cfg.max_size_mb * 1024 * 1024 / page.max(512);
        conn.execute_batch(&format!("PRAGMA max_page_count = {pages};"))
            .map_err(open_err)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    // Foreign keys are off while migrating (the bundled SQLite starts with
    // them on): a table rebuild drops the old table, and with them on that
    // would first null every reference to it.
    conn.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(open_err)?;
    migrate(&mut conn, path)?;
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(open_err)?;
    Ok(conn)
}

/// A write refused because of the file system becomes `ReadOnly`.
fn map_open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) {
        StoreError::ReadOnly {
            path: path.to_path_buf(),
        }
    } else {
        StoreError::Open {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Applies the missing migrations in order, all in one transaction, so a
/// crash mid-way leaves the old schema intact.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let latest = latest_version();
    let found = user_version(conn).map_err(|e| map_open_error(path, e))?;
    if found > latest {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: latest,
        });
    }
    if found == latest {
        return Ok(());
    }
    let migrate_err = |version, source| StoreError::Migrate {
        path: path.to_path_buf(),
        version,
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_open_error(path, e))?;
    // Another process may have migrated while we waited for the lock.
    let found = user_version(&tx).map_err(|e| migrate_err(found + 1, e))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let version = i as i64 + 1;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .map_err(|e| migrate_err(version, e))?;
    }
    tx.commit().map_err(|e| migrate_err(latest, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_reach_the_latest_version_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let cfg = StoreConfig::default();
        let conn = open(&path, &cfg).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        drop(conn);
        // Reopening must not try to re-create the tables.
        let conn = open(&path, &cfg).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn a_version_1_database_migrates_with_its_authors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for (id, author, at) in [("a", "u1", 500), ("b", "u1", 100), ("c", "u2", 300)] {
            conn.execute(
                "INSERT INTO chat_messages (platform, channel, platform_msg_id, author_id, \
                 author_name, content, created_at) VALUES ('twitch', 'c', ?1, ?2, 'n', 't', ?3)",
                rusqlite::params![id, author, at],
            )
            .unwrap();
        }
        drop(conn);
        let conn = open(&path, &StoreConfig::default()).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        let mut stmt = conn
            .prepare("SELECT author_id, since_at FROM channel_authors ORDER BY author_id")
            .unwrap();
        let rows: Vec<(String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![("u1".into(), 100), ("u2".into(), 300)]);
        let old_index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'chat_messages_author'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_index, 0);
    }

    #[test]
    fn a_version_2_database_keeps_its_queue_and_replies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO chat_messages (id, platform, channel, platform_msg_id, author_id,
                 author_name, content, salience_score, priority, created_at, processed_at)
             VALUES (1, 'twitch', 'c', 'a', 'u', 'n', 'hi', 0.5, 'LOW', 1000, 1001),
                    (2, 'twitch', 'c', 'b', 'u', 'n', 'yo', 0.6, 'LOW', 2000, 2001),
                    (3, 'twitch', 'c', 'd', 'u', 'n', 'eh', 0.7, 'LOW', 3000, 3001);
             INSERT INTO queue_entries (message_id, priority, score, enqueued_at, expires_at)
             VALUES (1, 'HIGH', 0.9, 1001, 50000), (2, 'LOW', 0.6, 2001, NULL);
             INSERT INTO chat_responses (original_message_id, platform, channel,
                 response_text, response_type, status, created_at)
             VALUES (3, 'twitch', 'c', 'reply', 'llm', 'sent', 4000);",
        )
        .unwrap();
        drop(conn);

        let conn = open(&path, &StoreConfig::default()).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        let marks: Vec<(i64, Option<i64>, String, f64)> = conn
            .prepare(
                "SELECT id, queued_until, priority, salience_score FROM chat_messages ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            marks,
            vec![
                (1, Some(50_000), "HIGH".into(), 0.9),
                (2, Some(2001 + 180_000), "LOW".into(), 0.6),
                (3, None, "LOW".into(), 0.7),
            ],
            "queue entries became marks, with the queue's score and priority"
        );
        let original: Option<i64> = conn
            .query_row("SELECT original_message_id FROM chat_responses", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(original, Some(3), "the rebuild kept the reply's link");
        let gone: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('queue_entries', 'chat_messages_v3')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "foreign keys are back on after the migration");
        let problems: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(problems, 0);
        // The new key: the same id at the same time is a duplicate, at
        // another time it is not (the core's memory catches that case).
        let insert = "INSERT OR IGNORE INTO chat_messages (platform, channel, platform_msg_id, \
                      author_id, author_name, content, created_at) VALUES ('twitch', 'c', 'a', 'u', 'n', 'x', ?1)";
        assert_eq!(conn.execute(insert, [1000]).unwrap(), 0);
        assert_eq!(conn.execute(insert, [1001]).unwrap(), 1);
    }

    #[test]
    fn a_version_3_database_keeps_its_replies_without_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..3] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO chat_responses (id, platform, channel, response_text, response_type,
                 status, created_at, sent_at)
             VALUES (1, 'twitch', 'c', 'went out', 'llm', 'sent', 1000, 1500),
                    (2, 'twitch', 'c', 'broke', 'llm', 'failed', 2000, NULL);",
        )
        .unwrap();
        drop(conn);
        let conn = open(&path, &StoreConfig::default()).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        let rows: Vec<(i64, String, Option<i64>, Option<String>)> = conn
            .prepare("SELECT id, status, sent_at, status_reason FROM chat_responses ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, "sent".into(), Some(1500), None),
                (2, "failed".into(), None, None),
            ]
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 5)
            .unwrap();
        drop(conn);
        let err = open(&path, &StoreConfig::default()).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(err.to_string().contains("m.db"));
    }

    #[test]
    fn hot_queries_use_their_indexes_without_sorting() {
        use crate::store::writer as w;
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("p.db"), &StoreConfig::default()).unwrap();
        let plan = |sql: &str| -> String {
            // Literals stand in for the parameters; the plan is the same.
            let sql = format!("EXPLAIN QUERY PLAN {}", sql.replace('?', "1 +"));
            let mut stmt = conn.prepare(&sql).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            rows.join(" | ")
        };
        for (sql, index) in [
            (w::SQL_LAST_MESSAGES, "chat_messages_channel_time"),
            (w::SQL_EXPORT_CHANNEL, "chat_messages_channel_time"),
            (w::SQL_EXPORT_PLATFORM, "chat_messages_platform_time"),
            (
                w::SQL_COUNT_CUTOFF,
                "COVERING INDEX chat_messages_channel_time",
            ),
            (
                w::SQL_PRUNE_COUNT,
                "COVERING INDEX chat_messages_channel_time",
            ),
            (
                w::SQL_PRUNE_AGE,
                "COVERING INDEX chat_messages_platform_time",
            ),
            (w::SQL_DELETE_AUTHOR, "chat_messages_channel_time"),
            (
                w::SQL_WITHDRAW_AUTHOR,
                "COVERING INDEX chat_messages_channel_time",
            ),
            (
                w::SQL_FIRST_CHANNEL,
                "COVERING INDEX chat_messages_channel_time",
            ),
            (
                w::SQL_NEXT_CHANNEL,
                "COVERING INDEX chat_messages_channel_time",
            ),
            (w::SQL_FIND_AT, "chat_messages_key"),
            (w::SQL_DEQUEUE, "chat_messages_key"),
            (w::SQL_FIND_RECENT, "chat_messages_channel_time"),
            (w::SQL_LOAD_QUEUE, "chat_messages_queued"),
            (w::SQL_NOT_DELIVERED, "chat_responses_not_delivered"),
        ] {
            let p = plan(sql);
            assert!(p.contains(index), "{sql}\n=> {p}");
            assert!(!p.contains("TEMP B-TREE"), "{sql}\n=> {p}");
            // The first channel is a scan that stops at its first row; the
            // not-delivered list scans a partial index holding only its rows.
            if sql != w::SQL_FIRST_CHANNEL && sql != w::SQL_NOT_DELIVERED {
                assert!(!p.starts_with("SCAN"), "{sql}\n=> {p}");
            }
        }
    }
}
