//! The YouTube adapter against a loopback fake of the Data API, with a real
//! SQLite store in a temp dir and tokio's paused clock: it finds the live
//! chat (waiting while the video is not live), polls no faster than
//! `pollingIntervalMillis`, maps every event kind, resumes from the stored
//! page token after a restart, obeys the quota governor, maps API errors to
//! statuses and send errors to verdicts, and never shows its key.
//!
//! Paused-clock note: the store answers from its own thread, and tokio may
//! move a paused clock on while a task waits for another thread. So these
//! tests wait for conditions in short sleeps (a jump is then at most one
//! step) and assert lower bounds on the cadence, upper bounds loosely.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clank::adapters::Backoff;
use clank::adapters::hub::{self, Hub};
use clank::adapters::youtube::{YoutubeOptions, page_token_key, quota_key, run};
use clank::adapters::{
    AdapterStatus, Inbound, NoticeKind, Outbound, SendRejection, SendVerdict, SubKind,
};
use clank::auth::{Credentials, StaticCredentials};
use clank::config::Config;
use clank::model::{ChatEvent, PaidKind, Platform, Role};
use clank::secret::Secret;
use clank::store::{Store, StoreConfig};
use serde_json::json;
use support::fake_youtube::{FakeYoutube, KEY, StreamMode, TOKEN, Video, item, text};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

const VIDEO: &str = "vid_live_01";

fn open_store(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("clank.db"), &StoreConfig::default()).expect("store opens")
}

/// 10:00 Pacific (winter): 14 h before the quota resets.
fn morning() -> DateTime<Utc> {
    "2026-12-02T18:00:00Z".parse().unwrap()
}

fn options(fake: &FakeYoutube) -> YoutubeOptions {
    YoutubeOptions {
        video_id: VIDEO.into(),
        channel: None,
        // These tests are about polling; streaming has its own.
        streaming: false,
        // A silence timer would fire at once on the paused clock.
        stream_idle: None,
        search_cost: 100,
        api_url: fake.base_url(),
        api_key: Some(Secret::new(KEY)),
        daily_quota: 10_000,
        list_cost: 5,
        insert_cost: 20,
        videos_list_cost: 1,
        stream_hours: 0.5,
        send_reserve: 400,
        waiting_retry: Duration::from_secs(60),
        max_results: 500,
        max_reply_chars: 200,
        backoff: Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
        },
        request_timeout: Duration::from_secs(600),
        seed: 7,
        wall_start: Some(morning()),
    }
}

/// Everything the adapter said, collected by a drain task; `ticks` is
/// bumped on every event and every request the fake answers.
#[derive(Clone)]
struct Seen {
    events: Arc<Mutex<Vec<Inbound>>>,
    ticks: Arc<watch::Sender<u64>>,
}

impl Seen {
    fn drain(mut rx: mpsc::Receiver<Inbound>, ticks: &Arc<watch::Sender<u64>>) -> Seen {
        let seen = Seen {
            events: Arc::default(),
            ticks: ticks.clone(),
        };
        let s = seen.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                s.events.lock().unwrap().push(ev);
                s.ticks.send_modify(|n| *n += 1);
            }
        });
        seen
    }

    fn all(&self) -> Vec<Inbound> {
        self.events.lock().unwrap().clone()
    }

    fn statuses(&self) -> Vec<AdapterStatus> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                Inbound::Status { status, .. } => Some(status),
                _ => None,
            })
            .collect()
    }

    fn message_ids(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                Inbound::Chat(ChatEvent::Message(m)) => Some(m.id),
                _ => None,
            })
            .collect()
    }

    fn has_status(&self, f: impl Fn(&AdapterStatus) -> bool) -> bool {
        self.statuses().iter().any(f)
    }
}

/// Waits until `f` holds, woken by events and requests, never by a timer:
/// a timer of ours would let the paused clock jump to it while the adapter
/// waits for the store's thread. The guard against a hang is real time
/// (a watchdog thread), not an assertion on timing.
async fn until(seen: &Seen, mut f: impl FnMut() -> bool) {
    let mut rx = seen.ticks.subscribe();
    let (gtx, mut grx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = gtx.send(());
    });
    while !f() {
        tokio::select! {
            r = rx.changed() => r.expect("ticks"),
            _ = &mut grx => panic!("condition not met; seen: {:#?}", seen.all()),
        }
    }
}

