//! The salience queue: a bounded priority queue of scored messages waiting for
//! an answer, best first, with expiry, moderation removals and live re-ranking.
//!
//! Ordering, best first: higher [`Priority`], then higher salience score, then
//! the entry that was enqueued EARLIER (a streamer answers the oldest of equally
//! good questions first, so nobody who asked early is starved by repeats), and
//! finally the [`MessageKey`] so that the order is total and deterministic.
//! Age is measured by `enqueued_at` (the core's own clock) rather than the
//! platform's `at`, because platform clocks disagree with each other.
//!
//! Costs: push, pop, peek (when nothing expired sits on top), single removal
//! O(log n); `expire` O(k log n) for k expired; `remove_author` O(k log n) for
//! the author's k entries; `rerank` and `restore` O(n log n).
//!
//! Layout: entries live in a slab and every index refers to them by a 32-bit
//! handle, so a message's id is copied once per entry (into one shared
//! `Arc<str>` that the two ordered indexes need for the key tiebreak) instead
//! of once per index. The key and author indexes are hash chains threaded
//! through the slab: a map from a 64-bit hash to the first handle, the rest
//! linked from slot to slot, every candidate checked against the entry itself,
//! so a hash collision costs a step along the chain and never a wrong answer.
//! The core pushes one entry per chat message, so this is on the hot path.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::engine::lexicon::{PassBuild, hash_str};
use crate::model::{ChatMessage, MessageKey, Platform, Priority, Salience};
use crate::validate::{ConfigError, check_range};

/// `[queue]` section.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Most messages kept waiting; when full, a better message evicts the
    /// worst one (1 to 1000000; env MAX_QUEUE_SIZE).
    pub max_size: usize,
    /// Seconds a message may wait for an answer before it expires (1 to 86400).
    pub max_age_s: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_size: 1000,
            max_age_s: 180,
        }
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("queue.max_size", self.max_size, 1, 1_000_000)?;
        check_range("queue.max_age_s", self.max_age_s, 1, 86_400)?;
        Ok(())
    }

    /// How long a message may wait.
    pub fn max_age(&self) -> TimeDelta {
        TimeDelta::seconds(i64::try_from(self.max_age_s).unwrap_or(i64::MAX / 1000))
    }
}

/// One message waiting for an answer. The message and its score are shared
/// (`Arc`): the console's snapshot takes the top few hundred entries four
/// times a second, and copying each message's strings for it was a quarter
/// of the core thread's work under a flood.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub message: Arc<ChatMessage>,
    pub salience: Arc<Salience>,
    pub enqueued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl QueueEntry {
    /// An entry enqueued at `now` that expires `max_age` later.
    pub fn new(
        message: ChatMessage,
        salience: Salience,
        now: DateTime<Utc>,
        max_age: TimeDelta,
    ) -> Self {
        Self {
            message: Arc::new(message),
            salience: Arc::new(salience),
            enqueued_at: now,
            expires_at: now + max_age,
        }
    }

    pub fn key(&self) -> MessageKey {
        self.message.key()
    }

    /// Expired at `now` (the deadline itself counts as expired).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// What `push` did.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// Added; the queue had room.
    Inserted,
    /// An entry with the same message key was replaced by the new one.
    Replaced,
    /// The queue was full; the new entry took the place of this one (an
    /// already expired entry if there was one, else the worst).
    Evicted(Box<QueueEntry>),
    /// The queue was full and the new entry is not better than the worst.
    Rejected,
}

/// Sort key of an entry, borrowed; `Ord` puts the best entry first.
#[derive(Debug, Clone, Copy)]
struct Rank<'a> {
    priority: Priority,
    score: f64,
    enqueued_at: DateTime<Utc>,
    platform: Platform,
    id: &'a str,
}

impl<'a> Rank<'a> {
    fn of(entry: &'a QueueEntry) -> Self {
        Rank {
            priority: entry.salience.priority,
            score: sortable_score(entry.salience.score),
            enqueued_at: entry.enqueued_at,
            platform: entry.message.platform,
            id: &entry.message.id,
        }
    }
}

/// A NaN score is a bug upstream; rank it last rather than let it float to
/// the top (`total_cmp` puts positive NaN above every number). -0.0 and 0.0
/// must compare equal so that the age tiebreak applies.
fn sortable_score(score: f64) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else if score == 0.0 {
        0.0
    } else {
        score
    }
}

impl Ord for Rank<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then_with(|| other.score.total_cmp(&self.score))
            .then_with(|| self.enqueued_at.cmp(&other.enqueued_at))
            // The same order as `MessageKey`'s: platform, then id.
            .then_with(|| self.platform.cmp(&other.platform))
            .then_with(|| self.id.cmp(other.id))
    }
}

impl PartialOrd for Rank<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rank<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rank<'_> {}

/// [`Rank`] owned, as the key of the `ranked` index. The id is shared with
/// the entry's `by_expiry` key.
#[derive(Debug, Clone)]
struct RankKey {
    priority: Priority,
    score: f64,
    enqueued_at: DateTime<Utc>,
    platform: Platform,
    id: Arc<str>,
}

