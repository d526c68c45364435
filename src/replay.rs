//! The scripting commands on top of the core: `clank score` (salience per
//! message), `clank replay` (the whole core on a virtual clock) and
//! `clank export` (stored chat back to a chat log). Output is JSON Lines.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use serde_json::json;

use crate::adapters::Inbound;
pub use crate::adapters::chatlog::{SourceItem, open_source};
use crate::chatlog::{self, ChatLogError, LineError, format_time, round3};
use crate::config::Config;
use crate::core::{Core, CoreError, CoreEvent, input_lane};
use crate::engine::filter::{ContentFilter, Lane};
use crate::engine::salience::SalienceEngine;
use crate::model::{AttentionState, ChatEvent, Platform, SalienceBreakdown};
use crate::store::{Store, StoreError};

/// Why a command could not run at all (line errors are reported, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    ChatLog(#[from] ChatLogError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing output failed: {0}")]
    Output(#[from] io::Error),
    #[error("lexicon: {0}")]
    Lexicon(String),
    #[error("the chat log {0} holds no usable event")]
    Empty(PathBuf),
}

/// Reports a bad line on stderr so stdout stays clean JSON.
fn report_line_error(err: &LineError) {
    tracing::warn!(line = err.line(), "{err}");
}

#[derive(Serialize)]
struct ScoreLine<'a> {
    id: &'a str,
    platform: Platform,
    score: f64,
    priority: crate::model::Priority,
    breakdown: SalienceBreakdown,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reasons: &'a [String],
    /// Why the review lane holds it (the console waits for the operator).
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<&'a str>,
}

/// `clank score`: filter and score each message in log order, the message's
/// own `at` serving as the clock. Returns (scored, filtered, bad lines).
pub fn score(
    config: &Config,
    file: &Path,
    out: &mut impl Write,
) -> Result<(u64, u64, u64), ReplayError> {
    let filter = ContentFilter::load(&config.filter);
    if let Some(err) = filter.load_error() {
        tracing::error!("{err}; every message will be reported as filtered");
    }
    let mut engine = SalienceEngine::load(config.salience.clone())
        .map_err(|e| ReplayError::Lexicon(e.to_string()))?;
    let (mut scored, mut filtered, mut bad) = (0u64, 0u64, 0u64);
    for item in open_source(file)? {
        let event = match item? {
            Ok(ev) => ev,
            Err(e) => {
                bad += 1;
                report_line_error(&e);
                continue;
            }
        };
        let Inbound::Chat(ChatEvent::Message(msg)) = event else {
            continue;
        };
        let held = match input_lane(filter.check(&msg.text), &mut engine, &msg) {
            Lane::Pass => None,
            Lane::Hold { reason } => Some(reason),
            Lane::Block { reason } => {
                filtered += 1;
                serde_json::to_writer(
                    &mut *out,
                    &json!({"id": msg.id, "filtered": true, "reason": reason}),
                )
                .map_err(io::Error::from)?;
                out.write_all(b"\n")?;
                continue;
            }
        };
        let s = engine.score(&msg, msg.at);
        scored += 1;
        let b = s.breakdown;
        let line = ScoreLine {
            id: &msg.id,
            platform: msg.platform,
            score: round3(s.score),
            priority: s.priority,
            breakdown: SalienceBreakdown {
                content: round3(b.content),
                authority: round3(b.authority),
                relevance: round3(b.relevance),
                temporal: round3(b.temporal),
            },
            reasons: &s.reasons,
            held: held.as_deref(),
        };
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok((scored, filtered, bad))
}

/// How fast a replay runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the machine allows, on a virtual clock.
    Max,
    /// Real time multiplied by this factor (1.0 = as it happened).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 && f <= 1_000_000.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "{s:?} is not a speed (allowed: max, or a number above 0 up to 1000000)"
            )),
        }
    }
}

/// Options of `clank replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub speed: Speed,
    pub repeat: u32,
    pub json: bool,
    pub seed: u64,
}

/// What a replay did, printed as the final `summary` line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub events: u64,
    pub bad_lines: u64,
    pub counts: crate::core::Counters,
    pub seconds_per_state: serde_json::Map<String, serde_json::Value>,
    pub response_rate_per_state: serde_json::Map<String, serde_json::Value>,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
    pub msgs_per_sec: f64,
    pub stored: u64,
    pub duplicates_in_store: u64,
}

/// Shifts ids and times so that a looped log reads as new chat.
pub fn shifted(event: &ChatEvent, pass: u32, offset: ChronoDuration) -> ChatEvent {
    if pass == 0 {
        return event.clone();
    }
    let suffix = |id: &str| format!("{id}~{pass}");
    match event {
        ChatEvent::Message(m) => {
            let mut m = m.clone();
            m.id = suffix(&m.id);
            m.at += offset;
            m.reply_to = m.reply_to.as_deref().map(suffix);
            ChatEvent::Message(m)
        }
        ChatEvent::Delete {
            platform,
            channel,
            id,
            at,
        } => ChatEvent::Delete {
            platform: *platform,
            channel: channel.clone(),
            id: suffix(id),
            at: *at + offset,
        },
        ChatEvent::Ban {
            platform,
            channel,
            author_id,
            at,
            duration_s,
        } => ChatEvent::Ban {
            platform: *platform,
            channel: channel.clone(),
            author_id: author_id.clone(),
            at: *at + offset,
            duration_s: *duration_s,
        },
    }
}

