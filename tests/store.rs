//! The SQLite store's own cases against real database files in a temp dir:
//! queue persistence (including a kill -9), unwritable paths, a database
//! locked by another connection, schema upgrades, the verdicts on sent
//! replies (the not-delivered list) and a full disk. What both backends
//! share (round trips, duplicates, channel isolation, moderation, retention,
//! export order) runs on SQLite and PostgreSQL in `tests/store_backends.rs`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clank::model::{Author, ChatMessage, Platform, Priority, Salience, SalienceBreakdown};
use clank::store::{
    NewResponse, ResponseStatus, STOPPED_BEFORE_VERDICT, Store, StoreConfig, StoreError,
    StoredMessage,
};

/// 2026-11-21T20:00:00Z
const BASE_MS: i64 = 1_795_291_200_000;

fn at(offset_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(BASE_MS + offset_ms).unwrap()
}

fn msg(platform: Platform, channel: &str, id: &str, author: &str, t: i64) -> ChatMessage {
    ChatMessage {
        platform,
        channel: channel.into(),
        id: id.into(),
        at: at(t),
        author: Author {
            id: author.into(),
            name: format!("name-{author}"),
            roles: vec![],
            months: None,
            first_message: false,
            returning_chatter: false,
        },
        text: format!("text of {id}"),
        paid: None,
        reply_to: None,
    }
}

fn salience(score: f64, priority: Priority) -> Salience {
    Salience {
        score,
        breakdown: SalienceBreakdown {
            content: score,
            authority: 0.25,
            relevance: 0.5,
            temporal: 1.0,
        },
        priority,
        reasons: vec![format!("scored {score}")],
    }
}

/// A scored message as the core stores it when it enters the queue: in the
/// queue from its own time for two minutes.
fn queued(m: &ChatMessage, score: f64, priority: Priority) -> StoredMessage {
    StoredMessage {
        message: m.clone().into(),
        salience: Some(salience(score, priority).into()),
        attention_state: None,
        metadata: None,
        processed_at: Some(m.at),
        queued_until: Some(m.at + TimeDelta::seconds(120)),
    }
}

fn cfg() -> StoreConfig {
    StoreConfig {
        batch_size: 64,
        ..StoreConfig::default()
    }
}

fn open(path: &Path) -> Store {
    Store::open(path, &cfg()).unwrap()
}

fn ids(ms: &[ChatMessage]) -> Vec<&str> {
    ms.iter().map(|m| m.id.as_str()).collect()
}

#[test]
fn responses_are_recorded_and_updated() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("clank.db"));
    let m = msg(Platform::Discord, "general", "d1", "u", 0);
    store.insert_message(m.into()).unwrap();
    let new = NewResponse {
        platform: Platform::Discord,
        channel: "general".into(),
        original_id: Some("d1".into()),
        original_at: Some(at(0)),
        response_text: "Sure!".into(),
        response_type: "answer".into(),
        attention_state: None,
        generation_time_ms: Some(1234),
        agent_context: Some(serde_json::json!({"mood": "calm"})),
        status: ResponseStatus::Pending,
        created_at: at(100),
    };
    let id = store.insert_response(new.clone()).unwrap();
    store
        .set_response_status(id, ResponseStatus::Sent, Some(at(200)))
        .unwrap();
    let got = store.get_response(id).unwrap().unwrap();
    assert_eq!(got.original_id.as_deref(), Some("d1"));
    assert_eq!(got.response_text, new.response_text);
    assert_eq!(got.agent_context, new.agent_context);
    assert_eq!(got.generation_time_ms, Some(1234));
    assert_eq!(got.status, ResponseStatus::Sent);
    assert_eq!(got.sent_at, Some(at(200)));
    assert_eq!(got.created_at, at(100));
    assert!(store.get_response(id + 100).unwrap().is_none());
}