impl RankKey {
    fn rank(&self) -> Rank<'_> {
        Rank {
            priority: self.priority,
            score: self.score,
            enqueued_at: self.enqueued_at,
            platform: self.platform,
            id: &self.id,
        }
    }
}

impl Ord for RankKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for RankKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RankKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RankKey {}

/// Key of the `by_expiry` index: deadline, then the message key (platform,
/// id), so entries with one deadline leave in `MessageKey` order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ExpiryKey {
    at: DateTime<Utc>,
    platform: Platform,
    id: Arc<str>,
}

/// Index of a slot in the slab.
type Handle = u32;

/// The end of a hash chain.
const NIL: Handle = Handle::MAX;

/// Which hash chain: by message key, or by (platform, channel, author).
const KEY: usize = 0;
const AUTHOR: usize = 1;

/// One queued entry and its place in every index.
#[derive(Debug, Clone)]
struct Slot {
    entry: QueueEntry,
    rank: RankKey,
    /// `key_hash` and `author_hash` of the entry, by chain.
    hash: [u64; 2],
    /// Neighbours in each chain (`NIL` at the ends).
    prev: [Handle; 2],
    next: [Handle; 2],
}

/// Tests keep a few bits of each hash, so that chains of colliding keys and
/// authors are the rule there rather than a 2^-64 rarity (keys keep more, so
/// that the 20000-entry test stays linear).
#[cfg(not(test))]
const HASH_MASK: [u64; 2] = [u64::MAX; 2];
#[cfg(test)]
const HASH_MASK: [u64; 2] = [0xff, 0b11];

/// Hash of a message key (platform, id).
fn key_hash(platform: Platform, id: &str) -> u64 {
    hash_str(0x6b65_7900 + platform.index() as u64, id) & HASH_MASK[KEY]
}

/// Hash of whose messages a ban removes: (platform, channel, author id).
fn author_hash(platform: Platform, channel: &str, author_id: &str) -> u64 {
    hash_str(
        hash_str(0x6175_7400 + platform.index() as u64, channel),
        author_id,
    ) & HASH_MASK[AUTHOR]
}

/// Bounded priority queue of messages waiting for an answer. See the module
/// docs for the order, the costs and the layout.
#[derive(Debug, Clone)]
pub struct SalienceQueue {
    max_size: usize,
    max_age: TimeDelta,
    slots: Vec<Option<Slot>>,
    /// Empty slots, reused before the slab grows.
    free: Vec<Handle>,
    ranked: BTreeMap<RankKey, Handle>,
    by_expiry: BTreeMap<ExpiryKey, Handle>,
    /// `key_hash` -> first slot of its chain.
    by_key: HashMap<u64, Handle, PassBuild>,
    /// `author_hash` -> first slot of its chain. Chains are unlinked when
    /// their last entry leaves, so memory follows the queue, not history.
    by_author: HashMap<u64, Handle, PassBuild>,
}

impl SalienceQueue {
    /// An empty queue with the configured bounds (`cfg` should be validated;
    /// a zero size is treated as 1).
    pub fn new(cfg: QueueConfig) -> Self {
        Self {
            max_size: cfg.max_size.max(1),
            max_age: cfg.max_age(),
            slots: Vec::new(),
            free: Vec::new(),
            ranked: BTreeMap::new(),
            by_expiry: BTreeMap::new(),
            by_key: HashMap::default(),
            by_author: HashMap::default(),
        }
    }

    /// An empty queue of `max_size` entries with the default `max_age_s`.
    pub fn with_max_size(max_size: usize) -> Self {
        Self::new(QueueConfig {
            max_size,
            ..QueueConfig::default()
        })
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// How long an entry made by [`SalienceQueue::make_entry`] may wait.
    pub fn max_age(&self) -> TimeDelta {
        self.max_age
    }

    /// An entry enqueued at `now` that expires after the configured `max_age_s`.
    pub fn make_entry(
        &self,
        message: ChatMessage,
        salience: Salience,
        now: DateTime<Utc>,
    ) -> QueueEntry {
        QueueEntry::new(message, salience, now, self.max_age)
    }

    pub fn len(&self) -> usize {
        self.ranked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }

    pub fn contains(&self, key: &MessageKey) -> bool {
        self.find(key.platform, &key.id).is_some()
    }

    pub fn get(&self, key: &MessageKey) -> Option<&QueueEntry> {
        self.find(key.platform, &key.id).and_then(|h| self.entry(h))
    }

    fn slot(&self, h: Handle) -> Option<&Slot> {
        self.slots.get(h as usize).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, h: Handle) -> Option<&mut Slot> {
        self.slots.get_mut(h as usize).and_then(Option::as_mut)
    }

    fn entry(&self, h: Handle) -> Option<&QueueEntry> {
        self.slot(h).map(|s| &s.entry)
    }

    fn chains(&self, which: usize) -> &HashMap<u64, Handle, PassBuild> {
        if which == KEY {
            &self.by_key
        } else {
            &self.by_author
        }
    }

    fn chains_mut(&mut self, which: usize) -> &mut HashMap<u64, Handle, PassBuild> {
        if which == KEY {
            &mut self.by_key
        } else {
            &mut self.by_author
        }
    }

    /// The slots of chain `which` under `hash`, whatever entry they hold.
    fn chain(&self, which: usize, hash: u64) -> impl Iterator<Item = (Handle, &Slot)> + '_ {
        let mut at = self.chains(which).get(&hash).copied().unwrap_or(NIL);
        std::iter::from_fn(move || {
            let slot = self.slot(at)?;
            let h = at;
            at = slot.next[which];
            Some((h, slot))
        })
    }

