//! The core pipeline: filter -> store -> salience -> queue -> attention ->
//! triggers, one event at a time. It owns no clock: every call says what time
//! it is, so replay runs on a virtual clock and the live console on the wall.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::chatlog::{round3, ser_time};
use crate::config::Config;
use crate::engine::attention::{AttentionMachine, Transition, TransitionCause};
use crate::engine::commands;
use crate::engine::filter::{ContentFilter, Lane, Rule, Verdict, VerdictCache};
use crate::engine::queue::{PushOutcome, QueueEntry, SalienceQueue};
use crate::engine::salience::SalienceEngine;
use crate::engine::triggers::{Trigger, Triggers};
use crate::model::{
    AttentionState, ChannelConfig, ChatEvent, ChatMessage, Platform, Priority, Role, Salience,
};
use crate::store::{Store, StoreError, StoredMessage};

/// How many recent message ids the core remembers, with their times: to
/// catch duplicates at once (the store's key catches the rest) and to give
/// a deletion the time that finds its row through the store's key. At 16
/// bytes an entry this is about 2 MB, and an hour of a busy channel.
const RECENT_IDS: usize = 65_536;

/// The time `recent_ids` keeps for an id that was never stored (filtered).
const NOT_STORED: i64 = i64::MIN;

/// Something the core decided or noticed, for the console and the JSON log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CoreEvent {
    Attention {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        state: AttentionState,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<AttentionState>,
        reason: String,
        /// What set it off, for events a platform caused ("raid").
        #[serde(skip_serializing_if = "Option::is_none")]
        cause: Option<&'static str>,
    },
    Selected {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: String,
        platform: Platform,
        channel: String,
        state: AttentionState,
        score: f64,
        priority: Priority,
        roll: f64,
        threshold: f64,
    },
    Skipped {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: String,
        state: AttentionState,
        why: String,
    },
    Trigger {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        kind: String,
        platform: Platform,
        channel: String,
        id: String,
        reason: String,
    },
    Filtered {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: String,
        reason: String,
    },
    Command {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        platform: Platform,
        channel: String,
        id: String,
        reply: String,
        changed: bool,
    },
    Removed {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        platform: Platform,
        channel: String,
        what: String,
        queued: usize,
    },
    Warning {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        what: String,
    },
    /// The review lane took a message the profanity model flagged but that
    /// is paid or said to the streamer: stored, kept from the queue until
    /// the operator releases or discards it. `masked` stars what was flagged.
    Held {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: String,
        platform: Platform,
        channel: String,
        author: String,
        masked: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        paid_usd: Option<f64>,
    },
    /// The operator released a held message into the queue.
    Released {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: String,
        platform: Platform,
        channel: String,
        /// False when the queue was full of better messages.
        queued: bool,
    },
    /// The operator discarded a held message (it stays stored, unanswered).
    Discarded {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: String,
        platform: Platform,
        channel: String,
    },
}

/// A message in the review lane, as the core keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldMessage {
    pub message: ChatMessage,
    /// The text with the flagged words starred: what the console shows.
    pub masked: String,
    pub reason: String,
    pub salience: Salience,
    pub held_at: DateTime<Utc>,
}

/// Most messages the review lane holds; past it the oldest unpaid one is
/// discarded (counted, and said in a warning), so a raid of abuse at the
/// streamer cannot grow it without end. Paid ones are never pushed out.
const MAX_HELD: usize = 500;

/// Running totals, reported at the end of a replay and on the console.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub messages: u64,
    pub filtered: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub deletions: u64,
    pub bans: u64,
    pub commands: u64,
    pub ignored_commands: u64,
    pub selected: u64,
    pub skipped: u64,
    pub expired: u64,
    pub evicted: u64,
    pub triggers: u64,
    pub slow_scores: u64,
    /// Review lane: messages held, released by the operator, discarded.
    pub held: u64,
    pub released: u64,
    pub discarded: u64,
    pub by_priority: [u64; 4],
}

/// Errors that stop the core (a dead store); everything else becomes an event.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("lexicon: {0}")]
    Lexicon(String),
}

