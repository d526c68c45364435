//! The review lane end to end (issue 12, failure class 1): the runtime on a
//! virtual clock, a real SQLite file, a loopback fake Ollama for drafts and a
//! recording sink for sends. A paid message, or one said to the streamer,
//! that the profanity model flags is held (stored, reported as a `held`
//! JSON event, masked), never filtered away; the operator releases it into
//! the queue or discards it, and its reply is never auto-sent.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clank::adapters::Inbound;
use clank::adapters::chatlog::{RecorderAdapter, RecordingSink};
use clank::adapters::hub::Hub;
use clank::config::Config;
use clank::headless;
use clank::model::{Author, ChatEvent, ChatMessage, Paid, PaidKind, Platform};
use clank::runtime::{self, Clock, Runtime, RuntimeOptions};
use clank::session::{Request, Update};
use clank::store::Store;
use serde_json::Value;
use support::fake_ollama::{self, Reply};
use tokio::sync::mpsc;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn message(platform: Platform, id: &str, secs: i64, text: &str, usd: Option<f64>) -> ChatEvent {
    ChatEvent::Message(ChatMessage {
        platform,
        channel: "mikavt".into(),
        id: id.into(),
        at: t0() + TimeDelta::seconds(secs),
        author: Author {
            id: format!("u-{id}"),
            name: format!("viewer_{id}"),
            ..Author::default()
        },
        text: text.into(),
        paid: usd.map(|amount| Paid {
            amount,
            currency: "USD".into(),
            kind: PaidKind::Superchat,
        }),
        reply_to: None,
    })
}

struct Driven {
    rt: Runtime,
    tx: mpsc::Sender<Inbound>,
    _hub: Hub,
    sink: Arc<RecordingSink>,
}

impl Driven {
    fn start(config: Config, db: &Path) -> Self {
        let store = Store::open(db, &config.store).expect("store");
        let (tx, rx) = mpsc::channel(64);
        let sink = Arc::new(RecordingSink::default());
        let hub = Hub::start(
            vec![Box::new(RecorderAdapter { sink: sink.clone() })],
            tx.clone(),
            tokio_util::sync::CancellationToken::new(),
        );
        let mut o = RuntimeOptions::new(config, store, rx);
        o.clock = Clock::Virtual;
        // Auto-send on: the lane must hold its replies back all the same.
        o.auto_send = true;
        o.router = hub.router();
        let rt = runtime::start(o).expect("runtime starts");
        Self {
            rt,
            tx,
            _hub: hub,
            sink,
        }
    }

    /// Reads updates up to the first JSON line that `done` accepts.
    async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let u = tokio::time::timeout(Duration::from_secs(20), self.rt.updates.recv())
                .await
                .expect("an update within 20 s")
                .expect("runtime alive");
            if let Some(v) = headless::update_json(&u) {
                got.push(v.clone());
                if done(&v) {
                    return got;
                }
            }
        }
    }

    /// Reads updates up to the next snapshot; its count of held messages.
    async fn next_snapshot(&mut self) -> usize {
        loop {
            let u = tokio::time::timeout(Duration::from_secs(20), self.rt.updates.recv())
                .await
                .expect("an update within 20 s")
                .expect("runtime alive");
            if let Update::Snapshot(s) = u {
                assert!(
                    s.held.iter().all(|h| !h.message.text.contains("mufflo")),
                    "the console only ever gets the masked text"
                );
                return s.held.len();
            }
        }
    }

    async fn feed(&mut self, ev: ChatEvent, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.tx
            .send(Inbound::Chat(ev))
            .await
            .expect("runtime takes events");
        self.until(done).await
    }

    async fn ask(&mut self, r: Request, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.rt
            .requests
            .send(r)
            .await
            .expect("runtime takes requests");
        self.until(done).await
    }
}

fn config(llm_url: &str) -> Config {
    Config::from_toml(&format!(
        r#"
[llm]
url = "{llm_url}"
timeout_s = 3
retries = 0
[salience]
streamer_names = ["mika"]
[channel_defaults]
time_delay_s = 0
[auto]
max_sends_per_minute = 120
min_priority = "LOW"
"#
    ))
    .expect("test config")
}