#[test]
fn queue_survives_dropping_the_handle_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let mut expected = Vec::new();
    {
        let store = open(&path);
        for i in 0..500 {
            // 0.1 s apart, so the marks (two minutes) expire one by one later.
            let m = msg(Platform::Twitch, "mika", &format!("q{i}"), "u", i * 100);
            let s = salience(f64::from(i as u32) / 1000.0, Priority::Low);
            store
                .insert_message(queued(&m, s.score, s.priority))
                .unwrap();
            if i % 3 == 0 {
                store
                    .dequeue(Platform::Twitch, "mika", &m.id, m.at)
                    .unwrap();
            } else {
                expected.push((m, s));
            }
        }
        // A dequeue at the wrong time or in another channel takes nothing off.
        let (m, _) = &expected[0];
        store
            .dequeue(
                Platform::Twitch,
                "mika",
                &m.id,
                m.at + TimeDelta::seconds(1),
            )
            .unwrap();
        store
            .dequeue(Platform::Twitch, "other", &m.id, m.at)
            .unwrap();
        // Dropped without flush or close, with writes still in the channel.
    }
    let store = open(&path);
    let restored = store.load_queue(at(0)).unwrap();
    assert_eq!(restored.len(), expected.len());
    // Highest score first, with their messages and salience.
    let mut all = expected.clone();
    all.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    for ((rec, m, s), (em, es)) in restored.iter().zip(&all) {
        assert_eq!(m, em);
        assert_eq!(s.as_ref(), Some(es));
        assert_eq!((rec.score, rec.priority), (es.score, es.priority));
        assert_eq!(rec.enqueued_at, em.at);
        assert_eq!(rec.expires_at, Some(em.at + TimeDelta::seconds(120)));
        assert_eq!(
            (rec.channel.as_str(), rec.id.as_str()),
            ("mika", em.id.as_str())
        );
    }
    // Marks expire by their time alone: 150 s in, those said in the first 30 s are gone.
    let later = store.load_queue(at(150_000)).unwrap();
    let still: Vec<_> = expected
        .iter()
        .filter(|(m, _)| m.at + TimeDelta::seconds(120) > at(150_000))
        .collect();
    assert_eq!(later.len(), still.len());
    assert!(later.len() < restored.len());
    let stats = store.flush().unwrap();
    assert_eq!(stats.dequeued, 0, "this handle took nothing off");
    for (m, _) in &expected {
        store
            .dequeue(Platform::Twitch, "mika", &m.id, m.at)
            .unwrap();
    }
    assert!(store.load_queue(at(0)).unwrap().is_empty());
    assert_eq!(store.flush().unwrap().dequeued, expected.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsent_replies_of_an_earlier_run_are_expired_and_sent_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("clank.db"));
    let mut ids = Vec::new();
    for (i, status) in [
        ResponseStatus::Pending,
        ResponseStatus::Approved,
        ResponseStatus::Edited,
        ResponseStatus::Sent,
        ResponseStatus::Rejected,
        ResponseStatus::Sending,
        ResponseStatus::Refused,
    ]
    .into_iter()
    .enumerate()
    {
        let id = store
            .insert_response_async(NewResponse {
                platform: Platform::Twitch,
                channel: "c".into(),
                original_id: None,
                original_at: None,
                response_text: format!("reply {i}"),
                response_type: "llm".into(),
                attention_state: None,
                generation_time_ms: None,
                agent_context: None,
                status,
                created_at: at(i as i64),
            })
            .await
            .unwrap();
        ids.push((id, status));
    }
    assert_eq!(
        store.expire_unsent_responses_async().await.unwrap(),
        3,
        "the count is of expired replies only"
    );
    for (id, before) in ids {
        let now = store.get_response_async(id).await.unwrap().unwrap();
        let want = match before {
            ResponseStatus::Pending | ResponseStatus::Approved | ResponseStatus::Edited => {
                ResponseStatus::Expired
            }
            // In flight when the run stopped: it may be in chat.
            ResponseStatus::Sending => ResponseStatus::Unconfirmed,
            other => other,
        };
        assert_eq!(now.status, want, "{before:?}");
        let reason = (before == ResponseStatus::Sending).then_some(STOPPED_BEFORE_VERDICT);
        assert_eq!(now.status_reason.as_deref(), reason, "{before:?}");
        assert_eq!(now.sent_at, None, "{before:?}");
    }
    assert_eq!(store.expire_unsent_responses_async().await.unwrap(), 0);
    let listed = store.not_delivered_async(10).await.unwrap();
    let statuses: Vec<ResponseStatus> = listed.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![ResponseStatus::Refused, ResponseStatus::Unconfirmed],
        "the crash's unconfirmed reply waits for the operator too (newest first)"
    );
}

