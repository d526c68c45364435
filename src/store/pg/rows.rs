//! PostgreSQL rows to model types: the twin of `codec`'s readers, for the
//! same columns (`message_cols!`, `salience_cols!`, `response_cols!`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_postgres::Row;

use crate::model::{Author, ChatMessage, Paid, Platform, Role, Salience, SalienceBreakdown};
use crate::store::{ResponseStatus, StoredResponse};

/// A failed statement or a stored value this build cannot read.
#[derive(Debug)]
pub(super) enum PgErr {
    Pg(tokio_postgres::Error),
    Bad(String),
}

impl From<tokio_postgres::Error> for PgErr {
    fn from(e: tokio_postgres::Error) -> Self {
        PgErr::Pg(e)
    }
}

impl PgErr {
    /// The connection is gone or never came: the write is worth holding
    /// and retrying, unlike a statement the server refused.
    pub(super) fn is_connection(&self) -> bool {
        match self {
            PgErr::Pg(e) => e.as_db_error().is_none() || e.is_closed(),
            PgErr::Bad(_) => false,
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            PgErr::Pg(e) => describe(e),
            PgErr::Bad(s) => s.clone(),
        }
    }
}

/// tokio-postgres prints only its error kind ("db error"); the server's
/// words are in the source chain.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub(super) type R<T> = Result<T, PgErr>;

fn bad(idx: usize, what: impl std::fmt::Display) -> PgErr {
    PgErr::Bad(format!("column {idx}: {what}"))
}

pub(super) fn ms_to_time(ms: i64, idx: usize) -> R<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| bad(idx, format!("timestamp {ms} ms is out of range")))
}

pub(super) fn opt_time(row: &Row, idx: usize) -> R<Option<DateTime<Utc>>> {
    row.try_get::<_, Option<i64>>(idx)?
        .map(|ms| ms_to_time(ms, idx))
        .transpose()
}

fn platform_at(row: &Row, idx: usize) -> R<Platform> {
    let s: &str = row.try_get(idx)?;
    s.parse::<Platform>().map_err(|e| bad(idx, e))
}

fn opt_parse<T: std::str::FromStr<Err = String>>(row: &Row, idx: usize) -> R<Option<T>> {
    row.try_get::<_, Option<&str>>(idx)?
        .map(|s| s.parse::<T>().map_err(|e| bad(idx, e)))
        .transpose()
}

fn opt_json<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> R<Option<T>> {
    row.try_get::<_, Option<&str>>(idx)?
        .map(|s| serde_json::from_str(s).map_err(|e| bad(idx, e)))
        .transpose()
}

/// Reads `message_cols!` starting at column `base`.
pub(super) fn message(row: &Row, base: usize) -> R<ChatMessage> {
    let roles_text: &str = row.try_get(base + 5)?;
    let roles: Vec<Role> = if roles_text == "[]" {
        Vec::new()
    } else {
        serde_json::from_str(roles_text).map_err(|e| bad(base + 5, e))?
    };
    let paid: Option<Paid> = opt_json(row, base + 9)?;
    let months: Option<i64> = row.try_get(base + 6)?;
    Ok(ChatMessage {
        platform: platform_at(row, base)?,
        channel: row.try_get(base + 1)?,
        id: row.try_get(base + 2)?,
        author: Author {
            id: row.try_get(base + 3)?,
            name: row.try_get(base + 4)?,
            roles,
            months: months.and_then(|m| u32::try_from(m).ok()),
            first_message: row.try_get(base + 7)?,
            returning_chatter: false,
        },
        text: row.try_get(base + 8)?,
        paid,
        reply_to: row.try_get(base + 10)?,
        at: ms_to_time(row.try_get(base + 11)?, base + 11)?,
    })
}

#[derive(Deserialize)]
struct BreakdownIn {
    #[serde(flatten)]
    factors: SalienceBreakdown,
    #[serde(default)]
    reasons: Vec<String>,
}

/// Reads `salience_cols!` starting at column `base`; `None` if never scored.
pub(super) fn salience(row: &Row, base: usize) -> R<Option<Salience>> {
    let score: Option<f64> = row.try_get(base)?;
    let priority = opt_parse(row, base + 2)?;
    let (Some(score), Some(priority)) = (score, priority) else {
        return Ok(None);
    };
    let breakdown: Option<BreakdownIn> = opt_json(row, base + 1)?;
    let (breakdown, reasons) = breakdown.map_or_else(Default::default, |b| (b.factors, b.reasons));
    Ok(Some(Salience {
        score,
        breakdown,
        priority,
        reasons,
    }))
}

/// One reply from the columns of `response_cols!`.
pub(super) fn response(row: &Row) -> R<StoredResponse> {
    let generation: Option<i64> = row.try_get(7)?;
    Ok(StoredResponse {
        id: row.try_get(0)?,
        platform: platform_at(row, 1)?,
        channel: row.try_get(2)?,
        original_id: row.try_get(3)?,
        response_text: row.try_get(4)?,
        response_type: row.try_get(5)?,
        attention_state: opt_parse(row, 6)?,
        generation_time_ms: generation.and_then(|g| u64::try_from(g).ok()),
        agent_context: opt_json(row, 8)?,
        status: opt_parse(row, 9)?.unwrap_or(ResponseStatus::Pending),
        created_at: ms_to_time(row.try_get(10)?, 10)?,
        sent_at: opt_time(row, 11)?,
        status_reason: row.try_get(12)?,
    })
}
