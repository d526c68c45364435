//! The core on its own std thread: its store calls block, so it must never
//! run on a tokio worker. The conductor talks to it through [`CoreHandle`]:
//! one command and one answer, or a run of commands and their answers in
//! one round trip (a burst of chat costs one thread wake, not one each).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::oneshot;

use super::RuntimeError;
use crate::config::Config;
use crate::core::{Core, CoreEvent};
use crate::engine::salience::SalienceWeights;
use crate::model::{AttentionState, ChannelConfig, ChatEvent, ChatMessage, Platform};
use crate::reply::pipeline::DraftGoal;
use crate::session::{HeldItem, QueueItem, Snapshot};
use crate::store::Store;

/// A draft the core asked for, with the channel's settings.
pub(super) struct Job {
    pub goal: DraftGoal,
    pub channel: ChannelConfig,
}

#[derive(Default)]
pub(super) struct CoreOut {
    pub events: Vec<CoreEvent>,
    pub salience: Option<Arc<crate::model::Salience>>,
    pub jobs: Vec<Job>,
    pub snapshot: Option<Box<Snapshot>>,
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
    /// The attention state after the command, stored with each reply.
    pub attention: Option<AttentionState>,
}

// Commands move once through a channel; boxing the event would add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub(super) enum CoreCmd {
    Handle(ChatEvent, DateTime<Utc>),
    /// A chat message the conductor shows too: shared, not copied.
    HandleMessage(Arc<ChatMessage>, DateTime<Utc>),
    Tick(DateTime<Utc>),
    Force(AttentionState, DateTime<Utc>),
    Topic(String),
    Weights(SalienceWeights),
    BotMessage(Platform, String, DateTime<Utc>),
    TakeQueued(Platform, String, DateTime<Utc>),
    /// Release (true) or discard a held message.
    DecideHeld(Platform, String, bool, DateTime<Utc>),
    Snapshot(DateTime<Utc>),
    Summary(DateTime<Utc>),
    /// A raid: the attention machine reacts.
    Raid {
        from: String,
        viewers: u32,
        now: DateTime<Utc>,
    },
    /// A supporter to thank: drafted when the attention state allows.
    Thanks {
        goal: DraftGoal,
        now: DateTime<Utc>,
    },
}

impl CoreCmd {
    fn now(&self) -> Option<DateTime<Utc>> {
        match self {
            CoreCmd::Handle(_, t)
            | CoreCmd::HandleMessage(_, t)
            | CoreCmd::Tick(t)
            | CoreCmd::Force(_, t)
            | CoreCmd::BotMessage(_, _, t)
            | CoreCmd::TakeQueued(_, _, t)
            | CoreCmd::DecideHeld(_, _, _, t)
            | CoreCmd::Snapshot(t)
            | CoreCmd::Summary(t)
            | CoreCmd::Raid { now: t, .. }
            | CoreCmd::Thanks { now: t, .. } => Some(*t),
            CoreCmd::Topic(_) | CoreCmd::Weights(_) => None,
        }
    }
}

// Unboxed for the same reason as `CoreCmd`.
#[allow(clippy::large_enum_variant)]
enum CoreMsg {
    One(CoreCmd, oneshot::Sender<CoreOut>),
    Many(Vec<CoreCmd>, oneshot::Sender<Vec<CoreOut>>),
}

pub(super) struct CoreHandle {
    tx: std::sync::mpsc::Sender<CoreMsg>,
}

impl CoreHandle {
    pub fn spawn(config: Config, store: Store, seed: u64) -> Result<Self, RuntimeError> {
        let (tx, rx) = std::sync::mpsc::channel::<CoreMsg>();
        std::thread::Builder::new()
            .name("clank-core".into())
            .spawn(move || core_thread(config, store, seed, rx))
            .map_err(RuntimeError::Spawn)?;
        Ok(Self { tx })
    }

    pub async fn call(&self, cmd: CoreCmd) -> Result<CoreOut, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(CoreMsg::One(cmd, reply))
            .map_err(|_| RuntimeError::CoreGone)?;
        rx.await.map_err(|_| RuntimeError::CoreGone)
    }

    /// Several commands in order, answered together (one answer each).
    pub async fn call_many(&self, cmds: Vec<CoreCmd>) -> Result<Vec<CoreOut>, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(CoreMsg::Many(cmds, reply))
            .map_err(|_| RuntimeError::CoreGone)?;
        rx.await.map_err(|_| RuntimeError::CoreGone)
    }
}

/// The core thread's state between commands.
struct CoreState {
    config: Config,
    store: Store,
    seed: u64,
    core: Option<Core>,
    topic: String,
    pending_weights: Option<SalienceWeights>,
}

