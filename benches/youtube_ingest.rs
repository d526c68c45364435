//! YouTube ingest cost per 1,000 chat items: decoding one `list` page of
//! the Data API's JSON and mapping every item to hub events, the CPU work
//! the polling adapter does per page (the HTTP round trip is not included).
//!
//! `cargo bench --bench youtube_ingest`

use std::hint::black_box;

use chrono::Utc;
use clank::adapters::youtube::Mapper;
use criterion::{Criterion, Throughput};
use serde_json::{Value, json};

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
