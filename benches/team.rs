//! PostgreSQL beside SQLite, in the same run on the same machine: insert
//! rows/s through the store handle, "last 200 in a channel" p50/p99 at a
//! million rows, and LISTEN/NOTIFY latency between two processes (a child
//! process stores messages; this one hears them through `team::listen_chat`;
//! then the child drafts replies and records their verdicts, and this one
//! hears each through the team link as another console's drafts pane does).
//!
//! PostgreSQL is a throwaway server started by `tests/support/pg.rs`. By
//! default it runs with the test settings (fsync off); set
//! `CLANK_PG_DURABLE=1` to keep fsync and full-page writes on
//! (synchronous_commit stays off, the closest match to SQLite's
//! `synchronous = NORMAL` in WAL mode, which does not sync each commit).
//! `TEAM_BENCH_ROWS` sets the table size (default 1,000,000).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use clank::model::{
    Author, ChatEvent, ChatMessage, Platform, Priority, Salience, SalienceBreakdown,
};
use clank::secret::Secret;
use clank::store::{Store, StoreConfig, StoredMessage, team};

#[path = "../tests/support/pg.rs"]
mod pg;

#[path = "common/procfs.rs"]
mod procfs;

const CHANNELS: u64 = 12;
const BASE_MS: i64 = 1_795_291_200_000;
const CHILD_ENV: &str = "CLANK_TEAM_BENCH_CHILD_URL";
const CHILD_KIND_ENV: &str = "CLANK_TEAM_BENCH_CHILD_KIND";
const NOTIFY_SAMPLES: usize = 300;