fn gaps(reqs: &[support::fake_youtube::Request]) -> Vec<Duration> {
    reqs.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn all_kinds() -> Vec<serde_json::Value> {
    vec![
        text("t1", "Ann", "hello"),
        item(
            "sc1",
            "Kaz",
            json!({"type": "superChatEvent", "superChatDetails": {"amountMicros": "5000000",
                "currency": "USD", "amountDisplayString": "$5.00", "userComment": "love it", "tier": 2}}),
        ),
        item(
            "st1",
            "Kaz",
            json!({"type": "superStickerEvent", "superStickerDetails": {"superStickerMetadata":
                {"stickerId": "s", "altText": "party cat", "language": "en"}, "amountMicros": "2000000",
                "currency": "JPY", "amountDisplayString": "¥2", "tier": 1}}),
        ),
        item(
            "ns1",
            "Bo",
            json!({"type": "newSponsorEvent", "newSponsorDetails": {"memberLevelName": "Gold", "isUpgrade": false}}),
        ),
        item(
            "mm1",
            "Lia",
            json!({"type": "memberMilestoneChatEvent", "memberMilestoneChatDetails":
                {"userComment": "a year!", "memberMonth": 12, "memberLevelName": "Gold"}}),
        ),
        item(
            "mg1",
            "Gia",
            json!({"type": "membershipGiftingEvent", "membershipGiftingDetails":
                {"giftMembershipsCount": 5, "giftMembershipsLevelName": "Gold"}}),
        ),
        item(
            "gr1",
            "Lucky",
            json!({"type": "giftMembershipReceivedEvent", "giftMembershipReceivedDetails":
                {"memberLevelName": "Gold", "gifterChannelId": "UCGia", "associatedMembershipGiftingMessageId": "mg1"}}),
        ),
        item(
            "md1",
            "Mod",
            json!({"type": "messageDeletedEvent", "messageDeletedDetails": {"deletedMessageId": "t1"}}),
        ),
        item(
            "mr1",
            "Ann",
            json!({"type": "messageRetractedEvent", "messageRetractedDetails": {"retractedMessageId": "x9"}}),
        ),
        item(
            "ub1",
            "Mod",
            json!({"type": "userBannedEvent", "userBannedDetails": {"bannedUserDetails":
                {"channelId": "UCTroll", "displayName": "Troll"}, "banType": "temporary", "banDurationSeconds": "300"}}),
        ),
        item(
            "ub2",
            "Mod",
            json!({"type": "userBannedEvent", "userBannedDetails": {"bannedUserDetails":
                {"channelId": "UCTroll2"}, "banType": "permanent"}}),
        ),
        item(
            "pe1",
            "Own",
            json!({"type": "pollEvent", "pollDetails": {"metadata": {"questionText": "Which boss?"}}}),
        ),
        item("so1", "Own", json!({"type": "sponsorOnlyModeStartedEvent"})),
        item("so2", "Own", json!({"type": "sponsorOnlyModeEndedEvent"})),
        item("tb1", "Ann", json!({"type": "tombstone"})),
    ]
}

#[tokio::test(start_paused = true)]
async fn the_hub_entry_reads_every_event_kind_no_faster_than_the_server_asks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    let mut owner = text("o1", "Streamer", "welcome all");
    owner["authorDetails"]["isChatOwner"] = json!(true);
    owner["authorDetails"]["isVerified"] = json!(true);
    let mut moderator = text("o2", "Mod", "be nice");
    moderator["authorDetails"]["isChatModerator"] = json!(true);
    moderator["authorDetails"]["isChatSponsor"] = json!(true);
    fake.push(all_kinds());
    fake.push([owner, moderator]);

    let config = Config::from_toml(&format!(
        "[youtube]\nvideo_id = \"{VIDEO}\"\napi_key = \"{KEY}\"\napi_url = \"{}\"\nstream_hours = 0.5\nstreaming = false\n",
        fake.base_url()
    ))
    .unwrap();
    let built = hub::configured(&config, &store).await.unwrap();
    assert_eq!(built.len(), 1, "only YouTube is configured");
    assert!(built[0].warning.is_none());
    let (tx, rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let hub = Hub::start(
        built.into_iter().map(|b| b.adapter).collect(),
        tx,
        cancel.clone(),
    );
    assert_eq!(hub.router().platforms(), vec![Platform::Youtube]);
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || fake.lists().len() >= 6).await;
    cancel.cancel();
    hub.join().await;

    // Found through videos.list, read with the documented parameters.
    let lookup = &fake.lookups()[0];
    assert_eq!(lookup.query["part"], "liveStreamingDetails");
    assert_eq!(lookup.query["id"], VIDEO);
    let lists = fake.lists();
    assert_eq!(lists[0].query["liveChatId"], "chat1");
    assert_eq!(lists[0].query["part"], "id,snippet,authorDetails");
    assert!(!lists[0].query.contains_key("pageToken"));
    assert_eq!(lists[1].query["pageToken"], "p17");
    // Never faster than pollingIntervalMillis (3 s), and not much slower.
    for g in gaps(&lists) {
        assert!(g >= Duration::from_secs(3), "{g:?}");
        assert!(g < Duration::from_secs(5), "{g:?}");
    }

    let all = seen.all();
    assert!(matches!(
        seen.statuses()[..2],
        [AdapterStatus::Connecting, AdapterStatus::ReadOnly { .. }]
    ));
    let msgs: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Message(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let by_id = |id: &str| msgs.iter().find(|m| m.id == id).unwrap().clone();
    assert_eq!(by_id("t1").text, "hello");
    assert_eq!(by_id("t1").channel, VIDEO);
    let sc = by_id("sc1");
    let paid = sc.paid.unwrap();
    assert_eq!(
        (paid.amount, paid.currency.as_str(), paid.kind),
        (5.0, "USD", PaidKind::Superchat)
    );
    assert_eq!(sc.text, "love it");
    let st = by_id("st1");
    assert_eq!(st.paid.unwrap().kind, PaidKind::Supersticker);
    assert_eq!(st.text, "party cat");
    assert_eq!(
        by_id("o1").author.roles,
        vec![Role::Broadcaster, Role::Verified]
    );
    assert_eq!(
        by_id("o2").author.roles,
        vec![Role::Moderator, Role::Member]
    );

    let subs: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Inbound::Sub {
                kind,
                months,
                count,
                recipient,
                author,
                text,
                ..
            } => Some((
                *kind,
                *months,
                *count,
                recipient.clone(),
                author.name.clone(),
                text.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        subs,
        vec![
            (SubKind::Sub, None, None, None, "Bo".into(), None),
            (
                SubKind::Resub,
                Some(12),
                None,
                None,
                "Lia".into(),
                Some("a year!".into())
            ),
            (
                SubKind::MysteryGift,
                None,
                Some(5),
                None,
                "Gia".into(),
                None
            ),
            (
                SubKind::Gift,
                None,
                None,
                Some("Lucky".into()),
                "Gia".into(),
                None
            ),
        ]
    );
    let deletes: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Delete { id, .. }) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deletes, vec!["t1", "x9", "tb1"]);
    let bans: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Ban {
                author_id,
                duration_s,
                ..
            }) => Some((author_id.as_str(), *duration_s)),
            _ => None,
        })
        .collect();
    assert_eq!(bans, vec![("UCTroll", Some(300)), ("UCTroll2", None)]);
    let members_only: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Inbound::RoomState {
                subscribers_only, ..
            } => *subscribers_only,
            _ => None,
        })
        .collect();
    assert_eq!(members_only, vec![true, false]);
    assert!(
        all.iter()
            .any(|e| matches!(e, Inbound::Notice { text, .. } if text == "poll: Which boss?"))
    );
    // The day's budget goes to the header after every call: the lookup,
    // then each list (polling every 3 s would spend it before the reset).
    let quota: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Inbound::Notice {
                kind: NoticeKind::Quota,
                text,
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(quota.len() >= 4, "{quota:?}");
    for (q, used) in quota.iter().zip([1, 6, 11, 16]) {
        let left = 10_000 - used;
        // The tail depends on the wall clock: within the budget's reading
        // time of the Pacific midnight reset the budget "lasts to reset"
        // (this failed between 07:00 and 08:00 UTC when it insisted on "out").
        let tail = q
            .strip_prefix(&format!("quota {used}/10000 · {left} left · "))
            .unwrap_or_else(|| panic!("{quota:?}"));
        assert!(
            tail == "lasts to reset" || (tail.starts_with("out ") && tail.ends_with(" UTC")),
            "{quota:?}"
        );
    }
    // Every message once, though six pages were read.
    assert_eq!(seen.message_ids().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn waits_for_live_at_a_slow_cadence_then_stops_when_the_chat_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![
        Video::NotLive,
        Video::NotLive,
        Video::Live("chat1".into()),
    ])
    .await;
    fake.push([text("a", "Ann", "first")]);
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(
        options(&fake),
        store.clone(),
        None,
        tx,
        orx,
        cancel.clone(),
    ));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || fake.lists().len() >= 2).await;
    fake.push([item("end", "Own", json!({"type": "chatEndedEvent"}))]);
    until(&seen, || {
        seen.has_status(|s| matches!(s, AdapterStatus::Down { reason } if reason == "stream ended"))
    })
    .await;
    let lists_at_end = fake.lists().len();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(fake.lists().len(), lists_at_end, "no reading after the end");
    cancel.cancel();
    task.await.unwrap();

    assert!(seen.has_status(|s| matches!(s,
        AdapterStatus::Reconnecting { in_s: 60, reason } if reason.starts_with("waiting for live"))));
    let lookups = fake.lookups();
    assert_eq!(lookups.len(), 3);
    for g in gaps(&lookups) {
        assert!(g >= Duration::from_secs(60), "{g:?}");
    }
    assert_eq!(seen.message_ids(), vec!["a"]);
}

