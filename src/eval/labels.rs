//! `clank eval FILE --labels L`: scores a chat log as `clank score` does
//! (filter, review lane, salience in log order, each message's `at` as the
//! clock) and measures the ranking against a streamer's own labels: pairwise
//! ordering, top-k recall per tier, low-tier suppression and paid lost.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::adapters::Inbound;
use crate::adapters::chatlog::open_source;
use crate::config::Config;
use crate::core::input_lane;
use crate::engine::filter::{ContentFilter, Lane};
use crate::engine::salience::SalienceEngine;
use crate::model::{ChatEvent, Priority};
use crate::replay::ReplayError;

/// How a streamer would treat a message, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    NeverSurface,
    Normal,
    AnswerNow,
}

impl Tier {
    const ALLOWED: &'static str = "answer_now, normal, never_surface";

    fn parse(s: &str) -> Option<Tier> {
        match s {
            "answer_now" => Some(Tier::AnswerNow),
            "normal" => Some(Tier::Normal),
            "never_surface" => Some(Tier::NeverSurface),
            _ => None,
        }
    }
}

/// Why the labels could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("cannot read labels {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} line {line}: {what}")]
    Line {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{path}: no labelled message found in the chat log")]
    NoneMatched { path: PathBuf },
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Reads `id<TAB or spaces>tier` lines; `#` starts a comment.
pub fn read_labels(path: &Path) -> Result<HashMap<String, Tier>, LabelsError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabelsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |what: String| LabelsError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            what,
        };
        let mut parts = line.split_whitespace();
        let (Some(id), Some(tier), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!("{line:?} is not `id tier`")));
        };
        let tier = Tier::parse(tier).ok_or_else(|| {
            bad(format!(
                "unknown tier {tier:?} (allowed: {})",
                Tier::ALLOWED
            ))
        })?;
        if out.insert(id.to_string(), tier).is_some() {
            return Err(bad(format!("id {id:?} is labelled twice")));
        }
    }
    Ok(out)
}

/// One labelled message as the engine judged it.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub id: String,
    pub tier: Tier,
    /// `None` when the filter blocked it (it ranks below everything).
    pub score: Option<f64>,
    pub priority: Option<Priority>,
    pub held: bool,
    pub paid: bool,
    pub text: String,
    pub reasons: Vec<String>,
}

/// The measures, as printed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalReport {
    pub labelled: usize,
    /// Labelled per tier: answer_now, normal, never_surface.
    pub per_tier: [usize; 3],
    /// Messages in the log without a label (left out of every measure).
    pub unlabelled: usize,
    /// Of all pairs from different tiers, the share ranked the right way
    /// round (a tie counts half).
    pub pairwise: f64,
    /// `k` of the top-k measures below.
    pub k: usize,
    /// Share of the k highest scores that are answer_now.
    pub answer_now_in_top_k: f64,
    /// Per tier, the share of its messages ranked within the top n, n being
    /// the count of messages in that tier and the tiers above it.
    pub recall_answer_now: f64,
    pub recall_normal: f64,
    /// Share of never_surface messages kept LOW or blocked.
    pub never_surface_kept_low: f64,
    /// Paid messages the filter blocked (not held): must be 0.
    pub paid_lost: usize,
    pub held: usize,
}

/// Scores `file` and judges it against `labels`; `k` for the top-k measures.
pub fn evaluate(
    config: &Config,
    file: &Path,
    labels: &HashMap<String, Tier>,
) -> Result<(Vec<Judged>, usize), ReplayError> {
    let filter = ContentFilter::load(&config.filter);
    let mut engine = SalienceEngine::load(config.salience.clone())
        .map_err(|e| ReplayError::Lexicon(e.to_string()))?;
    let mut judged = Vec::new();
    let mut unlabelled = 0;
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
        let lane = input_lane(filter.check(&msg.text), &mut engine, &msg);
        let tier = labels.get(&msg.id).copied();
        if tier.is_none() {
            unlabelled += 1;
        }
        let (score, held) = match lane {
            Lane::Block { .. } => (None, false),
            // Held messages are scored as they would rank once released.
            Lane::Hold { .. } => (Some(engine.score(&msg, msg.at)), true),
            Lane::Pass => (Some(engine.score(&msg, msg.at)), false),
        };
        if let Some(tier) = tier {
            judged.push(Judged {
                id: msg.id,
                tier,
                score: score.as_ref().map(|s| s.score),
                priority: score.as_ref().map(|s| s.priority),
                held,
                paid: msg.paid.is_some(),
                text: msg.text,
                reasons: score.map(|s| s.reasons).unwrap_or_default(),
            });
        }
    }
    Ok((judged, unlabelled))
}