fn rows() -> u64 {
    std::env::var("TEAM_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn message(n: u64, text: String, at_ms: i64) -> StoredMessage {
    let c = n % CHANNELS;
    let author = (n * 7919) % 5000;
    let at = DateTime::from_timestamp_millis(at_ms).expect("in range");
    StoredMessage {
        message: std::sync::Arc::new(ChatMessage {
            platform: Platform::ALL[(c % 3) as usize],
            channel: format!("channel{c}"),
            // Random-looking, like Twitch's UUIDs.
            id: format!("{:016x}-{n}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            at,
            author: Author {
                id: author.to_string(),
                name: format!("viewer{author}"),
                roles: vec![],
                months: None,
                first_message: false,
                returning_chatter: false,
            },
            text,
            paid: None,
            reply_to: None,
        }),
        salience: Some(std::sync::Arc::new(Salience {
            score: 0.5,
            breakdown: SalienceBreakdown {
                content: 0.5,
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
        queued_until: Some(at + chrono::TimeDelta::seconds(180)),
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Fills the store with `rows` messages (one handle call each) and times
/// the "last 200" query; prints one line per figure.
fn run(label: &str, store: &Store, rows: u64) {
    let cpu0 = procfs::process_cpu_secs();
    let t = Instant::now();
    let chunk = 100_000;
    let mut n = 0;
    while n < rows {
        let end = (n + chunk).min(rows);
        let msgs: Vec<StoredMessage> = (n..end)
            .map(|i| {
                message(
                    i,
                    format!("what build is that {i}"),
                    BASE_MS + i as i64 * 10,
                )
            })
            .collect();
        for m in msgs {
            store.insert_message(m).expect("insert");
        }
        n = end;
    }
    let stats = store.flush().expect("flush");
    let wall = t.elapsed();
    let cpu = procfs::process_cpu_secs() - cpu0;
    assert_eq!(stats.inserted, rows, "{label}: every row stored");
    println!(
        "{label}: insert {rows} rows in {:.1} s = {:.0} rows/s (this process's CPU {:.1} s = {:.1} us/row; commits {})",
        wall.as_secs_f64(),
        rows as f64 / wall.as_secs_f64(),
        cpu,
        cpu * 1e6 / rows as f64,
        stats.commits
    );
    let mut lat = Vec::new();
    for i in 0..2000u64 {
        let c = i % CHANNELS;
        let platform = Platform::ALL[(c % 3) as usize];
        let t = Instant::now();
        let got = store
            .last_messages(platform, &format!("channel{c}"), 200)
            .expect("query");
        lat.push(t.elapsed());
        assert!(
            got.len() == 200 || rows < 200 * CHANNELS,
            "{label}: {} rows",
            got.len()
        );
    }
    lat.sort();
    println!(
        "{label}: last 200 in a channel at {rows} rows: p50 {:.0} us, p99 {:.0} us, max {:.0} us (2000 queries)",
        pct(&lat, 0.5).as_secs_f64() * 1e6,
        pct(&lat, 0.99).as_secs_f64() * 1e6,
        lat[lat.len() - 1].as_secs_f64() * 1e6
    );
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The child process: stores one message every 20 ms, its send time in
/// the text, each flushed (committed) at once.
fn child(url: &str) {
    let cfg = StoreConfig {
        url: Some(Secret::new(url)),
        ..StoreConfig::default()
    };
    let store = Store::open(std::path::Path::new("unused.db"), &cfg).expect("open");
    for i in 0..(NOTIFY_SAMPLES as u64 + 50) {
        let m = message(10_000_000 + i, now_ns().to_string(), BASE_MS + i as i64);
        store.insert_message(m).expect("insert");
        store.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(20));
    }
    store.close().expect("close");
}

/// The child for drafts: inserts a draft (its send time as the text), then
/// records its verdict (the verdict's send time as the reason), every 20 ms.
fn child_drafts(url: &str) {
    use clank::store::{NewResponse, ResponseStatus};
    let cfg = StoreConfig {
        url: Some(Secret::new(url)),
        member: Some("bench-child".into()),
        ..StoreConfig::default()
    };
    let store = Store::open(std::path::Path::new("unused.db"), &cfg).expect("open");
    for _ in 0..(NOTIFY_SAMPLES / 2 + 25) {
        let id = store
            .insert_response(NewResponse {
                platform: Platform::Twitch,
                channel: "channel0".into(),
                original_id: None,
                original_at: None,
                response_text: now_ns().to_string(),
                response_type: "llm".into(),
                attention_state: None,
                generation_time_ms: None,
                agent_context: None,
                status: ResponseStatus::Pending,
                created_at: chrono::Utc::now(),
            })
            .expect("draft");
        std::thread::sleep(Duration::from_millis(20));
        let at = now_ns().to_string();
        store
            .set_response_verdict(id, ResponseStatus::Sent, Some(&at), chrono::Utc::now())
            .expect("verdict");
        store.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(20));
    }
    store.close().expect("close");
}

/// Draft latency between two processes: a draft stored (and its verdict
/// recorded) in the child, read in full by this process's team link.
fn draft_latency(url: &str) {
    use clank::store::ResponseStatus;
    use clank::store::team::TeamEvent;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (drafts, verdicts) = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let (_publish_tx, mut publish_rx) = tokio::sync::mpsc::channel(4);
        let cancel = tokio_util::sync::CancellationToken::new();
        let link = {
            let (url, cancel) = (url.to_owned(), cancel.clone());
            tokio::spawn(async move {
                team::link(&url, "bench-parent", cancel, tx, &mut publish_rx).await
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut proc = tokio::process::Command::new(std::env::current_exe().expect("exe"))
            .env(CHILD_ENV, url)
            .env(CHILD_KIND_ENV, "drafts")
            .kill_on_drop(true)
            .spawn()
            .expect("child starts");
        let (mut drafts, mut verdicts) = (Vec::new(), Vec::new());
        while drafts.len() + verdicts.len() < NOTIFY_SAMPLES {
            let event = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("a notification within 30 s")
                .expect("link alive");
            let TeamEvent::Draft(d) = event else {
                continue;
            };
            let (list, sent) = match d.row.status {
                ResponseStatus::Pending => (&mut drafts, d.row.response_text.parse::<u128>()),
                ResponseStatus::Sent => (
                    &mut verdicts,
                    d.row.status_reason.unwrap_or_default().parse::<u128>(),
                ),
                _ => continue,
            };
            let sent = sent.expect("send time");
            list.push(Duration::from_nanos((now_ns().saturating_sub(sent)) as u64));
        }
        cancel.cancel();
        let _ = link.await;
        let _ = proc.wait().await;
        (drafts, verdicts)
    });
    for (what, mut lat) in [("a new draft", drafts), ("a draft's verdict", verdicts)] {
        lat.sort();
        if lat.is_empty() {
            continue;
        }
        println!(
            "postgres: {what} between two processes (store call to the row read by the other console's team link): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            pct(&lat, 0.5).as_secs_f64() * 1e3,
            pct(&lat, 0.99).as_secs_f64() * 1e3,
            lat[lat.len() - 1].as_secs_f64() * 1e3,
            lat.len()
        );
    }
}

fn notify_latency(url: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lat = rt.block_on(async {
        let channels: Vec<(Platform, String)> = (0..CHANNELS)
            .map(|c| (Platform::ALL[(c % 3) as usize], format!("channel{c}")))
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let cancel = tokio_util::sync::CancellationToken::new();
        let listener = {
            let (url, cancel) = (url.to_owned(), cancel.clone());
            tokio::spawn(async move { team::listen_chat(&url, &channels, cancel, tx).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut proc = tokio::process::Command::new(std::env::current_exe().expect("exe"))
            .env(CHILD_ENV, url)
            .kill_on_drop(true)
            .spawn()
            .expect("child starts");
        let mut lat = Vec::new();
        while lat.len() < NOTIFY_SAMPLES {
            let event = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("a notification within 30 s")
                .expect("listener alive");
            let ChatEvent::Message(m) = event else {
                continue;
            };
            let sent: u128 = m.text.parse().expect("send time");
            lat.push(Duration::from_nanos((now_ns().saturating_sub(sent)) as u64));
        }
        cancel.cancel();
        let _ = listener.await;
        let _ = proc.wait().await;
        lat
    });
    let mut lat = lat;
    lat.sort();
    println!(
        "postgres: NOTIFY latency between two processes (store call to message in the other process): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} messages)",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
        lat.len()
    );
}

fn main() {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        match std::env::var(CHILD_KIND_ENV).as_deref() {
            Ok("drafts") => child_drafts(&url),
            _ => child(&url),
        }
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs this
    // as a smoke test with few rows.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let rows = if smoke { 2_000 } else { rows() };
    println!(
        "team bench: {rows} rows, machine shared with other jobs; both stores through the same handle, batch_size 2048"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite =
        Store::open(&dir.path().join("bench.db"), &StoreConfig::default()).expect("sqlite");
    run("sqlite", &sqlite, rows);
    drop(sqlite);
    let url = pg::fresh_database_url();
    let cfg = StoreConfig {
        url: Some(Secret::new(url.clone())),
        ..StoreConfig::default()
    };
    let store = Store::open(std::path::Path::new("unused.db"), &cfg).expect("postgres");
    run("postgres", &store, rows);
    drop(store);
    notify_latency(&url);
    draft_latency(&url);
}
