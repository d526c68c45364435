//! Engine throughput: the salience queue under steady chat and moderation, the
//! attention machine per message, and a whole simulated ten-hour stream.
//! Queue routines return the queue so that dropping it is not timed.

use chrono::{DateTime, TimeDelta, Utc};
use clank::engine::attention::{AttentionConfig, AttentionMachine};
use clank::engine::queue::{QueueEntry, SalienceQueue};
use clank::model::{Author, ChatMessage, Platform, Priority, Salience, SalienceBreakdown};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
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

criterion_group!(benches, queue, attention);
criterion_main!(benches);
