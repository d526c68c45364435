//! YouTube ingest cost per 1,000 chat messages, three ways in one run:
//! (1) decode-only: decoding a 1,000-item `list` page of the Data API's JSON
//!     and mapping every item to hub events, no I/O;
//! (2) polling through the loopback fake over HTTP: the real adapter
//!     (`liveChatMessages.list`, 200 a page, page tokens stored in SQLite);
//! (3) streaming through the fake: the adapter's `liveChat/messages/stream`
//!     connection, 200 a message.
//! (2) and (3) print the CPU seconds of every thread but the fake's (which
//! runs on its own runtime), per 1,000 messages. Then a criterion group
//! over (1) for regression tracking.
//!
//! `cargo bench --bench youtube_ingest` (YT_MESSAGES=20000 for a quicker run)

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use clank::adapters::youtube::{Mapper, YoutubeOptions, run};
use clank::adapters::{Backoff, Inbound};
use clank::model::ChatEvent;
use clank::secret::Secret;
use clank::store::{Store, StoreConfig};
use criterion::{Criterion, Throughput};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[path = "../tests/support/fake_youtube.rs"]
mod fake_youtube;
#[path = "common/procfs.rs"]
mod procfs;

use fake_youtube::{FakeYoutube, KEY, StreamMode, Video};

/// Items of the kinds a busy chat carries: mostly text, some Super Chats,
/// each a chat message for the hub.
fn messages(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut snippet = if i % 20 == 0 {
                json!({"type": "superChatEvent", "superChatDetails": {"amountMicros": "5000000",
                    "currency": "USD", "amountDisplayString": "$5.00", "userComment": "gg", "tier": 2}})
            } else {
                json!({"type": "textMessageEvent", "displayMessage": "that parry was clean, how?",
                    "textMessageDetails": {"messageText": "that parry was clean, how?"}})
            };
            snippet["publishedAt"] = json!("2026-12-02T18:00:00.123Z");
            snippet["liveChatId"] = json!("chat1");
            snippet["authorChannelId"] = json!(format!("UC{}", i % 300));
            json!({"kind": "youtube#liveChatMessage", "etag": "e", "id": format!("m{i}"),
                "snippet": snippet,
                "authorDetails": {"channelId": format!("UC{}", i % 300), "displayName": format!("viewer{}", i % 300),
                    "channelUrl": "http://www.youtube.com/channel/x", "profileImageUrl": "https://yt3.ggpht.com/x",
                    "isVerified": false, "isChatOwner": false, "isChatSponsor": i % 7 == 0, "isChatModerator": false}})
        })
        .collect()
}

/// CPU seconds (all threads but the fake's) and wall time for the adapter
/// to hand over `n` messages read from the fake.
fn through_fake(streaming: bool, n: usize) -> (f64, Duration) {
    let fake_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fake-yt")
        .enable_all()
        .build()
        .expect("fake runtime");
    let fake = fake_rt.block_on(FakeYoutube::start(vec![Video::Live("chat1".into())]));
    {
        let mut s = fake.state.lock().unwrap();
        s.interval_ms = 0;
        s.stream = if streaming {
            StreamMode::PagesThenDrop(usize::MAX)
        } else {
            StreamMode::Refused
        };
        s.messages = messages(n);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("clank.db"), &StoreConfig::default()).expect("store");
    let opts = YoutubeOptions {
        video_id: "vid".into(),
        channel: None,
        streaming,
        stream_idle: None,
        search_cost: 100,
        api_url: fake.base_url(),
        api_key: Some(Secret::new(KEY)),
        // Big enough that the governor never slows the run down.
        daily_quota: 100_000_000,
        list_cost: 5,
        insert_cost: 20,
        videos_list_cost: 1,
        stream_hours: 0.5,
        send_reserve: 400,
        waiting_retry: Duration::from_secs(60),
        max_results: 200,
        max_reply_chars: 200,
        backoff: Backoff::default(),
        request_timeout: Duration::from_secs(30),
        seed: 1,
        wall_start: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("clank-yt")
        .enable_all()
        .build()
        .expect("runtime");
    let cpu0 = procfs::process_cpu_secs();
    let fake0 = procfs::named_threads_cpu_secs("fake-yt");
    let t0 = Instant::now();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1024);
        let (_otx, orx) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(opts, store.clone(), None, tx, orx, cancel.clone()));
        let mut got = 0;
        while got < n {
            match rx.recv().await {
                Some(Inbound::Chat(ChatEvent::Message(m))) => {
                    black_box(m);
                    got += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        cancel.cancel();
        let _ = task.await;
        assert_eq!(got, n, "every message arrived");
    });
    let wall = t0.elapsed();
    let cpu =
        procfs::process_cpu_secs() - cpu0 - (procfs::named_threads_cpu_secs("fake-yt") - fake0);
    let calls = if streaming {
        fake.streams().len()
    } else {
        fake.lists().len()
    };
    eprintln!("  ({} HTTP calls)", calls);
    drop(fake);
    drop(fake_rt);
    (cpu, wall)
}

