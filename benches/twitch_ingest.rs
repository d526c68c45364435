//! Twitch ingest throughput and memory, the live path beside the replay path.
//!
//! Each run below goes in a process of its own (its CPU and peak RSS are
//! its own), on the nymn capture looped to `LINES` lines (default 100,000;
//! `LINES=1000000` for the 1M flood), unlimited and paced at 1,000 msgs/s
//! (`RATE_LINES` lines, default 20,000):
//! - replay: the replay path's work, `map_line` then the real core (filter,
//!   SQLite store, salience, queue, attention) on one thread, no network;
//!   paced, one message at a time as it falls due;
//! - replay40 (any `replay<ms>`): the same, paced, handed its messages in
//!   40 ms bursts as the live path's conductor takes them (`CHAT_LINGER`),
//!   each burst committed at once; replay100 in 100 ms bursts, as the
//!   Twitch adapter reads chat faster than ten a second (`READ_PACE`): the
//!   live path's references at the same rate and cadence. (On this kind of
//!   VM a paced run's cost per message follows the size of the bursts more
//!   than the work, each burst running on cold caches: the replay path
//!   costs ~120 us/msg one at a time, ~50 in 20 ms bursts, ~32 in 100 ms
//!   bursts and ~22 flat out.)
//! - live: a loopback IRC server streams the lines to the whole live path as
//!   `clank --auto` and the console run it (hub -> Twitch adapter -> runtime:
//!   conductor, core thread, store writer -> a front end reading every
//!   update, chat lines included, as the console does);
//! - channel / core: the adapter into a bare channel, and into the core
//!   directly, to split the live path's cost.
//!
//! CPU is user + system time of the process minus the fake server's own
//! thread, after the first `WARMUP_LINES` messages (default 2,000 or a fifth
//! of the run; the whole run's figure, start-up included, is printed
//! beside it). RSS is sampled every 10% of a run ("flat after warm-up").
//! Then the pure parsers and a short criterion group for regression tracking.
//! `SCENARIOS=live:0,replay:0` picks runs. The paced fake server writes
//! what is due every 10 ms; `FAKE_TICK_MS=1` writes every millisecond,
//! closer to Twitch sending each message on its own.
//! (Figures on a shared VM drift by 1.5x between runs: compare a run with
//! its reference from the same invocation, not with an older figure.)
//!
//! `cargo bench --bench twitch_ingest`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use clank::adapters::Inbound;
use clank::adapters::twitch::{Endpoint, TwitchOptions, map_line, spawn};
use clank::core::CoreEvent;
use clank::model::{ChatEvent, DraftState, Platform};
use clank::session::{Component, Health, Update};
use criterion::{Criterion, Throughput};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use twitch_irc::message::{IRCMessage, ServerMessage};

#[path = "common/procfs.rs"]
mod procfs;

const CORPUS: &str = include_str!("../tests/fixtures/twitch-nymn.irc");

/// The fake server's thread, whose CPU is not clank's.
const SERVER_THREAD: &str = "fake-irc";

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lines_target() -> usize {
    env_usize("LINES", 100_000)
}

fn rate_lines() -> usize {
    env_usize("RATE_LINES", 20_000)
}

fn corpus() -> Vec<&'static str> {
    CORPUS.lines().filter(|l| !l.is_empty()).collect()
}

