//! Twitch ingest throughput: the nymn capture looped to 1M lines
//! (1) end to end: a loopback IRC server streams them to the real adapter
//!     (twitch-irc transport + parser + our mapping + the bounded channel),
//!     once to a counting consumer, once into the real core with SQLite, and
//!     once through the whole live path (hub -> runtime: conductor, core
//!     thread, store, updates to a front end), as `clank --auto` runs it;
//! (2) our pure mapping of raw lines (`map_line`);
//! (3) twitch-irc's bare parse of the same lines (IRCMessage::parse +
//!     ServerMessage::try_from), the ceiling.
//! Prints msgs/s, CPU seconds and peak RSS (VmHWM). Then a short criterion
//! group over one pass of the corpus for regression tracking.
//!
//! `cargo bench --bench twitch_ingest` (LINES=200000 for a quicker run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use clank::adapters::Inbound;
use clank::adapters::twitch::{Endpoint, TwitchOptions, map_line, spawn};
use clank::core::CoreEvent;
use clank::model::{ChatEvent, DraftState};
use clank::session::Update;
use criterion::{Criterion, Throughput};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use twitch_irc::message::{IRCMessage, ServerMessage};

#[path = "common/procfs.rs"]
mod procfs;

const CORPUS: &str = include_str!("../tests/fixtures/twitch-nymn.irc");

