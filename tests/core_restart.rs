//! The core on a real SQLite file: dropping the store handle mid-stream and
//! reopening restores the queue and stores nothing twice.

use std::path::Path;

use chrono::{DateTime, Utc};
use clank::chatlog;
use clank::config::Config;
use clank::core::{Core, CoreEvent};
use clank::model::{ChatEvent, Platform};
use clank::store::Store;

fn demo_events() -> Vec<ChatEvent> {
    let file =
        std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/chat.jsonl"))
            .expect("demo log exists");
    let (events, errors) = chatlog::read_all(file).unwrap();
    assert!(errors.is_empty(), "the demo log is clean: {errors:?}");
    events
}

fn run(core: &mut Core, events: &[ChatEvent]) -> Vec<CoreEvent> {
    let mut out = Vec::new();
    for ev in events {
        core.handle(ev.clone(), ev.at(), &mut out).unwrap();
    }
    out
}

fn count_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COUNT(*) FROM chat_messages", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn dropping_the_store_mid_stream_restores_the_queue_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clank.db");
    let mut config = Config::default();
    config.salience.streamer_names = vec!["Mika".into()];
    let events = demo_events();
    let half = events.len() / 2;
    let start: DateTime<Utc> = events[0].at();

    let queued_before: Vec<String>;
    {
        let store = Store::open(&db, &config.store).unwrap();
        let (mut core, _) = Core::new(&config, store, 7, start).unwrap();
        run(&mut core, &events[..half]);
        // What is still waiting when the core comes back.
        let restart_at = events[half].at();
        queued_before = core
            .queue()
            .iter_sorted()
            .filter(|e| e.expires_at > restart_at)
            .map(|e| e.message.id.clone())
            .collect();
        assert!(
            !queued_before.is_empty(),
            "something is waiting in the queue"
        );
        // No close(), no flush(): the handle is simply dropped, as on a crash of the owner.
    }

    let store = Store::open(&db, &config.store).unwrap();
    let (mut core, start_events) = Core::new(&config, store.clone(), 7, events[half].at()).unwrap();
    assert!(
        start_events
            .iter()
            .any(|e| matches!(e, CoreEvent::Warning { what, .. } if what.contains("restored")))
    );
    let restored: Vec<String> = core
        .queue()
        .iter_sorted()
        .map(|e| e.message.id.clone())
        .collect();
    assert_eq!(
        restored, queued_before,
        "the queue comes back in the same order"
    );

    // Feeding the whole log again (as a restarted adapter might) stores nothing twice.
    run(&mut core, &events);
    let stats = store.flush().unwrap();
    assert!(stats.duplicates > 0 || core.counters().duplicates > 0);
    drop(core);
    store.close().unwrap();

    let unique_messages: std::collections::HashSet<(Platform, String)> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => Some((m.platform, m.id.clone())),
            _ => None,
        })
        .collect();
    let rows = count_rows(&db);
    assert!(rows > 0);
    assert!(
        rows as usize <= unique_messages.len(),
        "{rows} rows for {} unique messages",
        unique_messages.len()
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let dupes: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT platform, platform_msg_id FROM chat_messages GROUP BY 1, 2 HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dupes, 0);
}

#[test]
fn deletions_and_bans_purge_store_and_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clank.db");
    let config = Config::default();
    let log = r#"{"platform":"twitch","channel":"mikavt","id":"t1","at":"2026-11-21T20:00:01Z","author":{"id":"66","name":"troll"},"text":"how do I get free subs? anyone?"}
{"platform":"twitch","channel":"mikavt","id":"t2","at":"2026-11-21T20:00:02Z","author":{"id":"66","name":"troll"},"text":"mika what game is this?"}
{"platform":"twitch","channel":"other","id":"t3","at":"2026-11-21T20:00:02Z","author":{"id":"66","name":"troll"},"text":"same author, other channel: untouched?"}
{"platform":"twitch","channel":"mikavt","id":"k1","at":"2026-11-21T20:00:03Z","author":{"id":"7","name":"kind"},"text":"what build is that?"}
{"kind":"delete","platform":"twitch","channel":"mikavt","id":"k1","at":"2026-11-21T20:00:04Z"}
{"kind":"ban","platform":"twitch","channel":"mikavt","author_id":"66","at":"2026-11-21T20:00:05Z"}
"#;
    let (events, errors) = chatlog::read_all(log.as_bytes()).unwrap();
    assert!(errors.is_empty());
    let store = Store::open(&db, &config.store).unwrap();
    let (mut core, _) = Core::new(&config, store.clone(), 1, events[0].at()).unwrap();
    // Keep decisions from draining the queue during the test.
    let mut out = Vec::new();
    for ev in &events {
        core.handle(ev.clone(), ev.at(), &mut out).unwrap();
    }
    let queued: Vec<String> = core
        .queue()
        .iter_sorted()
        .map(|e| e.message.id.clone())
        .collect();
    assert!(!queued.contains(&"t1".to_string()) && !queued.contains(&"t2".to_string()));
    assert!(!queued.contains(&"k1".to_string()));
    store.flush().unwrap();
    let left: Vec<String> = store
        .export(Some(Platform::Twitch), "mikavt", None)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(left.is_empty(), "purged from the store: {left:?}");
    let other: Vec<String> = store
        .export(Some(Platform::Twitch), "other", None)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        other,
        vec!["t3"],
        "a ban in one channel leaves the other alone"
    );
    let restored = store.load_queue(events[0].at()).unwrap();
    assert!(
        !restored.is_empty(),
        "the other channel's message is still queued"
    );
    assert!(
        restored.iter().all(|(r, _, _)| r.channel != "mikavt"),
        "persisted queue purged too"
    );
    drop(core);
    store.close().unwrap();
}