/// Corpus line `i` of the looped stream. Each pass gets fresh message ids,
/// so the core and the store see new messages rather than duplicates, and
/// later times (`tmi-sent-ts` moved on by the corpus's span per pass), as a
/// long stream has: repeating the same times would make every insert land
/// in the middle of the time indexes, which no real chat does.
fn line_at(corpus: &[&'static str], i: usize) -> std::borrow::Cow<'static, str> {
    let line = corpus[i % corpus.len()];
    match i / corpus.len() {
        0 => line.into(),
        pass => {
            let line = line.replace(";id=", &format!(";id={pass}-"));
            shift_sent_ts(&line, pass as i64 * corpus_span_ms()).into()
        }
    }
}

const SENT_TS: &str = "tmi-sent-ts=";

fn sent_ts(line: &str) -> Option<(usize, usize, i64)> {
    let start = line.find(SENT_TS)? + SENT_TS.len();
    let len = line[start..].bytes().take_while(u8::is_ascii_digit).count();
    Some((start, start + len, line[start..start + len].parse().ok()?))
}

fn shift_sent_ts(line: &str, by_ms: i64) -> String {
    match sent_ts(line) {
        Some((a, b, ts)) => format!("{}{}{}", &line[..a], ts + by_ms, &line[b..]),
        None => line.to_string(),
    }
}

/// From the corpus's first to its last `tmi-sent-ts`, plus a second.
fn corpus_span_ms() -> i64 {
    static SPAN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *SPAN.get_or_init(|| {
        let ts: Vec<i64> = corpus()
            .iter()
            .filter_map(|l| sent_ts(l))
            .map(|t| t.2)
            .collect();
        let (lo, hi) = (ts.iter().min(), ts.iter().max());
        lo.zip(hi).map_or(0, |(lo, hi)| hi - lo) + 1000
    })
}

/// CPU seconds of this process so far, the fake server's thread left out.
fn clank_cpu() -> f64 {
    procfs::process_cpu_secs() - procfs::named_threads_cpu_secs(SERVER_THREAD)
}

/// Resident set size now, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// RSS samples at each tenth of a run.
#[derive(Default)]
struct RssTrace {
    samples: Vec<u64>,
}

impl RssTrace {
    fn at(&mut self, done: usize, total: usize) {
        let tenth = (total / 10).max(1);
        if done > 0 && done % tenth == 0 {
            self.samples.push(rss_kib() / 1024);
        }
    }

    fn line(&self) -> String {
        let s: Vec<String> = self.samples.iter().map(|m| m.to_string()).collect();
        format!("    RSS MiB at each 10%: {}", s.join(" "))
    }
}

fn report(name: &str, n: usize, wall: Duration, cpu: f64) {
    let hwm = procfs::peak_rss_kib().unwrap_or(0);
    println!(
        "{name:<44} {n:>9} {:>9.2} {:>10.0} {:>11.1} {:>7.1} MiB",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu * 1e6 / n.max(1) as f64,
        hwm as f64 / 1024.0
    );
}

/// Each thread's CPU and wakes (context switches) since `base`, per message
/// of the `n` measured: where a run's time goes, and how often each thread
/// was handed work.
fn per_thread(n: usize, base: &[procfs::ThreadSample]) {
    let mut threads = procfs::thread_samples_since(base);
    threads.sort_by(|a, b| b.cpu_secs.total_cmp(&a.cpu_secs));
    let per_msg = |x: f64| x / n.max(1) as f64;
    let parts: Vec<String> = threads
        .iter()
        .filter(|t| t.cpu_secs >= 0.01)
        .map(|t| format!("{} {:.1}", t.name, per_msg(t.cpu_secs * 1e6)))
        .collect();
    println!("    us/msg by thread: {}", parts.join(", "));
    threads.sort_by_key(|t| std::cmp::Reverse(t.switches));
    let parts: Vec<String> = threads
        .iter()
        .filter(|t| t.switches > 0)
        .map(|t| format!("{} {:.1}", t.name, per_msg(t.switches as f64 * 100.0)))
        .collect();
    println!("    wakes per 100 msgs by thread: {}", parts.join(", "));
}

/// Messages a run takes before its measured part starts: the first
/// seconds pay one-time costs (the profanity trie built on first use, maps
/// and arenas growing to size) that a stream pays once, not per message.
fn warmup_lines(total: usize) -> usize {
    env_usize("WARMUP_LINES", 2_000).min(total / 5)
}

/// The measured part of a run: CPU, wall time and threads from the end of
/// the warm-up on.
struct Window {
    cpu0: f64,
    start: Instant,
    threads: Vec<procfs::ThreadSample>,
    from: usize,
}

impl Window {
    fn open(from: usize) -> Self {
        Window {
            cpu0: clank_cpu(),
            start: Instant::now(),
            threads: procfs::thread_samples(),
            from,
        }
    }

    /// Prints the run's line for the messages after the warm-up and the
    /// per-thread figures, plus the whole run's CPU for reference.
    fn report(&self, name: &str, done: usize, whole_cpu: f64) {
        let n = done.saturating_sub(self.from);
        report(name, n, self.start.elapsed(), clank_cpu() - self.cpu0);
        per_thread(n, &self.threads);
        println!(
            "    after {} warm-up msgs; whole run incl. start-up: {:.1} us/msg",
            self.from,
            whole_cpu * 1e6 / done.max(1) as f64
        );
    }
}

/// The fake Twitch IRC server on a thread of its own: streams `total`
/// looped corpus lines to whoever logs in and joins, at `rate` lines a
/// second (0 = as fast as the socket takes them), then keeps the socket
/// open until the client is done.
fn serve(total: usize, rate: u64) -> String {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(SERVER_THREAD.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let _ = addr_tx.send(listener.local_addr().expect("addr").to_string());
                serve_one(listener, total, rate).await;
            });
        })
        .expect("server thread");
    addr_rx.recv().expect("server address")
}