fn core_thread(config: Config, store: Store, seed: u64, rx: std::sync::mpsc::Receiver<CoreMsg>) {
    let mut st = CoreState {
        topic: config.salience.topic.clone(),
        config,
        store,
        seed,
        core: None,
        pending_weights: None,
    };
    while let Ok(msg) = rx.recv() {
        match msg {
            CoreMsg::One(cmd, reply) => {
                let _ = reply.send(st.apply(cmd));
            }
            CoreMsg::Many(cmds, reply) => {
                // The burst's messages reach the store writer as one write.
                if let Some(c) = st.core.as_mut() {
                    c.begin_batch();
                }
                let mut outs: Vec<CoreOut> = cmds.into_iter().map(|c| st.apply(c)).collect();
                if let Some(c) = st.core.as_mut()
                    && let Err(e) = c.end_batch()
                    && let Some(last) = outs.last_mut()
                {
                    last.error.get_or_insert_with(|| e.to_string());
                }
                let _ = reply.send(outs);
            }
        }
    }
}

impl CoreState {
    fn apply(&mut self, cmd: CoreCmd) -> CoreOut {
        let mut out = CoreOut::default();
        let (config, store, seed) = (&self.config, &self.store, self.seed);
        let (core, topic, pending_weights) =
            (&mut self.core, &mut self.topic, &mut self.pending_weights);
        // The core is built at the first moment it is told the time, so a
        // replay starts its attention machine at the log's first event.
        if core.is_none()
            && let Some(now) = cmd.now()
        {
            match Core::new(config, store.clone(), seed, now) {
                Ok((mut c, events)) => {
                    out.events = events;
                    c.set_topic(topic);
                    if let Some(w) = pending_weights.take() {
                        let _ = c.set_weights(w);
                    }
                    *core = Some(c);
                }
                Err(e) => {
                    out.error = Some(format!("cannot start the core: {e}"));
                    return out;
                }
            }
        }
        let result = match (&mut *core, cmd) {
            (_, CoreCmd::Topic(t)) => {
                *topic = t;
                if let Some(c) = core.as_mut() {
                    c.set_topic(topic);
                }
                Ok(())
            }
            (None, CoreCmd::Weights(w)) => {
                *pending_weights = Some(w);
                Ok(())
            }
            (Some(c), CoreCmd::Weights(w)) => c.set_weights(w).map_err(|e| e.to_string()),
            (None, _) => Ok(()),
            (Some(c), CoreCmd::Handle(ev, now)) => {
                let handled = c.handle(ev, now, &mut out.events);
                after_handle(c, handled, &mut out, now)
            }
            (Some(c), CoreCmd::HandleMessage(m, now)) => {
                let handled = c.handle_shared(m, now, &mut out.events);
                after_handle(c, handled, &mut out, now)
            }
            (Some(c), CoreCmd::Tick(now)) => c
                .tick(now, &mut out.events)
                .map_err(|e| e.to_string())
                .and_then(|()| collect_jobs(c, &mut out, now)),
            (Some(c), CoreCmd::Force(st, now)) => {
                c.force_state(st, now, &mut out.events);
                Ok(())
            }
            (Some(c), CoreCmd::BotMessage(p, ch, now)) => {
                c.on_bot_message(p, &ch, now);
                Ok(())
            }
            (Some(c), CoreCmd::TakeQueued(p, id, _)) => match c.take_queued(p, &id) {
                Ok(Some((m, priority))) => {
                    let priority = Some(priority);
                    match c.channel_config(m.platform, &m.channel) {
                        Ok(cfg) => {
                            out.jobs.push(Job {
                                goal: DraftGoal::Answer {
                                    message: m,
                                    priority,
                                },
                                channel: cfg,
                            });
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                Ok(None) => Err(format!("message {id} is not in the queue")),
                Err(e) => Err(e.to_string()),
            },
            (Some(c), CoreCmd::DecideHeld(p, id, release, now)) => {
                match c.decide_held(p, &id, release, now, &mut out.events) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!("message {id} is not held for review")),
                    Err(e) => Err(e.to_string()),
                }
            }
            (Some(c), CoreCmd::Raid { from, viewers, now }) => c
                .observe_raid(&from, viewers, now, &mut out.events)
                .map_err(|e| e.to_string())
                .and_then(|()| collect_jobs(c, &mut out, now)),
            (Some(c), CoreCmd::Thanks { goal, .. }) => {
                if c.thanks_allowed() {
                    match c.channel_config(goal.platform(), goal.channel()) {
                        Ok(channel) => {
                            out.jobs.push(Job { goal, channel });
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    }
                } else {
                    Ok(())
                }
            }
            (Some(c), CoreCmd::Snapshot(now)) => {
                out.snapshot = Some(Box::new(core_snapshot(c, now)));
                Ok(())
            }
            (Some(c), CoreCmd::Summary(now)) => {
                out.summary = Some(core_summary(c, now));
                Ok(())
            }
        };
        if let Err(e) = result {
            out.error = Some(e);
        }
        out.attention = core.as_ref().map(|c| c.attention().state());
        out
    }
}

/// After a chat event: the message's score and the drafts the core asked for.
fn after_handle(
    c: &mut Core,
    handled: Result<(), crate::core::CoreError>,
    out: &mut CoreOut,
    now: DateTime<Utc>,
) -> Result<(), String> {
    handled.map_err(|e| e.to_string())?;
    out.salience = c.take_last_salience();
    collect_jobs(c, out, now)
}

/// Turns the core's selections and triggers into draft jobs.
fn collect_jobs(c: &mut Core, out: &mut CoreOut, _now: DateTime<Utc>) -> Result<(), String> {
    let selected = c.take_selected();
    for ev in &out.events {
        match ev {
            CoreEvent::Selected {
                id,
                platform,
                priority,
                ..
            } => {
                if let Some(m) = selected
                    .iter()
                    .find(|m| m.id == *id && m.platform == *platform)
                {
                    let cfg = c
                        .channel_config(m.platform, &m.channel)
                        .map_err(|e| e.to_string())?;
                    out.jobs.push(Job {
                        goal: DraftGoal::Answer {
                            message: m.clone(),
                            priority: Some(*priority),
                        },
                        channel: cfg,
                    });
                }
            }
            CoreEvent::Trigger {
                kind,
                platform,
                channel,
                id,
                ..
            } => {
                let cfg = c
                    .channel_config(*platform, channel)
                    .map_err(|e| e.to_string())?;
                // A quiet channel's starter is drafted like any unprompted
                // line: the agent's starters, else the persona's.
                if kind == "unprompted" || kind == "quiet" {
                    out.jobs.push(Job {
                        goal: DraftGoal::Unprompted {
                            platform: *platform,
                            channel: channel.clone(),
                        },
                        channel: cfg,
                    });
                } else if kind == "mention" {
                    // A direct mention is answered now, taken out of the queue
                    // so the attention machine does not pick it a second time.
                    if let Some((m, priority)) =
                        c.take_queued(*platform, id).map_err(|e| e.to_string())?
                    {
                        out.jobs.push(Job {
                            goal: DraftGoal::Answer {
                                message: m,
                                priority: Some(priority),
                            },
                            channel: cfg,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn core_snapshot(c: &Core, now: DateTime<Utc>) -> Snapshot {
    let att = c.attention();
    let queue: Vec<QueueItem> = c
        .queue()
        .iter_sorted()
        .take(300)
        .map(|e| QueueItem {
            message: e.message.clone(),
            salience: e.salience.clone(),
        })
        .collect();
    let mut msgs = [0.0; 3];
    for p in Platform::ALL {
        msgs[p.index()] = f64::from(att.velocity(p, now));
    }
    Snapshot {
        at: now,
        state: att.state(),
        state_since: att.entered_at(),
        next_transition_at: att.next_transition_at(),
        auto_send: false,
        paused: false,
        topic: String::new(),
        weights: SalienceWeights::default(),
        queue_len: c.queue().len(),
        queue,
        sent: 0,
        rejected: 0,
        msgs_per_min: msgs,
        counts_by_priority: c.counters().by_priority,
        held: c
            .held()
            .iter()
            .map(|h| HeldItem {
                message: crate::model::ChatMessage {
                    text: h.masked.clone(),
                    ..h.message.clone()
                },
                reason: h.reason.clone(),
                salience: h.salience.clone(),
                held_at: h.held_at,
            })
            .collect(),
        released: c.counters().released,
        discarded: c.counters().discarded,
        suggestion: None,
    }
}

fn core_summary(c: &Core, now: DateTime<Utc>) -> serde_json::Value {
    let seconds = c.state_seconds(now);
    let mut per_state = serde_json::Map::new();
    for st in AttentionState::ALL {
        per_state.insert(
            st.as_str().into(),
            json!((seconds[st.index()] * 10.0).round() / 10.0),
        );
    }
    json!({
        "counts": c.counters(),
        "seconds_per_state": per_state,
        "virtual_seconds": (now - c.started_at()).num_milliseconds() as f64 / 1000.0,
    })
}