#[test]
fn a_deletion_after_a_restart_finds_the_message_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clank.db");
    let config = Config::default();
    let before = r#"{"platform":"twitch","channel":"mikavt","id":"old1","at":"2026-11-21T20:00:01Z","author":{"id":"7","name":"kind"},"text":"what build is that?"}
{"platform":"twitch","channel":"mikavt","id":"old2","at":"2026-11-21T20:00:02Z","author":{"id":"8","name":"other"},"text":"nice run"}
"#;
    let after = r#"{"kind":"delete","platform":"twitch","channel":"mikavt","id":"old1","at":"2026-11-21T20:05:00Z"}
"#;
    let (first, _) = chatlog::read_all(before.as_bytes()).unwrap();
    let (second, _) = chatlog::read_all(after.as_bytes()).unwrap();
    {
        let store = Store::open(&db, &config.store).unwrap();
        let (mut core, _) = Core::new(&config, store.clone(), 1, first[0].at()).unwrap();
        run(&mut core, &first);
        drop(core);
        store.close().unwrap();
    }
    // A new core remembers no ids: the store looks the id up by itself.
    let store = Store::open(&db, &config.store).unwrap();
    let (mut core, _) = Core::new(&config, store.clone(), 1, second[0].at()).unwrap();
    run(&mut core, &second);
    let left: Vec<String> = store
        .export(Some(Platform::Twitch), "mikavt", None)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec!["old2"]);
    assert_eq!(store.flush().unwrap().deleted, 1);
    drop(core);
    store.close().unwrap();
}

/// A burst on the live path goes to the store as one batch. With the queue
/// full, each new message evicts the worst; an evicted message still in the
/// batch is stored without its queue mark (no UPDATE), one sent earlier is
/// dequeued by an UPDATE. Either way the persisted queue is the core's.
#[test]
fn a_burst_into_a_full_queue_persists_exactly_the_core_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clank.db");
    let mut config = Config::default();
    config.queue.max_size = 5;
    let events: Vec<ChatEvent> = demo_events()
        .into_iter()
        .filter(|e| matches!(e, ChatEvent::Message(_)))
        .take(120)
        .collect();
    let store = Store::open(&db, &config.store).unwrap();
    let (mut core, _) = Core::new(&config, store.clone(), 3, events[0].at()).unwrap();
    let mut out = Vec::new();
    // Three bursts: the later ones evict messages stored by the earlier.
    for burst in events.chunks(40) {
        core.begin_batch();
        for ev in burst {
            core.handle(ev.clone(), ev.at(), &mut out).unwrap();
        }
        core.end_batch().unwrap();
    }
    let now = events[events.len() - 1].at();
    let mut in_core: Vec<String> = core
        .queue()
        .iter_sorted()
        .filter(|e| e.expires_at > now)
        .map(|e| e.message.id.clone())
        .collect();
    assert_eq!(in_core.len(), 5, "the queue is full");
    store.flush().unwrap();
    let mut persisted: Vec<String> = store
        .load_queue(now)
        .unwrap()
        .into_iter()
        .map(|(_, m, _)| m.id)
        .collect();
    in_core.sort();
    persisted.sort();
    assert_eq!(persisted, in_core);
    let stored = core.counters().stored;
    assert!(stored > 100, "most of the burst is stored: {stored}");
    assert_eq!(count_rows(&db), stored as i64, "each stored message once");
    drop(core);
    store.close().unwrap();
}