async fn serve_one(listener: TcpListener, total: usize, rate: u64) {
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
    let started = tokio::time::Instant::now();
    // Paced runs write every 10 ms (FAKE_TICK_MS) what is due by then.
    let tick = Duration::from_millis(env_usize("FAKE_TICK_MS", 10) as u64);
    let mut i = 0;
    while i < total {
        let due = if rate == 0 {
            total
        } else {
            let elapsed = started.elapsed().as_secs_f64();
            ((elapsed * rate as f64) as usize + 1).min(total)
        };
        while i < due {
            buf.extend_from_slice(line_at(&corpus, i).as_bytes());
            buf.extend_from_slice(b"\r\n");
            i += 1;
            if buf.len() >= 1 << 20 {
                if write.write_all(&buf).await.is_err() {
                    return;
                }
                buf.clear();
            }
        }
        if write.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
        if rate > 0 {
            tokio::time::sleep(tick).await;
        }
    }
    // Keep the socket open until the client is done.
    while let Ok(Some(_)) = lines.next_line().await {}
}

/// The replay path's own work on the same lines: map each raw line, then
/// the real core with its SQLite store, on one thread, as `clank replay`
/// runs it. Paced (rate > 0): on the wall clock at that rate, as live chat
/// comes, `burst` messages at a time; unlimited: as fast as it goes, on the
/// lines' own clock.
fn replay_path(total: usize, rate: u64, burst: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = clank::config::Config::default();
    let store =
        clank::store::Store::open(&dir.path().join("replay.db"), &config.store).expect("store");
    let corpus = corpus();
    let first = chrono::DateTime::parse_from_rfc3339("2024-01-06T16:19:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let (mut core, _) = clank::core::Core::new(&config, store.clone(), 7, first).expect("core");
    let mut out = Vec::new();
    let mut last = first;
    let mut rss = RssTrace::default();
    let cpu0 = clank_cpu();
    let start = Instant::now();
    let warmup = warmup_lines(total);
    let mut window = Window::open(0);
    for i in 0..total {
        if i == warmup {
            window = Window::open(warmup);
        }
        if rate > 0 {
            let due = start + Duration::from_secs_f64((i / burst * burst) as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let now = Utc::now();
        for ev in map_line(&line_at(&corpus, i), now).unwrap_or_default() {
            if let Inbound::Chat(ev) = ev {
                last = last.max(ev.at());
                let _ = core.handle(ev, last, &mut out);
                out.clear();
            }
        }
        // The end of a burst: its rows commit at once, as the live path's.
        if burst > 1 && (i + 1) % burst == 0 {
            store.commit_soon();
        }
        rss.at(i + 1, total);
    }
    let stored = core.counters().stored;
    drop(core);
    let stats = store.flush().expect("flush");
    let name = if rate > 0 && burst > 1 {
        format!("replay path, {rate} msgs/s in {burst}-msg bursts")
    } else if rate > 0 {
        format!("replay path (map + core), {rate} msgs/s")
    } else {
        "replay path (map + core), unlimited".into()
    };
    window.report(&name, total, clank_cpu() - cpu0);
    println!("{}", rss.line());
    println!(
        "    stored {stored}, committed {} in {} commits",
        stats.inserted, stats.commits
    );
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
    let addr = serve(total, 0);
    let cpu0 = clank_cpu();
    let start = Instant::now();
    let cancel = CancellationToken::new();
    let endpoint = Endpoint::from_config(&addr, false).expect("endpoint");
    let opts = TwitchOptions::new(vec!["nymn".into()], endpoint);
    let task = {
        let _guard = rt.enter();
        spawn(opts, None, tx, cancel.clone()).1
    };
    let (n, stored) = core_thread.join().expect("core thread");
    let wall = start.elapsed();
    report(
        "adapter -> core (no runtime), unlimited",
        n,
        wall,
        clank_cpu() - cpu0,
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
    let addr = serve(total, 0);
    rt.block_on(async {
        let endpoint = Endpoint::from_config(&addr, false).expect("endpoint");
        let opts = TwitchOptions::new(vec!["nymn".into()], endpoint);
        let (tx, mut rx) = mpsc::channel(4096);
        let cancel = CancellationToken::new();
        let cpu0 = clank_cpu();
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
        report(
            "adapter -> channel, unlimited",
            chat,
            wall,
            clank_cpu() - cpu0,
        );
        cancel.cancel();
        let _ = task.await;
    });
}

/// The whole live path, as `clank --auto` and the console run it: the
/// configured Twitch adapter behind the hub, the runtime (conductor, core
/// thread, store writer) and a front end reading every update. The LLM is
/// down and auto-send is off, the worst case for drafts piling up. Counts a
/// message as done when the front end sees it (shown, filtered or removed).
fn into_runtime(total: usize, rate: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = serve(total, rate);
    rt.block_on(async {
        let text = format!(
            "[twitch]\nchannels = [\"nymn\"]\nirc_addr = \"{addr}\"\ntls = false\n\
             [llm]\nurl = \"http://127.0.0.1:9\"\nretries = 0\n"
        );
        let config = clank::config::Config::from_toml(&text).expect("config");
        let store =
            clank::store::Store::open(&dir.path().join("live.db"), &config.store).expect("store");
        let cancel = CancellationToken::new();
        let cpu0 = clank_cpu();
        let mut live = clank::live::start(
            &config,
            store.clone(),
            clank::live::Sources::Platforms,
            clank::live::Front::Console,
            false,
            cancel.clone(),
        )
        .await
        .expect("live starts");
        let mut done = 0usize;
        let mut drafts = 0usize;
        let mut reconnects = 0usize;
        let mut rss = RssTrace::default();
        let warmup = warmup_lines(total);
        let mut window = Window::open(0);
        while done < total {
            let Ok(Some(u)) =
                tokio::time::timeout(Duration::from_secs(30), live.updates.recv()).await
            else {
                println!("    (stopped waiting after {done} messages: no update for 30 s)");
                break;
            };
            match u {
                // One of these per line. (A duplicate id is shown and
                // warned about: its warning is not counted again.)
                Update::Chat { .. }
                | Update::Core(CoreEvent::Filtered { .. })
                | Update::AuthorRemoved { .. }
                | Update::ChatRemoved { .. }
                | Update::System(_) => {
                    done += 1;
                    rss.at(done, total);
                    if done == warmup {
                        window = Window::open(warmup);
                    }
                }
                Update::Draft(d) if d.state == DraftState::Streaming && d.text.is_empty() => {
                    drafts += 1
                }
                Update::Health {
                    component: Component::Platform(Platform::Twitch),
                    health: Health::Reconnecting { .. },
                } => reconnects += 1,
                _ => {}
            }
        }
        let cpu = clank_cpu() - cpu0;
        let name = if rate > 0 {
            format!("live path (IRC -> hub -> runtime), {rate} msgs/s")
        } else {
            "live path (IRC -> hub -> runtime), unlimited".into()
        };
        window.report(&name, done, cpu);
        println!("{}", rss.line());
        cancel.cancel();
        let summary = live.runtime.join.await;
        live.hub.join().await;
        let stats = store.flush_async().await.expect("flush");
        let counts = summary
            .ok()
            .and_then(|r| r.ok())
            .map(|s| s.core["counts"].clone())
            .unwrap_or_default();
        println!(
            "    {reconnects} reconnects, {drafts} drafts started (LLM down); core: {} messages, \
             {} stored, {} filtered; store committed {} rows in {} commits, {} lost",
            counts["messages"],
            counts["stored"],
            counts["filtered"],
            stats.inserted,
            stats.commits,
            stats.lost
        );
    });
}

fn loop_lines(total: usize, mut f: impl FnMut(&str)) -> (Duration, f64) {
    let corpus = corpus();
    let cpu0 = clank_cpu();
    let start = Instant::now();
    for i in 0..total {
        f(corpus[i % corpus.len()]);
    }
    let wall = start.elapsed();
    (wall, clank_cpu() - cpu0)
}

/// One measured run in a process of its own, so its CPU time and its peak
/// RSS are its own (VmHWM cannot be reset between runs in one process).
const SCENARIO_ENV: &str = "CLANK_INGEST_SCENARIO";

/// The runs side by side: (scenario, rate in msgs/s or 0 = unlimited).
const SCENARIOS: &[(&str, u64)] = &[
    ("replay", 1000),
    ("replay40", 1000),
    ("replay100", 1000),
    ("live", 1000),
    ("replay", 0),
    ("live", 0),
    ("channel", 0),
    ("core", 0),
];

fn run_child(name: &str, rate: u64) {
    let exe = std::env::current_exe().expect("own path");
    let out = std::process::Command::new(exe)
        .env(SCENARIO_ENV, format!("{name}:{rate}"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("scenario runs");
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

fn main() {
    if let Ok(s) = std::env::var(SCENARIO_ENV) {
        let (name, rate) = s.split_once(':').unwrap_or((s.as_str(), "0"));
        let rate: u64 = rate.parse().unwrap_or(0);
        let total = if rate > 0 {
            rate_lines()
        } else {
            lines_target()
        };
        // replay<ms>: bursts of <ms> as the live path's conductor gathers
        // them (it lingers 40 ms).
        let burst_ms = name
            .strip_prefix("replay")
            .and_then(|ms| ms.parse::<u64>().ok());
        match name {
            "replay" => replay_path(total, rate, 1),
            _ if let Some(ms) = burst_ms => {
                replay_path(total, rate, ((rate * ms / 1000) as usize).max(1))
            }
            "live" => into_runtime(total, rate),
            "channel" => end_to_end(total),
            "core" => into_core(total),
            other => eprintln!("unknown scenario {other}"),
        }
        return;
    }
    // `cargo test --benches` runs this in test mode: keep it short there.
    let quick = !std::env::args().any(|a| a == "--bench");
    let total = lines_target();
    println!(
        "twitch ingest, nymn corpus: {total} lines unlimited, {} lines paced (LINES, RATE_LINES); \
         each run in its own process; CPU excludes the fake server's thread",
        rate_lines()
    );
    println!(
        "{:<44} {:>9} {:>9} {:>10} {:>11} {:>10}",
        "run", "msgs", "wall s", "msgs/s", "CPU us/msg", "peak RSS"
    );
    let only = std::env::var("SCENARIOS").ok();
    for &(name, rate) in SCENARIOS {
        let key = format!("{name}:{rate}");
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| k == key))
        {
            continue;
        }
        if quick && rate > 0 {
            continue;
        }
        run_child(name, rate);
    }
    if quick {
        return;
    }

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
