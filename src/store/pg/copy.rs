//! `clank db migrate --to postgres://...`: copies a SQLite store into an
//! empty PostgreSQL database in one transaction, every table with its row
//! ids (replies keep their links), tokens as the sealed bytes they are.

use std::path::Path;
use std::pin::pin;

use rusqlite::types::Value;
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{describe, display_config, parse_url, schema};
use crate::store::{StoreConfig, StoreError};

/// How a column travels: its PostgreSQL type and whether SQLite's 0/1
/// becomes a boolean.
#[derive(Clone, Copy)]
enum Col {
    Int,
    Real,
    Text,
    Bool,
    Blob,
}

impl Col {
    fn pg_type(self) -> Type {
        match self {
            Col::Int => Type::INT8,
            Col::Real => Type::FLOAT8,
            Col::Text => Type::TEXT,
            Col::Bool => Type::BOOL,
            Col::Blob => Type::BYTEA,
        }
    }
}

use Col::*;

/// Every table, parents first (replies point at messages), with its
/// columns; `key` orders the copy so it can go in chunks.
/// A table's name, its key order, and its columns.
type Table = (&'static str, &'static str, &'static [(&'static str, Col)]);

const TABLES: &[Table] = &[
    (
        "chat_messages",
        "id",
        &[
            ("id", Int),
            ("platform", Text),
            ("channel", Text),
            ("platform_msg_id", Text),
            ("author_id", Text),
            ("author_name", Text),
            ("author_roles", Text),
            ("author_months", Int),
            ("first_message", Bool),
            ("content", Text),
            ("paid", Text),
            ("reply_to", Text),
            ("salience_score", Real),
            ("salience_breakdown", Text),
            ("priority", Text),
            ("attention_state", Text),
            ("metadata", Text),
            ("created_at", Int),
            ("processed_at", Int),
            ("response_id", Int),
            ("queued_until", Int),
        ],
    ),
    (
        "chat_responses",
        "id",
        &[
            ("id", Int),
            ("original_message_id", Int),
            ("platform", Text),
            ("channel", Text),
            ("response_text", Text),
            ("response_type", Text),
            ("attention_state", Text),
            ("generation_time_ms", Int),
            ("agent_context", Text),
            ("status", Text),
            ("created_at", Int),
            ("sent_at", Int),
            ("status_reason", Text),
        ],
    ),
    (
        "platform_metrics",
        "id",
        &[
            ("id", Int),
            ("platform", Text),
            ("channel", Text),
            ("at", Int),
            ("name", Text),
            ("value", Real),
        ],
    ),
    (
        "channel_config",
        "platform, channel",
        &[
            ("platform", Text),
            ("channel", Text),
            ("message_threshold", Int),
            ("time_delay", Int),
            ("context_limit", Int),
            ("model", Text),
            ("updated_at", Int),
        ],
    ),
    (
        "auth_tokens",
        "platform, account",
        &[
            ("platform", Text),
            ("account", Text),
            ("access_token_enc", Blob),
            ("refresh_token_enc", Blob),
            ("nonce", Blob),
            ("scopes", Text),
            ("expires_at", Int),
            ("updated_at", Int),
        ],
    ),
    (
        "channel_authors",
        "platform, channel, author_id",
        &[
            ("platform", Text),
            ("channel", Text),
            ("author_id", Text),
            ("since_at", Int),
        ],
    ),
    (
        "operator_labels",
        "id",
        &[
            ("id", Int),
            ("platform", Text),
            ("channel", Text),
            ("message_id", Text),
            ("draft_id", Int),
            ("action", Text),
            ("at", Int),
            ("score", Real),
            ("content", Real),
            ("authority", Real),
            ("relevance", Real),
            ("temporal", Real),
            ("priority", Text),
        ],
    ),
    (
        "adapter_state",
        "platform, key",
        &[
            ("platform", Text),
            ("key", Text),
            ("value", Text),
            ("updated_at", Int),
        ],
    ),
];

/// Rows copied per table, in [`TABLES`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    pub tables: Vec<(&'static str, u64)>,
}

/// One SQLite value as the PostgreSQL column wants it. A value of the
/// wrong kind (SQLite does not enforce types) is an error naming it.
fn convert(
    table: &str,
    column: &str,
    col: Col,
    v: Value,
) -> Result<Box<dyn ToSql + Sync + Send>, String> {
    let bad = |v: &Value| format!("{table}.{column}: cannot copy {v:?} as {:?}", col.pg_type());
    Ok(match (col, v) {
        (Int, Value::Null) => Box::new(None::<i64>),
        (Int, Value::Integer(i)) => Box::new(Some(i)),
        (Real, Value::Null) => Box::new(None::<f64>),
        (Real, Value::Real(f)) => Box::new(Some(f)),
        (Real, Value::Integer(i)) => Box::new(Some(i as f64)),
        (Text, Value::Null) => Box::new(None::<String>),
        (Text, Value::Text(s)) => Box::new(Some(s)),
        (Bool, Value::Null) => Box::new(None::<bool>),
        (Bool, Value::Integer(i)) => Box::new(Some(i != 0)),
        (Blob, Value::Null) => Box::new(None::<Vec<u8>>),
        (Blob, Value::Blob(b)) => Box::new(Some(b)),
        (_, v) => return Err(bad(&v)),
    })
}