    /// The slot holding message (`platform`, `id`).
    fn find(&self, platform: Platform, id: &str) -> Option<Handle> {
        self.find_hashed(key_hash(platform, id), platform, id)
    }

    fn find_hashed(&self, hash: u64, platform: Platform, id: &str) -> Option<Handle> {
        self.chain(KEY, hash)
            .find(|(_, s)| s.entry.message.platform == platform && s.entry.message.id == id)
            .map(|(h, _)| h)
    }

    /// Puts slot `h` first in its chain `which`.
    fn link(&mut self, which: usize, h: Handle) {
        let Some(hash) = self.slot(h).map(|s| s.hash[which]) else {
            return;
        };
        let old = self.chains_mut(which).insert(hash, h).unwrap_or(NIL);
        if let Some(s) = self.slot_mut(old) {
            s.prev[which] = h;
        }
        if let Some(s) = self.slot_mut(h) {
            s.prev[which] = NIL;
            s.next[which] = old;
        }
    }

    /// Takes slot `h` out of its chain `which`.
    fn unlink(&mut self, which: usize, h: Handle) {
        let Some((hash, prev, next)) = self
            .slot(h)
            .map(|s| (s.hash[which], s.prev[which], s.next[which]))
        else {
            return;
        };
        match self.slot_mut(prev) {
            Some(p) => p.next[which] = next,
            None if next == NIL => {
                self.chains_mut(which).remove(&hash);
            }
            None => {
                self.chains_mut(which).insert(hash, next);
            }
        }
        if let Some(n) = self.slot_mut(next) {
            n.prev[which] = prev;
        }
    }

    /// Adds an entry. A message already queued (same [`MessageKey`]) is
    /// replaced by the new entry as given, including its `enqueued_at`.
    /// When full, an entry that has already expired by the new entry's
    /// `enqueued_at` makes room first; otherwise the new entry evicts the
    /// worst one only if it ranks strictly better.
    pub fn push(&mut self, entry: QueueEntry) -> PushOutcome {
        match self.push_inner(entry) {
            Pushed::Inserted => PushOutcome::Inserted,
            Pushed::Replaced(_) => PushOutcome::Replaced,
            Pushed::Evicted(old) => PushOutcome::Evicted(old),
            Pushed::Rejected(_) => PushOutcome::Rejected,
        }
    }

    fn push_inner(&mut self, entry: QueueEntry) -> Pushed {
        let hash = key_hash(entry.message.platform, &entry.message.id);
        if let Some(h) = self.find_hashed(hash, entry.message.platform, &entry.message.id) {
            let old = self.remove_handle(h);
            self.insert(entry, hash);
            return Pushed::Replaced(old.map(Box::new));
        }
        if self.ranked.len() < self.max_size {
            self.insert(entry, hash);
            return Pushed::Inserted;
        }
        // Full. An expired entry is dead weight whatever its rank.
        let expired = self
            .by_expiry
            .first_key_value()
            .filter(|(k, _)| k.at <= entry.enqueued_at)
            .map(|(_, &h)| h);
        let victim = expired.or_else(|| {
            self.ranked
                .last_key_value()
                .filter(|(worst, _)| Rank::of(&entry) < worst.rank())
                .map(|(_, &h)| h)
        });
        match victim.and_then(|h| self.remove_handle(h)) {
            Some(old) => {
                self.insert(entry, hash);
                Pushed::Evicted(Box::new(old))
            }
            None => Pushed::Rejected(Box::new(entry)),
        }
    }

