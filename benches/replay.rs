//! End-to-end replay benchmark: the demo log looped to about one million
//! messages through the whole core (filter, SQLite store, salience, queue,
//! attention, triggers) on a virtual clock. Prints msgs/s and peak RSS.
//!
//! `cargo bench --bench replay` (set CLANK_BENCH_MESSAGES to change the size).

use std::path::Path;

use clank::config::Config;
use clank::replay::{ReplayOptions, Speed, replay};
use clank::store::Store;

#[path = "common/procfs.rs"]
mod procfs;
use procfs::{peak_rss_kib, thread_cpu_secs};

fn main() {
    // `cargo test --benches` runs this in test mode: a tiny run is enough there.
    let quick = !std::env::args().any(|a| a == "--bench");
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/chat.jsonl");
    let per_pass = std::fs::read_to_string(&log)
        .map(|t| t.lines().filter(|l| !l.contains("\"kind\"")).count())
        .unwrap_or(1)
        .max(1);
    let target: usize = std::env::var("CLANK_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { per_pass } else { 1_000_000 });
    let repeat = target.div_ceil(per_pass) as u32;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.salience.streamer_names = vec!["Mika".into()];
    let store = Store::open(&dir.path().join("bench.db"), &config.store).expect("store opens");
    let options = ReplayOptions {
        speed: Speed::Max,
        repeat,
        json: true,
        seed: 42,
    };
    let summary =
        replay(&config, &log, store.clone(), &options, &mut std::io::sink()).expect("replay runs");
    // Before close: the writer thread still exists to be read.
    let threads = thread_cpu_secs();
    store.close().expect("store closes");
    let db_size = std::fs::metadata(dir.path().join("bench.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "replay: {} messages ({} passes) in {:.2} s = {:.0} msgs/s end to end; stored {}; peak RSS {} MiB; db {} MiB",
        summary.counts.messages,
        repeat,
        summary.wall_seconds,
        summary.msgs_per_sec,
        summary.stored,
        peak_rss_kib().map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        db_size / (1024 * 1024),
    );
    let messages = summary.counts.messages.max(1) as f64;
    for (name, secs) in threads.into_iter().filter(|(_, s)| *s > 0.0) {
        println!(
            "  thread {name}: {secs:.2} s CPU = {:.2} us/message",
            secs * 1e6 / messages
        );
    }
}