/// The pipeline's state. One instance per running clank.
pub struct Core {
    filter: ContentFilter,
    verdicts: VerdictCache,
    salience: SalienceEngine,
    queue: SalienceQueue,
    attention: AttentionMachine,
    triggers: Triggers,
    store: Store,
    channel_defaults: ChannelConfig,
    /// Per platform, channel -> settings; nested so a lookup by `&str`
    /// needs no key allocation on every message.
    channel_configs: [HashMap<String, ChannelConfig>; 3],
    /// Hash of (platform, id) -> the message's time in unix ms.
    recent_ids: HashMap<u64, i64>,
    recent_order: VecDeque<u64>,
    salience_budget: Duration,
    counters: Counters,
    started_at: DateTime<Utc>,
    /// Messages chosen for an answer since the last [`Core::take_selected`]:
    /// the reply pipeline needs the whole message, the event carries only its id.
    selected: Vec<ChatMessage>,
    /// The score of the message handled last (for the console's chat view).
    last_salience: Option<Arc<Salience>>,
    /// The review lane, oldest first.
    held: Vec<HeldMessage>,
    /// Quiet time before a starter (`channel_defaults.quiet_after_s`); `None` = off.
    quiet_after: Option<chrono::TimeDelta>,
    /// Inside [`Core::begin_batch`]: messages to store, sent to the store
    /// writer as one write at [`Core::end_batch`] (or before any other
    /// store call, so the store sees every write in order; a dequeue of a
    /// message still here clears its mark in place instead). A burst then
    /// wakes the writer thread once instead of once per message.
    pending_inserts: Option<Vec<StoredMessage>>,
    /// Inside a batch: queued messages stored by an earlier batch and gone
    /// from the queue since, dequeued in the store with this batch's rows
    /// (one wake of the writer for the burst, not one per eviction).
    pending_dequeues: Vec<Arc<ChatMessage>>,
}