fn page(n: usize) -> String {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let snippet = match i % 20 {
                0 => json!({"type": "superChatEvent", "superChatDetails": {"amountMicros": "5000000",
                    "currency": "USD", "amountDisplayString": "$5.00", "userComment": "gg", "tier": 2}}),
                1 => json!({"type": "messageDeletedEvent",
                    "messageDeletedDetails": {"deletedMessageId": format!("m{}", i - 1)}}),
                2 => json!({"type": "memberMilestoneChatEvent", "memberMilestoneChatDetails":
                    {"userComment": "a year", "memberMonth": 12, "memberLevelName": "Gold"}}),
                _ => json!({"type": "textMessageEvent", "displayMessage": "that parry was clean, how?",
                    "textMessageDetails": {"messageText": "that parry was clean, how?"}}),
            };
            let mut snippet = snippet;
            snippet["publishedAt"] = json!("2026-12-02T18:00:00.123Z");
            snippet["liveChatId"] = json!("chat1");
            snippet["authorChannelId"] = json!(format!("UC{}", i % 300));
            json!({"kind": "youtube#liveChatMessage", "etag": "e", "id": format!("m{i}"),
                "snippet": snippet,
                "authorDetails": {"channelId": format!("UC{}", i % 300), "displayName": format!("viewer{}", i % 300),
                    "channelUrl": "http://www.youtube.com/channel/x", "profileImageUrl": "https://yt3.ggpht.com/x",
                    "isVerified": false, "isChatOwner": false, "isChatSponsor": i % 7 == 0, "isChatModerator": false}})
        })
        .collect();
    json!({"kind": "youtube#liveChatMessageListResponse", "pollingIntervalMillis": 5000,
        "nextPageToken": "p", "items": items})
    .to_string()
}

fn main() {
    let body = page(1000);
    let now = Utc::now();
    let n: usize = std::env::var("YT_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);

    // (1) decode-only, measured the same way (process CPU) for comparison.
    let rounds = (n / 1000).max(1);
    let mut mapper = Mapper::default();
    let cpu0 = procfs::process_cpu_secs();
    for _ in 0..rounds {
        let v: Value = serde_json::from_str(black_box(&body)).expect("page");
        let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        black_box(mapper.map_items(items, "vid", now));
    }
    let decode = (procfs::process_cpu_secs() - cpu0) / rounds as f64;
    println!(
        "youtube ingest, {n} messages (shared machine; CPU of the adapter's threads, fake excluded):"
    );
    println!(
        "  decode-only          {:7.2} ms CPU per 1,000",
        decode * 1e3
    );
    for (name, streaming) in [("polling via HTTP", false), ("streaming via HTTP", true)] {
        let (cpu, wall) = through_fake(streaming, n);
        println!(
            "  {name:<20} {:7.2} ms CPU per 1,000   ({:.0} msgs/s wall)",
            cpu * 1e3 * 1000.0 / n as f64,
            n as f64 / wall.as_secs_f64()
        );
    }
    println!("  peak RSS {} KiB", procfs::peak_rss_kib().unwrap_or(0));

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("youtube_ingest");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("decode_and_map_1000_items", |b| {
        let mut mapper = Mapper::default();
        b.iter(|| {
            let v: Value = serde_json::from_str(black_box(&body)).expect("page");
            let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            black_box(mapper.map_items(items, "vid", now))
        })
    });
    g.finish();
    c.final_summary();
}
