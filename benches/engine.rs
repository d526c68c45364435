//! Engine throughput: the salience queue under steady chat and moderation, the
//! attention machine per message, a whole simulated ten-hour stream, and the
//! pure engine steps of `Core::handle` per message of the demo log.
//! Queue routines return the queue so that dropping it is not timed.

use chrono::{DateTime, TimeDelta, Utc};
use clank::config::Config;
use clank::engine::attention::{AttentionConfig, AttentionMachine};
use clank::engine::commands;
use clank::engine::filter::{ContentFilter, VerdictCache};
use clank::engine::queue::{QueueEntry, SalienceQueue};
use clank::engine::salience::SalienceEngine;
use clank::engine::triggers::Triggers;
use clank::model::{
    AttentionState, Author, ChannelConfig, ChatEvent, ChatMessage, Platform, Priority, Salience,
    SalienceBreakdown,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default()
}

fn entry(i: u64, author: u64, rng: &mut ChaCha8Rng, now: DateTime<Utc>) -> QueueEntry {
    let priority = match rng.random_range(0..100) {
        0..=54 => Priority::Low,
        55..=84 => Priority::Medium,
        85..=97 => Priority::High,
        _ => Priority::Critical,
    };
    let message = ChatMessage {
        platform: Platform::Twitch,
        channel: "chan".into(),
        id: i.to_string(),
        at: now,
        author: Author {
            id: author.to_string(),
            name: "viewer".into(),
            ..Author::default()
        },
        text: "how did you beat that boss?".into(),
        paid: None,
        reply_to: None,
    };
    let salience = Salience {
        score: rng.random(),
        breakdown: SalienceBreakdown::default(),
        priority,
        reasons: vec![],
    };
    QueueEntry::new(message, salience, now, TimeDelta::seconds(180))
}

/// A full queue of `n` entries from 500 authors.
fn full_queue(n: u64) -> SalienceQueue {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut q = SalienceQueue::with_max_size(n as usize);
    for i in 0..n {
        q.push(entry(i, i % 500, &mut rng, t0()));
    }
    q
}

fn queue(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let entries: Vec<QueueEntry> = (0..10_000)
        .map(|i| entry(1_000_000 + i, i % 500, &mut rng, t0()))
        .collect();

    c.bench_function("queue/push into full 1000 (evict or reject)", |b| {
        b.iter_batched(
            || (full_queue(1000), entries.clone()),
            |(mut q, es)| {
                for e in es {
                    black_box(q.push(e));
                }
                q
            },
            BatchSize::LargeInput,
        )
    });
    c.bench_function("queue/pop_best x1000 from 1000", |b| {
        b.iter_batched(
            || full_queue(1000),
            |mut q| {
                while let Some(e) = q.pop_best(t0()) {
                    black_box(e);
                }
                q
            },
            BatchSize::LargeInput,
        )
    });
    c.bench_function("queue/remove_author (20 of 10000)", |b| {
        b.iter_batched(
            || full_queue(10_000),
            |mut q| {
                black_box(q.remove_author(Platform::Twitch, "chan", "42"));
                q
            },
            BatchSize::LargeInput,
        )
    });
    c.bench_function("queue/rerank 1000", |b| {
        b.iter_batched(
            || full_queue(1000),
            |mut q| {
                q.rerank(|e| (e.salience.priority, 1.0 - e.salience.score));
                q
            },
            BatchSize::LargeInput,
        )
    });
}

fn attention(c: &mut Criterion) {
    c.bench_function("attention/tick+observe+decide per message", |b| {
        let mut m = AttentionMachine::new(AttentionConfig::default(), 7, t0());
        let mut t = 0i64;
        b.iter(|| {
            t += 2000;
            let now = t0() + TimeDelta::milliseconds(t);
            black_box(m.tick(now));
            black_box(m.observe_message(Platform::Twitch, Priority::Medium, now));
            black_box(m.decide(Priority::Medium, now));
        })
    });
    c.bench_function("attention+queue/ten-hour stream (18000 messages)", |b| {
        b.iter(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let mut m = AttentionMachine::new(AttentionConfig::default(), 3, t0());
            let mut q = SalienceQueue::with_max_size(1000);
            for i in 0..18_000u64 {
                let now = t0() + TimeDelta::seconds(2 * i as i64);
                m.tick(now);
                let e = entry(i, i % 300, &mut rng, now);
                m.observe_message(e.message.platform, e.salience.priority, now);
                q.push(e);
                if m.decision_due(now) {
                    q.expire(now);
                    if let Some(best) = q.pop_best(now) {
                        black_box(m.decide(best.salience.priority, now));
                    }
                    m.mark_decided(now);
                }
            }
            black_box(m.time_in_state_totals(t0() + TimeDelta::hours(10)))
        })
    });
}

