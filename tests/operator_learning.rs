//! Learning from the operator (issue 12, Build item 4), end to end: the
//! runtime on a virtual clock with a real SQLite file and a loopback fake
//! Ollama; a scripted operator approves the drafts for plain viewers'
//! questions and rejects those for long-time subscribers' chatter, whom the
//! weights it was given (rank first) put above the questions. Each
//! choice is stored as a label with the message's score breakdown; the
//! console's snapshot offers weights fitted to the choices (content up,
//! rank down) without applying them; `clank eval --from-db`'s report gives
//! the channel's agreement and the same suggestion.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clank::adapters::Inbound;
use clank::adapters::chatlog::{RecorderAdapter, RecordingSink};
use clank::adapters::hub::Hub;
use clank::config::Config;
use clank::headless;
use clank::model::{Author, ChatEvent, ChatMessage, Platform, Role};
use clank::runtime::{self, Clock, RuntimeOptions};
use clank::session::{Request, Update};
use clank::store::{LabelAction, Store};
use serde_json::Value;
use support::fake_ollama::{self, Reply};
use tokio::sync::mpsc;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::seconds(s)
}

fn msg(i: i64, question: bool) -> ChatEvent {
    let (name, roles, months, text) = if question {
        (
            format!("viewer{i}"),
            vec![],
            None,
            format!("@clank how do you dodge the dive attack in phase {i}?"),
        )
    } else {
        (
            format!("veteran{i}"),
            vec![Role::Subscriber, Role::Vip],
            Some(48),
            format!("@clank the overlay colours look great tonight, round {i}"),
        )
    };
    ChatEvent::Message(ChatMessage {
        platform: Platform::Twitch,
        channel: "mika".into(),
        id: format!("m{i}"),
        at: t(i * 20),
        author: Author {
            id: format!("u-{name}"),
            name,
            roles,
            months,
            ..Author::default()
        },
        text,
        paid: None,
        reply_to: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_choices_become_labels_a_report_and_a_suggestion_towards_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("op.db");
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text("Dash away as soon as he vanishes!"));
    let config = Config::from_toml(&format!(
        r#"
[llm]
url = "{}"
timeout_s = 3
retries = 0
[salience]
streamer_names = ["clank"]
# Tuned earlier to put rank first: this operator's choices say otherwise.
[salience.weights]
content = 0.1
authority = 0.7
relevance = 0.1
temporal = 0.1
[channel_defaults]
time_delay_s = 0
[auto]
max_sends_per_minute = 120
"#,
        ollama.url()
    ))
    .expect("config");
    let store = Store::open(&db, &config.store).expect("store");
    let (tx, rx) = mpsc::channel(64);
    let sink = Arc::new(RecordingSink::default());
    let hub = Hub::start(
        vec![Box::new(RecorderAdapter { sink: sink.clone() })],
        tx.clone(),
        tokio_util::sync::CancellationToken::new(),
    );
    let mut o = RuntimeOptions::new(config.clone(), store, rx);
    o.clock = Clock::Virtual;
    o.router = hub.router();
    let mut rt = runtime::start(o).expect("runtime");
    let mut last_suggestion = None;
    let next = async |rt: &mut runtime::Runtime, last: &mut Option<_>| loop {
        let u = tokio::time::timeout(Duration::from_secs(20), rt.updates.recv())
            .await
            .expect("an update in time")
            .expect("runtime alive");
        if let Update::Snapshot(s) = &u {
            *last = Some(s.suggestion);
        }
        if let Some(v) = headless::update_json(&u) {
            return v;
        }
    };
    // 16 drafts: 9 answers to plain viewers' questions, 7 to veterans' chatter.
    let mut approved = 0;
    let mut rejected = 0;
    for i in 1..=16 {
        let question = i % 2 == 1 || i == 16;
        tx.send(Inbound::Chat(msg(i, question))).await.unwrap();
        let draft: Value = loop {
            let v = next(&mut rt, &mut last_suggestion).await;
            if v["event"] == "draft" {
                break v;
            }
        };
        assert_eq!(draft["message_id"], format!("m{i}"), "{draft}");
        let id = draft["id"].as_i64().unwrap();
        if question {
            rt.requests.send(Request::Approve(id)).await.unwrap();
            approved += 1;
            loop {
                if next(&mut rt, &mut last_suggestion).await["event"] == "sent" {
                    break;
                }
            }
        } else {
            rt.requests.send(Request::Reject(id)).await.unwrap();
            rejected += 1;
        }
    }
    // A last request so the snapshot after the 16th choice is read.
    rt.requests
        .send(Request::SetTopic("elden ring".into()))
        .await
        .unwrap();
    loop {
        let u = tokio::time::timeout(Duration::from_secs(20), rt.updates.recv())
            .await
            .expect("a snapshot")
            .expect("alive");
        if let Update::Snapshot(s) = u {
            last_suggestion = Some(s.suggestion);
            // Offered, never applied: the runtime still ranks with the config's.
            assert_eq!(s.weights, config.salience.weights);
            break;
        }
    }
    assert_eq!((approved, rejected), (9, 7));
    let current = config.salience.weights;
    let s = last_suggestion
        .flatten()
        .expect("the console is offered fitted weights");
    assert_eq!(s.choices, 16);
    assert!(s.weights.content > current.content, "{s:?}");
    assert!(s.weights.authority < current.authority, "{s:?}");
    assert!(s.agreement_suggested > s.agreement_now, "{s:?}");
    rt.cancel.cancel();
    let summary = rt.join.await.unwrap().unwrap();
    assert_eq!(summary.rejected, 7);
    drop(hub);

    // Every choice is a label with the breakdown its message had.
    let store = Store::open(&db, &config.store).unwrap();
    let labels = store.labels_async().await.unwrap();
    assert_eq!(labels.len(), 16);
    assert_eq!(
        labels
            .iter()
            .filter(|l| l.action == LabelAction::Approved)
            .count(),
        9
    );
    let a = labels.iter().find(|l| l.message_id == "m1").unwrap();
    let r = labels.iter().find(|l| l.message_id == "m2").unwrap();
    assert!(a.salience.breakdown.content > r.salience.breakdown.content);
    assert!(a.salience.breakdown.authority < r.salience.breakdown.authority);
    // `clank eval --from-db` is a blocking command, as the CLI runs it.
    let (report, out) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let r = clank::eval::operator::run(&store, &current, TimeDelta::hours(1), &mut out)
            .expect("report");
        (r, out)
    })
    .await
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let whole = lines
        .iter()
        .find(|v| v["channel"] == "mika" && v.get("from").is_none())
        .expect("the channel's whole history");
    assert_eq!(whole["labels"], 16);
    assert_eq!(whole["chosen"], 9);
    assert_eq!(whole["declined"], 7);
    assert!(whole["agreement"].as_f64().is_some(), "{whole}");
    assert!(
        lines
            .iter()
            .any(|v| v["channel"] == "mika" && v["from"].is_string()),
        "stretches over time: {lines:?}"
    );
    let printed = lines.last().unwrap();
    assert_eq!(printed["labels"], 16);
    assert_eq!(
        report.suggestion.map(|s| s.weights),
        Some(s.weights),
        "the report suggests what the console offered"
    );
}
