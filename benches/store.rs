//! Store throughput and latency: rows/s through the handle (batched), and
//! `last_messages(channel, 200)` with a million rows in the table.
//!
//! Builds the million-row file once in a temp dir (reporting its insert rate
//! and the process's peak RSS), then lets criterion measure, then prints a
//! manual p50/p99 for the query, since criterion reports means.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::DateTime;
use clank::model::{Author, ChatMessage, Platform, Priority, Role, Salience, SalienceBreakdown};
use clank::store::{Store, StoreConfig, StoredMessage};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "common/procfs.rs"]
mod procfs;
use procfs::peak_rss_kib;

/// CPU seconds used so far by the store writer threads (all stores; only the
/// busy one moves).
fn writer_cpu_secs() -> f64 {
    procfs::named_threads_cpu_secs("clank-store")
}

/// Rows in the query table; `STORE_BENCH_ROWS` overrides (quick runs).
fn rows() -> u64 {
    std::env::var("STORE_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}
/// Chat split over this many channels (three platforms).
const CHANNELS: u64 = 12;
const BASE_MS: i64 = 1_795_291_200_000;
const WORDS: &[&str] = &[
    "lol", "gg", "what", "boss", "how", "did", "you", "beat", "that", "mika", "pog", "run",
    "again", "chat", "is", "this", "the", "final", "phase", "?", "love", "stream", "hype",
];

fn channel_of(n: u64) -> (Platform, String) {
    let c = n % CHANNELS;
    (Platform::ALL[(c % 3) as usize], format!("channel{c}"))
}

/// How message ids look: time-ordered like Discord snowflakes, or random
/// like Twitch's UUIDs (the worst case for the UNIQUE(platform, id) index).
#[derive(Clone, Copy)]
enum Ids {
    Sequential,
    Random,
}

/// One plausible chat message; `n` makes the id unique.
fn message(rng: &mut ChaCha8Rng, ids: Ids, n: u64, t_ms: i64) -> StoredMessage {
    let (platform, channel) = channel_of(n);
    let words = rng.random_range(3..14);
    let mut text = String::with_capacity(64);
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    let author = rng.random_range(0..5000u32);
    let roles = if author % 7 == 0 {
        vec![Role::Subscriber]
    } else {
        vec![]
    };
    let score = rng.random::<f64>();
    let at = DateTime::from_timestamp_millis(BASE_MS + t_ms).expect("in range");
    StoredMessage {
        message: std::sync::Arc::new(ChatMessage {
            platform,
            channel,
            id: match ids {
                Ids::Sequential => format!("{:019}", 1_300_000_000_000_000_000 + n),
                Ids::Random => format!(
                    "{:08x}-{:04x}-4{:03x}-{:016x}",
                    rng.random::<u32>(),
                    rng.random::<u16>(),
                    n & 0xfff,
                    rng.random::<u64>()
                ),
            },
            at,
            author: Author {
                id: author.to_string(),
                name: format!("viewer{author}"),
                roles,
                months: (author % 3 == 0).then_some(author % 40),
                first_message: false,
                returning_chatter: false,
            },
            text,
            paid: None,
            reply_to: None,
        }),
        salience: Some(std::sync::Arc::new(Salience {
            score,
            breakdown: SalienceBreakdown {
                content: score,
                authority: 0.1,
                relevance: 0.5,
                temporal: 1.0,
            },
            priority: Priority::Low,
            reasons: vec![],
        })),
        attention_state: None,
        metadata: None,
        processed_at: Some(at),
        // As the core writes them: every scored message enters the queue.
        queued_until: Some(at + chrono::TimeDelta::seconds(180)),
    }
}

/// Inserts `count` messages through the handle, one call each, and flushes.
/// Messages are made beforehand so only the store is timed.
fn insert_run(
    store: &Store,
    rng: &mut ChaCha8Rng,
    ids: Ids,
    next: &mut u64,
    count: u64,
) -> Duration {
    let msgs: Vec<StoredMessage> = (*next..*next + count)
        .map(|n| message(rng, ids, n, n as i64 * 10))
        .collect();
    *next += count;
    let t = Instant::now();
    for m in msgs {
        store.insert_message(m).expect("insert");
    }
    store.flush().expect("flush");
    t.elapsed()
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = StoreConfig::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);

    // The query table, built through the handle in chunks of 20k (small
    // chunks keep the pre-built messages from dominating the peak RSS).
    let big = Store::open(&dir.path().join("big.db"), &cfg).expect("open big");
    let mut next = 0;
    let mut spent = Duration::ZERO;
    let cpu0 = writer_cpu_secs();
    while next < rows {
        let chunk = (rows - next).min(20_000);
        spent += insert_run(&big, &mut rng, Ids::Sequential, &mut next, chunk);
    }
    let stats = big.flush().expect("flush");
    assert_eq!(stats.inserted, rows);
    let cpu = writer_cpu_secs() - cpu0;
    println!(
        "build: {rows} rows (sequential ids) in {:.2} s = {:.0} rows/s; writer CPU {:.2} us/row \
         (= {:.0} rows/s on an idle core), avg batch {:.0}, peak RSS {} KiB",
        spent.as_secs_f64(),
        rows as f64 / spent.as_secs_f64(),
        cpu * 1e6 / rows as f64,
        rows as f64 / cpu,
        rows as f64 / stats.commits.max(1) as f64,
        peak_rss_kib().map_or("?".into(), |k| k.to_string())
    );

    // Insert throughput into fresh files (each grows over the samples).
    const BATCH: u64 = 20_000;
    let mut g = c.benchmark_group("store_insert");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(BATCH));
    for (name, ids) in [
        ("sequential_ids", Ids::Sequential),
        ("random_ids", Ids::Random),
    ] {
        let store = Store::open(&dir.path().join(format!("{name}.db")), &cfg).expect("open");
        let mut next = 0;
        let cpu0 = writer_cpu_secs();
        g.bench_function(format!("insert_message_x{BATCH}_{name}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| insert_run(&store, &mut rng, ids, &mut next, BATCH))
                    .sum()
            });
        });
        let cpu = writer_cpu_secs() - cpu0;
        let stats = store.close().expect("close");
        println!(
            "{name}: {} rows, avg batch {:.0}, writer CPU {:.2} us/row (= {:.0} rows/s on an idle core)",
            stats.inserted,
            stats.inserted as f64 / stats.commits.max(1) as f64,
            cpu * 1e6 / stats.inserted as f64,
            stats.inserted as f64 / cpu
        );
    }
    g.finish();

    // Random ids once the table holds a million rows: the unique index's worst case.
    {
        let store = Store::open(&dir.path().join("random_1m.db"), &cfg).expect("open");
        let mut next = 0;
        let mut last = Duration::ZERO;
        let mut last_cpu = 0.0;
        while next < rows {
            let cpu0 = writer_cpu_secs();
            last = insert_run(&store, &mut rng, Ids::Random, &mut next, 100_000);
            last_cpu = writer_cpu_secs() - cpu0;
        }
        println!(
            "random ids: last 100k rows up to {rows} at {:.0} rows/s; writer CPU {:.2} us/row \
             (= {:.0} rows/s on an idle core)",
            100_000.0 / last.as_secs_f64(),
            last_cpu * 1e6 / 100_000.0,
            100_000.0 / last_cpu
        );
        store.close().expect("close");
    }

    let mut g = c.benchmark_group("store_query");
    g.bench_function("last_messages_200_of_1m", |b| {
        let mut k = 0u64;
        b.iter(|| {
            k += 1;
            let (platform, channel) = channel_of(k);
            black_box(big.last_messages(platform, &channel, 200).expect("query"))
        });
    });
    g.finish();

    let mut lat = Vec::with_capacity(5000);
    let cpu0 = writer_cpu_secs();
    for k in 0..5000u64 {
        let (platform, channel) = channel_of(k);
        let t = Instant::now();
        let got = big.last_messages(platform, &channel, 200).expect("query");
        lat.push(t.elapsed());
        assert_eq!(got.len(), 200);
    }
    let cpu = writer_cpu_secs() - cpu0;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "last_messages(200) over {rows} rows: p50 {:?}  p99 {:?}  max {:?}; writer CPU {:.0} us/query",
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1],
        cpu * 1e6 / lat.len() as f64
    );
    println!(
        "peak RSS of the bench process: {} KiB",
        peak_rss_kib().map_or("?".into(), |k| k.to_string())
    );
    big.close().expect("close big");
}

criterion_group!(benches, bench);
criterion_main!(benches);