/// The measures over judged messages.
pub fn measure(judged: &[Judged], unlabelled: usize, k: usize) -> EvalReport {
    let key = |j: &Judged| j.score.unwrap_or(-1.0);
    let mut per_tier = [0usize; 3];
    for j in judged {
        per_tier[tier_slot(j.tier)] += 1;
    }
    let (mut right, mut pairs) = (0.0, 0u64);
    for (i, a) in judged.iter().enumerate() {
        for b in &judged[i + 1..] {
            if a.tier == b.tier {
                continue;
            }
            pairs += 1;
            let (hi, lo) = if a.tier > b.tier { (a, b) } else { (b, a) };
            let (h, l) = (key(hi), key(lo));
            if h > l {
                right += 1.0;
            } else if h == l {
                right += 0.5;
            }
        }
    }
    // Best first; equal scores keep log order (a stable sort).
    let mut ranked: Vec<&Judged> = judged.iter().collect();
    ranked.sort_by(|a, b| key(b).total_cmp(&key(a)));
    let k = k.min(ranked.len());
    let top_answer = ranked[..k]
        .iter()
        .filter(|j| j.tier == Tier::AnswerNow)
        .count();
    let recall = |tier: Tier| {
        let n_tier = per_tier[tier_slot(tier)];
        if n_tier == 0 {
            return 1.0;
        }
        let n: usize = judged.iter().filter(|j| j.tier >= tier).count();
        let hits = ranked[..n].iter().filter(|j| j.tier == tier).count();
        hits as f64 / n_tier as f64
    };
    let never: Vec<&Judged> = judged
        .iter()
        .filter(|j| j.tier == Tier::NeverSurface)
        .collect();
    let kept_low = never
        .iter()
        .filter(|j| j.priority.is_none_or(|p| p == Priority::Low))
        .count();
    EvalReport {
        labelled: judged.len(),
        per_tier,
        unlabelled,
        pairwise: ratio(right, pairs as f64),
        k,
        answer_now_in_top_k: ratio(top_answer as f64, k as f64),
        recall_answer_now: round3(recall(Tier::AnswerNow)),
        recall_normal: round3(recall(Tier::Normal)),
        never_surface_kept_low: ratio(kept_low as f64, never.len() as f64),
        paid_lost: judged
            .iter()
            .filter(|j| j.paid && j.score.is_none())
            .count(),
        held: judged.iter().filter(|j| j.held).count(),
    }
}

fn tier_slot(t: Tier) -> usize {
    match t {
        Tier::AnswerNow => 0,
        Tier::Normal => 1,
        Tier::NeverSurface => 2,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 1.0 } else { round3(a / b) }
}

/// `clank eval`: the report as one JSON line; with `details`, first one line
/// per labelled message, best score first, so the misses can be read.
pub fn run(
    config: &Config,
    file: &Path,
    labels_path: &Path,
    k: usize,
    details: bool,
    out: &mut impl Write,
) -> Result<EvalReport, LabelsError> {
    let labels = read_labels(labels_path)?;
    let (judged, unlabelled) = evaluate(config, file, &labels)?;
    if judged.is_empty() {
        return Err(LabelsError::NoneMatched {
            path: labels_path.to_path_buf(),
        });
    }
    let report = measure(&judged, unlabelled, k);
    let io_err = |e: io::Error| LabelsError::Replay(ReplayError::Output(e));
    if details {
        let mut ranked: Vec<&Judged> = judged.iter().collect();
        ranked.sort_by(|a, b| b.score.unwrap_or(-1.0).total_cmp(&a.score.unwrap_or(-1.0)));
        for (rank, j) in ranked.iter().enumerate() {
            let line = serde_json::json!({
                "rank": rank + 1,
                "id": j.id,
                "tier": j.tier,
                "score": j.score.map(round3),
                "priority": j.priority,
                "held": j.held,
                "text": j.text,
                "reasons": j.reasons,
            });
            serde_json::to_writer(&mut *out, &line).map_err(|e| io_err(io::Error::from(e)))?;
            out.write_all(b"\n").map_err(io_err)?;
        }
    }
    serde_json::to_writer(&mut *out, &report).map_err(|e| io_err(io::Error::from(e)))?;
    out.write_all(b"\n").map_err(io_err)?;
    out.flush().map_err(io_err)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(id: &str, tier: Tier, score: Option<f64>) -> Judged {
        Judged {
            id: id.into(),
            tier,
            score,
            priority: score.map(|s| {
                if s < 0.3 {
                    Priority::Low
                } else {
                    Priority::High
                }
            }),
            held: false,
            paid: id.starts_with('p'),
            text: String::new(),
            reasons: Vec::new(),
        }
    }

    #[test]
    fn measures_count_pairs_top_k_suppression_and_paid_lost() {
        let set = [
            j("a1", Tier::AnswerNow, Some(0.9)),
            j("a2", Tier::AnswerNow, Some(0.4)),
            j("n1", Tier::Normal, Some(0.5)),
            j("x1", Tier::NeverSurface, Some(0.1)),
            j("p1", Tier::NeverSurface, None),
        ];
        let r = measure(&set, 3, 2);
        // 8 cross-tier pairs; only (a2 0.4 < n1 0.5) is the wrong way round.
        assert_eq!(r.pairwise, round3(7.0 / 8.0));
        assert_eq!(r.answer_now_in_top_k, 0.5);
        assert_eq!(r.recall_answer_now, 0.5);
        assert_eq!(r.recall_normal, 1.0);
        assert_eq!(r.never_surface_kept_low, 1.0);
        assert_eq!(r.paid_lost, 1);
        assert_eq!(r.unlabelled, 3);
        assert_eq!(r.per_tier, [2, 1, 2]);
    }

    #[test]
    fn bad_label_lines_name_the_line_and_the_allowed_tiers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.tsv");
        std::fs::write(&p, "# c\nm1\tanswer_now\nm2 urgent\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("\"urgent\""), "{e}");
        assert!(e.contains("answer_now, normal, never_surface"), "{e}");
        std::fs::write(&p, "m1 normal\nm1 never_surface\n").unwrap();
        let e = read_labels(&p).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