    /// Adds an entry whose key is not queued; `hash` is its `key_hash`.
    fn insert(&mut self, entry: QueueEntry, hash: u64) {
        let m = &entry.message;
        let id: Arc<str> = Arc::from(m.id.as_str());
        let rank = RankKey {
            priority: entry.salience.priority,
            score: sortable_score(entry.salience.score),
            enqueued_at: entry.enqueued_at,
            platform: m.platform,
            id: Arc::clone(&id),
        };
        let expiry = ExpiryKey {
            at: entry.expires_at,
            platform: m.platform,
            id,
        };
        let authors = author_hash(m.platform, &m.channel, &m.author.id);
        let slot = Slot {
            entry,
            rank: rank.clone(),
            hash: [hash, authors],
            prev: [NIL; 2],
            next: [NIL; 2],
        };
        let h = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize] = Some(slot);
                h
            }
            None => {
                // `max_size` is at most a million, far below the handle range.
                let h = Handle::try_from(self.slots.len()).unwrap_or(NIL);
                self.slots.push(Some(slot));
                h
            }
        };
        self.ranked.insert(rank, h);
        self.by_expiry.insert(expiry, h);
        self.link(KEY, h);
        self.link(AUTHOR, h);
    }

    /// Takes slot `h` out of every index and frees it.
    fn remove_handle(&mut self, h: Handle) -> Option<QueueEntry> {
        let slot = self.detach(h)?;
        self.by_expiry.remove(&ExpiryKey {
            at: slot.entry.expires_at,
            platform: slot.rank.platform,
            id: slot.rank.id,
        });
        Some(slot.entry)
    }

    /// Takes slot `h` out of every index but `by_expiry` and frees it.
    fn detach(&mut self, h: Handle) -> Option<Slot> {
        self.slot(h)?;
        self.unlink(KEY, h);
        self.unlink(AUTHOR, h);
        let slot = self.slots.get_mut(h as usize)?.take()?;
        self.free.push(h);
        self.ranked.remove(&slot.rank);
        Some(slot)
    }

    /// Removes and returns the best entry that has not expired at `now`.
    /// Expired entries are skipped but left in place, so that `expire` can
    /// still report them; call `expire` regularly to keep this O(log n).
    pub fn pop_best(&mut self, now: DateTime<Utc>) -> Option<QueueEntry> {
        let h = self
            .ranked
            .values()
            .copied()
            .find(|&h| self.entry(h).is_some_and(|e| !e.is_expired(now)))?;
        self.remove_handle(h)
    }

    /// The best entry that has not expired at `now`.
    pub fn peek_best(&self, now: DateTime<Utc>) -> Option<&QueueEntry> {
        self.iter_sorted().find(|e| !e.is_expired(now))
    }

    /// Removes every entry expired at `now`, soonest deadline first.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<QueueEntry> {
        // Sized exactly: entries are large, and a growing Vec would reserve
        // room for four at the first push.
        let due = self.by_expiry.keys().take_while(|k| k.at <= now).count();
        let mut out = Vec::with_capacity(due);
        out.extend(std::iter::from_fn(|| self.pop_expired(now)));
        out
    }

    /// Removes the entry with the soonest deadline if it has expired at
    /// `now`: `while let Some(e) = q.pop_expired(now)` is [`expire`](Self::expire)
    /// without collecting into a Vec. A caller on the per-message path should
    /// prefer it: a Vec of several ~340-byte entries is a request that glibc
    /// malloc serves only after consolidating its small free chunks.
    pub fn pop_expired(&mut self, now: DateTime<Utc>) -> Option<QueueEntry> {
        loop {
            let (_, h) = self
                .by_expiry
                .first_key_value()
                .filter(|(k, _)| k.at <= now)?;
            let h = *h;
            self.by_expiry.pop_first();
            // Indexes out of step would be a bug; skip rather than stop.
            if let Some(slot) = self.detach(h) {
                return Some(slot.entry);
            }
        }
    }

    /// A moderator deleted one message. Ids are unique per platform; the
    /// channel must match too, so a stray delete from another channel with a
    /// colliding id cannot remove the wrong message.
    pub fn remove_message(
        &mut self,
        platform: Platform,
        channel: &str,
        id: &str,
    ) -> Option<QueueEntry> {
        let h = self.find(platform, id)?;
        if self.entry(h)?.message.channel != channel {
            return None;
        }
        self.remove_handle(h)
    }

    /// A ban or timeout: drops every pending message of that author in that
    /// channel, best first.
    pub fn remove_author(
        &mut self,
        platform: Platform,
        channel: &str,
        author_id: &str,
    ) -> Vec<QueueEntry> {
        let handles: Vec<Handle> = self
            .chain(AUTHOR, author_hash(platform, channel, author_id))
            .filter(|(_, s)| {
                let m = &s.entry.message;
                m.platform == platform && m.channel == channel && m.author.id == author_id
            })
            .map(|(h, _)| h)
            .collect();
        let mut gone: Vec<Slot> = Vec::with_capacity(handles.len());
        for h in handles {
            if let Some(slot) = self.detach(h) {
                self.by_expiry.remove(&ExpiryKey {
                    at: slot.entry.expires_at,
                    platform: slot.rank.platform,
                    id: Arc::clone(&slot.rank.id),
                });
                gone.push(slot);
            }
        }
        gone.sort_by(|a, b| a.rank.cmp(&b.rank));
        gone.into_iter().map(|s| s.entry).collect()
    }

    /// All entries, best first (expired ones included until `expire` runs).
    pub fn iter_sorted(&self) -> impl DoubleEndedIterator<Item = &QueueEntry> + '_ {
        self.ranked.values().filter_map(|&h| self.entry(h))
    }

    /// Re-scores every entry (the console changed the salience weights):
    /// `f` returns the new priority and score, which are written into each
    /// entry's `salience` so that what the console shows matches the order.
    pub fn rerank(&mut self, mut f: impl FnMut(&QueueEntry) -> (Priority, f64)) {
        let old = std::mem::take(&mut self.ranked);
        for (_, h) in old {
            let Some(slot) = self.slots.get_mut(h as usize).and_then(Option::as_mut) else {
                continue;
            };
            let (priority, score) = f(&slot.entry);
            // (A copy only if a snapshot still holds the old score.)
            let salience = Arc::make_mut(&mut slot.entry.salience);
            salience.priority = priority;
            salience.score = score;
            slot.rank.priority = priority;
            slot.rank.score = sortable_score(score);
            self.ranked.insert(slot.rank.clone(), h);
        }
    }

    /// Reloads entries saved before a restart, merging them into the queue
    /// with the usual rules. Returns the entries that did not fit (evicted or
    /// rejected) and the ones a later duplicate replaced. Expired entries are
    /// kept until the next `expire(now)`, which reports them.
    pub fn restore(&mut self, entries: Vec<QueueEntry>) -> Vec<QueueEntry> {
        let mut dropped = Vec::new();
        for entry in entries {
            match self.push_inner(entry) {
                Pushed::Inserted | Pushed::Replaced(None) => {}
                Pushed::Replaced(Some(old)) | Pushed::Evicted(old) | Pushed::Rejected(old) => {
                    dropped.push(*old)
                }
            }
        }
        dropped
    }

    /// Changes the capacity; when shrinking, the worst entries leave (returned
    /// worst first).
    pub fn set_max_size(&mut self, max_size: usize) -> Vec<QueueEntry> {
        self.max_size = max_size.max(1);
        let mut out = Vec::new();
        while self.ranked.len() > self.max_size {
            let Some(h) = self.ranked.last_key_value().map(|(_, &h)| h) else {
                break;
            };
            match self.remove_handle(h) {
                Some(e) => out.push(e),
                None => break,
            }
        }
        out
    }
}