/// Copies the SQLite store at `sqlite` (migrated to the latest schema
/// first) into the empty PostgreSQL database at `url`.
pub fn migrate_sqlite(
    sqlite: &Path,
    url: &str,
    cfg: &StoreConfig,
) -> Result<MigrateReport, StoreError> {
    if !sqlite.exists() {
        return Err(StoreError::Postgres {
            path: sqlite.to_path_buf(),
            op: "migrate",
            message: "no such SQLite database file (name it with --db)".into(),
        });
    }
    let file_cfg = StoreConfig {
        url: None,
        ..cfg.clone()
    };
    let conn = crate::store::schema::open(sqlite, &file_cfg)?;
    let pg_config = parse_url(url)?;
    let target = display_config(&pg_config);
    let err = |op: &'static str, message: String| StoreError::Postgres {
        path: target.clone().into(),
        op,
        message,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err("migrate", e.to_string()))?;
    rt.block_on(async {
        let (mut client, connection) = pg_config
            .connect(NoTls)
            .await
            .map_err(|e| err("connect", describe(&e)))?;
        let task = tokio::spawn(connection);
        schema::migrate(&mut client).await.map_err(|e| match e {
            schema::MigrateError::TooNew { found } => StoreError::TooNew {
                path: target.clone().into(),
                found,
                supported: schema::latest_version(),
            },
            schema::MigrateError::Failed { version, e } => err(
                "migrate",
                format!("schema version {version}: {}", describe(&e)),
            ),
        })?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| err("migrate", describe(&e)))?;
        let existing: i64 = tx
            .query_one(
                "SELECT (SELECT count(*) FROM chat_messages) + (SELECT count(*) FROM chat_responses)",
                &[],
            )
            .await
            .map_err(|e| err("migrate", describe(&e)))?
            .get(0);
        if existing > 0 {
            return Err(err(
                "migrate",
                format!(
                    "the target already holds {existing} messages and replies; migrate into an empty database so nothing is mixed or overwritten"
                ),
            ));
        }
        let mut report = MigrateReport::default();
        let sqlite_err = |op: &'static str, e: rusqlite::Error| StoreError::Sqlite {
            path: sqlite.to_path_buf(),
            op,
            source: e,
        };
        for (table, key, cols) in TABLES {
            let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
            let types: Vec<Type> = cols.iter().map(|(_, c)| c.pg_type()).collect();
            let sink = tx
                .copy_in(&format!("COPY {table} ({}) FROM STDIN BINARY", names.join(", ")))
                .await
                .map_err(|e| err("migrate", format!("{table}: {}", describe(&e))))?;
            let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
            // All rows in key order, streamed (rusqlite reads row by row).
            let sql = format!("SELECT {} FROM {table} ORDER BY {key}", names.join(", "));
            let mut stmt = conn.prepare(&sql).map_err(|e| sqlite_err("migrate read", e))?;
            let mut rows = stmt.query([]).map_err(|e| sqlite_err("migrate read", e))?;
            while let Some(row) = rows.next().map_err(|e| sqlite_err("migrate read", e))? {
                let mut values = Vec::with_capacity(cols.len());
                for (i, (name, col)) in cols.iter().enumerate() {
                    let v: Value = row.get(i).map_err(|e| sqlite_err("migrate read", e))?;
                    values.push(convert(table, name, *col, v).map_err(|m| err("migrate", m))?);
                }
                let refs: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                writer
                    .as_mut()
                    .write(&refs)
                    .await
                    .map_err(|e| err("migrate", format!("{table}: {}", describe(&e))))?;
            }
            let copied = writer
                .as_mut()
                .finish()
                .await
                .map_err(|e| err("migrate", format!("{table}: {}", describe(&e))))?;
            report.tables.push((table, copied));
        }
        // New rows continue after the copied ids.
        for table in [
            "chat_messages",
            "chat_responses",
            "platform_metrics",
            "operator_labels",
        ] {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ),
                &[],
            )
            .await
            .map_err(|e| err("migrate", format!("{table}: {}", describe(&e))))?;
        }
        tx.commit()
            .await
            .map_err(|e| err("migrate", describe(&e)))?;
        drop(client);
        let _ = task.await;
        Ok(report)
    })
}