impl Core {
    /// Builds the pipeline and restores the persisted queue from `store`.
    pub fn new(
        config: &Config,
        store: Store,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Result<(Core, Vec<CoreEvent>), CoreError> {
        let filter = ContentFilter::load(&config.filter);
        let salience = SalienceEngine::load(config.salience.clone())
            .map_err(|e| CoreError::Lexicon(e.to_string()))?;
        let mut queue = SalienceQueue::new(config.queue.clone());
        let attention = AttentionMachine::new(config.attention.clone(), seed, now);
        let mut events = vec![CoreEvent::Attention {
            at: now,
            state: attention.state(),
            from: None,
            reason: "start".into(),
            cause: None,
        }];
        if let Some(err) = filter.load_error() {
            events.push(CoreEvent::Warning {
                at: now,
                what: format!("{err}; every message is blocked until this is fixed"),
            });
        }
        let restored = store.load_queue(now)?;
        if !restored.is_empty() {
            let count = restored.len();
            let entries = restored
                .into_iter()
                .filter_map(|(record, message, salience)| {
                    salience.map(|salience| QueueEntry {
                        message: Arc::new(message),
                        salience: Arc::new(salience),
                        enqueued_at: record.enqueued_at,
                        expires_at: record
                            .expires_at
                            .unwrap_or(record.enqueued_at + queue.max_age()),
                    })
                })
                .collect();
            // A smaller max_size than before: what no longer fits leaves the store's queue too.
            for e in queue.restore(entries) {
                let m = &e.message;
                store.dequeue(m.platform, &m.channel, &m.id, m.at)?;
            }
            events.push(CoreEvent::Warning {
                at: now,
                what: format!("restored {count} queued messages from the store"),
            });
        }
        // The review lane outlives a restart: what the operator had not
        // decided on is held again (never dropped by a restart).
        let held: Vec<HeldMessage> = store
            .load_held()?
            .into_iter()
            .filter_map(|(message, salience, reason)| {
                salience.map(|salience| HeldMessage {
                    masked: crate::engine::filter::mask_profanity(&message.text),
                    held_at: message.at,
                    message,
                    reason,
                    salience,
                })
            })
            .collect();
        if !held.is_empty() {
            events.push(CoreEvent::Warning {
                at: now,
                what: format!(
                    "{} messages held for review before the restart are held again",
                    held.len()
                ),
            });
        }
        let mut core = Core {
            filter,
            verdicts: VerdictCache::default(),
            salience,
            queue,
            attention,
            triggers: Triggers::new(config.salience.streamer_names.clone()),
            store,
            channel_defaults: config.channel_defaults.to_channel_config(),
            channel_configs: Default::default(),
            recent_ids: HashMap::with_capacity(RECENT_IDS),
            recent_order: VecDeque::with_capacity(RECENT_IDS),
            salience_budget: Duration::from_millis(config.core.salience_timeout_ms),
            counters: Counters::default(),
            started_at: now,
            selected: Vec::new(),
            last_salience: None,
            held,
            quiet_after: (config.channel_defaults.quiet_after_s > 0).then(|| {
                chrono::TimeDelta::seconds(
                    i64::try_from(config.channel_defaults.quiet_after_s).unwrap_or(86_400),
                )
            }),
            pending_inserts: None,
            pending_dequeues: Vec::new(),
        };
        // A restored message re-delivered after the restart is a duplicate.
        let restored_ids: Vec<_> = core
            .queue
            .iter_sorted()
            .map(|e| (e.message.platform, e.message.id.clone(), e.message.at))
            .collect();
        for (platform, id, at) in restored_ids {
            core.remember_id(platform, &id, at);
        }
        let held_ids: Vec<_> = core
            .held
            .iter()
            .map(|h| (h.message.platform, h.message.id.clone(), h.message.at))
            .collect();
        for (platform, id, at) in held_ids {
            core.remember_id(platform, &id, at);
        }
        Ok((core, events))
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn attention(&self) -> &AttentionMachine {
        &self.attention
    }

    pub fn queue(&self) -> &SalienceQueue {
        &self.queue
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Forces an attention state (the operator's override).
    pub fn force_state(
        &mut self,
        state: AttentionState,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) {
        let t = self.attention.force(state, now);
        out.push(transition_event(&t));
    }

    /// Another streamer raided `channel`: the attention machine reacts (a
    /// raid pulls the streamer towards chat). Always reports one attention
    /// event with cause "raid", also when the state stays.
    pub fn observe_raid(
        &mut self,
        from: &str,
        viewers: u32,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) -> Result<(), CoreError> {
        self.advance(now, out)?;
        match self.attention.observe_raid(now, u64::from(viewers)) {
            Some(t) => {
                let mut ev = transition_event(&t);
                if let CoreEvent::Attention { reason, .. } = &mut ev {
                    *reason = format!("raid from {from} with {viewers} viewers");
                }
                out.push(ev);
            }
            None => out.push(CoreEvent::Attention {
                at: now,
                state: self.attention.state(),
                from: None,
                reason: format!(
                    "raid from {from} with {viewers} viewers; already {}",
                    self.attention.state()
                ),
                cause: Some("raid"),
            }),
        }
        Ok(())
    }

    /// Whether the streamer would thank a supporter now: not in deep focus
    /// and not on a break.
    pub fn thanks_allowed(&self) -> bool {
        matches!(
            self.attention.state(),
            AttentionState::FocusedInteraction | AttentionState::CasualMonitoring
        )
    }

    /// Sets the current topic for relevance scoring.
    pub fn set_topic(&mut self, topic: &str) {
        self.salience.set_topic(topic);
    }

    /// New salience weights (the operator's tuning): later messages are scored
    /// with them, and what is already queued is re-ranked under them now, so
    /// the next pick and the next snapshot follow the operator's weights.
    pub fn set_weights(
        &mut self,
        weights: crate::engine::salience::SalienceWeights,
    ) -> Result<(), crate::validate::ConfigError> {
        self.salience.set_weights(weights)?;
        // Each entry keeps its breakdown (spam's penalty is inside it), so no
        // text is scored again. The store keeps the arrival scores: tuning is
        // for this run, a restart goes back to the config's weights.
        let salience = &self.salience;
        self.queue.rerank(|e| {
            let (score, priority) = salience.rescore_with_weights(&e.salience.breakdown, &weights);
            (priority, score)
        });
        Ok(())
    }

    /// The bot spoke in a channel: the unprompted-trigger count and delay restart.
    pub fn on_bot_message(&mut self, platform: Platform, channel: &str, now: DateTime<Utc>) {
        self.triggers.on_bot_message(platform, channel, now);
    }

    /// The messages selected for an answer since the last call, in order.
    pub fn take_selected(&mut self) -> Vec<ChatMessage> {
        std::mem::take(&mut self.selected)
    }

    /// Starts collecting stored messages for one write (a burst of chat on
    /// the live path). Replays never batch, so their store sees each write
    /// as it happens.
    pub fn begin_batch(&mut self) {
        if self.pending_inserts.is_none() {
            self.pending_inserts = Some(Vec::new());
        }
    }

    /// Sends what [`Core::begin_batch`] collected, in order, as one write.
    pub fn end_batch(&mut self) -> Result<(), CoreError> {
        let out = self.flush_inserts();
        self.pending_inserts = None;
        out
    }

    /// Sends the messages collected so far; the batch stays open.
    fn flush_inserts(&mut self) -> Result<(), CoreError> {
        if let Some(p) = self.pending_inserts.as_mut()
            && !p.is_empty()
        {
            let batch = std::mem::take(p);
            self.store.insert_messages(batch)?;
        }
        for m in std::mem::take(&mut self.pending_dequeues) {
            self.store.dequeue(m.platform, &m.channel, &m.id, m.at)?;
        }
        Ok(())
    }

    /// Stores a message now, or with the rest of the batch.
    fn store_message(&mut self, m: StoredMessage) -> Result<(), CoreError> {
        match self.pending_inserts.as_mut() {
            Some(p) => {
                p.push(m);
                Ok(())
            }
            None => Ok(self.store.insert_message(m)?),
        }
    }

    /// The score of the message passed to the last [`Core::handle`] or
    /// [`Core::handle_shared`], if it was scored.
    pub fn take_last_salience(&mut self) -> Option<Arc<Salience>> {
        self.last_salience.take()
    }

    /// Takes a queued message out of the queue to answer it now (the operator's pick).
    pub fn take_queued(
        &mut self,
        platform: Platform,
        id: &str,
    ) -> Result<Option<(ChatMessage, Priority)>, CoreError> {
        let channel = self
            .queue
            .iter_sorted()
            .find(|e| e.message.platform == platform && e.message.id == id)
            .map(|e| e.message.channel.clone());
        let Some(channel) = channel else {
            return Ok(None);
        };
        let entry = self.queue.remove_message(platform, &channel, id);
        if let Some(e) = &entry {
            self.dequeue(&e.message)?;
        }
        Ok(entry.map(|e| (Arc::unwrap_or_clone(e.message), e.salience.priority)))
    }

    /// A channel's settings: its stored row, else the configured defaults.
    pub fn channel_config(
        &mut self,
        platform: Platform,
        channel: &str,
    ) -> Result<ChannelConfig, CoreError> {
        Ok(self.channel_config_ref(platform, channel)?.clone())
    }

    /// [`Core::channel_config`] without the copy, for the per-message path.
    fn channel_config_ref(
        &mut self,
        platform: Platform,
        channel: &str,
    ) -> Result<&ChannelConfig, CoreError> {
        let slot = platform_slot(platform);
        if self.channel_configs[slot].contains_key(channel) {
            return Ok(&self.channel_configs[slot][channel]);
        }
        self.flush_inserts()?;
        let stored = self.store.channel_config(platform, channel)?;
        // A channel with no row yet gets the configured defaults, not the built-in ones.
        let cfg = stored.unwrap_or_else(|| self.channel_defaults.clone());
        Ok(self.channel_configs[slot]
            .entry(channel.to_string())
            .or_insert(cfg))
    }

    /// Takes a message off the store's copy of the queue.
    fn dequeue(&mut self, m: &Arc<ChatMessage>) -> Result<(), CoreError> {
        // Not flushing the batch here: under a flood each new message
        // evicts the worst one, and a flush per eviction sent every burst
        // to the store one row at a time, with an UPDATE per row besides.
        let Some(pending) = self.pending_inserts.as_mut() else {
            return Ok(self.store.dequeue(m.platform, &m.channel, &m.id, m.at)?);
        };
        // Still in the batch: its row goes out without the mark, no UPDATE.
        // (A batch is one conductor round trip, at most 128 rows: a scan.)
        if let Some(row) = pending.iter_mut().rev().find(|s| {
            s.message.id == m.id
                && s.message.platform == m.platform
                && s.message.channel == m.channel
        }) {
            row.queued_until = None;
        } else {
            // Stored by an earlier batch: dequeued with this one's rows
            // (the store applies writes in order, after its insert).
            self.pending_dequeues.push(Arc::clone(m));
        }
        Ok(())
    }

    /// The id's slot in `recent_ids`. A 64-bit hash instead of the strings:
    /// no allocation per message, and a false match (a message taken for a
    /// duplicate) is beyond any real chance.
    fn id_hash(platform: Platform, id: &str) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        (platform, id).hash(&mut h);
        h.finish()
    }

    /// Notes a new id with its time; false if it was seen already.
    fn remember_id(&mut self, platform: Platform, id: &str, at: DateTime<Utc>) -> bool {
        let h = Self::id_hash(platform, id);
        if self.recent_ids.contains_key(&h) {
            return false;
        }
        if self.recent_order.len() == RECENT_IDS
            && let Some(old) = self.recent_order.pop_front()
        {
            self.recent_ids.remove(&old);
        }
        self.recent_ids.insert(h, at.timestamp_millis());
        self.recent_order.push_back(h);
        true
    }

    /// What the core remembers of a recent id: `None` if nothing,
    /// `Some(None)` if it was never stored (filtered), else its time.
    fn recent_time(&self, platform: Platform, id: &str) -> Option<Option<DateTime<Utc>>> {
        let ms = *self.recent_ids.get(&Self::id_hash(platform, id))?;
        Some(if ms == NOT_STORED {
            None
        } else {
            DateTime::from_timestamp_millis(ms)
        })
    }

    /// Notes that a remembered id was not stored, so deleting it needs no lookup.
    fn forget_stored(&mut self, platform: Platform, id: &str) {
        if let Some(ms) = self.recent_ids.get_mut(&Self::id_hash(platform, id)) {
            *ms = NOT_STORED;
        }
    }

    /// Advances time: attention transitions, queue expiry, due decisions,
    /// and quiet-chat starters. Called by the clock (the console's ticks),
    /// not by arriving events: a starter found only when the next message
    /// comes would open a topic just as chat picks up again.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<CoreEvent>) -> Result<(), CoreError> {
        self.advance(now, out)?;
        self.quiet_starters(now, out);
        Ok(())
    }

    /// Quiet channels get a starter, when the streamer's attention would
    /// allow chatting at all (never in deep focus, never on a break).
    fn quiet_starters(&mut self, now: DateTime<Utc>, out: &mut Vec<CoreEvent>) {
        let Some(quiet) = self.quiet_after else {
            return;
        };
        if !self.thanks_allowed() {
            return;
        }
        let (configs, default) = (&self.channel_configs, &self.channel_defaults);
        let fired = self.triggers.quiet_due(now, quiet, |p, c| {
            configs[platform_slot(p)]
                .get(c)
                .unwrap_or(default)
                .time_delay_s
        });
        for t in fired {
            self.counters.triggers += 1;
            out.push(trigger_event(&t));
        }
    }

    /// [`Core::tick`] without the starters: what every event does first.
    fn advance(&mut self, now: DateTime<Utc>, out: &mut Vec<CoreEvent>) -> Result<(), CoreError> {
        for t in self.attention.tick(now) {
            out.push(transition_event(&t));
        }
        // The store's queue marks expire by their time; nothing to write.
        while let Some(expired) = self.queue.pop_expired(now) {
            self.counters.expired += 1;
            out.push(CoreEvent::Skipped {
                at: now,
                id: expired.message.id.clone(),
                state: self.attention.state(),
                why: format!(
                    "expired unanswered after {} s in the queue",
                    (now - expired.enqueued_at).num_seconds()
                ),
            });
        }
        while self.attention.decision_due(now) {
            self.decide(now, out)?;
            self.attention.mark_decided(now);
        }
        Ok(())
    }

    fn decide(&mut self, now: DateTime<Utc>, out: &mut Vec<CoreEvent>) -> Result<(), CoreError> {
        let Some(best) = self.queue.peek_best(now) else {
            return Ok(());
        };
        let priority = best.salience.priority;
        let decision = self.attention.decide(priority, now);
        if !decision.respond
            && priority < Priority::Critical
            && self.attention.state() == AttentionState::DeepFocus
        {
            // Deep focus leaves non-critical messages waiting rather than dropping them.
            return Ok(());
        }
        let Some(entry) = self.queue.pop_best(now) else {
            return Ok(());
        };
        self.dequeue(&entry.message)?;
        if decision.respond {
            self.counters.selected += 1;
            self.selected.push(ChatMessage::clone(&entry.message));
            out.push(CoreEvent::Selected {
                at: now,
                id: entry.message.id.clone(),
                platform: entry.message.platform,
                channel: entry.message.channel.clone(),
                state: decision.state,
                score: round3(entry.salience.score),
                priority,
                roll: round3(decision.roll),
                threshold: decision.threshold,
            });
        } else {
            self.counters.skipped += 1;
            out.push(CoreEvent::Skipped {
                at: now,
                id: entry.message.id.clone(),
                state: decision.state,
                why: decision.why,
            });
        }
        Ok(())
    }

    /// Feeds one chat event through the pipeline at time `now`.
    pub fn handle(
        &mut self,
        event: ChatEvent,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) -> Result<(), CoreError> {
        self.last_salience = None;
        self.advance(now, out)?;
        match event {
            ChatEvent::Message(message) => self.handle_message(Arc::new(message), now, out),
            ChatEvent::Delete {
                platform,
                channel,
                id,
                at,
            } => {
                self.counters.deletions += 1;
                let queued =
                    usize::from(self.queue.remove_message(platform, &channel, &id).is_some());
                let said_at = self.recent_time(platform, &id);
                // Some(None): filtered when it came, so nothing was stored to delete.
                if said_at != Some(None) {
                    self.store
                        .delete_message(platform, &channel, &id, said_at.flatten())?;
                }
                out.push(CoreEvent::Removed {
                    at,
                    platform,
                    channel,
                    what: format!("message {id} deleted by a moderator"),
                    queued,
                });
                Ok(())
            }
            ChatEvent::Ban {
                platform,
                channel,
                author_id,
                at,
                duration_s,
            } => {
                self.counters.bans += 1;
                let queued = self
                    .queue
                    .remove_author(platform, &channel, &author_id)
                    .len();
                self.flush_inserts()?;
                self.store.purge_author(platform, &channel, &author_id)?;
                let what = match duration_s {
                    Some(s) => format!("author {author_id} timed out for {s} s: messages purged"),
                    None => format!("author {author_id} banned: messages purged"),
                };
                out.push(CoreEvent::Removed {
                    at,
                    platform,
                    channel,
                    what,
                    queued,
                });
                Ok(())
            }
        }
    }

    /// [`Core::handle`] for a chat message the caller keeps a share of (the
    /// live path shows it on the console too): no copy is made of it.
    pub fn handle_shared(
        &mut self,
        message: Arc<ChatMessage>,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) -> Result<(), CoreError> {
        self.last_salience = None;
        self.advance(now, out)?;
        self.handle_message(message, now, out)
    }

    fn handle_message(
        &mut self,
        message: Arc<ChatMessage>,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) -> Result<(), CoreError> {
        self.counters.messages += 1;
        if !self.remember_id(message.platform, &message.id, message.at) {
            self.counters.duplicates += 1;
            out.push(CoreEvent::Warning {
                at: now,
                what: format!(
                    "duplicate {} message id {}: ignored",
                    message.platform, message.id
                ),
            });
            return Ok(());
        }
        let verdict = self.verdicts.check(&self.filter, &message.text);
        match input_lane(verdict, &mut self.salience, &message) {
            Lane::Pass => {}
            Lane::Hold { reason } => return self.hold(message, reason, now, out),
            Lane::Block { reason } => {
                // Filtered messages are never stored; only the count and reason remain.
                self.counters.filtered += 1;
                self.forget_stored(message.platform, &message.id);
                out.push(CoreEvent::Filtered {
                    at: now,
                    id: message.id.clone(),
                    reason,
                });
                return Ok(());
            }
        }
        if let Some(parsed) = commands::parse(&message.text) {
            self.store_message(StoredMessage {
                message: message.clone(),
                salience: None,
                attention_state: Some(self.attention.state()),
                metadata: Some(serde_json::json!({"command": true})),
                processed_at: Some(now),
                queued_until: None,
            })?;
            self.counters.stored += 1;
            if !commands::may_run(&message.author) {
                self.counters.ignored_commands += 1;
                return Ok(());
            }
            self.counters.commands += 1;
            let mut cfg = self.channel_config(message.platform, &message.channel)?;
            let reply = match parsed {
                Ok(cmd) => commands::apply(cmd, &mut cfg),
                Err(e) => commands::CommandReply {
                    text: e.to_string(),
                    changed: false,
                },
            };
            if reply.changed {
                self.store
                    .set_channel_config(message.platform, &message.channel, &cfg)?;
                self.channel_configs[platform_slot(message.platform)]
                    .insert(message.channel.clone(), cfg);
            }
            out.push(CoreEvent::Command {
                at: now,
                platform: message.platform,
                channel: message.channel.clone(),
                id: message.id.clone(),
                reply: reply.text,
                changed: reply.changed,
            });
            return Ok(());
        }

        let started = Instant::now();
        let salience = Arc::new(self.salience.score(&message, now));
        if started.elapsed() > self.salience_budget {
            self.counters.slow_scores += 1;
        }
        self.counters.by_priority[salience.priority as usize] += 1;

        if let Some(t) = self
            .attention
            .observe_message(message.platform, salience.priority, now)
        {
            out.push(transition_event(&t));
        }
        self.channel_config_ref(message.platform, &message.channel)?;
        // Borrowed field by field: the triggers are mutated while it is read.
        let cfg = &self.channel_configs[platform_slot(message.platform)][message.channel.as_str()];
        if let Some(trigger) = self.triggers.on_message(&message, cfg, now) {
            self.counters.triggers += 1;
            out.push(trigger_event(&trigger));
        }
        self.last_salience = Some(Arc::clone(&salience));

        // The broadcaster's and the bot's own messages are kept for context
        // but never queued: nothing there for the bot to answer.
        if message.author.has(Role::Broadcaster) || self.triggers.is_bot(&message.author.name) {
            self.store_message(StoredMessage {
                message,
                salience: Some(salience),
                attention_state: Some(self.attention.state()),
                metadata: None,
                processed_at: Some(now),
                queued_until: None,
            })?;
            self.counters.stored += 1;
            return Ok(());
        }

        // Queue first: the row then carries its queue mark, one write in all.
        let expires_at = now + self.queue.max_age();
        let stored = StoredMessage {
            message: message.clone(),
            salience: Some(salience.clone()),
            attention_state: Some(self.attention.state()),
            metadata: None,
            processed_at: Some(now),
            queued_until: Some(expires_at),
        };
        let entry = QueueEntry {
            expires_at,
            enqueued_at: now,
            message,
            salience,
        };
        let (queued, evicted) = match self.queue.push(entry) {
            PushOutcome::Inserted | PushOutcome::Replaced => (true, None),
            PushOutcome::Evicted(old) => {
                self.counters.evicted += 1;
                (true, Some(old))
            }
            PushOutcome::Rejected => {
                self.counters.evicted += 1;
                (false, None)
            }
        };
        self.store_message(StoredMessage {
            queued_until: stored.queued_until.filter(|_| queued),
            ..stored
        })?;
        self.counters.stored += 1;
        if let Some(old) = evicted {
            self.dequeue(&old.message)?;
        }
        Ok(())
    }

    /// Puts a message in the review lane: scored (so a release ranks it
    /// like any other), stored with why it is held, never queued or shown
    /// unmasked until the operator decides.
    fn hold(
        &mut self,
        message: Arc<ChatMessage>,
        reason: String,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) -> Result<(), CoreError> {
        let salience = Arc::new(self.salience.score(&message, now));
        self.store_message(StoredMessage {
            message: message.clone(),
            salience: Some(salience.clone()),
            attention_state: Some(self.attention.state()),
            metadata: Some(serde_json::json!({ "held": reason })),
            processed_at: Some(now),
            queued_until: None,
        })?;
        self.counters.stored += 1;
        self.counters.held += 1;
        let masked = crate::engine::filter::mask_profanity(&message.text);
        out.push(CoreEvent::Held {
            at: now,
            id: message.id.clone(),
            platform: message.platform,
            channel: message.channel.clone(),
            author: message.author.name.clone(),
            masked: masked.clone(),
            reason: reason.clone(),
            paid_usd: message.paid.as_ref().map(|p| round3(p.usd())),
        });
        if self.held.len() >= MAX_HELD
            && let Some(i) = self.held.iter().position(|h| h.message.paid.is_none())
        {
            let old = self.held.remove(i);
            let m = &old.message;
            self.store
                .decide_held(m.platform, &m.channel, &m.id, m.at, false)?;
            self.counters.discarded += 1;
            out.push(CoreEvent::Warning {
                at: now,
                what: format!(
                    "review lane full ({MAX_HELD}): the oldest unpaid held message {} was discarded",
                    old.message.id
                ),
            });
        }
        self.held.push(HeldMessage {
            message: Arc::unwrap_or_clone(message),
            masked,
            reason,
            salience: Arc::unwrap_or_clone(salience),
            held_at: now,
        });
        Ok(())
    }

    /// The review lane, oldest first.
    pub fn held(&self) -> &[HeldMessage] {
        &self.held
    }

    /// The operator's verdict on a held message: released into the queue
    /// (ranked by its score as it came), or discarded. `Ok(false)` when no
    /// such message is held (already decided, or never held).
    pub fn decide_held(
        &mut self,
        platform: Platform,
        id: &str,
        release: bool,
        now: DateTime<Utc>,
        out: &mut Vec<CoreEvent>,
    ) -> Result<bool, CoreError> {
        let Some(i) = self
            .held
            .iter()
            .position(|h| h.message.platform == platform && h.message.id == id)
        else {
            return Ok(false);
        };
        let h = self.held.remove(i);
        let (id, platform, channel) = (h.message.id.clone(), platform, h.message.channel.clone());
        self.store
            .decide_held(platform, &channel, &id, h.message.at, release)?;
        if !release {
            self.counters.discarded += 1;
            out.push(CoreEvent::Discarded {
                at: now,
                id,
                platform,
                channel,
            });
            return Ok(true);
        }
        self.counters.released += 1;
        // The store's row gets no queue mark: a restart does not put a
        // released message back in the queue (it is stored either way).
        let entry = QueueEntry {
            expires_at: now + self.queue.max_age(),
            enqueued_at: now,
            message: Arc::new(h.message),
            salience: Arc::new(h.salience),
        };
        let queued = match self.queue.push(entry) {
            PushOutcome::Inserted | PushOutcome::Replaced => true,
            PushOutcome::Evicted(old) => {
                self.counters.evicted += 1;
                self.dequeue(&old.message)?;
                true
            }
            PushOutcome::Rejected => {
                self.counters.evicted += 1;
                false
            }
        };
        out.push(CoreEvent::Released {
            at: now,
            id,
            platform,
            channel,
            queued,
        });
        Ok(true)
    }

    /// Seconds spent in each state so far, indexed by [`AttentionState::index`].
    pub fn state_seconds(&self, now: DateTime<Utc>) -> [f64; 4] {
        self.attention
            .time_in_state_totals(now)
            .map(|d| d.as_secs_f64())
    }
}

/// Where the filter's verdict sends a message: the review lane needs to
/// know whether it is paid or said to the streamer, which only a model hit
/// asks (the salience engine reads the text for her names).
pub fn input_lane(verdict: Verdict, salience: &mut SalienceEngine, message: &ChatMessage) -> Lane {
    match verdict {
        Verdict::Blocked {
            rule: Rule::Profanity,
            ..
        } => {
            let paid = message.paid.is_some();
            let to_streamer = !paid && salience.addresses_streamer(message);
            verdict.lane(paid, to_streamer)
        }
        other => other.lane(false, false),
    }
}

/// A platform's index in per-platform tables.
fn platform_slot(platform: Platform) -> usize {
    match platform {
        Platform::Twitch => 0,
        Platform::Youtube => 1,
        Platform::Discord => 2,
    }
}

fn transition_event(t: &Transition) -> CoreEvent {
    CoreEvent::Attention {
        at: t.at,
        state: t.to,
        from: Some(t.from),
        reason: t.reason.clone(),
        cause: (t.cause == TransitionCause::Raid).then_some("raid"),
    }
}

fn trigger_event(t: &Trigger) -> CoreEvent {
    CoreEvent::Trigger {
        at: t.at,
        kind: t.kind.as_str().to_string(),
        platform: t.platform,
        channel: t.channel.clone(),
        id: t.message_id.clone(),
        reason: t.reason.clone(),
    }
}
