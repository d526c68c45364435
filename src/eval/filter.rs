//! `clank filter FILE`: every message of a chat log that the input filter
//! blocks or holds, one JSON line each with the rule that hit, then a
//! summary. The profanity model's false-positive rate is read from it: the
//! model's hits are listed with their text, for a person to judge.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::adapters::Inbound;
use crate::adapters::chatlog::open_source;
use crate::config::Config;
use crate::core::input_lane;
use crate::engine::filter::{ContentFilter, Lane, Rule, Verdict};
use crate::engine::salience::SalienceEngine;
use crate::model::ChatEvent;
use crate::replay::ReplayError;

/// What the filter did over a whole log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilterSummary {
    pub messages: u64,
    pub passed: u64,
    /// Hits of the blocked-word list (or every message, when it is missing).
    pub blocked_word: u64,
    pub slur: u64,
    /// Hits of the profanity model that are not slurs: the ones it may get
    /// wrong, held when paid or said to the streamer.
    pub model_hits: u64,
    pub held: u64,
    /// Everything stopped for good (list, slur, unheld model hits).
    pub blocked: u64,
    /// Paid messages stopped for good: must stay 0.
    pub paid_blocked: u64,
}

/// Runs the input filter (and the review lane) over `file` in log order.
pub fn filter_report(
    config: &Config,
    file: &Path,
    out: &mut impl Write,
) -> Result<FilterSummary, ReplayError> {
    let filter = ContentFilter::load(&config.filter);
    let mut engine = SalienceEngine::load(config.salience.clone())
        .map_err(|e| ReplayError::Lexicon(e.to_string()))?;
    let mut sum = FilterSummary::default();
    for item in open_source(file)? {
        let event = match item? {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(line = e.line(), "{e}");
                continue;
            }
        };
        let Inbound::Chat(ChatEvent::Message(msg)) = event else {
            continue;
        };
        sum.messages += 1;
        let verdict = filter.check(&msg.text);
        let rule = match &verdict {
            Verdict::Pass => None,
            Verdict::Blocked { rule, .. } => Some(*rule),
        };
        // Scored like the core does, so "said to the streamer" sees the
        // replies and context the core would.
        let lane = input_lane(verdict, &mut engine, &msg);
        let _ = engine.score(&msg, msg.at);
        let Some(rule) = rule else {
            sum.passed += 1;
            continue;
        };
        match rule {
            Rule::Word | Rule::Unavailable => sum.blocked_word += 1,
            Rule::Slur => sum.slur += 1,
            Rule::Profanity => sum.model_hits += 1,
        }
        let (lane_name, reason) = match &lane {
            Lane::Hold { reason } => {
                sum.held += 1;
                ("held", reason.as_str())
            }
            Lane::Block { reason } => {
                sum.blocked += 1;
                if msg.paid.is_some() {
                    sum.paid_blocked += 1;
                }
                ("blocked", reason.as_str())
            }
            Lane::Pass => ("passed", ""),
        };
        serde_json::to_writer(
            &mut *out,
            &json!({
                "id": msg.id,
                "platform": msg.platform,
                "rule": rule,
                "lane": lane_name,
                "reason": reason,
                "paid": msg.paid.is_some(),
                "text": msg.text,
            }),
        )
        .map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(&mut *out, &json!({ "summary": sum })).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(sum)
}
