//! Discord ingest: MESSAGE_CREATE frames from the loopback fake gateway
//! (tests/support/fake_discord.rs, real WebSocket frames) through the real
//! adapter (serenity's shard on its own thread, our mapping, the bounded
//! channel), once to a counting consumer and once into the real core with
//! SQLite. Beside them, in the same run: serenity's own decode of the same
//! frames (`GatewayEvent` from JSON, the floor of any serenity client) and
//! our mapping alone. Prints msgs/s, CPU seconds (process, and the gateway
//! thread alone) per message and peak RSS (VmHWM).
//!
//! `cargo bench --bench discord_ingest` (MSGS=50000 for a quicker run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use clank::adapters::Backoff;
use clank::adapters::Inbound;
use clank::adapters::discord::{DiscordOptions, Mapper, Rest, Roles, SendLimits, run};
use clank::model::ChatEvent;
use clank::secret::Secret;
use serde_json::{Value, json};
use serenity::model::event::GatewayEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[path = "../tests/support/fake_discord.rs"]
mod fake_discord;
#[path = "common/procfs.rs"]
mod procfs;

use fake_discord::*;

fn total() -> usize {
    std::env::var("MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

const TEXTS: &[&str] = &[
    "that parry was clean, how?",
    "<@1098765432100000001> what is the next boss <:mikaLove:1109457951620419654>",
    "lol",
    "is this the final phase or is there another one after the bridge",
    "gg",
];

/// The i-th viewer message, as Discord sends it.
fn payload(i: usize) -> Value {
    let roles: &[u64] = if i % 10 == 0 { &[MOD_ROLE] } else { &[] };
    message(
        9_000_000_000_000_000 + i as u64,
        CHANNEL_ID,
        user(
            10_000 + (i % 300) as u64,
            &format!("viewer{}", i % 300),
            false,
        ),
        Some(member(roles, i % 7 == 0, None)),
        TEXTS[i % TEXTS.len()],
        (i % 9 == 0 && i > 0).then(|| 9_000_000_000_000_000 + i as u64 - 1),
        Vec::new(),
    )
}

fn options(fake: &FakeDiscord) -> DiscordOptions {
    DiscordOptions {
        token: Secret::new(TOKEN),
        channels: vec![CHANNEL_ID],
        roles: Roles {
            streamer: Some(STREAMER_ID),
            moderators: vec![MOD_ROLE],
            vips: vec![VIP_ROLE],
        },
        rest: Rest::Proxy(fake.api_url()),
        ping_reply_author: true,
        address_as: Some("Mika".into()),
        backoff: Backoff::default(),
        limits: SendLimits::default(),
        connect_patience: Duration::from_secs(2),
        seed: 7,
    }
}

fn report(name: &str, n: usize, wall: Duration, cpu: f64, gateway_cpu: Option<f64>) {
    let hwm = procfs::peak_rss_kib().unwrap_or(0);
    let gw = gateway_cpu
        .map(|g| format!("  gateway thread {:>6.2} us/msg", g * 1e6 / n as f64))
        .unwrap_or_default();
    println!(
        "{name:<44} {n:>8} msgs {:>7.2} s {:>10.0} msgs/s  cpu {:>6.2} us/msg{gw}  peak RSS {hwm:>7} KiB",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu * 1e6 / n as f64,
    );
}

/// Starts the fake and the adapter, waits for READY, then has the fake send
/// `n` messages while `consume` takes the adapter's events on this thread.
fn through_gateway(name: &str, n: usize, consume: impl FnOnce(mpsc::Receiver<Inbound>) -> usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(FakeDiscord::start(FakeConfig {
        keep_log: false,
        echo_posts: false,
        ..Default::default()
    }));
    let (tx, mut rx) = mpsc::channel(4096);
    let (_out, out_rx) = mpsc::channel(1);
    let cancel = CancellationToken::new();
    let task = rt.spawn(run(options(&fake), tx, out_rx, cancel.clone()));
    rt.block_on(async {
        while !fake.connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // READY and GUILD_CREATE have been mapped once the first status is in.
        let _ = rx.recv().await;
    });
    let payloads: Vec<Value> = (0..n).map(payload).collect();
    let gw0 = procfs::named_threads_cpu_secs("discord-gateway");
    let cpu0 = procfs::process_cpu_secs();
    let start = Instant::now();
    let feeder = std::thread::spawn(move || {
        for p in payloads {
            fake.dispatch("MESSAGE_CREATE", p);
        }
        fake
    });
    let got = consume(rx);
    let wall = start.elapsed();
    let cpu = procfs::process_cpu_secs() - cpu0;
    let gw = procfs::named_threads_cpu_secs("discord-gateway") - gw0;
    let fake = feeder.join().expect("feeder");
    report(name, got, wall, cpu, Some(gw));
    cancel.cancel();
    let _ = rt.block_on(task);
    drop(fake);
    // The gateway thread says goodbye for up to 2 s after cancel; let it end
    // so the next run's per-thread CPU figure does not subtract it.
    std::thread::sleep(Duration::from_secs(3));
}

fn count_messages(n: usize) -> impl FnOnce(mpsc::Receiver<Inbound>) -> usize {
    move |mut rx| {
        let mut got = 0;
        while got < n {
            match rx.blocking_recv() {
                Some(Inbound::Chat(ChatEvent::Message(m))) => {
                    black_box(m.text.len());
                    got += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        got
    }
}

fn into_core(n: usize) -> impl FnOnce(mpsc::Receiver<Inbound>) -> usize {
    move |mut rx| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = clank::store::Store::open(
            &dir.path().join("bench.db"),
            &clank::store::StoreConfig::default(),
        )
        .expect("store");
        let config = clank::config::Config::default();
        let start = Utc::now();
        let (mut core, _) = clank::core::Core::new(&config, store, 7, start).expect("core");
        let mut out = Vec::new();
        let mut got = 0;
        let mut last = start;
        while got < n {
            match rx.blocking_recv() {
                Some(Inbound::Chat(ev)) => {
                    last = last.max(ev.at());
                    let _ = core.handle(ev, last, &mut out);
                    out.clear();
                    got += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        println!(
            "    (core stored {} of them in SQLite)",
            core.counters().stored
        );
        got
    }
}

fn main() {
    let n = total();
    println!("discord ingest, {n} MESSAGE_CREATE frames; the machine is shared with other builds");
    through_gateway("fake gateway -> adapter -> channel", n, count_messages(n));
    through_gateway("fake gateway -> adapter -> core (SQLite)", n, into_core(n));

    // Reference, same frames: serenity's decode alone, then our mapping alone.
    let frames: Vec<String> = (0..n)
        .map(|i| json!({"op": 0, "t": "MESSAGE_CREATE", "s": i + 3, "d": payload(i)}).to_string())
        .collect();
    let cpu0 = procfs::process_cpu_secs();
    let start = Instant::now();
    let mut events = Vec::with_capacity(n);
    for f in &frames {
        match serde_json::from_str::<GatewayEvent>(black_box(f)) {
            Ok(GatewayEvent::Dispatch(_, ev)) => events.push(ev),
            other => panic!("frame decodes: {:?}", other.err()),
        }
    }
    report(
        "reference: serenity GatewayEvent decode only",
        n,
        start.elapsed(),
        procfs::process_cpu_secs() - cpu0,
        None,
    );
    let mut mapper = Mapper::new(
        &[CHANNEL_ID],
        &Roles {
            streamer: Some(STREAMER_ID),
            moderators: vec![MOD_ROLE],
            vips: vec![VIP_ROLE],
        },
        Some("Mika".into()),
    );
    let now = Utc::now();
    let cpu0 = procfs::process_cpu_secs();
    let start = Instant::now();
    let mut mapped = 0;
    for ev in events {
        mapped += black_box(mapper.map(ev, now)).len();
    }
    report(
        "reference: clank Mapper only (decoded events)",
        mapped,
        start.elapsed(),
        procfs::process_cpu_secs() - cpu0,
        None,
    );
}
