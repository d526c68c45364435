//! Row encoding: model types to SQLite columns and back (times as unix ms,
//! roles, money and salience factors as small JSON texts).

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type, ValueRef};
use serde::{Deserialize, Serialize};

use crate::model::{
    AttentionState, Author, ChatMessage, Paid, Platform, Priority, Role, Salience,
    SalienceBreakdown,
};

/// The message columns every message query selects first, in this order;
/// [`message_from_row`] reads them. A macro so that `concat!` can build
/// constant SQL (cached statements are keyed by their text).
macro_rules! message_cols {
    () => {
        "m.platform, m.channel, m.platform_msg_id, m.author_id, m.author_name, \
         m.author_roles, m.author_months, m.first_message, m.content, m.paid, \
         m.reply_to, m.created_at"
    };
}

/// How many columns `message_cols!` selects.
pub(super) const MESSAGE_NCOLS: usize = 12;

/// The salience columns, selected right after `message_cols!` when wanted;
/// [`salience_from_row`] reads them.
macro_rules! salience_cols {
    () => {
        "m.salience_score, m.salience_breakdown, m.priority"
    };
}

/// Reusable buffers, so encoding a row allocates nothing in the steady state.
#[derive(Default)]
pub(super) struct Scratch {
    pub roles: String,
    pub paid: Vec<u8>,
    pub breakdown: Vec<u8>,
    pub metadata: Vec<u8>,
}

/// `["subscriber","vip"]`, written by hand: role names need no escaping.
pub(super) fn roles_json(roles: &[Role], out: &mut String) {
    out.clear();
    out.push('[');
    for (i, r) in roles.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(r.as_str());
        out.push('"');
    }
    out.push(']');
}

/// Serializes `value` into `buf` and returns it as text.
pub(super) fn json_into<'a, T: Serialize + ?Sized>(
    value: &T,
    buf: &'a mut Vec<u8>,
) -> rusqlite::Result<&'a str> {
    buf.clear();
    serde_json::to_writer(&mut *buf, value)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    std::str::from_utf8(buf).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// The salience factors and reasons, as stored in `salience_breakdown`.
#[derive(Serialize)]
pub(super) struct BreakdownOut<'a> {
    #[serde(flatten)]
    factors: SalienceBreakdown,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reasons: &'a [String],
}

impl<'a> BreakdownOut<'a> {
    /// Factors kept to 4 decimals: the console shows 2, and full f64 digits
    /// ("0.15000000000000002") made the JSON, and every row, ~50 bytes longer.
    pub fn new(factors: &SalienceBreakdown, reasons: &'a [String]) -> Self {
        let r = |x: f64| (x * 1e4).round() / 1e4;
        BreakdownOut {
            factors: SalienceBreakdown {
                content: r(factors.content),
                authority: r(factors.authority),
                relevance: r(factors.relevance),
                temporal: r(factors.temporal),
            },
            reasons,
        }
    }
}

#[derive(Deserialize)]
struct BreakdownIn {
    #[serde(flatten)]
    factors: SalienceBreakdown,
    #[serde(default)]
    reasons: Vec<String>,
}

pub(super) fn conversion_error(
    idx: usize,
    ty: Type,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct BadValue(pub String);

pub(super) fn ms_to_time(ms: i64, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        conversion_error(
            idx,
            Type::Integer,
            BadValue(format!("timestamp {ms} ms is out of range")),
        )
    })
}

pub(super) fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<i64>>(idx)?
        .map(|ms| ms_to_time(ms, idx))
        .transpose()
}

fn text<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| from_sql_error(idx, e))
}

fn opt_text<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<Option<&'r str>> {
    match row.get_ref(idx)? {
        ValueRef::Null => Ok(None),
        v => v.as_str().map(Some).map_err(|e| from_sql_error(idx, e)),
    }
}

fn from_sql_error(idx: usize, e: FromSqlError) -> rusqlite::Error {
    conversion_error(idx, Type::Text, e)
}

pub(super) fn platform_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Platform> {
    // The store writes `as_str()`; match it exactly before the general
    // (case-insensitive, allocating) parse, as this runs for every row read.
    match text(row, idx)? {
        "twitch" => Ok(Platform::Twitch),
        "youtube" => Ok(Platform::Youtube),
        "discord" => Ok(Platform::Discord),
        other => other
            .parse()
            .map_err(|e| conversion_error(idx, Type::Text, e)),
    }
}

pub(super) fn opt_parse<T: std::str::FromStr<Err = String>>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    opt_text(row, idx)?
        .map(|s| {
            s.parse::<T>()
                .map_err(|e| conversion_error(idx, Type::Text, BadValue(e)))
        })
        .transpose()
}

pub(super) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    opt_text(row, idx)?
        .map(|s| serde_json::from_str(s).map_err(|e| conversion_error(idx, Type::Text, e)))
        .transpose()
}

/// Reads `message_cols!` starting at column `base`.
pub(super) fn message_from_row(row: &Row<'_>, base: usize) -> rusqlite::Result<ChatMessage> {
    let roles_text = text(row, base + 5)?;
    let roles: Vec<Role> = if roles_text == "[]" {
        Vec::new()
    } else {
        serde_json::from_str(roles_text).map_err(|e| conversion_error(base + 5, Type::Text, e))?
    };
    let paid: Option<Paid> = opt_json(row, base + 9)?;
    Ok(ChatMessage {
        platform: platform_at(row, base)?,
        channel: row.get(base + 1)?,
        id: row.get(base + 2)?,
        author: Author {
            id: row.get(base + 3)?,
            name: row.get(base + 4)?,
            roles,
            months: row.get(base + 6)?,
            first_message: row.get(base + 7)?,
            // Not a column: it describes the moment, not what was said.
            returning_chatter: false,
        },
        text: row.get(base + 8)?,
        paid,
        reply_to: row.get(base + 10)?,
        at: ms_to_time(row.get(base + 11)?, base + 11)?,
    })
}

/// Reads `salience_cols!` starting at column `base`; `None` if never scored.
pub(super) fn salience_from_row(row: &Row<'_>, base: usize) -> rusqlite::Result<Option<Salience>> {
    let score: Option<f64> = row.get(base)?;
    let priority: Option<Priority> = opt_parse(row, base + 2)?;
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

pub(super) fn opt_attention(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<AttentionState>> {
    opt_parse(row, idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_json_parses_back() {
        let mut s = String::new();
        roles_json(&[Role::Subscriber, Role::Vip, Role::Other], &mut s);
        assert_eq!(s, r#"["subscriber","vip","other"]"#);
        let back: Vec<Role> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, vec![Role::Subscriber, Role::Vip, Role::Other]);
        roles_json(&[], &mut s);
        assert_eq!(s, "[]");
    }

    #[test]
    fn breakdown_keeps_reasons() {
        let f = SalienceBreakdown {
            content: 0.5,
            authority: 0.25,
            relevance: 0.15000000000000002,
            temporal: 0.748787466,
        };
        let reasons = vec!["question".to_string()];
        let mut buf = Vec::new();
        let s = json_into(&BreakdownOut::new(&f, &reasons), &mut buf)
            .unwrap()
            .to_owned();
        assert_eq!(
            s,
            r#"{"content":0.5,"authority":0.25,"relevance":0.15,"temporal":0.7488,"reasons":["question"]}"#
        );
        let back: BreakdownIn = serde_json::from_str(&s).unwrap();
        assert_eq!(back.factors.temporal, 0.7488);
        assert_eq!(back.reasons, reasons);
    }
}