enum Pushed {
    Inserted,
    Replaced(Option<Box<QueueEntry>>),
    Evicted(Box<QueueEntry>),
    Rejected(Box<QueueEntry>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Author, SalienceBreakdown};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(s: i64) -> DateTime<Utc> {
        t0() + TimeDelta::seconds(s)
    }

    fn msg(platform: Platform, channel: &str, id: &str, author: &str) -> ChatMessage {
        ChatMessage {
            platform,
            channel: channel.into(),
            id: id.into(),
            at: t0(),
            author: Author {
                id: author.into(),
                name: format!("user{author}"),
                ..Author::default()
            },
            text: format!("message {id}"),
            paid: None,
            reply_to: None,
        }
    }

    fn sal(priority: Priority, score: f64) -> Salience {
        Salience {
            score,
            breakdown: SalienceBreakdown::default(),
            priority,
            reasons: vec![],
        }
    }

    /// Twitch message `id` by author `a1` in `chan`, enqueued at second `t`,
    /// living 180 s.
    fn entry(id: &str, priority: Priority, score: f64, t: i64) -> QueueEntry {
        QueueEntry::new(
            msg(Platform::Twitch, "chan", id, "a1"),
            sal(priority, score),
            at(t),
            TimeDelta::seconds(180),
        )
    }

    fn ids(q: &SalienceQueue) -> Vec<String> {
        q.iter_sorted().map(|e| e.message.id.clone()).collect()
    }