#[tokio::test(start_paused = true)]
async fn offline_at_ends_the_stream_and_an_ended_video_is_not_polled() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.state.lock().unwrap().offline_at = Some("2026-12-02T19:00:00Z".into());
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let store = open_store(dir.path());
    let task = tokio::spawn(run(options(&fake), store, None, tx, orx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || {
        seen.has_status(|s| matches!(s, AdapterStatus::Down { reason } if reason == "stream ended"))
    })
    .await;
    assert_eq!(fake.lists().len(), 1);
    cancel.cancel();
    task.await.unwrap();

    let fake = FakeYoutube::start(vec![Video::Ended]).await;
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let store = open_store(dir.path());
    let task = tokio::spawn(run(options(&fake), store, None, tx, orx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || {
        seen.has_status(|s| matches!(s, AdapterStatus::Down { reason } if reason == "stream ended"))
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    assert!(fake.lists().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_restart_resumes_from_the_stored_page_token_without_duplicates_or_gap() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.push((1..=3).map(|i| text(&format!("m{i}"), "Ann", "hi")));

    let store = open_store(dir.path());
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(
        options(&fake),
        store.clone(),
        None,
        tx,
        orx,
        cancel.clone(),
    ));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || fake.lists().len() >= 2).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(seen.message_ids(), vec!["m1", "m2", "m3"]);
    assert_eq!(
        store
            .adapter_state_async(Platform::Youtube, &page_token_key("chat1"))
            .await
            .unwrap()
            .as_deref(),
        Some("p3")
    );
    drop(store);

    // Said while clank was down.
    fake.push((4..=5).map(|i| text(&format!("m{i}"), "Ann", "hi")));
    let before = fake.lists().len();
    let store = open_store(dir.path());
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(options(&fake), store, None, tx, orx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || seen.message_ids().len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(fake.lists()[before].query["pageToken"], "p3");
    assert_eq!(seen.message_ids(), vec!["m4", "m5"]);
    // The key went on the wire, never into the database.
    let mut db = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(dir.path().join(format!("clank.db{suffix}"))) {
            db.extend_from_slice(&b);
        }
    }
    assert!(!db.is_empty());
    assert!(!db.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
}

#[tokio::test(start_paused = true)]
async fn the_governor_slows_polling_persists_usage_and_stops_before_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    let mut opts = options(&fake);
    // 101 units: the lookup and 20 list calls, to last an hour -> one call
    // every 180 s although the server allows 3 s.
    opts.daily_quota = 141;
    opts.send_reserve = 40;
    opts.stream_hours = 1.0;
    let store = open_store(dir.path());
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(
        opts.clone(),
        store.clone(),
        None,
        tx,
        orx,
        cancel.clone(),
    ));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || {
        seen.has_status(|s| matches!(s, AdapterStatus::Reconnecting { reason, .. } if reason.contains("quota is spent")))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    cancel.cancel();
    task.await.unwrap();

    let lists = fake.lists();
    assert_eq!(lists.len(), 20, "100 units of reading, then nothing");
    let g = gaps(&lists);
    assert!(g.iter().all(|g| *g >= Duration::from_secs(3)));
    // Slowed well below the server's pace: the budget lasts about the hour.
    let span = lists[19].at - lists[0].at;
    assert!(span >= Duration::from_secs(45 * 60), "{span:?}");
    assert!(seen.all().iter().any(|e| matches!(e,
        Inbound::Notice { kind: NoticeKind::RateLimited, text, .. } if text.contains("polling slowed"))));
    let used = store
        .adapter_state_async(Platform::Youtube, &quota_key("2026-12-02"))
        .await
        .unwrap();
    assert_eq!(used.as_deref(), Some("101"));
    drop(store);

    // A restart the same day remembers the usage: no reading at all.
    let before = (fake.lookups().len(), fake.lists().len());
    let store = open_store(dir.path());
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(opts, store, None, tx, orx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || {
        seen.has_status(|s| matches!(s, AdapterStatus::Reconnecting { reason, .. } if reason.contains("quota is spent")))
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!((fake.lookups().len(), fake.lists().len()), before);
}

#[tokio::test(start_paused = true)]
async fn api_errors_become_statuses_and_the_adapter_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.push([text("a", "Ann", "one")]);
    {
        let mut s = fake.state.lock().unwrap();
        s.list_errors.extend([
            (503, "backendError".to_string()),
            (403, "liveChatDisabled".to_string()),
            (404, "liveChatNotFound".to_string()),
        ]);
    }
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(options(&fake), store, None, tx, orx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || !seen.message_ids().is_empty()).await;
    // Now Google says the quota is gone.
    fake.state
        .lock()
        .unwrap()
        .list_errors
        .push_back((403, "quotaExceeded".into()));
    until(&seen, || {
        seen.has_status(|s| matches!(s, AdapterStatus::Reconnecting { reason, .. } if reason.contains("quota is spent")))
    })
    .await;
    let lists = fake.lists().len();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(fake.lists().len(), lists, "no calls after quotaExceeded");
    cancel.cancel();
    task.await.unwrap();

    let statuses = seen.statuses();
    assert!(statuses.iter().any(|s| matches!(s,
        AdapterStatus::Reconnecting { reason, .. } if reason.contains("503"))));
    assert!(statuses.iter().any(|s| matches!(s,
        AdapterStatus::Down { reason } if reason.contains("disabled the live chat"))));
    assert!(statuses.iter().any(|s| matches!(s,
        AdapterStatus::Reconnecting { reason, .. } if reason.contains("not found"))));
    // 404 made it look the chat up again.
    assert!(fake.lookups().len() >= 2);
    assert_eq!(seen.message_ids(), vec!["a"]);
    for s in &statuses {
        assert!(!s.to_string().contains(KEY), "{s}");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_key_it_says_so_and_sends_fail() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml(&format!("[youtube]\nvideo_id = \"{VIDEO}\"\n")).unwrap();
    let store = open_store(dir.path());
    let built = hub::configured(&config, &store).await.unwrap();
    assert!(
        built[0]
            .warning
            .as_deref()
            .unwrap()
            .contains("YOUTUBE_API_KEY")
    );
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let hub = Hub::start(
        built.into_iter().map(|b| b.adapter).collect(),
        tx,
        cancel.clone(),
    );
    let seen = Seen::drain(rx, &Arc::new(watch::channel(0).0));
    hub.router()
        .send(
            Platform::Youtube,
            Outbound::Send {
                draft_id: 1,
                platform: Platform::Youtube,
                channel: VIDEO.into(),
                text: "hi".into(),
                reply_to: None,
            },
        )
        .unwrap();
    until(&seen, || {
        seen.all()
            .iter()
            .any(|e| matches!(e, Inbound::SendResult { draft_id: 1, .. }))
    })
    .await;
    cancel.cancel();
    hub.join().await;
    assert!(seen.has_status(|s| matches!(s,
        AdapterStatus::Down { reason } if reason.contains("no YouTube API key"))));
}

#[tokio::test(start_paused = true)]
async fn sends_become_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.state.lock().unwrap().insert_errors.extend([
        (403, "liveChatEnded".to_string()),
        (400, "messageTextInvalid".into()),
        (403, "rateLimitExceeded".into()),
    ]);
    let creds = Arc::new(StaticCredentials(Credentials {
        login: "me".into(),
        token: Secret::new(TOKEN),
    }));
    let (tx, rx) = mpsc::channel(64);
    let (otx, orx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        options(&fake),
        store,
        Some(creds),
        tx,
        orx,
        cancel.clone(),
    ));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || {
        seen.has_status(|s| *s == AdapterStatus::Connected)
    })
    .await;
    let send = |id: i64, text: &str| Outbound::Send {
        draft_id: id,
        platform: Platform::Youtube,
        channel: VIDEO.into(),
        text: text.into(),
        reply_to: None,
    };
    for (id, t) in [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "thanks Kaz!"),
        (5, &"x".repeat(201)),
    ] {
        otx.send(send(id, t)).await.unwrap();
    }
    otx.send(Outbound::Send {
        draft_id: 6,
        platform: Platform::Youtube,
        channel: "other".into(),
        text: "hi".into(),
        reply_to: None,
    })
    .await
    .unwrap();
    until(&seen, || {
        seen.all()
            .iter()
            .filter(|e| matches!(e, Inbound::SendResult { .. }))
            .count()
            == 6
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    let verdicts: Vec<(i64, SendVerdict)> = seen
        .all()
        .into_iter()
        .filter_map(|e| match e {
            Inbound::SendResult { draft_id, verdict } => Some((draft_id, verdict)),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&verdicts[0], (1, SendVerdict::Refused(SendRejection::Platform(t))) if t.contains("liveChatEnded"))
    );
    assert!(
        matches!(&verdicts[1], (2, SendVerdict::Refused(SendRejection::Refused(t))) if t.contains("messageTextInvalid"))
    );
    assert!(matches!(
        &verdicts[2],
        (3, SendVerdict::Refused(SendRejection::RateLimited(_)))
    ));
    assert_eq!(verdicts[3], (4, SendVerdict::Sent));
    assert!(
        matches!(&verdicts[4], (5, SendVerdict::Refused(SendRejection::Refused(t))) if t.contains("201"))
    );
    assert!(matches!(
        &verdicts[5],
        (6, SendVerdict::Refused(SendRejection::UnknownChannel(_)))
    ));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.inserted, vec!["thanks Kaz!"]);
    let inserts: Vec<_> = s.requests.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(inserts.len(), 4, "nothing invalid reaches Google");
    assert!(inserts.iter().all(|r| !r.query.contains_key("key")));
}

#[tokio::test(start_paused = true)]
async fn a_refused_page_token_restarts_from_the_recent_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.push([text("a", "Ann", "one")]);
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_otx, orx) = mpsc::channel(4);
    let task = tokio::spawn(run(options(&fake), store, None, tx, orx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || fake.lists().len() >= 2).await;
    fake.state
        .lock()
        .unwrap()
        .list_errors
        .push_back((400, "pageTokenInvalid".into()));
    let n = fake.lists().len();
    // The second read's message, not just its request: the fake answers
    // before the adapter hands the page over.
    until(&seen, || {
        fake.lists().len() >= n + 2 && seen.message_ids().len() >= 2
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    let lists = fake.lists();
    assert!(
        lists[n].query.contains_key("pageToken"),
        "refused with the token"
    );
    assert!(
        !lists[n + 1].query.contains_key("pageToken"),
        "then from the start"
    );
    assert!(seen.all().iter().any(|e| matches!(e,
        Inbound::Notice { text, .. } if text.contains("page token was refused"))));
    // The history read again is the same message; the store drops the copy.
    assert_eq!(seen.message_ids(), vec!["a", "a"]);
}

/// Streaming is the default: one connection gives the history and then
/// each push; when Google drops it, the next one opens from the last page
/// token (paced like a poll, so a stream that keeps dropping never spends
/// faster than polling would), and nothing is read twice or skipped.
#[tokio::test(start_paused = true)]
async fn streaming_pushes_then_drops_and_resumes_from_the_last_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.state.lock().unwrap().stream = StreamMode::PagesThenDrop(2);
    fake.push([text("h1", "Ann", "early"), text("h2", "Bob", "hi")]);
    let (tx, rx) = mpsc::channel(256);
    let (_out_tx, out_rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let opts = YoutubeOptions {
        streaming: true,
        ..options(&fake)
    };
    let task = tokio::spawn(run(opts, store.clone(), None, tx, out_rx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);

    until(&seen, || seen.message_ids().len() == 2).await;
    fake.push([text("s1", "Cat", "pushed while streaming")]);
    until(&seen, || seen.message_ids().len() == 3).await;
    // The fake dropped the stream after its second page: the adapter opens
    // the next from p3 and reads what came meanwhile.
    until(&seen, || fake.streams().len() == 2).await;
    fake.push([text("s2", "Dan", "after the drop")]);
    until(&seen, || seen.message_ids().len() == 4).await;
    cancel.cancel();
    task.await.unwrap();

    assert_eq!(seen.message_ids(), vec!["h1", "h2", "s1", "s2"]);
    let streams = fake.streams();
    assert_eq!(streams[0].query["liveChatId"], "chat1");
    assert_eq!(streams[0].query["part"], "id,snippet,authorDetails");
    assert!(!streams[0].query.contains_key("pageToken"));
    assert_eq!(streams[1].query["pageToken"], "p3");
    // Paced like a poll after the drop: never sooner than the server's 3 s.
    assert!(streams[1].at - streams[0].at >= Duration::from_secs(3));
    assert!(fake.lists().is_empty(), "no polling while streaming works");
    assert!(seen.has_status(|s| matches!(s, AdapterStatus::ReadOnly { .. })));
    // Every lookup (1) and every stream connection (5) is counted.
    let used = store
        .adapter_state_async(Platform::Youtube, &quota_key("2026-12-02"))
        .await
        .unwrap();
    let expected = fake.lookups().len() + 5 * fake.streams().len();
    assert_eq!(used, Some(expected.to_string()), "{:#?}", seen.statuses());
    assert_eq!(
        store
            .adapter_state_async(Platform::Youtube, &page_token_key("chat1"))
            .await
            .unwrap()
            .as_deref(),
        Some("p4")
    );
}

/// A stream Google refuses (404 here) is not retried: the adapter says so
/// once and polls `list` for the rest of the run.
#[tokio::test(start_paused = true)]
async fn a_refused_stream_falls_back_to_polling() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.push([text("h1", "Ann", "early")]);
    let (tx, rx) = mpsc::channel(256);
    let (_out_tx, out_rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let opts = YoutubeOptions {
        streaming: true,
        ..options(&fake)
    };
    let task = tokio::spawn(run(opts, store.clone(), None, tx, out_rx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || fake.lists().len() >= 3).await;
    fake.push([text("p1", "Bob", "polled")]);
    until(&seen, || seen.message_ids().len() == 2).await;
    cancel.cancel();
    task.await.unwrap();

    assert_eq!(
        fake.streams().len(),
        1,
        "a refused stream is not asked again"
    );
    assert!(seen.all().iter().any(|e| matches!(e,
        Inbound::Notice { text, .. } if text.contains("streaming is not available") && text.contains("polling"))));
    assert_eq!(seen.message_ids(), vec!["h1", "p1"]);
}

/// A channel instead of a video, without an owner login: the handle's id
/// once (`channels.list`, 1 unit), then `search.list` (100 units) no more
/// than every 15 minutes while the channel is not live, then the video's
/// chat as usual. Sends go to the channel as configured.
#[tokio::test(start_paused = true)]
async fn a_handle_is_looked_up_and_searched_for_its_live_video_sparingly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.push([text("h1", "Ann", "hello")]);
    let (tx, rx) = mpsc::channel(256);
    let (_out_tx, out_rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let opts = YoutubeOptions {
        video_id: "@mikavt".into(),
        channel: Some("@mikavt".into()),
        ..options(&fake)
    };
    let task = tokio::spawn(run(opts, store.clone(), None, tx, out_rx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || {
        seen.has_status(|s| {
            matches!(s, AdapterStatus::Reconnecting { reason, .. }
            if reason.contains("waiting for live") && reason.contains("100 units"))
        })
    })
    .await;
    fake.state.lock().unwrap().search_live = Some(VIDEO.into());
    until(&seen, || seen.message_ids().len() == 1).await;
    cancel.cancel();
    task.await.unwrap();

    let handles = fake.requests(support::fake_youtube::CHANNELS);
    assert_eq!(handles.len(), 1, "the handle is looked up once");
    assert_eq!(handles[0].query["forHandle"], "@mikavt");
    let searches = fake.requests(support::fake_youtube::SEARCH);
    assert_eq!(searches.len(), 2);
    assert_eq!(searches[0].query["channelId"], "UCmikavt0000000000000");
    assert_eq!(searches[0].query["eventType"], "live");
    assert_eq!(searches[0].query["type"], "video");
    assert!(searches[1].at - searches[0].at >= Duration::from_secs(900));
    assert_eq!(fake.lookups()[0].query["id"], VIDEO);
    let msg = seen
        .all()
        .into_iter()
        .find_map(|e| match e {
            Inbound::Chat(ChatEvent::Message(m)) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(msg.channel, "@mikavt");
    // 1 (handle) + 2 × 100 (searches) + 1 (videos.list) + 5 (list).
    let used = store
        .adapter_state_async(Platform::Youtube, &quota_key("2026-12-02"))
        .await
        .unwrap();
    assert_eq!(used.as_deref(), Some("207"));
}

/// Streaming, the header's projection counts reconnects, not polls: a
/// stream that stays open lasts the day, where polling every 3 s would not.
#[tokio::test(start_paused = true)]
async fn a_long_lived_stream_projects_the_budget_to_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.state.lock().unwrap().stream = StreamMode::PagesThenDrop(usize::MAX);
    fake.push([text("h1", "Ann", "early")]);
    let (tx, rx) = mpsc::channel(256);
    let (otx, out_rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let creds = Arc::new(StaticCredentials(Credentials {
        login: "me".into(),
        token: Secret::new(TOKEN),
    }));
    let opts = YoutubeOptions {
        streaming: true,
        ..options(&fake)
    };
    let task = tokio::spawn(run(opts, store, Some(creds), tx, out_rx, cancel.clone()));
    let seen = Seen::drain(rx, &fake.ticks);
    until(&seen, || seen.message_ids().len() == 1).await;
    // A send while the stream is open is answered, and its 20 units show.
    otx.send(Outbound::Send {
        draft_id: 9,
        platform: Platform::Youtube,
        channel: VIDEO.into(),
        text: "hello stream".into(),
        reply_to: None,
    })
    .await
    .unwrap();
    until(&seen, || {
        seen.all()
            .iter()
            .any(|e| matches!(e, Inbound::SendResult { draft_id: 9, .. }))
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(fake.streams().len(), 1);
    assert_eq!(fake.state.lock().unwrap().inserted, vec!["hello stream"]);
    let last = seen
        .all()
        .into_iter()
        .rev()
        .find_map(|e| match e {
            Inbound::Notice {
                kind: NoticeKind::Quota,
                text,
                ..
            } => Some(text),
            _ => None,
        })
        .unwrap();
    assert_eq!(last, "quota 26/10000 · 9974 left · lasts to reset");
}
