//! Reply pipeline overhead per draft with an instant loopback Ollama: from a
//! chat event entering the runtime to its reply leaving through the sink
//! (core, store, prompt, LLM stream, output gate, policy, claim, sink), and
//! time to first token as clank's front end sees it vs as the fake served it.
//! Prints p50/p99 besides criterion's numbers.

#[path = "../tests/support/fake_ollama.rs"]
mod fake_ollama;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use clank::adapters::Inbound;
use clank::adapters::chatlog::{RecorderAdapter, RecordingSink};
use clank::adapters::hub::Hub;
use clank::config::Config;
use clank::model::{Author, ChatEvent, ChatMessage, DraftState, Platform};
use clank::runtime::{self, Clock, Runtime, RuntimeOptions};
use clank::session::Update;
use clank::store::Store;
use criterion::Criterion;
use fake_ollama::Reply;
use tokio::sync::mpsc;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn mention(i: u64) -> ChatEvent {
    ChatEvent::Message(ChatMessage {
        platform: Platform::Twitch,
        channel: "mika".into(),
        id: format!("m{i}"),
        at: t0() + TimeDelta::seconds(i as i64),
        author: Author {
            id: format!("u{}", i % 50),
            name: format!("viewer_{}", i % 50),
            ..Author::default()
        },
        text: "@clank how is the run going today?".into(),
        paid: None,
        reply_to: None,
    })
}

struct Bench {
    rt: Runtime,
    tx: mpsc::Sender<Inbound>,
    _hub: Hub,
    next: u64,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn start(url: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "[llm]\nurl = \"{url}\"\nretries = 0\n[channel_defaults]\ntime_delay_s = 0\n\
             [auto]\nmin_priority = \"LOW\"\nmax_sends_per_minute = 120\n\
             [salience]\nstreamer_names = [\"clank\"]\n"
        );
        let config = Config::from_toml(&text).expect("config");
        let store = Store::open(&dir.path().join("b.db"), &config.store).expect("store");
        let (tx, rx) = mpsc::channel(16);
        let mut o = RuntimeOptions::new(config, store, rx);
        o.clock = Clock::Virtual;
        o.auto_send = true;
        o.snapshots = false;
        let hub = Hub::start(
            vec![Box::new(RecorderAdapter {
                sink: Arc::new(RecordingSink::default()),
            })],
            tx.clone(),
            tokio_util::sync::CancellationToken::new(),
        );
        o.router = hub.router();
        let rt = runtime::start(o).expect("runtime");
        Self {
            rt,
            tx,
            _hub: hub,
            next: 0,
            _dir: dir,
        }
    }

    /// One mention in; returns (time to the first streamed token seen by a
    /// front end, time until the reply was sent).
    async fn one(&mut self) -> (Option<Duration>, Duration) {
        // Every 2 minutes of virtual time, so the per-minute cap never holds a send.
        self.next += 1;
        let start = Instant::now();
        let _ = self.tx.send(Inbound::Chat(mention(self.next * 120))).await;
        let mut first = None;
        let mut seen = Vec::new();
        loop {
            let u =
                match tokio::time::timeout(Duration::from_secs(10), self.rt.updates.recv()).await {
                    Ok(Some(u)) => u,
                    Ok(None) => break,
                    Err(_) => panic!("no reply sent within 10 s; last updates: {seen:#?}"),
                };
            if seen.len() > 12 {
                seen.remove(0);
            }
            seen.push(format!("{u:?}"));
            match u {
                Update::Draft(d) if d.state == DraftState::Streaming && !d.text.is_empty() => {
                    first.get_or_insert_with(|| start.elapsed());
                }
                Update::Draft(d) if d.state == DraftState::Sent => {
                    return (first, start.elapsed());
                }
                _ => {}
            }
        }
        (first, start.elapsed())
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn bench_pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let fake = rt.block_on(fake_ollama::start());
    fake.set_default(Reply::text("The run is going great, thanks!"));
    let mut b = rt.block_on(async { Bench::start(&fake.url()) });
    // Warm up: connections, the model check, SQLite caches.
    for _ in 0..20 {
        rt.block_on(b.one());
    }

    let mut totals = Vec::new();
    let mut firsts = Vec::new();
    let served_before = fake.served().len();
    for _ in 0..500 {
        let (f, t) = rt.block_on(b.one());
        totals.push(t);
        if let Some(f) = f {
            firsts.push(f);
        }
    }
    let fake_ttft: Vec<Duration> = fake.served()[served_before..]
        .iter()
        .filter_map(|s| s.ttft())
        .collect();
    println!(
        "pipeline per draft (event in -> reply sent), 500 drafts: p50 {:?}  p99 {:?}  max {:?}",
        pct(totals.clone(), 0.5),
        pct(totals.clone(), 0.99),
        pct(totals, 1.0)
    );
    println!(
        "time to first token: chat event in -> first token at the front end p50 {:?} p99 {:?}; fake (request in -> first token out) p50 {:?} p99 {:?}",
        pct(firsts.clone(), 0.5),
        pct(firsts, 0.99),
        pct(fake_ttft.clone(), 0.5),
        pct(fake_ttft, 0.99)
    );

    let mut g = c.benchmark_group("pipeline");
    g.sample_size(50);
    g.bench_function("mention_to_sent_instant_llm", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(b.one()).1;
            }
            total
        })
    });
    g.finish();
    b.rt.cancel.cancel();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_pipeline(&mut c);
    c.final_summary();
}