/// The engine half of the core: everything `Core::handle` does per event
/// except the store, the duplicate check and the events it reports.
struct EngineSteps {
    filter: ContentFilter,
    verdicts: VerdictCache,
    salience: SalienceEngine,
    queue: SalienceQueue,
    attention: AttentionMachine,
    triggers: Triggers,
    channel: ChannelConfig,
}

impl EngineSteps {
    fn new(config: &Config, now: DateTime<Utc>) -> Self {
        EngineSteps {
            filter: ContentFilter::load(&config.filter),
            verdicts: VerdictCache::default(),
            salience: SalienceEngine::load(config.salience.clone()).expect("embedded lexicon"),
            queue: SalienceQueue::new(config.queue.clone()),
            attention: AttentionMachine::new(config.attention.clone(), 42, now),
            triggers: Triggers::new(config.salience.streamer_names.clone()),
            channel: config.channel_defaults.to_channel_config(),
        }
    }

    /// One event at `now`, in `Core::handle`'s order: tick (attention,
    /// expiry, due decisions), then filter, command check, salience,
    /// attention, triggers and the queue.
    fn handle(&mut self, event: ChatEvent, now: DateTime<Utc>) {
        black_box(self.attention.tick(now));
        while let Some(e) = self.queue.pop_expired(now) {
            black_box(e);
        }
        while self.attention.decision_due(now) {
            if let Some(p) = self.queue.peek_best(now).map(|e| e.salience.priority) {
                let d = self.attention.decide(p, now);
                if d.respond
                    || p >= Priority::Critical
                    || self.attention.state() != AttentionState::DeepFocus
                {
                    black_box(self.queue.pop_best(now));
                }
            }
            self.attention.mark_decided(now);
        }
        match event {
            ChatEvent::Message(m) => {
                if self.verdicts.check(&self.filter, &m.text).is_blocked()
                    || commands::parse(&m.text).is_some()
                {
                    return;
                }
                let s = self.salience.score(&m, now);
                black_box(self.attention.observe_message(m.platform, s.priority, now));
                black_box(self.triggers.on_message(&m, &self.channel, now));
                let entry = QueueEntry::new(m, s, now, self.queue.max_age());
                black_box(self.queue.push(entry));
            }
            ChatEvent::Delete {
                platform,
                channel,
                id,
                ..
            } => {
                black_box(self.queue.remove_message(platform, &channel, &id));
            }
            ChatEvent::Ban {
                platform,
                channel,
                author_id,
                ..
            } => {
                black_box(self.queue.remove_author(platform, &channel, &author_id));
            }
        }
    }
}

/// The demo log replayed as `clank replay` loops it: pass `n` shifted `n`
/// spans later, with fresh ids. The engine state carries over from batch to
/// batch, so its caches are as warm as in a long replay.
fn core_path(c: &mut Criterion) {
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/chat.jsonl");
    let file = std::fs::File::open(&log).expect("demo log");
    let (first, _) = clank::chatlog::read_all(file).expect("demo log parses");
    let (Some(start), Some(end)) = (
        first.first().map(ChatEvent::at),
        first.last().map(ChatEvent::at),
    ) else {
        return;
    };
    let span = end - start + TimeDelta::seconds(1);
    let mut config = Config::default();
    config.salience.streamer_names = vec!["Mika".into()];
    let mut steps = EngineSteps::new(&config, start);
    let mut pass = 0u32;
    let mut last = start;
    // Warm up over one pass so the filter's verdicts are known, as they are
    // after the first minutes of a replay.
    for ev in &first {
        let now = ev.at().max(last);
        last = now;
        steps.handle(ev.clone(), now);
    }
    let mut g = c.benchmark_group("core_path");
    g.throughput(Throughput::Elements(first.len() as u64));
    g.bench_function("engine steps per event, demo log", |b| {
        b.iter_batched(
            || {
                pass += 1;
                let offset = span * pass as i32;
                first
                    .iter()
                    .map(|ev| clank::replay::shifted(ev, pass, offset))
                    .collect::<Vec<_>>()
            },
            |events| {
                for ev in events {
                    let now = ev.at().max(last);
                    last = now;
                    steps.handle(ev, now);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, queue, attention, core_path);
criterion_main!(benches);
