//! `clank eval --from-db`: how well salience agreed with the operator's own
//! choices (the labels the console stores for every approved, edited,
//! rejected and ignored draft), per channel and per stretch of time, and the
//! weights fitted to those choices, offered as a suggestion.

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::chatlog::format_time;
use crate::engine::salience::SalienceWeights;
use crate::engine::tuning::{Choice, Suggestion, agreement_of, suggest};
use crate::model::Platform;
use crate::store::{OperatorLabel, Store, StoreError};

/// One channel over one stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub platform: Platform,
    pub channel: String,
    /// `None` for the channel's whole history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub labels: usize,
    /// Approved or edited.
    pub chosen: usize,
    /// Rejected or ignored.
    pub declined: usize,
    /// Share of (chosen, declined) pairs where the chosen message had the
    /// higher score when it came; `None` without both kinds.
    pub agreement: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorReport {
    /// Per channel, its stretches oldest first, then its whole history.
    pub channels: Vec<Agreement>,
    pub labels: usize,
    /// Weights fitted to every choice, if there are enough and they agree
    /// better than `weights`.
    pub suggestion: Option<Suggestion>,
}

fn agreement(labels: &[&OperatorLabel]) -> (usize, usize, Option<f64>) {
    let chosen = labels.iter().filter(|l| l.action.chosen()).count();
    let agreement = agreement_of(labels.iter().map(|l| (l.salience.score, l.action.chosen())))
        .map(|a| (a * 1000.0).round() / 1000.0);
    (chosen, labels.len() - chosen, agreement)
}

/// Builds the report from `labels` (oldest first) in stretches of `bucket`.
pub fn report(
    labels: &[OperatorLabel],
    weights: &SalienceWeights,
    bucket: TimeDelta,
) -> OperatorReport {
    let mut by_channel: BTreeMap<(Platform, &str), Vec<&OperatorLabel>> = BTreeMap::new();
    for l in labels {
        by_channel
            .entry((l.platform, l.channel.as_str()))
            .or_default()
            .push(l);
    }
    let mut channels = Vec::new();
    let bucket_ms = bucket.num_milliseconds().max(1);
    for ((platform, channel), ls) in by_channel {
        let mut stretches: BTreeMap<i64, Vec<&OperatorLabel>> = BTreeMap::new();
        for l in &ls {
            stretches
                .entry(l.at.timestamp_millis().div_euclid(bucket_ms))
                .or_default()
                .push(l);
        }
        let at = |n: i64| DateTime::<Utc>::from_timestamp_millis(n * bucket_ms).map(format_time);
        for (n, s) in stretches {
            let (chosen, declined, agreement) = agreement(&s);
            channels.push(Agreement {
                platform,
                channel: channel.to_string(),
                from: at(n),
                to: at(n + 1),
                labels: s.len(),
                chosen,
                declined,
                agreement,
            });
        }
        let (chosen, declined, agreement) = agreement(&ls);
        channels.push(Agreement {
            platform,
            channel: channel.to_string(),
            from: None,
            to: None,
            labels: ls.len(),
            chosen,
            declined,
            agreement,
        });
    }
    let choices: Vec<Choice> = labels
        .iter()
        .map(|l| Choice {
            breakdown: l.salience.breakdown,
            chosen: l.action.chosen(),
        })
        .collect();
    OperatorReport {
        channels,
        labels: labels.len(),
        suggestion: suggest(&choices, weights),
    }
}

/// Why `clank eval --from-db` failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorEvalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing output failed: {0}")]
    Output(#[from] io::Error),
}

/// Reads the store's labels and prints one JSON line per channel stretch,
/// one per channel's whole history, then `{"labels","suggestion"}`.
pub fn run(
    store: &Store,
    weights: &SalienceWeights,
    bucket: TimeDelta,
    out: &mut impl Write,
) -> Result<OperatorReport, OperatorEvalError> {
    let labels = store.labels()?;
    let r = report(&labels, weights, bucket);
    for a in &r.channels {
        serde_json::to_writer(&mut *out, a).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(
        &mut *out,
        &serde_json::json!({
            "labels": r.labels,
            "weights": weights,
            "suggestion": r.suggestion,
        }),
    )
    .map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(r)
}