const KILL_ENV: &str = "CLANK_STORE_KILL_CHILD_DB";
const KILL_MARK: &str = "CLANK-CHILD-FLUSHED";

/// The child half of `queue_survives_kill_9`: does nothing unless started by it.
#[test]
fn kill_9_child() {
    let Ok(path) = std::env::var(KILL_ENV) else {
        return;
    };
    let store = open(Path::new(&path));
    for i in 0..300 {
        let m = msg(Platform::Youtube, "live", &format!("k{i}"), "u", i);
        store
            .insert_message(queued(&m, f64::from(i as u32), Priority::High))
            .unwrap();
    }
    store.flush().unwrap();
    println!("{KILL_MARK}");
    // Keep writing until killed, so the kill lands mid-stream.
    for i in 300.. {
        let m = msg(Platform::Youtube, "live", &format!("k{i}"), "u", i);
        store
            .insert_message(queued(&m, 0.0, Priority::Low))
            .unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn queue_survives_kill_9() {
    if std::env::var(KILL_ENV).is_ok() {
        return; // we are the child
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["kill_9_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(KILL_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let flushed = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(KILL_MARK));
    assert!(flushed, "child never reported its flush");
    std::thread::sleep(Duration::from_millis(50));
    child.kill().unwrap(); // SIGKILL: no destructors, no final commit
    child.wait().unwrap();

    let store = open(&path);
    let restored = store.load_queue(at(0)).unwrap();
    assert!(restored.len() >= 300, "only {} restored", restored.len());
    let top: Vec<&str> = restored
        .iter()
        .take(3)
        .map(|(r, _, _)| r.id.as_str())
        .collect();
    assert_eq!(top, vec!["k299", "k298", "k297"]);
    for (rec, m, _) in &restored {
        assert_eq!(rec.id, m.id);
    }
}

#[test]
fn unwritable_paths_give_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory should be: fails even as root.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("clank.db");
    let err = Store::open(&path, &cfg()).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");

    // A directory where the database file should be.
    let err = Store::open(dir.path(), &cfg()).unwrap_err();
    assert!(
        err.to_string().contains(&*dir.path().to_string_lossy()),
        "{err}"
    );

    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'j'; 4096]).unwrap();
    let err = Store::open(&junk, &cfg()).unwrap_err();
    assert!(err.to_string().contains("junk.db"), "{err}");

    // Bad settings are refused before anything is touched.
    let bad = StoreConfig {
        batch_size: 0,
        ..cfg()
    };
    let err = Store::open(&dir.path().join("x.db"), &bad).unwrap_err();
    assert!(err.to_string().contains("store.batch_size"), "{err}");
}

#[test]
fn a_write_protected_file_is_reported_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    open(&path).close().unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        return; // running as root: permissions are not enforced
    }
    let err = Store::open(&path, &cfg()).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    assert!(err.to_string().contains("ro.db"), "{err}");
}

/// Another program holds an EXCLUSIVE transaction.
fn lock(path: &Path) -> rusqlite::Connection {
    let other = rusqlite::Connection::open(path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    other
}

#[test]
fn a_briefly_locked_database_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let store = open(&path); // busy_timeout 5 s
    let other = lock(&path);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    for i in 0..200 {
        store
            .insert_message(msg(Platform::Twitch, "c", &format!("l{i}"), "u", i).into())
            .unwrap();
    }
    let stats = store.flush().unwrap();
    release.join().unwrap();
    assert_eq!(stats.inserted, 200);
    assert_eq!(
        store
            .last_messages(Platform::Twitch, "c", 500)
            .unwrap()
            .len(),
        200
    );
}