fn write_event(out: &mut impl Write, ev: &CoreEvent) -> io::Result<()> {
    serde_json::to_writer(&mut *out, ev).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// `clank replay`: the whole core on the log, on a virtual clock.
pub fn replay(
    config: &Config,
    file: &Path,
    store: Store,
    options: &ReplayOptions,
    out: &mut impl Write,
) -> Result<Summary, ReplayError> {
    let wall = Instant::now();
    let mut bad_lines = 0u64;
    // A looped log is held in memory once (it is small); a single pass streams.
    let reader = open_source(file)?;
    let mut first_pass: Vec<Inbound> = Vec::new();
    let keep = options.repeat > 1;
    let mut core: Option<Core> = None;
    let mut events_out = Vec::with_capacity(16);
    let mut total_events = 0u64;
    let mut first_at: Option<DateTime<Utc>> = None;
    let mut last_at: Option<DateTime<Utc>> = None;
    let mut prev_wall_at: Option<DateTime<Utc>> = None;

    let mut feed = |event: Inbound,
                    core: &mut Option<Core>,
                    out: &mut dyn FnMut(&CoreEvent) -> io::Result<()>|
     -> Result<(), ReplayError> {
        // Only chat and raids reach the core; subs, announcements and
        // clears are for the console and the reply side.
        if !matches!(event, Inbound::Chat(_) | Inbound::Raid { .. }) {
            return Ok(());
        }
        let Some(at) = event.at() else {
            return Ok(());
        };
        // The virtual clock never runs backwards, even if the log does.
        let now = match last_at {
            Some(prev) if at < prev => prev,
            _ => at,
        };
        if core.is_none() {
            let (c, start_events) = Core::new(config, store.clone(), options.seed, now)?;
            for ev in &start_events {
                out(ev)?;
            }
            *core = Some(c);
            first_at = Some(now);
        }
        if let (Speed::Factor(f), Some(prev)) = (options.speed, prev_wall_at) {
            let gap = (now - prev).to_std().unwrap_or_default();
            std::thread::sleep(gap.div_f64(f));
        }
        prev_wall_at = Some(now);
        last_at = Some(now);
        total_events += 1;
        if let Some(c) = core.as_mut() {
            events_out.clear();
            match event {
                Inbound::Chat(ev) => c.handle(ev, now, &mut events_out)?,
                Inbound::Raid { from, viewers, .. } => {
                    c.observe_raid(&from, viewers, now, &mut events_out)?
                }
                _ => {}
            }
            // No reply pipeline here: drop the selected messages, or they
            // pile up (13 MB at a million messages).
            drop(c.take_selected());
            for ev in &events_out {
                out(ev)?;
            }
        }
        Ok(())
    };

    let json = options.json;
    let mut emit =
        |ev: &CoreEvent| -> io::Result<()> { if json { write_event(out, ev) } else { Ok(()) } };

    for item in reader {
        match item? {
            Ok(ev) => {
                if keep {
                    first_pass.push(ev.clone());
                }
                feed(ev, &mut core, &mut emit)?;
            }
            Err(e) => {
                bad_lines += 1;
                report_line_error(&e);
            }
        }
    }
    if core.is_none() {
        return Err(ReplayError::Empty(file.to_path_buf()));
    }
    let times = || first_pass.iter().filter_map(Inbound::at);
    if keep && let (Some(first), Some(last)) = (times().min(), times().max()) {
        let span = last - first + ChronoDuration::seconds(1);
        for pass in 1..options.repeat {
            let offset = span * pass as i32;
            for ev in &first_pass {
                let ev = match ev {
                    Inbound::Chat(c) => Inbound::Chat(shifted(c, pass, offset)),
                    other => {
                        let mut o = other.clone();
                        o.shift_time(offset);
                        o
                    }
                };
                feed(ev, &mut core, &mut emit)?;
            }
        }
    }
    let Some(core) = core else {
        return Err(ReplayError::Empty(file.to_path_buf()));
    };
    let end = last_at.unwrap_or_else(Utc::now);
    let stats = core.store().flush()?;
    let seconds = core.state_seconds(end);
    let rates = core.attention().response_rates();
    let mut seconds_per_state = serde_json::Map::new();
    let mut response_rate_per_state = serde_json::Map::new();
    for st in AttentionState::ALL {
        seconds_per_state.insert(
            st.as_str().into(),
            json!((seconds[st.index()] * 10.0).round() / 10.0),
        );
        response_rate_per_state.insert(
            st.as_str().into(),
            rates[st.index()].map_or(serde_json::Value::Null, |r| json!(round3(r))),
        );
    }
    let wall_seconds = wall.elapsed().as_secs_f64();
    let counts = core.counters().clone();
    let summary = Summary {
        events: total_events,
        bad_lines,
        msgs_per_sec: (counts.messages as f64 / wall_seconds.max(1e-9)).round(),
        counts,
        seconds_per_state,
        response_rate_per_state,
        virtual_seconds: (end - first_at.unwrap_or(end)).num_milliseconds() as f64 / 1000.0,
        wall_seconds: (wall_seconds * 1000.0).round() / 1000.0,
        stored: stats.inserted,
        duplicates_in_store: stats.duplicates,
    };
    let mut line = serde_json::to_value(&summary).map_err(io::Error::from)?;
    if let Some(obj) = line.as_object_mut() {
        obj.insert("event".into(), json!("summary"));
        obj.insert("at".into(), json!(format_time(end)));
    }
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(summary)
}

/// `clank export`: stored chat of one channel as a chat log.
pub fn export(
    store: &Store,
    platform: Option<Platform>,
    channel: &str,
    since: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> Result<usize, ReplayError> {
    let messages = store.export(platform, channel, since)?;
    let count = messages.len();
    for m in messages {
        out.write_all(chatlog::to_line(&ChatEvent::Message(m)).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(count)
}
