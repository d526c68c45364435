//! New salience weights re-rank what is already queued: in the core, and
//! through a running runtime, whose next snapshot lists the queue in the new
//! order (the console only shows that order, it never ranks).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clank::config::Config;
use clank::core::Core;
use clank::engine::salience::SalienceWeights;
use clank::model::{Author, ChatEvent, ChatMessage, Platform, Role};
use clank::runtime::{self, Clock, RuntimeOptions};
use clank::session::{QueueItem, Request, Snapshot, Update};
use clank::store::Store;
use tokio::sync::mpsc;

/// Who says it matters most.
const AUTHORITY: SalienceWeights = SalienceWeights {
    content: 0.0,
    authority: 1.0,
    relevance: 0.0,
    temporal: 0.0,
};

/// What is said matters most.
const CONTENT: SalienceWeights = SalienceWeights {
    content: 1.0,
    authority: 0.0,
    relevance: 0.0,
    temporal: 0.0,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Moderators chatting plainly and viewers asking questions: the first score
/// high on authority, the second on content. Nobody names the streamer, so no
/// trigger takes a message out of the queue before the weights change.
fn events() -> Vec<ChatEvent> {
    let lines: [(&str, Option<Role>, &str); 6] = [
        ("mod_a", Some(Role::Moderator), "ok"),
        ("viewer_a", None, "how did you beat the boss, any tips?"),
        ("vip_b", Some(Role::Vip), "nice"),
        ("viewer_b", None, "what build are you running right now?"),
        ("mod_c", Some(Role::Moderator), "lol"),
        ("viewer_c", None, "are you streaming again tomorrow?"),
    ];
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (name, role, text))| {
            ChatEvent::Message(ChatMessage {
                platform: Platform::Twitch,
                channel: "mika".into(),
                id: format!("m{i}"),
                at: t0() + TimeDelta::seconds(i as i64),
                author: Author {
                    id: format!("u-{name}"),
                    name: name.into(),
                    roles: role.into_iter().collect(),
                    ..Author::default()
                },
                text: text.into(),
                paid: None,
                reply_to: None,
            })
        })
        .collect()
}

fn config() -> Config {
    let mut config = Config::default();
    config.salience.streamer_names = vec!["Mika".into()];
    // Nothing listens on the discard port: drafting fails fast and quietly.
    config.llm.url = "http://127.0.0.1:9".into();
    config
}

/// Asserts `queue` is ordered and scored as `w` says; returns its ids.
fn follows(queue: &[QueueItem], w: &SalienceWeights) -> Vec<String> {
    let thresholds = Config::default().salience.thresholds;
    for item in queue {
        let s = &item.salience;
        assert!((s.score - w.combine(&s.breakdown)).abs() < 1e-9, "{item:?}");
        assert_eq!(s.priority, thresholds.priority(s.score), "{item:?}");
    }
    for pair in queue.windows(2) {
        let (a, b) = (&pair[0].salience, &pair[1].salience);
        assert!(
            (a.priority, a.score) >= (b.priority, b.score),
            "best first under {w:?}: {a:?} before {b:?}"
        );
    }
    queue.iter().map(|i| i.message.id.clone()).collect()
}

#[test]
fn the_core_re_ranks_its_queue_under_new_weights() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let store = Store::open(&dir.path().join("clank.db"), &config.store).unwrap();
    let (mut core, _) = Core::new(&config, store, 7, t0()).unwrap();
    let mut out = Vec::new();
    for ev in events() {
        core.handle(ev.clone(), ev.at(), &mut out).unwrap();
    }
    let queue = |core: &Core| -> Vec<QueueItem> {
        core.queue()
            .iter_sorted()
            .map(|e| QueueItem {
                message: e.message.clone(),
                salience: e.salience.clone(),
            })
            .collect()
    };
    assert!(queue(&core).len() >= 4, "most messages wait in the queue");

    core.set_weights(AUTHORITY).unwrap();
    let by_authority = follows(&queue(&core), &AUTHORITY);
    core.set_weights(CONTENT).unwrap();
    let by_content = follows(&queue(&core), &CONTENT);
    assert_ne!(by_authority, by_content, "the weights decide the order");
    let (mut a, mut c) = (by_authority, by_content);
    a.sort();
    c.sort();
    assert_eq!(a, c, "re-ranking keeps every message");
}

/// The next snapshot from the runtime.
async fn next_snapshot(updates: &mut mpsc::Receiver<Update>) -> Snapshot {
    loop {
        let u = tokio::time::timeout(Duration::from_secs(20), updates.recv())
            .await
            .expect("an update within 20 s")
            .expect("runtime alive");
        if let Update::Snapshot(s) = u {
            return *s;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_weights_through_the_runtime_yields_a_snapshot_in_the_new_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let store = Store::open(&dir.path().join("clank.db"), &config.store).unwrap();
    let (tx, rx) = mpsc::channel(64);
    let mut o = RuntimeOptions::new(config, store, rx);
    o.clock = Clock::Virtual;
    o.snapshots = true;
    let mut rt = runtime::start(o).expect("runtime starts");

    // Every message is handled (its chat line is out) before any request.
    for ev in events() {
        let id = match &ev {
            ChatEvent::Message(m) => m.id.clone(),
            _ => unreachable!(),
        };
        tx.send(clank::adapters::Inbound::Chat(ev)).await.unwrap();
        loop {
            let u = tokio::time::timeout(Duration::from_secs(20), rt.updates.recv())
                .await
                .expect("an update within 20 s")
                .expect("runtime alive");
            if matches!(&u, Update::Chat { message, .. } if message.id == id) {
                break;
            }
        }
    }

    rt.requests
        .send(Request::SetWeights(AUTHORITY))
        .await
        .unwrap();
    let s = next_snapshot(&mut rt.updates).await;
    assert_eq!(s.weights, AUTHORITY);
    assert!(s.queue.len() >= 4, "most messages wait in the queue: {s:?}");
    let by_authority = follows(&s.queue, &AUTHORITY);

    rt.requests
        .send(Request::SetWeights(CONTENT))
        .await
        .unwrap();
    let s = next_snapshot(&mut rt.updates).await;
    assert_eq!(s.weights, CONTENT);
    let by_content = follows(&s.queue, &CONTENT);
    assert_ne!(by_authority, by_content, "the snapshot follows the weights");

    rt.requests.send(Request::Quit).await.unwrap();
    rt.join.await.unwrap().unwrap();
}