fn is(kind: &'static str, id: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == kind && v["id"] == id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_false_positive_is_held_shown_masked_and_released_only_by_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lane.db");
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text("Feed it in the camp menu, then it counts!"));
    let mut d = Driven::start(config(&ollama.url()), &db);

    // $50, flagged "severe sexual" by the model: held, masked, not filtered.
    let paid_text = "mika im giving you mufflo meat but its not coming, what do i do?";
    let got = d
        .feed(
            message(Platform::Youtube, "y1", 1, paid_text, Some(50.0)),
            is("held", "y1"),
        )
        .await;
    assert!(
        !got.iter().any(|v| v["event"] == "filtered"),
        "a paid message is never filtered away: {got:?}"
    );
    let held = got.last().unwrap();
    assert_eq!(held["paid_usd"], 50.0);
    assert_eq!(held["platform"], "youtube");
    let masked = held["masked"].as_str().unwrap();
    assert!(
        !masked.contains("mufflo") && masked.contains('*'),
        "{masked}"
    );
    assert!(held["reason"].as_str().unwrap().contains("paid"), "{held}");

    // The same text, unpaid and not said to her: the model's verdict stands.
    let got = d
        .feed(
            message(
                Platform::Twitch,
                "t1",
                2,
                "nymn im giving you mufflo meat but its not coming",
                None,
            ),
            |v| v["event"] == "filtered" || v["event"] == "held",
        )
        .await;
    assert_eq!(got.last().unwrap()["event"], "filtered", "{got:?}");

    // Said to her, unpaid: held too; the operator discards this one.
    let got = d
        .feed(
            message(
                Platform::Twitch,
                "t2",
                3,
                "@mika message 1431 about the boss fight tonight",
                None,
            ),
            |v| v["event"] == "filtered" || v["event"] == "held",
        )
        .await;
    let h = got.last().unwrap();
    assert_eq!(h["event"], "held", "{got:?}");
    assert!(h["reason"].as_str().unwrap().contains("streamer"), "{h}");
    // A clear slur still blocks, paid or not.
    let got = d
        .feed(
            message(Platform::Youtube, "y2", 4, "mika you n1gg3r", Some(20.0)),
            |v| v["event"] == "filtered" || v["event"] == "held",
        )
        .await;
    assert_eq!(got.last().unwrap()["event"], "filtered", "{got:?}");

    d.ask(
        Request::DiscardHeld {
            platform: Platform::Twitch,
            message_id: "t2".into(),
        },
        is("discarded", "t2"),
    )
    .await;
    assert_eq!(
        d.next_snapshot().await,
        1,
        "the console's snapshot holds one left"
    );

    // Released: into the queue; its draft waits for the operator although
    // auto-send is on and the policy would send anything else.
    let got = d
        .ask(
            Request::ReleaseHeld {
                platform: Platform::Youtube,
                message_id: "y1".into(),
            },
            is("released", "y1"),
        )
        .await;
    assert_eq!(got.last().unwrap()["queued"], true);
    let got = d
        .ask(
            Request::DraftFor {
                platform: Platform::Youtube,
                message_id: "y1".into(),
            },
            |v| v["event"] == "decision" && v["message_id"] == "y1",
        )
        .await;
    let decision = got.last().unwrap();
    assert_eq!(decision["action"], "hold", "{decision}");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("released from review"),
        "{decision}"
    );
    assert!(d.sink.sent().is_empty(), "nothing auto-sent from the lane");
    // The operator approves it: now it goes out.
    let draft_id = got
        .iter()
        .find(|v| v["event"] == "draft")
        .and_then(|v| v["id"].as_i64())
        .expect("a draft for the released message");
    d.ask(Request::Approve(draft_id), |v| v["event"] == "sent")
        .await;
    assert_eq!(d.sink.sent().len(), 1);

    d.rt.cancel.cancel();
    let summary = d.rt.join.await.unwrap().unwrap();
    let counts = &summary.core["counts"];
    assert_eq!(counts["held"], 2, "{counts}");
    assert_eq!(counts["released"], 1, "{counts}");
    assert_eq!(counts["discarded"], 1, "{counts}");
    assert_eq!(counts["filtered"], 2, "{counts}");

    // Both held messages are in the database, with why they were held.
    let store = Store::open(&db, &Config::default().store).unwrap();
    let yt = store
        .last_messages_async(Platform::Youtube, "mikavt", 10)
        .await
        .unwrap();
    assert!(yt.iter().any(|m| m.id == "y1" && m.text == paid_text));
    assert!(!yt.iter().any(|m| m.id == "y2"), "the slur is not stored");
    let tw = store
        .last_messages_async(Platform::Twitch, "mikavt", 10)
        .await
        .unwrap();
    assert!(tw.iter().any(|m| m.id == "t2"), "discarded, still stored");
    assert!(!tw.iter().any(|m| m.id == "t1"), "filtered, not stored");
    // The operator's approval of the released message is a label too, with
    // the score it was held with.
    let labels = store.labels_async().await.unwrap();
    let l = labels
        .iter()
        .find(|l| l.message_id == "y1")
        .expect("a label for the released message");
    assert_eq!(l.action, clank::store::LabelAction::Approved);
    assert!(l.salience.score > 0.0);
}