#[test]
fn a_long_lock_is_reported_and_the_batch_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let store = Store::open(
        &path,
        &StoreConfig {
            busy_timeout_ms: 50,
            ..cfg()
        },
    )
    .unwrap();
    store
        .insert_message(msg(Platform::Twitch, "c", "before", "u", 0).into())
        .unwrap();
    store.flush().unwrap();

    let other = lock(&path);
    for i in 0..200 {
        store
            .insert_message(msg(Platform::Twitch, "c", &format!("l{i}"), "u", i + 1).into())
            .unwrap();
    }
    let err = store.flush().unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    assert!(err.to_string().contains("clank.db"), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    let err = store.last_messages(Platform::Twitch, "c", 10).unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    let stats = store.stats();
    assert!(stats.held > 0);
    assert!(stats.last_error.unwrap().contains("locked"));

    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    let stats = store.flush().unwrap();
    assert_eq!(stats.inserted, 201);
    assert_eq!(stats.held, 0);
    assert_eq!(stats.lost, 0);
    let stored = store.last_messages(Platform::Twitch, "c", 500).unwrap();
    assert_eq!(stored.len(), 201);
    assert_eq!(stored[1].id, "l0", "held writes keep their order");
}

#[test]
fn a_stopped_writer_makes_every_call_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("clank.db"));
    let other = store.clone();
    store
        .insert_message(msg(Platform::Twitch, "c", "1", "u", 0).into())
        .unwrap();
    let stats = store.close().unwrap();
    assert_eq!(stats.inserted, 1);
    let err = other
        .insert_message(msg(Platform::Twitch, "c", "2", "u", 1).into())
        .unwrap_err();
    assert!(matches!(err, StoreError::Closed { .. }), "{err:?}");
    assert!(err.to_string().contains("clank.db"), "{err}");
    assert!(matches!(
        other.last_messages(Platform::Twitch, "c", 1),
        Err(StoreError::Closed { .. })
    ));
    assert!(matches!(other.flush(), Err(StoreError::Closed { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_twins_work_inside_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("clank.db"));
    for i in 0..10 {
        store
            .insert_message_async(msg(Platform::Twitch, "c", &format!("a{i}"), "u", i).into())
            .await
            .unwrap();
    }
    let m = msg(Platform::Twitch, "c", "q", "u", 3);
    store
        .insert_message_async(queued(&m, 0.5, Priority::High))
        .await
        .unwrap();
    let last = store
        .last_messages_async(Platform::Twitch, "c", 2)
        .await
        .unwrap();
    assert_eq!(ids(&last), vec!["a8", "a9"]);
    assert_eq!(store.load_queue_async(at(0)).await.unwrap().len(), 1);
    assert_eq!(store.export_async(None, "c", None).await.unwrap().len(), 11);
    store
        .delete_message_async(Platform::Twitch, "c", "a3", None)
        .await
        .unwrap();
    store
        .dequeue_async(Platform::Twitch, "c", "q", m.at)
        .await
        .unwrap();
    assert!(store.load_queue_async(at(0)).await.unwrap().is_empty());
    let stats = store.close_async().await.unwrap();
    assert_eq!((stats.inserted, stats.deleted, stats.dequeued), (11, 1, 1));
}

/// A reply to `original` (a stored message id, or none) drafted `t` ms in.
fn reply_to(original: Option<&str>, text: &str, status: ResponseStatus, t: i64) -> NewResponse {
    NewResponse {
        platform: Platform::Twitch,
        channel: "mika".into(),
        original_id: original.map(str::to_owned),
        original_at: None,
        response_text: text.into(),
        response_type: "llm".into(),
        attention_state: None,
        generation_time_ms: None,
        agent_context: None,
        status,
        created_at: at(t),
    }
}

/// The way the runtime sends: claim the approved reply to `Sending`, then
/// record the platform's verdict.
async fn send_with_verdict(
    store: &Store,
    id: i64,
    verdict: ResponseStatus,
    reason: Option<&str>,
    t: i64,
) {
    let claimed = store
        .claim_response_async(
            id,
            &[ResponseStatus::Approved],
            ResponseStatus::Sending,
            Some(at(t)),
        )
        .await
        .unwrap();
    assert!(claimed, "reply {id} was approved");
    store
        .set_response_verdict_async(id, verdict, reason, at(t + 50))
        .await
        .unwrap();
}

#[test]
fn a_version_3_database_migrates_and_keeps_its_replies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let (sent, failed) = {
        let store = open(&path);
        store
            .insert_message(msg(Platform::Twitch, "mika", "m1", "u", 0).into())
            .unwrap();
        let sent = store
            .insert_response(reply_to(Some("m1"), "went out", ResponseStatus::Sent, 10))
            .unwrap();
        store
            .set_response_status(sent, ResponseStatus::Sent, Some(at(20)))
            .unwrap();
        let failed = store
            .insert_response(reply_to(None, "broke", ResponseStatus::Failed, 30))
            .unwrap();
        store.close().unwrap();
        (sent, failed)
    };
    // Take the file back to schema version 3, exactly as that build left it.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP INDEX chat_responses_not_delivered;
             ALTER TABLE chat_responses DROP COLUMN status_reason;
             DROP TABLE adapter_state;
             DROP TABLE operator_labels;
             DROP INDEX chat_messages_held;
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let store = open(&path);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6, "migrated to the latest version");
    let got = store.get_response(sent).unwrap().unwrap();
    assert_eq!(got.status, ResponseStatus::Sent);
    assert_eq!(got.sent_at, Some(at(20)));
    assert_eq!(got.original_id.as_deref(), Some("m1"), "the link survived");
    assert_eq!(got.status_reason, None);
    let got = store.get_response(failed).unwrap().unwrap();
    assert_eq!(
        (got.status, got.response_text.as_str(), got.status_reason),
        (ResponseStatus::Failed, "broke", None)
    );
    // An old failure without a reason is still one the operator should see.
    let listed = store.not_delivered(10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_store_their_status_and_reason_and_only_sent_has_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("clank.db"));
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = reply_to(None, &format!("reply {i}"), ResponseStatus::Approved, i);
        ids.push(store.insert_response_async(r).await.unwrap());
    }
    // Claimed but no verdict yet: in flight, not sent.
    let claimed = store
        .claim_response_async(
            ids[0],
            &[ResponseStatus::Approved],
            ResponseStatus::Sending,
            Some(at(100)),
        )
        .await
        .unwrap();
    assert!(claimed);
    let got = store.get_response_async(ids[0]).await.unwrap().unwrap();
    assert_eq!((got.status, got.sent_at), (ResponseStatus::Sending, None));
    store
        .set_response_verdict_async(ids[0], ResponseStatus::Sent, None, at(150))
        .await
        .unwrap();
    send_with_verdict(
        &store,
        ids[1],
        ResponseStatus::Refused,
        Some("msg_ratelimit: you are sending messages too quickly"),
        200,
    )
    .await;
    send_with_verdict(
        &store,
        ids[2],
        ResponseStatus::Failed,
        Some("not connected"),
        300,
    )
    .await;
    send_with_verdict(
        &store,
        ids[3],
        ResponseStatus::Unconfirmed,
        Some("no answer from twitch within 5 s"),
        400,
    )
    .await;
    let want = [
        (ResponseStatus::Sent, None, Some(at(150))),
        (
            ResponseStatus::Refused,
            Some("msg_ratelimit: you are sending messages too quickly"),
            None,
        ),
        (ResponseStatus::Failed, Some("not connected"), None),
        (
            ResponseStatus::Unconfirmed,
            Some("no answer from twitch within 5 s"),
            None,
        ),
    ];
    for (id, (status, reason, sent_at)) in ids.iter().zip(want) {
        let got = store.get_response_async(*id).await.unwrap().unwrap();
        assert_eq!(got.status, status, "reply {id}");
        assert_eq!(got.status_reason.as_deref(), reason, "reply {id}");
        assert_eq!(got.sent_at, sent_at, "reply {id}");
    }
    // A sent reply is final: no later word turns it back.
    store
        .set_response_verdict_async(ids[0], ResponseStatus::Refused, Some("late"), at(900))
        .await
        .unwrap();
    let got = store.get_response_async(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.status_reason, got.sent_at),
        (ResponseStatus::Sent, None, Some(at(150)))
    );
    // A late acceptance corrects an unconfirmed reply: it was in chat.
    store
        .set_response_verdict_async(ids[3], ResponseStatus::Sent, None, at(950))
        .await
        .unwrap();
    let got = store.get_response_async(ids[3]).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.status_reason, got.sent_at),
        (ResponseStatus::Sent, None, Some(at(950)))
    );
    // The operator's discard keeps its reason and leaves the list.
    store
        .set_response_verdict_async(
            ids[1],
            ResponseStatus::Rejected,
            Some("discarded by the operator"),
            at(990),
        )
        .await
        .unwrap();
    let got = store.get_response_async(ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.status_reason.as_deref(), got.sent_at),
        (
            ResponseStatus::Rejected,
            Some("discarded by the operator"),
            None
        )
    );
    let left: Vec<i64> = store
        .not_delivered_async(10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![ids[2]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_delivered_lists_refused_failed_and_unconfirmed_newest_first_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let store = open(&path);
    let mut want = Vec::new();
    // Every status, twice over, drafted in this order.
    let statuses = [
        ResponseStatus::Pending,
        ResponseStatus::Approved,
        ResponseStatus::Sending,
        ResponseStatus::Sent,
        ResponseStatus::Refused,
        ResponseStatus::Unconfirmed,
        ResponseStatus::Rejected,
        ResponseStatus::Withdrawn,
        ResponseStatus::Failed,
        ResponseStatus::Edited,
        ResponseStatus::Expired,
        ResponseStatus::Blocked,
    ];
    for round in 0..2 {
        for (i, status) in statuses.into_iter().enumerate() {
            let t = (round * statuses.len() + i) as i64 * 1000;
            let text = format!("{status} {round}");
            let id = if matches!(
                status,
                ResponseStatus::Refused | ResponseStatus::Failed | ResponseStatus::Unconfirmed
            ) {
                let id = store
                    .insert_response_async(reply_to(None, &text, ResponseStatus::Approved, t))
                    .await
                    .unwrap();
                let reason = format!("why {round}");
                send_with_verdict(&store, id, status, Some(&reason), t).await;
                want.push((id, status, text, reason));
                id
            } else {
                store
                    .insert_response_async(reply_to(None, &text, status, t))
                    .await
                    .unwrap()
            };
            assert!(id > 0);
        }
    }
    want.reverse();
    let check = |listed: Vec<clank::store::StoredResponse>, n: usize| {
        let got: Vec<_> = listed
            .into_iter()
            .map(|r| {
                assert_eq!((r.platform, r.channel.as_str()), (Platform::Twitch, "mika"));
                (r.id, r.status, r.response_text, r.status_reason.unwrap())
            })
            .collect();
        assert_eq!(got, want[..n].to_vec());
    };
    check(store.not_delivered_async(100).await.unwrap(), want.len());
    check(store.not_delivered_async(4).await.unwrap(), 4);
    assert!(store.not_delivered_async(0).await.unwrap().is_empty());
    let first = store.not_delivered_async(1).await.unwrap();
    assert_eq!(
        first[0].created_at,
        at(20_000),
        "newest first by drafting time"
    );
    store.close_async().await.unwrap();
    // After a restart the operator finds the same list.
    let store = open(&path);
    check(store.not_delivered_async(100).await.unwrap(), want.len());
    store.close_async().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_claims_a_not_delivered_reply_once_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    let store = open(&path);
    let mut ids = Vec::new();
    for (i, status) in [
        ResponseStatus::Refused,
        ResponseStatus::Failed,
        ResponseStatus::Unconfirmed,
    ]
    .into_iter()
    .enumerate()
    {
        let t = i as i64 * 100;
        let id = store
            .insert_response_async(reply_to(None, "retry me", ResponseStatus::Approved, t))
            .await
            .unwrap();
        send_with_verdict(&store, id, status, Some("nope"), t).await;
        ids.push(id);
    }
    let retry = [
        ResponseStatus::Refused,
        ResponseStatus::Failed,
        ResponseStatus::Unconfirmed,
    ];
    for id in ids.iter().copied() {
        // Two operators (or a double key press through two handles) race.
        let (a, b) = (store.clone(), open_second(&path));
        let one = tokio::spawn(async move {
            a.claim_response_async(id, &retry, ResponseStatus::Sending, Some(at(1000)))
                .await
                .unwrap()
        });
        let two = tokio::spawn(async move {
            b.claim_response_async(id, &retry, ResponseStatus::Sending, Some(at(1000)))
                .await
                .unwrap()
        });
        let won = [one.await.unwrap(), two.await.unwrap()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "reply {id}: exactly one claim wins, {won:?}"
        );
        let again = store
            .claim_response_async(id, &retry, ResponseStatus::Sending, Some(at(2000)))
            .await
            .unwrap();
        assert!(!again, "reply {id}: a third claim finds it in flight");
        let got = store.get_response_async(id).await.unwrap().unwrap();
        assert_eq!(got.status, ResponseStatus::Sending);
        assert_eq!(got.sent_at, None, "a claim to sending is not a send");
        assert_eq!(
            got.status_reason, None,
            "the old reason went with its state"
        );
    }
    assert!(store.not_delivered_async(10).await.unwrap().is_empty());
    // The retry's own verdict, then a discard: out of the list for good.
    store
        .set_response_verdict_async(ids[0], ResponseStatus::Refused, Some("again"), at(3000))
        .await
        .unwrap();
    assert_eq!(store.not_delivered_async(10).await.unwrap().len(), 1);
    assert!(
        store
            .claim_response_async(ids[0], &retry, ResponseStatus::Rejected, None)
            .await
            .unwrap()
    );
    assert!(store.not_delivered_async(10).await.unwrap().is_empty());
    assert!(
        !store
            .claim_response_async(ids[0], &retry, ResponseStatus::Sending, None)
            .await
            .unwrap(),
        "a discarded reply cannot be retried"
    );
}

/// A second handle on the same file, as a second clank process would have.
fn open_second(path: &Path) -> Store {
    Store::open(path, &cfg()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_counts_as_answered_while_its_reply_is_sending_sent_or_unconfirmed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("clank.db"));
    let statuses = [
        (ResponseStatus::Sending, true),
        (ResponseStatus::Sent, true),
        (ResponseStatus::Unconfirmed, true),
        (ResponseStatus::Refused, false),
        (ResponseStatus::Failed, false),
        (ResponseStatus::Pending, false),
        (ResponseStatus::Expired, false),
    ];
    for (i, (status, answered)) in statuses.into_iter().enumerate() {
        let m = msg(Platform::Twitch, "mika", &format!("m{i}"), "u", i as i64);
        store.insert_message_async(m.clone().into()).await.unwrap();
        let id = store
            .insert_response_async(reply_to(Some(&m.id), "hi", status, 100))
            .await
            .unwrap();
        let found = store
            .sent_response_for_async(Platform::Twitch, "mika", &m.id, m.at)
            .await
            .unwrap();
        assert_eq!(found, answered.then_some(id), "{status}");
    }
}

#[test]
fn a_full_database_counts_only_what_was_committed_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clank.db");
    // A 1 MiB cap stands in for a full disk: SQLite answers SQLITE_FULL alike.
    let store = Store::open(
        &path,
        &StoreConfig {
            max_size_mb: 1,
            batch_size: 64,
            ..cfg()
        },
    )
    .unwrap();
    let long = "a long message to fill the disk quickly ".repeat(50);
    for i in 0..1500 {
        let mut m = msg(Platform::Twitch, "c", &format!("f{i}"), "u", i);
        m.text = long.clone();
        store.insert_message(m.into()).unwrap();
    }
    let stats = store.flush().unwrap_or_else(|_| store.stats());
    assert!(stats.errors > 0, "the cap was never hit: {stats:?}");
    assert!(stats.lost > 0, "{stats:?}");
    assert!(
        stats.last_error.as_deref().unwrap_or("").contains("full"),
        "{stats:?}"
    );
    // Honest counts: what the store says it stored is what the file holds.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: u64 = conn
        .query_row("SELECT COUNT(*) FROM chat_messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stats.inserted, rows, "{stats:?}");
    assert_eq!(stats.inserted + stats.lost, 1500, "{stats:?}");
    drop(conn);
    // Space returns (retention made room): writes commit again.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM chat_messages WHERE rowid % 2 = 0", [])
        .unwrap();
    drop(conn);
    store
        .insert_message(msg(Platform::Twitch, "c", "after", "u", 10_000).into())
        .unwrap();
    let after = store.flush().unwrap();
    assert_eq!(after.inserted, stats.inserted + 1, "{after:?}");
    assert!(
        store
            .last_messages(Platform::Twitch, "c", 1)
            .unwrap()
            .iter()
            .any(|m| m.id == "after")
    );
}