    #[test]
    fn orders_by_priority_then_score_then_oldest_first() {
        let mut q = SalienceQueue::with_max_size(10);
        q.push(entry("low-high-score", Priority::Low, 0.99, 0));
        q.push(entry("high-young", Priority::High, 0.5, 5));
        q.push(entry("high-old", Priority::High, 0.5, 1));
        q.push(entry("high-better", Priority::High, 0.7, 9));
        q.push(entry("crit", Priority::Critical, 0.1, 9));
        assert_eq!(
            ids(&q),
            [
                "crit",
                "high-better",
                "high-old",
                "high-young",
                "low-high-score"
            ]
        );
        let order: Vec<String> = std::iter::from_fn(|| q.pop_best(at(10)))
            .map(|e| e.message.id.clone())
            .collect();
        assert_eq!(
            order,
            [
                "crit",
                "high-better",
                "high-old",
                "high-young",
                "low-high-score"
            ]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn nan_score_ranks_last_and_negative_zero_ties_with_zero() {
        let mut q = SalienceQueue::with_max_size(10);
        q.push(entry("nan", Priority::Medium, f64::NAN, 0));
        q.push(entry("neg-zero-young", Priority::Medium, -0.0, 2));
        q.push(entry("zero-old", Priority::Medium, 0.0, 1));
        assert_eq!(ids(&q), ["zero-old", "neg-zero-young", "nan"]);
    }

    #[test]
    fn same_key_replaces_without_growing() {
        let mut q = SalienceQueue::with_max_size(2);
        assert_eq!(
            q.push(entry("a", Priority::Low, 0.1, 0)),
            PushOutcome::Inserted
        );
        assert_eq!(
            q.push(entry("b", Priority::Low, 0.2, 0)),
            PushOutcome::Inserted
        );
        assert_eq!(
            q.push(entry("a", Priority::High, 0.9, 1)),
            PushOutcome::Replaced
        );
        assert_eq!(q.len(), 2);
        assert_eq!(ids(&q), ["a", "b"]);
        assert_eq!(
            q.get(&entry("a", Priority::Low, 0.0, 0).key())
                .unwrap()
                .salience
                .priority,
            Priority::High
        );
    }

    #[test]
    fn full_queue_evicts_the_worst_only_for_a_better_entry() {
        let mut q = SalienceQueue::with_max_size(2);
        q.push(entry("mid", Priority::Medium, 0.5, 0));
        q.push(entry("worst", Priority::Low, 0.9, 0));
        // Equal to the worst (same priority/score, younger) is not better.
        assert_eq!(
            q.push(entry("tie", Priority::Low, 0.9, 5)),
            PushOutcome::Rejected
        );
        assert_eq!(
            q.push(entry("worse", Priority::Low, 0.1, 5)),
            PushOutcome::Rejected
        );
        match q.push(entry("better", Priority::High, 0.2, 5)) {
            PushOutcome::Evicted(old) => assert_eq!(old.message.id, "worst"),
            other => panic!("expected eviction, got {other:?}"),
        }
        assert_eq!(ids(&q), ["better", "mid"]);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn full_queue_drops_an_expired_entry_before_judging_rank() {
        let mut q = SalienceQueue::with_max_size(2);
        q.push(entry("old-crit", Priority::Critical, 1.0, 0)); // expires at 180
        q.push(entry("fresh", Priority::High, 0.5, 100));
        match q.push(entry("late-low", Priority::Low, 0.1, 200)) {
            PushOutcome::Evicted(old) => assert_eq!(old.message.id, "old-crit"),
            other => panic!("expected the expired entry to go, got {other:?}"),
        }
        assert_eq!(ids(&q), ["fresh", "late-low"]);
    }

    #[test]
    fn expiry_is_skipped_by_pop_and_reported_by_expire() {
        let mut q = SalienceQueue::with_max_size(10);
        q.push(entry("crit-old", Priority::Critical, 0.9, 0)); // expires 180
        q.push(entry("low-new", Priority::Low, 0.1, 100)); // expires 280
        q.push(entry("med", Priority::Medium, 0.1, 50)); // expires 230
        assert_eq!(q.peek_best(at(179)).unwrap().message.id, "crit-old");
        // The deadline itself counts as expired.
        assert_eq!(q.peek_best(at(180)).unwrap().message.id, "med");
        assert_eq!(q.pop_best(at(180)).unwrap().message.id, "med");
        // Skipped, not silently dropped:
        assert_eq!(q.len(), 2);
        let gone: Vec<String> = q
            .expire(at(279))
            .into_iter()
            .map(|e| e.message.id.clone())
            .collect();
        assert_eq!(gone, ["crit-old"]);
        assert_eq!(ids(&q), ["low-new"]);
        assert!(q.pop_best(at(280)).is_none());
        assert_eq!(q.expire(at(1000)).len(), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn removal_by_message_checks_platform_and_channel() {
        let mut q = SalienceQueue::with_max_size(10);
        q.push(entry("a", Priority::Low, 0.1, 0));
        q.push(entry("b", Priority::Low, 0.2, 0));
        assert!(q.remove_message(Platform::Youtube, "chan", "a").is_none());
        assert!(q.remove_message(Platform::Twitch, "other", "a").is_none());
        assert_eq!(
            q.remove_message(Platform::Twitch, "chan", "a")
                .unwrap()
                .message
                .id,
            "a"
        );
        assert!(q.remove_message(Platform::Twitch, "chan", "a").is_none());
        assert_eq!(ids(&q), ["b"]);
        // Indexes stay consistent: expiry no longer reports the removed one.
        assert_eq!(q.expire(at(10_000)).len(), 1);
    }

    #[test]
    fn removal_by_author_takes_only_that_author_in_that_channel() {
        let mut q = SalienceQueue::with_max_size(100);
        let mk = |id: &str, chan: &str, author: &str, p: Platform, score: f64| {
            QueueEntry::new(
                msg(p, chan, id, author),
                sal(Priority::Medium, score),
                at(0),
                TimeDelta::seconds(60),
            )
        };
        q.push(mk("1", "chan", "troll", Platform::Twitch, 0.3));
        q.push(mk("2", "chan", "troll", Platform::Twitch, 0.9));
        q.push(mk("3", "other", "troll", Platform::Twitch, 0.5));
        q.push(mk("4", "chan", "troll", Platform::Youtube, 0.5));
        q.push(mk("5", "chan", "nice", Platform::Twitch, 0.5));
        let gone: Vec<String> = q
            .remove_author(Platform::Twitch, "chan", "troll")
            .into_iter()
            .map(|e| e.message.id.clone())
            .collect();
        assert_eq!(gone, ["2", "1"]);
        assert_eq!(q.len(), 3);
        assert!(
            q.remove_author(Platform::Twitch, "chan", "troll")
                .is_empty()
        );
        assert_eq!(q.remove_author(Platform::Twitch, "other", "troll").len(), 1);
        // Empty author sets are dropped, so memory follows the queue, not history.
        assert_eq!(q.by_author.len(), 2);
    }

    #[test]
    fn removal_by_author_scales_linearly() {
        // 20000 entries of one author: quadratic removal would take minutes
        // in a debug build; this asserts correctness, the bench measures speed.
        let mut q = SalienceQueue::with_max_size(50_000);
        for i in 0..20_000 {
            q.push(entry(
                &i.to_string(),
                Priority::Low,
                f64::from(i % 100) / 100.0,
                i64::from(i % 50),
            ));
        }
        let gone = q.remove_author(Platform::Twitch, "chan", "a1");
        assert_eq!(gone.len(), 20_000);
        assert!(gone.windows(2).all(|w| Rank::of(&w[0]) < Rank::of(&w[1])));
        assert!(q.is_empty() && q.by_expiry.is_empty() && q.by_key.is_empty());
    }

    #[test]
    fn rerank_reorders_and_rewrites_salience() {
        let mut q = SalienceQueue::with_max_size(10);
        q.push(entry("a", Priority::High, 0.9, 0));
        q.push(entry("b", Priority::Low, 0.1, 1));
        q.push(entry("c", Priority::Medium, 0.5, 2));
        // Invert the order: the lowest old score becomes the best.
        q.rerank(|e| (Priority::Medium, 1.0 - e.salience.score));
        assert_eq!(ids(&q), ["b", "c", "a"]);
        let b = q.iter_sorted().next().unwrap();
        assert_eq!(b.salience.priority, Priority::Medium);
        assert!((b.salience.score - 0.9).abs() < 1e-12);
        // Indexes follow the new ranks: removal and pop still work.
        assert!(q.remove_message(Platform::Twitch, "chan", "c").is_some());
        assert_eq!(q.pop_best(at(3)).unwrap().message.id, "b");
        assert_eq!(q.pop_best(at(3)).unwrap().message.id, "a");
    }

    #[test]
    fn restore_applies_the_usual_rules_and_returns_what_did_not_fit() {
        let mut q = SalienceQueue::with_max_size(2);
        let saved = vec![
            entry("a", Priority::Low, 0.1, 0),
            entry("b", Priority::High, 0.5, 0),
            entry("c", Priority::Critical, 0.5, 0),
            entry("d", Priority::Low, 0.0, 0),
        ];
        let dropped: Vec<String> = q
            .restore(saved)
            .into_iter()
            .map(|e| e.message.id.clone())
            .collect();
        assert_eq!(dropped, ["a", "d"]);
        assert_eq!(ids(&q), ["c", "b"]);
        // Restored entries keep their deadlines.
        assert_eq!(q.expire(at(180)).len(), 2);
    }

    #[test]
    fn shrinking_evicts_the_worst() {
        let mut q = SalienceQueue::with_max_size(5);
        for (i, s) in [0.5, 0.1, 0.9, 0.3].into_iter().enumerate() {
            q.push(entry(&i.to_string(), Priority::Medium, s, 0));
        }
        let gone: Vec<String> = q
            .set_max_size(2)
            .into_iter()
            .map(|e| e.message.id.clone())
            .collect();
        assert_eq!(gone, ["1", "3"]);
        assert_eq!(ids(&q), ["2", "0"]);
    }

    #[test]
    fn built_from_config_entries_get_the_configured_age() {
        let q = SalienceQueue::new(QueueConfig {
            max_size: 3,
            max_age_s: 60,
        });
        assert_eq!((q.max_size(), q.max_age()), (3, TimeDelta::seconds(60)));
        let e = q.make_entry(
            msg(Platform::Discord, "c", "x", "a"),
            sal(Priority::Low, 0.1),
            at(10),
        );
        assert_eq!((e.enqueued_at, e.expires_at), (at(10), at(70)));
        assert!(!e.is_expired(at(69)) && e.is_expired(at(70)));
    }

    #[test]
    fn config_defaults_and_ranges() {
        let cfg = QueueConfig::default();
        assert_eq!((cfg.max_size, cfg.max_age_s), (1000, 180));
        cfg.validate().unwrap();
        let err = QueueConfig {
            max_size: 0,
            ..cfg.clone()
        }
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().contains("queue.max_size") && err.to_string().contains("1 to 1000000")
        );
        let err = QueueConfig {
            max_age_s: 86_401,
            ..cfg.clone()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("queue.max_age_s"));

        let parsed: QueueConfig = toml::from_str("max_size = 5").unwrap();
        assert_eq!((parsed.max_size, parsed.max_age_s), (5, 180));
        assert!(toml::from_str::<QueueConfig>("max_sise = 5").is_err());
    }

    /// The queue's rules written the slow, obvious way: every operation sorts
    /// or scans a plain list. The real queue must agree with it on every step.
    #[derive(Default)]
    struct Model {
        max_size: usize,
        entries: Vec<QueueEntry>,
    }

    impl Model {
        fn sorted(&self) -> Vec<QueueEntry> {
            let mut v = self.entries.clone();
            v.sort_by(|a, b| Rank::of(a).cmp(&Rank::of(b)));
            v
        }

        fn take(&mut self, key: &MessageKey) -> Option<QueueEntry> {
            let i = self.entries.iter().position(|e| &e.key() == key)?;
            Some(self.entries.remove(i))
        }

        fn push(&mut self, entry: QueueEntry) -> PushOutcome {
            if self.take(&entry.key()).is_some() {
                self.entries.push(entry);
                return PushOutcome::Replaced;
            }
            if self.entries.len() < self.max_size {
                self.entries.push(entry);
                return PushOutcome::Inserted;
            }
            let expired = self
                .entries
                .iter()
                .filter(|e| e.expires_at <= entry.enqueued_at)
                .min_by(|a, b| (a.expires_at, a.key()).cmp(&(b.expires_at, b.key())))
                .map(QueueEntry::key);
            let victim = expired.or_else(|| {
                let sorted = self.sorted();
                let worst = sorted.last()?;
                (Rank::of(&entry) < Rank::of(worst)).then(|| worst.key())
            });
            match victim.and_then(|k| self.take(&k)) {
                Some(old) => {
                    self.entries.push(entry);
                    PushOutcome::Evicted(Box::new(old))
                }
                None => PushOutcome::Rejected,
            }
        }

        fn pop_best(&mut self, now: DateTime<Utc>) -> Option<QueueEntry> {
            let key = self
                .sorted()
                .into_iter()
                .find(|e| !e.is_expired(now))?
                .key();
            self.take(&key)
        }

        fn expire(&mut self, now: DateTime<Utc>) -> Vec<QueueEntry> {
            let (mut gone, keep): (Vec<_>, Vec<_>) =
                self.entries.drain(..).partition(|e| e.is_expired(now));
            self.entries = keep;
            gone.sort_by_key(|e| (e.expires_at, e.key()));
            gone
        }

        fn remove_author(&mut self, p: Platform, chan: &str, author: &str) -> Vec<QueueEntry> {
            let (gone, keep): (Vec<_>, Vec<_>) = self.entries.drain(..).partition(|e| {
                e.message.platform == p
                    && e.message.channel == chan
                    && e.message.author.id == author
            });
            self.entries = keep;
            let mut gone = gone;
            gone.sort_by(|a, b| Rank::of(a).cmp(&Rank::of(b)));
            gone
        }
    }

    #[test]
    fn agrees_with_a_naive_model_under_random_operations() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for round in 0..20 {
            let max_size = 1 + round % 7 * 3;
            let mut q = SalienceQueue::with_max_size(max_size);
            let mut m = Model {
                max_size,
                ..Model::default()
            };
            let mut clock = 0i64;
            for _ in 0..600 {
                clock += rng.random_range(0..4);
                let p = Platform::ALL[rng.random_range(0..2)];
                let chan = ["c1", "c2"][rng.random_range(0..2)];
                let id = format!("id{}", rng.random_range(0..40));
                let author = format!("a{}", rng.random_range(0..4));
                match rng.random_range(0..100) {
                    0..=59 => {
                        // Few distinct scores and times, so ties reach the key.
                        let prio = [Priority::Low, Priority::Medium, Priority::High]
                            [rng.random_range(0..3)];
                        let score = f64::from(rng.random_range(0..3u8)) / 2.0;
                        let e = QueueEntry::new(
                            msg(p, chan, &id, &author),
                            sal(prio, score),
                            at(clock - rng.random_range(0..3)),
                            TimeDelta::seconds(rng.random_range(1..40)),
                        );
                        assert_eq!(q.push(e.clone()), m.push(e));
                    }
                    60..=69 => assert_eq!(q.pop_best(at(clock)), m.pop_best(at(clock))),
                    70..=74 => assert_eq!(q.expire(at(clock)), m.expire(at(clock))),
                    75..=79 => {
                        let popped: Vec<QueueEntry> =
                            std::iter::from_fn(|| q.pop_expired(at(clock))).collect();
                        assert_eq!(popped, m.expire(at(clock)));
                    }
                    80..=87 => {
                        let key = MessageKey {
                            platform: p,
                            id: id.clone(),
                        };
                        let expect = m
                            .entries
                            .iter()
                            .any(|e| e.key() == key && e.message.channel == chan)
                            .then(|| m.take(&key))
                            .flatten();
                        assert_eq!(q.remove_message(p, chan, &id), expect);
                    }
                    88..=93 => assert_eq!(
                        q.remove_author(p, chan, &author),
                        m.remove_author(p, chan, &author)
                    ),
                    94..=96 => {
                        let key = MessageKey { platform: p, id };
                        assert_eq!(q.get(&key), m.entries.iter().find(|e| e.key() == key));
                    }
                    _ => {
                        let size = 1 + rng.random_range(0..20);
                        m.max_size = size.max(1);
                        let mut expect = Vec::new();
                        while m.entries.len() > m.max_size {
                            let sorted = m.sorted();
                            let worst = sorted.last().map(QueueEntry::key);
                            expect.extend(worst.and_then(|k| m.take(&k)));
                        }
                        assert_eq!(q.set_max_size(size), expect);
                    }
                }
                let expect = m.sorted();
                assert!(q.iter_sorted().eq(expect.iter()));
                assert_eq!(q.len(), expect.len());
                assert_eq!(q.by_expiry.len(), expect.len());
            }
        }
    }
}
