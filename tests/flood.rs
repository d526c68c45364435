//! A flood of chat on the live path (fake IRC over loopback -> hub -> Twitch
//! adapter -> runtime -> store, a front end reading every update): every
//! message arrives once, none is lost or doubled, the connection never
//! drops, and the store holds each exactly once. Bounded in count; no time
//! is asserted (the speed is the benches' business).

mod support;

use std::collections::HashSet;

use clank::core::CoreEvent;
use clank::live::{self, Sources};
use clank::session::{Component, Health, Update};
use clank::store::Store;
use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc};
use support::live::{PATIENCE, privmsg};
use tokio_util::sync::CancellationToken;

/// Messages in the flood.
const FLOOD: usize = 20_000;

/// What the flood says, in turn (ids are unique; texts repeat as in a raid).
const TEXTS: [&str; 5] = [
    "hello chat",
    "how is the boss fight going",
    "that dodge was clean",
    "first time here, love the stream",
    "what build is this",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_arrives_whole_once_each_without_a_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    // A dead LLM: drafts fall back at once and pile up, as in the worst case.
    let config = support::live::config(dir.path(), &irc.irc_addr(), None, "http://127.0.0.1:9");
    let store = Store::open(config.db_path(), &config.store).unwrap();
    let cancel = CancellationToken::new();
    let mut run = live::start(
        &config,
        store.clone(),
        Sources::Platforms,
        live::Front::Console,
        false,
        cancel.clone(),
    )
    .await
    .expect("live starts");
    // Joined: the adapter reads the channel anonymously.
    loop {
        match tokio::time::timeout(PATIENCE, run.updates.recv()).await {
            Ok(Some(Update::Health {
                component: Component::Platform(_),
                health: Health::ReadOnly,
            })) => break,
            Ok(Some(_)) => {}
            other => panic!("not connected: {other:?}"),
        }
    }
    while irc.connections() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The whole flood is queued on the fake's socket at once; the adapter
    // takes it as fast as clank reads.
    for i in 0..FLOOD {
        let user = i % 97;
        irc.send(&privmsg(
            &format!("flood-{i}"),
            &format!("viewer{user}"),
            &format!("{}", 1000 + user),
            // Digits are left out: rustrict reads some (e.g. "1431") as
            // leetspeak for a slur (issue 12), and this test is not about
            // the filter.
            TEXTS[i % TEXTS.len()],
        ));
    }
    let mut seen = HashSet::new();
    let mut doubled = Vec::new();
    let mut reconnects = 0;
    while seen.len() < FLOOD {
        let u = match tokio::time::timeout(PATIENCE, run.updates.recv()).await {
            Ok(Some(u)) => u,
            other => panic!("the flood stalled after {} messages: {other:?}", seen.len()),
        };
        match u {
            Update::Chat { message, .. } if !seen.insert(message.id.clone()) => {
                doubled.push(message.id.clone())
            }
            Update::Core(CoreEvent::Filtered { id, .. }) => {
                panic!("a clean message was filtered: {id}")
            }
            Update::Health {
                component: Component::Platform(_),
                health: Health::Reconnecting { .. } | Health::Down { .. },
            } => reconnects += 1,
            _ => {}
        }
    }
    assert!(doubled.is_empty(), "shown twice: {doubled:?}");
    assert_eq!(reconnects, 0, "the connection dropped under the flood");
    cancel.cancel();
    let summary = run.runtime.join.await.unwrap().unwrap();
    run.hub.join().await;
    assert_eq!(summary.events, FLOOD as u64, "{summary:?}");
    // Every message in the store, each once.
    let stored: i64 = rusqlite::Connection::open(config.db_path())
        .unwrap()
        .query_row(
            "SELECT COUNT(DISTINCT platform_msg_id) FROM chat_messages WHERE platform_msg_id LIKE 'flood-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let rows: i64 = rusqlite::Connection::open(config.db_path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM chat_messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!((stored, rows), (FLOOD as i64, FLOOD as i64));
}

/// A burst goes to the core in batches: a deletion in the middle of one
/// still comes in its place, after the message it deletes and before the
/// ones sent after it, and the deleted message is gone from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_inside_a_burst_keeps_its_place_in_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let config = support::live::config(dir.path(), &irc.irc_addr(), None, "http://127.0.0.1:9");
    let store = Store::open(config.db_path(), &config.store).unwrap();
    let cancel = CancellationToken::new();
    let mut run = live::start(
        &config,
        store.clone(),
        Sources::Platforms,
        live::Front::Console,
        false,
        cancel.clone(),
    )
    .await
    .expect("live starts");
    irc.wait_for("JOIN", 1, PATIENCE).await;
    while irc.connections() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    const BURST: usize = 600;
    const DELETED: usize = 250;
    for i in 0..BURST {
        irc.send(&privmsg(
            &format!("b-{i}"),
            &format!("viewer{}", i % 13),
            &format!("{}", 2000 + i % 13),
            TEXTS[i % TEXTS.len()],
        ));
        if i == DELETED + 50 {
            let ms = chrono::Utc::now().timestamp_millis();
            irc.send(&format!(
                "@login=viewer{};room-id=1;target-msg-id=b-{DELETED};tmi-sent-ts={ms} :tmi.twitch.tv CLEARMSG #{} :{}",
                DELETED % 13,
                support::live::CHANNEL,
                TEXTS[DELETED % TEXTS.len()]
            ));
        }
    }
    // The order the front end sees: chat lines and the removal.
    let mut order: Vec<String> = Vec::new();
    while order.len() < BURST + 1 {
        let u = match tokio::time::timeout(PATIENCE, run.updates.recv()).await {
            Ok(Some(u)) => u,
            other => panic!("stopped after {} of {}: {other:?}", order.len(), BURST + 1),
        };
        match u {
            Update::Chat { message, .. } => order.push(message.id.clone()),
            Update::ChatRemoved { message_ids, .. } => {
                order.push(format!("removed {}", message_ids.join(",")))
            }
            _ => {}
        }
    }
    let mut want: Vec<String> = (0..BURST).map(|i| format!("b-{i}")).collect();
    want.insert(DELETED + 51, format!("removed b-{DELETED}"));
    assert_eq!(order, want);
    cancel.cancel();
    run.runtime.join.await.unwrap().unwrap();
    run.hub.join().await;
    let ids: Vec<String> = store
        .last_messages_async(clank::model::Platform::Twitch, support::live::CHANNEL, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids.len(), BURST - 1);
    assert!(!ids.contains(&format!("b-{DELETED}")));
}