fn lines_target() -> usize {
    std::env::var("LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn corpus() -> Vec<&'static str> {
    CORPUS.lines().filter(|l| !l.is_empty()).collect()
}

/// (user + system CPU seconds, peak RSS in KiB) of this process.
fn usage() -> (f64, u64) {
    (
        procfs::process_cpu_secs(),
        procfs::peak_rss_kib().unwrap_or(0),
    )
}

fn report(name: &str, n: usize, wall: Duration, cpu: f64) {
    let (_, hwm) = usage();
    println!(
        "{name:<42} {n:>9} msgs  {:>8.3} s  {:>12.0} msgs/s  cpu {:>6.2} s  peak RSS {:>7} KiB",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu,
        hwm
    );
}

/// Streams `total` corpus lines to whoever logs in and joins.
async fn serve(listener: TcpListener, total: usize) {
    let Ok((sock, _)) = listener.accept().await else {
        return;
    };
    let (read, mut write) = sock.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.starts_with("NICK") {
            let _ = write
                .write_all(b":tmi.twitch.tv 001 justinfan1 :Welcome\r\n")
                .await;
        }
        if line.starts_with("JOIN") {
            break;
        }
    }
    let corpus = corpus();
    let mut buf = Vec::with_capacity(1 << 20);
    for i in 0..total {
        let line = corpus[i % corpus.len()];
        let pass = i / corpus.len();
        if pass == 0 {
            buf.extend_from_slice(line.as_bytes());
        } else {
            // Each pass gets fresh message ids, so the core and the store see
            // new messages rather than duplicates they would drop early.
            buf.extend_from_slice(line.replace(";id=", &format!(";id={pass}-")).as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        if buf.len() >= 1 << 20 {
            if write.write_all(&buf).await.is_err() {
                return;
            }
            buf.clear();
        }
    }
    let _ = write.write_all(&buf).await;
    // Keep the socket open until the client is done.
    while let Ok(Some(_)) = lines.next_line().await {}
}

/// The same stream, consumed by the real core (filter -> SQLite store ->
/// salience -> queue -> attention) on its own thread, as the store's
/// blocking API requires.
fn into_core(total: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = clank::store::Store::open(
        &dir.path().join("bench.db"),
        &clank::store::StoreConfig::default(),
    )
    .expect("store");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, mut rx) = mpsc::channel::<Inbound>(4096);
    let core_thread = std::thread::spawn(move || {
        let config = clank::config::Config::default();
        let start = chrono::DateTime::parse_from_rfc3339("2024-01-06T16:19:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let (mut core, _) = clank::core::Core::new(&config, store, 7, start).expect("core");
        let mut out = Vec::new();
        let mut n = 0usize;
        let mut last = start;
        while n < total {
            match rx.blocking_recv() {
                Some(Inbound::Chat(ev)) => {
                    last = last.max(ev.at());
                    let _ = core.handle(ev, last, &mut out);
                    out.clear();
                    n += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        (n, core.counters().stored)
    });
    let (cpu0, _) = usage();
    let start = Instant::now();
    let cancel = CancellationToken::new();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let endpoint = Endpoint::from_config(&addr, false).expect("endpoint");
    let opts = TwitchOptions::new(vec!["nymn".into()], endpoint);
    let task = {
        let _guard = rt.enter();
        tokio::spawn(serve(listener, total));
        spawn(opts, None, tx, cancel.clone()).1
    };
    let (n, stored) = core_thread.join().expect("core thread");
    let wall = start.elapsed();
    let (cpu1, _) = usage();
    report(
        "end to end: fake server -> adapter -> core",
        n,
        wall,
        cpu1 - cpu0,
    );
    println!("    (core stored {stored} of them in SQLite; the rest were filtered or spam)");
    cancel.cancel();
    let _ = rt.block_on(task);
}

fn end_to_end(total: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(serve(listener, total));
        let endpoint = Endpoint::from_config(&addr, false).expect("endpoint");
        let opts = TwitchOptions::new(vec!["nymn".into()], endpoint);
        let (tx, mut rx) = mpsc::channel(4096);
        let cancel = CancellationToken::new();
        let (cpu0, _) = usage();
        let start = Instant::now();
        let (_h, task) = spawn(opts, None, tx, cancel.clone());
        // The corpus is 798 PRIVMSG + 2 CLEARCHAT per 800 lines: all map to
        // chat events, so the count of chat events equals the lines sent.
        let mut chat = 0usize;
        while chat < total {
            match rx.recv().await {
                Some(Inbound::Chat(ev)) => {
                    if let ChatEvent::Message(m) = &ev {
                        black_box(m.text.len());
                    }
                    chat += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        let wall = start.elapsed();
        let (cpu1, _) = usage();
        report(
            "end to end: fake server -> adapter -> channel",
            chat,
            wall,
            cpu1 - cpu0,
        );
        cancel.cancel();
        let _ = task.await;
    });
}

/// The whole live path, as `clank --auto` runs it: the configured Twitch
/// adapter behind the hub, the runtime (conductor, core thread, store
/// writer) and a front end reading every update. The LLM is down and
/// auto-send is off, the worst case for drafts piling up. Counts a message
/// as done when the front end sees it (shown, filtered or removed).
fn into_runtime(total: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(serve(listener, total));
        let text = format!(
            "[twitch]\nchannels = [\"nymn\"]\nirc_addr = \"{addr}\"\ntls = false\n\
             [llm]\nurl = \"http://127.0.0.1:9\"\nretries = 0\n"
        );
        let config = clank::config::Config::from_toml(&text).expect("config");
        let store =
            clank::store::Store::open(&dir.path().join("live.db"), &config.store).expect("store");
        let cancel = CancellationToken::new();
        let (cpu0, _) = usage();
        let start = Instant::now();
        let mut live = clank::live::start(
            &config,
            store.clone(),
            clank::live::Sources::Platforms,
            false,
            cancel.clone(),
        )
        .await
        .expect("live starts");
        let mut done = 0usize;
        let mut drafts = 0usize;
        while done < total {
            let Ok(Some(u)) =
                tokio::time::timeout(Duration::from_secs(30), live.updates.recv()).await
            else {
                println!("    (stopped waiting after {done} messages: no update for 30 s)");
                break;
            };
            match u {
                Update::Chat { .. }
                | Update::Core(CoreEvent::Filtered { .. })
                | Update::Core(CoreEvent::Warning { .. })
                | Update::AuthorRemoved { .. }
                | Update::ChatRemoved { .. }
                | Update::System(_) => done += 1,
                Update::Draft(d) if d.state == DraftState::Streaming && d.text.is_empty() => {
                    drafts += 1
                }
                _ => {}
            }
        }
        let wall = start.elapsed();
        let (cpu1, _) = usage();
        report(
            "live path: fake server -> hub -> runtime",
            done,
            wall,
            cpu1 - cpu0,
        );
        println!("    ({drafts} drafts started with the LLM down and auto-send off)");
        for (name, secs) in procfs::thread_cpu_secs() {
            if secs >= 0.05 {
                println!("    thread {name:<20} {secs:>7.2} s CPU");
            }
        }
        cancel.cancel();
        let _ = live.runtime.join.await;
        live.hub.join().await;
    });
}

fn loop_lines(total: usize, mut f: impl FnMut(&str)) -> (Duration, f64) {
    let corpus = corpus();
    let (cpu0, _) = usage();
    let start = Instant::now();
    for i in 0..total {
        f(corpus[i % corpus.len()]);
    }
    let wall = start.elapsed();
    (wall, usage().0 - cpu0)
}

fn main() {
    let total = lines_target();
    println!("twitch ingest, nymn corpus looped to {total} lines");
    end_to_end(total);
    into_core(total);
    into_runtime(total);

    let now = Utc::now();
    let (wall, cpu) = loop_lines(total, |l| {
        black_box(map_line(black_box(l), now).map(|v| v.len()).unwrap_or(0));
    });
    report("clank map_line (parse + typed + map)", total, wall, cpu);

    let (wall, cpu) = loop_lines(total, |l| {
        let m = IRCMessage::parse(black_box(l)).expect("corpus parses");
        black_box(ServerMessage::try_from(m).is_ok());
    });
    report(
        "twitch-irc IRCMessage::parse + ServerMessage",
        total,
        wall,
        cpu,
    );

    let (wall, cpu) = loop_lines(total, |l| {
        black_box(IRCMessage::parse(black_box(l)).is_ok());
    });
    report("twitch-irc IRCMessage::parse only", total, wall, cpu);

    let corpus = corpus();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    let mut g = c.benchmark_group("twitch_corpus_pass");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function("clank_map_line", |b| {
        b.iter(|| {
            for l in &corpus {
                black_box(map_line(l, now).map(|v| v.len()).unwrap_or(0));
            }
        })
    });
    g.bench_function("twitch_irc_parse_typed", |b| {
        b.iter(|| {
            for l in &corpus {
                let m = IRCMessage::parse(l).expect("corpus parses");
                black_box(ServerMessage::try_from(m).is_ok());
            }
        })
    });
    g.finish();
    c.final_summary();
}
