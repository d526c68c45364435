//! The store's behaviour on both backends: every test here runs once on a
//! real SQLite file in a temp dir and once on a real, throwaway PostgreSQL
//! server (`support::pg`), through the same `Store` handle. Round trips,
//! duplicates, channel isolation, moderation, the queue, retention, export
//! order, replies and their claims, saved logins (still sealed), adapter
//! state, reopening (migrations run once). PostgreSQL-only cases at the end:
//! bad URLs, an unreachable server, passwords kept out of errors.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use clank::model::{
    AttentionState, Author, ChannelConfig, ChatMessage, Paid, PaidKind, Platform, Priority, Role,
    Salience, SalienceBreakdown,
};
use clank::secret::Secret;
use clank::store::{
    AuthTokenRow, LabelAction, Metric, NewResponse, OperatorLabel, ResponseStatus, RetentionPolicy,
    STOPPED_BEFORE_VERDICT, Store, StoreConfig, StoreError, StoredMessage,
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

fn ids(ms: &[ChatMessage]) -> Vec<&str> {
    ms.iter().map(|m| m.id.as_str()).collect()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Postgres,
}

/// One database of either kind, fresh for the test.
struct Backend {
    kind: Kind,
    dir: tempfile::TempDir,
    url: Option<String>,
}

impl Backend {
    fn new(kind: Kind) -> Self {
        let url = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => Some(support::pg::fresh_database_url()),
        };
        Backend {
            kind,
            dir: tempfile::tempdir().unwrap(),
            url,
        }
    }

    fn cfg(&self) -> StoreConfig {
        StoreConfig {
            batch_size: 64,
            url: self.url.clone().map(Secret::new),
            ..StoreConfig::default()
        }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("clank.db")
    }

    fn open(&self) -> Store {
        Store::open(&self.path(), &self.cfg()).unwrap()
    }

    /// Counts rows behind the store's back.
    fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.kind {
            Kind::Sqlite => rusqlite::Connection::open(self.path())
                .unwrap()
                .query_row(&sql, [], |r| r.get(0))
                .unwrap(),
            Kind::Postgres => support::pg::query_i64(self.url.as_deref().unwrap(), &sql),
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Each test once per backend: `name::sqlite` and `name::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::Backend::new(super::Kind::Sqlite));
            }
            #[test]
            fn postgres() {
                super::$name(&super::Backend::new(super::Kind::Postgres));
            }
        }
    )*};
}

on_both!(
    messages_round_trip_with_every_field,
    duplicates_are_stored_once_and_counted,
    clones_write_concurrently_from_many_threads,
    channels_and_platforms_never_leak,
    delete_and_purge_drop_queue_entries_and_withdraw_replies,
    purges_find_every_message_of_the_author_in_any_order,
    expired_marks_stay_expired_when_the_next_run_starts_earlier,
    prune_by_age_and_by_count,
    export_pages_keep_time_order_across_ties_and_since,
    replies_move_through_their_states_and_are_claimed_once,
    logins_stay_sealed_and_adapter_state_survives_a_reopen,
    reopening_keeps_everything_and_migrates_once,
    held_messages_and_operator_labels_round_trip,
);

/// The review lane's held messages come back until the operator decides
/// them, and the operator's choices come back as labels with the scores
/// they had (issue 12's tables, on both backends).
fn held_messages_and_operator_labels_round_trip(b: &Backend) {
    let store = b.open();
    let chan = "#mika";
    let held = msg(Platform::Youtube, chan, "h1", "payer", 0);
    let held2 = msg(Platform::Twitch, chan, "h2", "viewer", 10);
    let plain = msg(Platform::Twitch, chan, "p1", "viewer", 20);
    for (m, reason) in [
        (&held, Some("profanity (severe sexual)")),
        (&held2, Some("profanity (mild)")),
        (&plain, None),
    ] {
        let mut s = queued(m, 0.8, Priority::Critical);
        s.queued_until = None;
        s.metadata = reason.map(|r| serde_json::json!({ "held": r }));
        store.insert_message(s).unwrap();
    }
    let back = store.load_held().unwrap();
    assert_eq!(
        back.iter()
            .map(|(m, _, r)| (m.id.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("h1", "profanity (severe sexual)"),
            ("h2", "profanity (mild)")
        ]
    );
    assert_eq!(back[0].1.as_ref().map(|s| s.score), Some(0.8));
    store
        .decide_held(Platform::Youtube, chan, "h1", held.at, true)
        .unwrap();
    let back = store.load_held().unwrap();
    assert_eq!(
        ids(&back.into_iter().map(|(m, _, _)| m).collect::<Vec<_>>()),
        vec!["h2"]
    );

    for (i, action) in [LabelAction::Approved, LabelAction::Rejected]
        .into_iter()
        .enumerate()
    {
        store
            .insert_label(OperatorLabel {
                platform: Platform::Twitch,
                channel: chan.into(),
                message_id: format!("m{i}"),
                draft_id: Some(i as i64 + 1),
                action,
                at: at(1_000 * i as i64),
                salience: Salience {
                    reasons: vec![],
                    ..salience(0.5 + i as f64 / 10.0, Priority::High)
                },
            })
            .unwrap();
    }
    let labels = store.labels().unwrap();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(labels[0].action, LabelAction::Approved);
    assert_eq!(labels[1].action, LabelAction::Rejected);
    assert_eq!(labels[1].salience.score, 0.6);
    assert_eq!(labels[1].salience.breakdown.authority, 0.25);
    assert_eq!(labels[1].draft_id, Some(2));
    assert_eq!(b.count("operator_labels"), 2);
}

fn reply(original: Option<&str>, status: ResponseStatus, t: i64) -> NewResponse {
    NewResponse {
        platform: Platform::Twitch,
        channel: "mika".into(),
        original_id: original.map(str::to_owned),
        original_at: None,
        response_text: format!("reply at {t}"),
        response_type: "llm".into(),
        attention_state: Some(AttentionState::CasualMonitoring),
        generation_time_ms: Some(321),
        agent_context: Some(serde_json::json!({"mood": "calm"})),
        status,
        created_at: at(t),
    }
}

fn replies_move_through_their_states_and_are_claimed_once(b: &Backend) {
    let store = b.open();
    let second = b.open();
    rt().block_on(async {
        let m = msg(Platform::Twitch, "mika", "m1", "u", 0);
        store.insert_message_async(m.clone().into()).await.unwrap();
        let id = store
            .insert_response_async(reply(Some("m1"), ResponseStatus::Pending, 10))
            .await
            .unwrap();
        let got = store.get_response_async(id).await.unwrap().unwrap();
        assert_eq!(got.original_id.as_deref(), Some("m1"));
        assert_eq!(got.generation_time_ms, Some(321));
        assert_eq!(got.agent_context, Some(serde_json::json!({"mood": "calm"})));
        assert_eq!(got.attention_state, Some(AttentionState::CasualMonitoring));
        store
            .set_response_text_async(id, "edited", "edited", ResponseStatus::Approved, None)
            .await
            .unwrap();
        assert_eq!(
            store
                .sent_response_for_async(Platform::Twitch, "mika", "m1", m.at)
                .await
                .unwrap(),
            None
        );
        // Two handles (two consoles) approve at the same moment, many times
        // over: exactly one claim wins each race.
        for round in 0..20 {
            let r = store
                .insert_response_async(reply(None, ResponseStatus::Approved, 100 + round))
                .await
                .unwrap();
            let (a, c) = (store.clone(), second.clone());
            let from = [ResponseStatus::Approved];
            let one = tokio::spawn(async move {
                a.claim_response_async(r, &from, ResponseStatus::Sending, None)
                    .await
                    .unwrap()
            });
            let two = tokio::spawn(async move {
                c.claim_response_async(r, &from, ResponseStatus::Sending, None)
                    .await
                    .unwrap()
            });
            let won = [one.await.unwrap(), two.await.unwrap()];
            assert_eq!(
                won.iter().filter(|w| **w).count(),
                1,
                "round {round}: {won:?}"
            );
        }
        assert!(
            store
                .claim_response_async(
                    id,
                    &[ResponseStatus::Approved],
                    ResponseStatus::Sending,
                    None
                )
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .sent_response_for_async(Platform::Twitch, "mika", "m1", m.at)
                .await
                .unwrap(),
            Some(id),
            "sending counts as answered"
        );
        store
            .set_response_verdict_async(id, ResponseStatus::Refused, Some("msg_duplicate"), at(50))
            .await
            .unwrap();
        let listed = store.not_delivered_async(10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status_reason.as_deref(), Some("msg_duplicate"));
        assert_eq!(listed[0].response_text, "edited");
        // A late "sent" corrects it; nothing undoes "sent".
        store
            .set_response_verdict_async(id, ResponseStatus::Sent, None, at(60))
            .await
            .unwrap();
        store
            .set_response_verdict_async(id, ResponseStatus::Failed, Some("x"), at(70))
            .await
            .unwrap();
        let got = store.get_response_async(id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.sent_at),
            (ResponseStatus::Sent, Some(at(60)))
        );
        // The next run: this console's unsent drafts expire, in-flight ones
        // become unconfirmed.
        let pending = store
            .insert_response_async(reply(None, ResponseStatus::Pending, 200))
            .await
            .unwrap();
        let expired = store.expire_unsent_responses_async().await.unwrap();
        assert_eq!(expired, 1);
        let got = store.get_response_async(pending).await.unwrap().unwrap();
        assert_eq!(got.status, ResponseStatus::Expired);
        let unconfirmed = store.not_delivered_async(100).await.unwrap();
        assert_eq!(
            unconfirmed.len(),
            20,
            "the 20 claimed replies were in flight"
        );
        assert!(
            unconfirmed
                .iter()
                .all(|r| r.status_reason.as_deref() == Some(STOPPED_BEFORE_VERDICT))
        );
    });
}

fn logins_stay_sealed_and_adapter_state_survives_a_reopen(b: &Backend) {
    let sealed: Vec<u8> = (0..=255u8).chain([0, 0, 7]).collect();
    {
        let store = b.open();
        store
            .save_auth_token(AuthTokenRow {
                platform: Platform::Twitch,
                account: "mikabot".into(),
                sealed: sealed.clone(),
                scopes: "chat:read chat:edit".into(),
                expires_at: Some(at(3_600_000)),
            })
            .unwrap();
        rt().block_on(async {
            store
                .set_adapter_state_async(Platform::Youtube, "page_token", "tok-1")
                .await
                .unwrap();
            store
                .set_adapter_state_async(Platform::Youtube, "page_token", "tok-2")
                .await
                .unwrap();
        });
        store.close().unwrap();
    }
    let store = b.open();
    let row = store.load_auth_token(Platform::Twitch).unwrap().unwrap();
    assert_eq!(row.sealed, sealed, "every byte of the sealed token is kept");
    assert_eq!(row.account, "mikabot");
    assert_eq!(row.scopes, "chat:read chat:edit");
    assert_eq!(row.expires_at, Some(at(3_600_000)));
    assert!(store.load_auth_token(Platform::Youtube).unwrap().is_none());
    rt().block_on(async {
        assert_eq!(
            store
                .adapter_state_async(Platform::Youtube, "page_token")
                .await
                .unwrap()
                .as_deref(),
            Some("tok-2")
        );
        assert_eq!(
            store
                .adapter_state_async(Platform::Twitch, "page_token")
                .await
                .unwrap(),
            None
        );
        store
            .delete_auth_token_async(Platform::Twitch)
            .await
            .unwrap();
    });
    assert!(store.load_auth_token(Platform::Twitch).unwrap().is_none());
}

fn reopening_keeps_everything_and_migrates_once(b: &Backend) {
    {
        let store = b.open();
        let ms: Vec<StoredMessage> = (0..300)
            .map(|i| msg(Platform::Twitch, "c", &format!("r{i}"), "u", i).into())
            .collect();
        store.insert_messages(ms).unwrap();
        store
            .set_channel_config(
                Platform::Twitch,
                "c",
                &ChannelConfig {
                    message_threshold: 7,
                    time_delay_s: 90,
                    context_limit: 40,
                    model: None,
                },
            )
            .unwrap();
        let stats = store.close().unwrap();
        assert_eq!(stats.inserted, 300);
    }
    // Two handles opening at once both find the schema ready.
    let (one, two) = std::thread::scope(|s| {
        let a = s.spawn(|| b.open());
        let c = s.spawn(|| b.open());
        (a.join().unwrap(), c.join().unwrap())
    });
    assert_eq!(
        one.last_messages(Platform::Twitch, "c", 1000)
            .unwrap()
            .len(),
        300
    );
    assert_eq!(
        two.channel_config(Platform::Twitch, "c")
            .unwrap()
            .map(|c| c.message_threshold),
        Some(7)
    );
}

fn messages_round_trip_with_every_field(b: &Backend) {
    let store = b.open();
    let mut rich = msg(Platform::Youtube, "live", "y1", "UCx", 0);
    rich.author.roles = vec![Role::Member, Role::Moderator];
    rich.author.months = Some(14);
    rich.author.first_message = true;
    rich.paid = Some(Paid {
        amount: 4.99,
        currency: "EUR".into(),
        kind: PaidKind::Superchat,
    });
    rich.reply_to = Some("y0".into());
    rich.text = "héllo 'quoted' \"text\" 🎉".into();
    store
        .insert_message(StoredMessage {
            message: rich.clone().into(),
            salience: Some(salience(0.8, Priority::High).into()),
            attention_state: Some(AttentionState::DeepFocus),
            metadata: Some(serde_json::json!({"source": "test"})),
            processed_at: Some(at(5)),
            queued_until: None,
        })
        .unwrap();
    let plain: Vec<ChatMessage> = (1..=5)
        .map(|i| {
            msg(
                Platform::Youtube,
                "live",
                &format!("y{}", i + 1),
                "UCa",
                i * 1000,
            )
        })
        .collect();
    for m in &plain {
        store.insert_message(m.clone().into()).unwrap();
    }

    let all = store.last_messages(Platform::Youtube, "live", 100).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], rich, "every field survives the round trip");
    assert_eq!(&all[1..], &plain[..]);

    let last3 = store.last_messages(Platform::Youtube, "live", 3).unwrap();
    assert_eq!(
        ids(&last3),
        vec!["y4", "y5", "y6"],
        "newest three, oldest first"
    );
    assert!(
        store
            .last_messages(Platform::Youtube, "live", 0)
            .unwrap()
            .is_empty()
    );

    let stats = store.close().unwrap();
    assert_eq!(stats.inserted, 6);
    assert_eq!(stats.duplicates, 0);
    assert_eq!(stats.errors, 0);
}

fn duplicates_are_stored_once_and_counted(b: &Backend) {
    let store = b.open();
    let a = msg(Platform::Twitch, "mika", "a1", "11", 0);
    let mut a_again = a.clone();
    a_again.text = "edited copy".into();
    store.insert_message(a.clone().into()).unwrap();
    store.insert_message(a_again.into()).unwrap();
    store.flush().unwrap();
    // Across a committed batch boundary and inside one multi-insert.
    store
        .insert_messages(vec![
            a.clone().into(),
            msg(Platform::Twitch, "mika", "a2", "11", 10).into(),
            msg(Platform::Twitch, "mika", "a2", "11", 10).into(),
        ])
        .unwrap();
    let stats = store.flush().unwrap();
    assert_eq!(stats.inserted, 2);
    assert_eq!(stats.duplicates, 3);
    let stored = store.last_messages(Platform::Twitch, "mika", 10).unwrap();
    assert_eq!(ids(&stored), vec!["a1", "a2"]);
    assert_eq!(stored[0].text, a.text, "the first copy wins");
}

fn clones_write_concurrently_from_many_threads(b: &Backend) {
    let store = b.open();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let m = msg(Platform::Twitch, "c", &format!("t{t}-{i}"), "u", i);
                    store.insert_message(m.into()).unwrap();
                    if i % 20 == 0 {
                        // Every thread also races to store one shared message.
                        let shared = msg(Platform::Twitch, "c", "shared", "u", 0);
                        store.insert_message(shared.into()).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = store.flush().unwrap();
    assert_eq!(stats.inserted, 8001);
    assert_eq!(stats.duplicates, 399);
    assert_eq!(
        store
            .export(Some(Platform::Twitch), "c", None)
            .unwrap()
            .len(),
        8001
    );
}

fn channels_and_platforms_never_leak(b: &Backend) {
    let store = b.open();
    // The same platform id on two platforms is two different messages.
    let tw_a = msg(Platform::Twitch, "a", "1", "u1", 0);
    let tw_b = msg(Platform::Twitch, "b", "2", "u1", 1);
    let yt_a = msg(Platform::Youtube, "a", "1", "u1", 2);
    let yt_b = msg(Platform::Youtube, "b", "3", "u1", 3);
    let tw_a2 = msg(Platform::Twitch, "a", "4", "u1", 4);
    for m in [&tw_a, &tw_b, &yt_a, &yt_b, &tw_a2] {
        store.insert_message(m.clone().into()).unwrap();
    }
    assert_eq!(
        store.last_messages(Platform::Twitch, "a", 10).unwrap(),
        vec![tw_a.clone(), tw_a2.clone()]
    );
    assert_eq!(
        store.last_messages(Platform::Twitch, "b", 10).unwrap(),
        vec![tw_b.clone()]
    );
    assert_eq!(
        store.last_messages(Platform::Youtube, "a", 10).unwrap(),
        vec![yt_a.clone()]
    );
    assert!(
        store
            .last_messages(Platform::Discord, "a", 10)
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        store.export(Some(Platform::Youtube), "b", None).unwrap(),
        vec![yt_b.clone()]
    );
    // Across platforms, one channel name: merged in time order.
    assert_eq!(
        store.export(None, "a", None).unwrap(),
        vec![tw_a.clone(), yt_a.clone(), tw_a2.clone()]
    );
    // Deleting twitch "1" leaves youtube "1" alone.
    store
        .delete_message(Platform::Twitch, "a", "1", None)
        .unwrap();
    // A delete naming the wrong channel deletes nothing.
    store
        .delete_message(Platform::Youtube, "b", "1", None)
        .unwrap();
    assert_eq!(
        store.last_messages(Platform::Youtube, "a", 10).unwrap(),
        vec![yt_a]
    );
    assert_eq!(
        store.last_messages(Platform::Twitch, "a", 10).unwrap(),
        vec![tw_a2]
    );
    // A purge in one channel leaves the author's other channels alone.
    store.purge_author(Platform::Twitch, "b", "u1").unwrap();
    assert!(
        store
            .last_messages(Platform::Twitch, "b", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .last_messages(Platform::Youtube, "b", 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .last_messages(Platform::Twitch, "a", 10)
            .unwrap()
            .len(),
        1
    );

    let custom = ChannelConfig {
        message_threshold: 5,
        time_delay_s: 60,
        context_limit: 50,
        model: Some("llama3".into()),
    };
    store
        .set_channel_config(Platform::Twitch, "a", &custom)
        .unwrap();
    assert_eq!(
        store.channel_config(Platform::Twitch, "a").unwrap(),
        Some(custom)
    );
    assert_eq!(store.channel_config(Platform::Twitch, "b").unwrap(), None);
    assert_eq!(store.channel_config(Platform::Youtube, "a").unwrap(), None);
}

fn delete_and_purge_drop_queue_entries_and_withdraw_replies(b: &Backend) {
    let store = b.open();
    let m1 = msg(Platform::Twitch, "mika", "m1", "spammer", 0);
    let m2 = msg(Platform::Twitch, "mika", "m2", "spammer", 1);
    let m3 = msg(Platform::Twitch, "mika", "m3", "fan", 2);
    let m4 = msg(Platform::Twitch, "mika", "m4", "fan", 3);
    let m5 = msg(Platform::Twitch, "mika", "m5", "fan", 5);
    let elsewhere = msg(Platform::Twitch, "other", "o1", "spammer", 4);
    for (m, score) in [
        (&m1, 0.9),
        (&m2, 0.8),
        (&m3, 0.7),
        (&m4, 0.6),
        (&m5, 0.55),
        (&elsewhere, 0.5),
    ] {
        store
            .insert_message(queued(m, score, Priority::Medium))
            .unwrap();
    }
    // m1 by its key (id and time), the others by id alone.
    let response = |original: &str, status| NewResponse {
        platform: Platform::Twitch,
        channel: "mika".into(),
        original_id: Some(original.into()),
        original_at: (original == "m1").then_some(m1.at),
        response_text: "hi".into(),
        response_type: "answer".into(),
        attention_state: Some(AttentionState::CasualMonitoring),
        generation_time_ms: Some(420),
        agent_context: None,
        status,
        created_at: at(10),
    };
    let r_pending = store
        .insert_response(response("m1", ResponseStatus::Pending))
        .unwrap();
    let r_sent = store
        .insert_response(response("m2", ResponseStatus::Sent))
        .unwrap();
    let r_fan = store
        .insert_response(response("m4", ResponseStatus::Approved))
        .unwrap();

    // An id that is not stored deletes nothing; a wrong time falls back to the id.
    store
        .delete_message(Platform::Twitch, "mika", "nope", None)
        .unwrap();
    store
        .delete_message(Platform::Twitch, "mika", "m5", Some(at(999)))
        .unwrap();
    store
        .delete_message(Platform::Twitch, "mika", "m4", None)
        .unwrap();
    store
        .purge_author(Platform::Twitch, "mika", "spammer")
        .unwrap();

    let queue = store.load_queue(at(0)).unwrap();
    let queued: Vec<&str> = queue.iter().map(|(r, _, _)| r.id.as_str()).collect();
    assert_eq!(queued, vec!["m3", "o1"]);
    assert_eq!(
        ids(&store.last_messages(Platform::Twitch, "mika", 10).unwrap()),
        vec!["m3"]
    );

    let get = |id| store.get_response(id).unwrap().unwrap();
    assert_eq!(get(r_pending).status, ResponseStatus::Withdrawn);
    assert_eq!(get(r_pending).original_id, None, "its message is gone");
    assert_eq!(get(r_sent).status, ResponseStatus::Sent, "sent stays sent");
    assert_eq!(get(r_fan).status, ResponseStatus::Withdrawn);
    let stats = store.flush().unwrap();
    assert_eq!(stats.deleted, 4, "m5 found by id despite the wrong time");
    assert_eq!(
        b.count("chat_messages WHERE queued_until IS NOT NULL"),
        2,
        "no orphaned queue marks"
    );
}

fn purges_find_every_message_of_the_author_in_any_order(b: &Backend) {
    let store = b.open();
    let insert = |id: &str, author: &str, t: i64| {
        store
            .insert_message(msg(Platform::Twitch, "c", id, author, t).into())
            .unwrap();
    };
    insert("a1", "troll", 1000);
    insert("f1", "fan", 1500);
    insert("a2", "troll", 2000);
    store.purge_author(Platform::Twitch, "c", "troll").unwrap();
    assert_eq!(
        ids(&store.last_messages(Platform::Twitch, "c", 10).unwrap()),
        vec!["f1"]
    );
    // Back after a timeout, and timed out again.
    insert("a3", "troll", 3000);
    store.purge_author(Platform::Twitch, "c", "troll").unwrap();
    assert_eq!(
        ids(&store.last_messages(Platform::Twitch, "c", 10).unwrap()),
        vec!["f1"]
    );
    // A late message arrives after a newer one, older than any seen.
    insert("a4", "troll", 4000);
    insert("a0", "troll", 10);
    insert("f2", "fan", 3500);
    store.purge_author(Platform::Twitch, "c", "troll").unwrap();
    assert_eq!(
        ids(&store.last_messages(Platform::Twitch, "c", 10).unwrap()),
        vec!["f1", "f2"]
    );
    // Purging someone who never wrote here deletes nothing.
    store.purge_author(Platform::Twitch, "c", "ghost").unwrap();
    store.purge_author(Platform::Twitch, "c", "troll").unwrap();
    let stats = store.flush().unwrap();
    assert_eq!(stats.deleted, 5);
    assert_eq!(
        store
            .last_messages(Platform::Twitch, "c", 10)
            .unwrap()
            .len(),
        2
    );
}

fn expired_marks_stay_expired_when_the_next_run_starts_earlier(b: &Backend) {
    // A replay into the same file, or a clock stepped back: the store
    // knows how far the last run got, and what had expired by then stays so.
    let store = b.open();
    for i in 0..20 {
        let m = msg(Platform::Twitch, "c", &format!("e{i}"), "u", i * 60_000);
        store
            .insert_message(queued(&m, 0.5, Priority::Low))
            .unwrap();
    }
    // The last run reached 19 min; marks last two minutes: e18 and e19 remain.
    let ids_at = |t| -> Vec<String> {
        let mut v: Vec<String> = store
            .load_queue(t)
            .unwrap()
            .into_iter()
            .map(|(r, _, _)| r.id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids_at(at(0)), vec!["e18", "e19"]);
    assert_eq!(ids_at(at(19 * 60_000)), vec!["e18", "e19"]);
    assert_eq!(ids_at(at(20 * 60_000 + 1)), vec!["e19"]);
}

fn prune_by_age_and_by_count(b: &Backend) {
    let store = b.open();
    let day = 86_400_000;
    // Old chat in "old": 30 messages 10 days ago, 5 from today.
    for i in 0..30 {
        let m = msg(
            Platform::Twitch,
            "old",
            &format!("old{i}"),
            "u",
            -10 * day + i,
        );
        // Marked far ahead, so only the prune can take them off the queue.
        store
            .insert_message(StoredMessage {
                queued_until: Some(at(day)),
                ..queued(&m, 0.5, Priority::Low)
            })
            .unwrap();
    }
    for i in 0..5 {
        let m = msg(Platform::Youtube, "old", &format!("new{i}"), "u", i);
        store.insert_message(m.into()).unwrap();
    }
    // A busy channel: 2500 recent messages, more than one delete chunk.
    let busy: Vec<StoredMessage> = (0..2500)
        .map(|i| msg(Platform::Discord, "busy", &format!("b{i}"), "u", -day + i).into())
        .collect();
    store.insert_messages(busy).unwrap();
    for i in 0..4 {
        store
            .insert_metric(Metric {
                platform: Platform::Twitch,
                channel: "old".into(),
                at: at(-i * 4 * day),
                name: "viewers".into(),
                value: 100.0,
            })
            .unwrap();
    }

    let now = at(0);
    let policy = RetentionPolicy {
        max_age_days: 7,
        max_messages_per_channel: 1000,
    };
    let report = store.prune(&policy, now).unwrap();
    assert_eq!(report.by_age, 30);
    assert_eq!(report.by_count, 1500);
    assert_eq!(report.metrics, 2, "the samples 8 and 12 days old");
    assert!(
        store.load_queue(at(0)).unwrap().is_empty(),
        "pruned messages leave the queue"
    );
    assert_eq!(b.count("chat_messages WHERE queued_until IS NOT NULL"), 0);
    assert_eq!(b.count("chat_messages"), 1005);
    assert_eq!(b.count("platform_metrics"), 2);
    assert!(
        store
            .last_messages(Platform::Twitch, "old", 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .last_messages(Platform::Youtube, "old", 100)
            .unwrap()
            .len(),
        5
    );
    let kept = store
        .last_messages(Platform::Discord, "busy", 5000)
        .unwrap();
    assert_eq!(kept.len(), 1000);
    assert_eq!(kept[0].id, "b1500", "the newest thousand stay");
    assert_eq!(kept[999].id, "b2499");

    // A second run finds nothing more to do; zeros disable each rule.
    assert_eq!(store.prune(&policy, now).unwrap().by_count, 0);
    let keep_all = RetentionPolicy {
        max_age_days: 0,
        max_messages_per_channel: 0,
    };
    let report = store.prune(&keep_all, at(365 * day)).unwrap();
    assert_eq!((report.by_age, report.by_count), (0, 0));
    assert_eq!(store.flush().unwrap().pruned, 1530);
}

fn export_pages_keep_time_order_across_ties_and_since(b: &Backend) {
    let store = b.open();
    // Ten messages share one millisecond (some by one author); pages of 3
    // must split the tie cleanly.
    let mut all = Vec::new();
    for i in 0..10 {
        let author = format!("a{}", (10 - i) / 2);
        all.push(msg(Platform::Twitch, "c", &format!("t{i}"), &author, 1000));
    }
    for i in 0..5 {
        all.push(msg(Platform::Twitch, "c", &format!("u{i}"), "u", 2000 + i));
    }
    // Inserted out of time order: export sorts by time, not by insertion.
    store.insert_message(all[14].clone().into()).unwrap();
    for m in &all[..14] {
        store.insert_message(m.clone().into()).unwrap();
    }
    // Same-millisecond messages come by author id, then arrival.
    all.sort_by(|a, b| (a.at, &a.author.id).cmp(&(b.at, &b.author.id)));
    assert_eq!(all[0].id, "t9");
    let pages: Vec<Vec<ChatMessage>> = store
        .export_pages(Some(Platform::Twitch), "c", None, 3)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(pages.iter().all(|p| p.len() <= 3));
    let flat: Vec<ChatMessage> = pages.into_iter().flatten().collect();
    assert_eq!(flat, all);

    let since = store
        .export(Some(Platform::Twitch), "c", Some(at(2002)))
        .unwrap();
    assert_eq!(ids(&since), vec!["u2", "u3", "u4"]);
    // An empty channel name exports every channel of the platform.
    store
        .insert_message(msg(Platform::Twitch, "d", "d0", "u", 1500).into())
        .unwrap();
    let every = store.export(Some(Platform::Twitch), "", None).unwrap();
    assert_eq!(every.len(), 16);
    assert_eq!(every[10].id, "d0");
}

// PostgreSQL only.

#[test]
fn bad_postgres_urls_are_refused_naming_what_is_allowed() {
    let open = |url: &str| {
        let cfg = StoreConfig {
            url: Some(Secret::new(url)),
            ..StoreConfig::default()
        };
        Store::open(std::path::Path::new("unused.db"), &cfg).unwrap_err()
    };
    let err = open("mysql://u:hunter2@h/db").to_string();
    assert!(
        err.contains("store.url") && err.contains("postgres://"),
        "{err}"
    );
    let err = open("postgres://u:hunter2@127.0.0.1:5432/db?sslmode=require").to_string();
    assert!(err.contains("sslmode=require"), "{err}");
    assert!(!err.contains("hunter2"), "the password stays out: {err}");
    let err = open("postgres://u:hunter2@127.0.0.1:5432/db?frobnicate=1").to_string();
    assert!(err.contains("invalid PostgreSQL URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = StoreConfig {
        url: Some(Secret::new(format!(
            "postgres://clank:hunter2@127.0.0.1:{port}/x"
        ))),
        ..StoreConfig::default()
    };
    assert!(!format!("{cfg:?}").contains("hunter2"));
    let err = Store::open(std::path::Path::new("unused.db"), &cfg).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Postgres { .. }), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_message_the_server_refuses_loses_only_itself() {
    let b = Backend::new(Kind::Postgres);
    let store = b.open();
    let mut bad = msg(Platform::Twitch, "c", "bad", "u", 5);
    // PostgreSQL text cannot hold NUL; SQLite can.
    bad.text = "nul \0 inside".into();
    let batch: Vec<StoredMessage> = vec![
        msg(Platform::Twitch, "c", "ok1", "u", 1).into(),
        bad.into(),
        msg(Platform::Twitch, "c", "ok2", "u", 9).into(),
    ];
    store.insert_messages(batch).unwrap();
    store
        .insert_message(msg(Platform::Twitch, "c", "ok3", "u", 10).into())
        .unwrap();
    let stats = store.flush().unwrap();
    assert_eq!(
        stats.inserted, 3,
        "the good rows of the refused batch are replayed"
    );
    assert_eq!(stats.lost, 1, "only the bad row is lost, and counted");
    assert!(stats.errors >= 1);
    assert!(stats.last_error.is_some());
    assert_eq!(
        ids(&store.last_messages(Platform::Twitch, "c", 10).unwrap()),
        vec!["ok1", "ok2", "ok3"]
    );
}

#[test]
fn two_processes_worth_of_handles_see_each_others_writes() {
    let b = Backend::new(Kind::Postgres);
    let a = b.open();
    let c = b.open();
    a.insert_message(msg(Platform::Twitch, "c", "from-a", "u", 1).into())
        .unwrap();
    a.flush().unwrap();
    c.insert_message(msg(Platform::Twitch, "c", "from-a", "u", 1).into())
        .unwrap();
    c.insert_message(msg(Platform::Twitch, "c", "from-c", "u", 2).into())
        .unwrap();
    let stats = c.flush().unwrap();
    assert_eq!((stats.inserted, stats.duplicates), (1, 1));
    assert_eq!(
        ids(&a.last_messages(Platform::Twitch, "c", 10).unwrap()),
        vec!["from-a", "from-c"]
    );
    assert_eq!(b.count("chat_messages"), 2);
}

/// `clank db migrate --to postgres://...` run as a user would: everything
/// in the SQLite file reads back the same from PostgreSQL.
#[test]
fn db_migrate_copies_a_sqlite_store_into_postgres() {
    let sqlite = Backend::new(Kind::Sqlite);
    let pg = Backend::new(Kind::Postgres);
    let sealed: Vec<u8> = vec![9, 0, 255, 1, 2, 3];
    let (reply_id, messages) = {
        let store = sqlite.open();
        let mut rich = msg(Platform::Youtube, "live", "y1", "UCx", 0);
        rich.author.roles = vec![Role::Member];
        rich.author.months = Some(3);
        rich.author.first_message = true;
        rich.paid = Some(Paid {
            amount: 2.5,
            currency: "USD".into(),
            kind: PaidKind::Superchat,
        });
        store
            .insert_message(StoredMessage {
                salience: Some(salience(0.9, Priority::High).into()),
                ..queued(&rich, 0.9, Priority::High)
            })
            .unwrap();
        let more: Vec<StoredMessage> = (0..500)
            .map(|i| {
                msg(
                    Platform::Twitch,
                    "c",
                    &format!("t{i}"),
                    &format!("u{}", i % 7),
                    i,
                )
                .into()
            })
            .collect();
        store.insert_messages(more).unwrap();
        let reply_id = store
            .insert_response(NewResponse {
                channel: "c".into(),
                ..reply(Some("t7"), ResponseStatus::Sent, 10)
            })
            .unwrap();
        store
            .set_channel_config(
                Platform::Twitch,
                "c",
                &ChannelConfig {
                    message_threshold: 3,
                    time_delay_s: 30,
                    context_limit: 20,
                    model: Some("m".into()),
                },
            )
            .unwrap();
        store
            .save_auth_token(AuthTokenRow {
                platform: Platform::Twitch,
                account: "bot".into(),
                sealed: sealed.clone(),
                scopes: "chat:read".into(),
                expires_at: None,
            })
            .unwrap();
        rt().block_on(store.set_adapter_state_async(Platform::Youtube, "page_token", "p-1"))
            .unwrap();
        store
            .insert_metric(Metric {
                platform: Platform::Twitch,
                channel: "c".into(),
                at: at(0),
                name: "viewers".into(),
                value: 12.0,
            })
            .unwrap();
        let messages = store.export(None, "", None).unwrap();
        store.close().unwrap();
        (reply_id, messages)
    };
    let url = pg.url.clone().unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_clank"))
            .arg("--db")
            .arg(sqlite.path())
            .args(["db", "migrate", "--to", &url])
            .env("HOME", sqlite.dir.path())
            .env("XDG_CONFIG_HOME", sqlite.dir.path().join("config"))
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("chat_messages: 501 rows"), "{stdout}");
    assert!(stdout.contains("auth_tokens: 1 rows"), "{stdout}");

    let store = pg.open();
    assert_eq!(store.export(None, "", None).unwrap(), messages);
    let got = store.get_response(reply_id).unwrap().unwrap();
    assert_eq!(
        got.original_id.as_deref(),
        Some("t7"),
        "the reply keeps its link"
    );
    assert_eq!(got.status, ResponseStatus::Sent);
    assert_eq!(
        store
            .load_auth_token(Platform::Twitch)
            .unwrap()
            .unwrap()
            .sealed,
        sealed,
        "the token is copied sealed, byte for byte"
    );
    assert_eq!(
        store
            .channel_config(Platform::Twitch, "c")
            .unwrap()
            .unwrap()
            .model
            .as_deref(),
        Some("m")
    );
    assert_eq!(
        rt().block_on(store.adapter_state_async(Platform::Youtube, "page_token"))
            .unwrap()
            .as_deref(),
        Some("p-1")
    );
    assert_eq!(
        store.load_queue(at(0)).unwrap().len(),
        1,
        "the queue mark came along"
    );
    // New rows continue after the copied ids.
    let next = store
        .insert_response(reply(None, ResponseStatus::Pending, 20))
        .unwrap();
    assert!(next > reply_id);
    store.purge_author(Platform::Twitch, "c", "u3").unwrap();
    assert_eq!(
        store
            .last_messages(Platform::Twitch, "c", 1000)
            .unwrap()
            .len(),
        (0..500).filter(|i| i % 7 != 3).count(),
        "channel_authors came along, so a ban purge finds the author's messages"
    );
    // A second run refuses to mix into a database that has data.
    let out = run();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty database"), "{err}");
}