/// The real Twitch capture: the profanity model's one readable false
/// positive is said to the streamer, so it is held, not dropped; nothing
/// else passes the lane.
#[test]
fn the_filter_report_on_the_real_capture_holds_its_false_positive() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twitch-nymn.irc"
    );
    let mut config = Config::default();
    config.salience.streamer_names = vec!["nymn".into()];
    let mut out = Vec::new();
    let sum =
        clank::eval::filter::filter_report(&config, Path::new(file), &mut out).expect("report");
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sum.messages, 798);
    assert_eq!(sum.paid_blocked, 0);
    let mufflo = lines
        .iter()
        .find(|v| v["text"].as_str().is_some_and(|t| t.contains("mufflo")))
        .expect("the mufflo line is a model hit");
    assert_eq!(mufflo["lane"], "held", "{mufflo}");
    assert_eq!(mufflo["rule"], "profanity");
    assert_eq!(lines.last().unwrap()["summary"]["held"], sum.held);
    assert!(sum.model_hits >= 1 && sum.held == 1, "{sum:?}");
}

/// A restart never drops what waits for review: the core built on the same
/// database holds it again (masked, scored); once the operator decided, it
/// is not held after the next restart.
#[test]
fn held_messages_outlive_a_restart_until_the_operator_decides() {
    use clank::core::Core;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("restart.db");
    let mut config = Config::default();
    config.salience.streamer_names = vec!["mika".into()];
    let start = |at: i64| {
        let store = Store::open(&db, &config.store).expect("store");
        let (core, events) =
            Core::new(&config, store.clone(), 7, t0() + TimeDelta::seconds(at)).expect("core");
        (core, events, store)
    };
    let (mut core, _, store) = start(0);
    let mut out = Vec::new();
    for (id, secs, usd) in [("y1", 1, Some(50.0)), ("y2", 2, Some(5.0))] {
        let text = "mika im giving you mufflo meat but its not coming";
        core.handle(
            message(Platform::Youtube, id, secs, text, usd),
            t0() + TimeDelta::seconds(secs),
            &mut out,
        )
        .unwrap();
    }
    assert_eq!(core.held().len(), 2);
    drop(core);
    store.close().unwrap();

    let (mut core, events, store) = start(60);
    assert_eq!(core.held().len(), 2, "held again after the restart");
    assert!(
        events
            .iter()
            .any(|e| format!("{e:?}").contains("held again")),
        "{events:?}"
    );
    let h = &core.held()[0];
    assert_eq!(h.message.id, "y1");
    assert!(h.masked.contains('*') && !h.masked.contains("mufflo"));
    assert!(h.salience.score > 0.0);
    // The same message delivered again after the restart is a duplicate.
    let mut out = Vec::new();
    core.handle(
        message(Platform::Youtube, "y1", 1, "again", Some(50.0)),
        t0() + TimeDelta::seconds(61),
        &mut out,
    )
    .unwrap();
    assert_eq!(core.held().len(), 2);
    let now = t0() + TimeDelta::seconds(62);
    assert!(
        core.decide_held(Platform::Youtube, "y1", true, now, &mut out)
            .unwrap()
    );
    assert!(
        core.decide_held(Platform::Youtube, "y2", false, now, &mut out)
            .unwrap()
    );
    drop(core);
    store.close().unwrap();

    let (core, _, store) = start(120);
    assert!(core.held().is_empty(), "decided ones are not held again");
    drop(core);
    store.close().unwrap();
}
