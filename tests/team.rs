//! Team mode end to end: three real clank processes (`--auto`) on one
//! throwaway PostgreSQL database and one loopback fake Twitch IRC. Exactly
//! one of them reads the channel (one IRC connection); every message is
//! stored once; after `kill -9` of the reader another takes over within
//! seconds, rejoins, and the chat sent after the takeover is stored too,
//! still without a duplicate row. Also, at the store level: a console
//! hears another's new chat through LISTEN/NOTIFY, and only one console
//! can hold a channel's reader lease.

mod support;

use std::time::{Duration, Instant};

use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc};
use support::live::{self, PATIENCE};

fn clank(cfg: &std::path::Path, home: &std::path::Path, url: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_clank"))
        .arg("--config")
        .arg(cfg)
        .arg("--auto")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("DATABASE_URL", url)
        .env_remove("OLLAMA_URL")
        .env_remove("AUTOLIZA_WEBHOOK_URL")
        .env_remove("VTUBER_ENDPOINT_URL")
        .env_remove("TWITCH_CHANNELS")
        .env_remove("TWITCH_CLIENT_ID")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("clank starts")
}

/// Polls `f` until it is true or `limit` passes (the server is another
/// process: there is nothing to await).
async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consoles_one_reader_takeover_after_kill_9_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::pg::fresh_database_url();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let cfg = dir.path().join("clank.toml");
    // No LLM here (a closed port): this is about reading and storing.
    std::fs::write(
        &cfg,
        live::config_toml(dir.path(), &irc.irc_addr(), None, "http://127.0.0.1:9"),
    )
    .unwrap();
    let mut children: Vec<tokio::process::Child> =
        (0..3).map(|_| clank(&cfg, dir.path(), &url)).collect();
    irc.wait_for("JOIN", 1, PATIENCE).await;
    // Give the other two time to (wrongly) connect too: they must not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        irc.connections(),
        1,
        "exactly one console reads the channel"
    );
    let count = |sql: &str| support::pg::query_i64(&url, sql);
    eventually("three live members", PATIENCE, || {
        count("SELECT count(*) FROM team_live") == 3
    })
    .await;

    // `clank db team` lists the three consoles and who reads the channel.
    let team = std::process::Command::new(env!("CARGO_BIN_EXE_clank"))
        .args(["db", "team"])
        .env("DATABASE_URL", &url)
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&team.stdout);
    assert!(team.status.success(), "{shown}");
    assert!(
        shown.starts_with("3 console(s) on postgres://clank@127.0.0.1:"),
        "{shown}"
    );
    assert_eq!(shown.matches("reads twitch #mikavt").count(), 1, "{shown}");
    assert_eq!(shown.matches(": watching").count(), 2, "{shown}");
    for i in 0..20 {
        irc.send(&live::privmsg(
            &format!("a{i}"),
            "viewer",
            "42",
            &format!("hello {i}"),
        ));
    }
    eventually("the first 20 messages stored", PATIENCE, || {
        count("SELECT count(*) FROM chat_messages") == 20
    })
    .await;

    // Which process reads: its pid is in its member name (user@host#pid).
    let reader = support::pg::query_text(
        &url,
        "SELECT member FROM team_readers WHERE platform = 'twitch' AND channel = 'mikavt'",
    )
    .expect("a reader is recorded");
    let pid: u32 = reader.rsplit('#').next().unwrap().parse().unwrap();
    let killed = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Another console takes the lease and joins again.
    irc.wait_for("JOIN", 2, Duration::from_secs(20)).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(20), "takeover took {took:?}");
    let new_reader = support::pg::query_text(
        &url,
        "SELECT member FROM team_readers WHERE platform = 'twitch' AND channel = 'mikavt'",
    )
    .unwrap();
    assert_ne!(new_reader, reader, "a different console reads now");
    // Wait until the new reader is connected before sending.
    eventually("the new reader's connection", PATIENCE, || {
        irc.connections() >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..20 {
        irc.send(&live::privmsg(
            &format!("b{i}"),
            "viewer",
            "42",
            &format!("again {i}"),
        ));
    }
    eventually("all 40 messages stored", PATIENCE, || {
        count("SELECT count(*) FROM chat_messages") >= 40
    })
    .await;
    // Let any straggler (a duplicate, if the design were wrong) arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count("SELECT count(*) FROM chat_messages"), 40);
    assert_eq!(
        count("SELECT count(DISTINCT platform_msg_id) FROM chat_messages"),
        40,
        "no message stored twice"
    );
    assert_eq!(
        count("SELECT count(*) FROM team_live"),
        2,
        "the killed console left the team"
    );
    for c in &mut children {
        let _ = c.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_hears_new_chat_and_a_channel_has_one_reader_at_a_time() {
    use clank::model::{Author, ChatEvent, ChatMessage, Platform};
    use clank::store::{Store, StoreConfig, team};
    let url = support::pg::fresh_database_url();
    let cfg = StoreConfig {
        url: Some(clank::secret::Secret::new(url.clone())),
        ..StoreConfig::default()
    };
    let store = Store::open(std::path::Path::new("unused.db"), &cfg).unwrap();
    let channels = vec![(Platform::Twitch, "c".to_string())];
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let cancel = tokio_util::sync::CancellationToken::new();
    let listener = {
        let (url, channels, cancel) = (url.clone(), channels.clone(), cancel.clone());
        tokio::spawn(async move { team::listen_chat(&url, &channels, cancel, tx).await })
    };
    let msg = |channel: &str, id: &str| ChatMessage {
        platform: Platform::Twitch,
        channel: channel.into(),
        id: id.into(),
        at: chrono::Utc::now(),
        author: Author {
            id: "u".into(),
            name: "u".into(),
            roles: vec![],
            months: None,
            first_message: false,
            returning_chatter: false,
        },
        text: "hi".into(),
        paid: None,
        reply_to: None,
    };
    // LISTEN takes a moment to be in place; send until the first arrives.
    let mut n = 0;
    let first = loop {
        n += 1;
        store
            .insert_message_async(msg("elsewhere", &format!("x{n}")).into())
            .await
            .unwrap();
        store
            .insert_message_async(msg("c", &format!("m{n}")).into())
            .await
            .unwrap();
        store.flush_async().await.unwrap();
        if let Ok(Some(ChatEvent::Message(m))) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
        {
            break m;
        }
        assert!(n < 20, "no notification arrived");
    };
    assert_eq!(
        first.channel, "c",
        "only the listened channels come through"
    );
    assert!(first.id.starts_with('m'));
    // A moderator's deletion and a ban reach the other consoles too.
    store
        .delete_message_async(Platform::Twitch, "c", &first.id, Some(first.at))
        .await
        .unwrap();
    store
        .purge_author_async(Platform::Twitch, "c", "u")
        .await
        .unwrap();
    store.flush_async().await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(ChatEvent::Message(_))) => {} // later messages of the loop
            Ok(Some(e)) => seen.push(e),
            other => panic!("no moderation event: {other:?}"),
        }
    }
    assert!(
        matches!(&seen[0], ChatEvent::Delete { channel, id, at, .. }
            if channel == "c" && *id == first.id && *at == first.at),
        "{seen:?}"
    );
    assert!(
        matches!(&seen[1], ChatEvent::Ban { channel, author_id, .. }
            if channel == "c" && author_id == "u"),
        "{seen:?}"
    );
    cancel.cancel();
    listener.await.unwrap().unwrap();

    let a = team::acquire_reader(&url, "a", &channels).await.unwrap();
    let b = tokio::time::timeout(
        Duration::from_millis(700),
        team::acquire_reader(&url, "b", &channels),
    )
    .await;
    assert!(b.is_err(), "a second console waits while the first reads");
    drop(a);
    let b = tokio::time::timeout(
        Duration::from_secs(10),
        team::acquire_reader(&url, "b", &channels),
    )
    .await
    .expect("the lease passes on when its holder goes")
    .unwrap();
    assert!(!b.lost().is_cancelled());
}

/// The shared-draft protocol at the store level, two consoles ("a" reads
/// the channel, "w" watches): a's new draft reaches w through the team
/// link; w's approval (the claim) is taken by a's link, once, because a
/// reads the channel; a's gate may write it, nobody else may. With no
/// reader, a claim waits; the console that takes the channel over picks
/// it up once, marks a dead console's in-flight send unconfirmed and a
/// stale approval failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_taken_once_by_the_reader_and_picked_up_after_a_takeover() {
    use clank::model::Platform;
    use clank::store::team::{self, TeamEvent};
    use clank::store::{NewResponse, ResponseStatus, Store, StoreConfig};
    let url = support::pg::fresh_database_url();
    let open = |member: &str| {
        let cfg = StoreConfig {
            url: Some(clank::secret::Secret::new(url.clone())),
            member: Some(member.into()),
            ..StoreConfig::default()
        };
        Store::open(std::path::Path::new("unused.db"), &cfg).unwrap()
    };
    let (sa, sw) = (open("a"), open("w"));
    let _here = (
        team::join(&url, "a").await.unwrap(),
        team::join(&url, "w").await.unwrap(),
    );
    let channels = vec![(Platform::Twitch, "c".to_string())];
    let lease_a = team::acquire_reader(&url, "a", &channels).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let link = |member: &'static str| {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let (url, cancel) = (url.clone(), cancel.clone());
        tokio::spawn(async move {
            let (_keep, mut publish) = tokio::sync::mpsc::channel(1);
            team::link(&url, member, cancel, tx, &mut publish).await
        });
        rx
    };
    let (mut to_a, mut to_w) = (link("a"), link("w"));
    async fn next(
        rx: &mut tokio::sync::mpsc::Receiver<TeamEvent>,
    ) -> Result<TeamEvent, tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match rx.recv().await {
                    Some(TeamEvent::Roster(_) | TeamEvent::Attention { .. }) => continue,
                    Some(ev) => return ev,
                    None => panic!("link ended"),
                }
            }
        })
        .await
    }
    // Both links listen once their first roster arrived.
    for rx in [&mut to_a, &mut to_w] {
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert!(matches!(first, Ok(Some(TeamEvent::Roster(_)))), "{first:?}");
    }
    let draft = |status: ResponseStatus, age_s: i64| NewResponse {
        platform: Platform::Twitch,
        channel: "c".into(),
        original_id: None,
        original_at: None,
        response_text: "hello team".into(),
        response_type: "llm".into(),
        attention_state: None,
        generation_time_ms: None,
        agent_context: None,
        status,
        created_at: chrono::Utc::now() - chrono::Duration::seconds(age_s),
    };
    let id = sa
        .insert_response_async(draft(ResponseStatus::Pending, 0))
        .await
        .unwrap();
    match next(&mut to_w).await.expect("w hears a's draft") {
        TeamEvent::Draft(d) => {
            assert_eq!((d.row.id, d.row.status), (id, ResponseStatus::Pending));
            assert_eq!(d.drafted_by.as_deref(), Some("a"));
        }
        other => panic!("{other:?}"),
    }
    // w approves: one claim wins; a's link takes it to send.
    let sendable = [ResponseStatus::Pending];
    assert!(
        sw.claim_response_async(id, &sendable, ResponseStatus::Sending, None)
            .await
            .unwrap()
    );
    assert!(
        !sa.claim_response_async(id, &sendable, ResponseStatus::Sending, None)
            .await
            .unwrap()
    );
    match next(&mut to_a).await.expect("a hears w's claim") {
        TeamEvent::SendTaken(d) => {
            assert_eq!(d.row.id, id);
            assert_eq!(d.claimed_by.as_deref(), Some("w"));
            assert_eq!(d.sent_by.as_deref(), Some("a"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        lease_a.take_send(id, "a").await.unwrap(),
        "a's gate writes it"
    );
    assert!(
        !lease_a.take_send(id, "x").await.unwrap(),
        "nobody else may"
    );
    match next(&mut to_w).await.expect("w hears the take") {
        TeamEvent::Draft(d) => assert_eq!(d.sent_by.as_deref(), Some("a")),
        other => panic!("{other:?}"),
    }

    // The reader goes. A claim now waits for the next reader.
    drop(lease_a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = sa
        .insert_response_async(draft(ResponseStatus::Pending, 0))
        .await
        .unwrap();
    let stale = sa
        .insert_response_async(draft(ResponseStatus::Pending, 3600))
        .await
        .unwrap();
    let orphan = sa
        .insert_response_async(draft(ResponseStatus::Pending, 0))
        .await
        .unwrap();
    for d in [waiting, stale, orphan] {
        assert!(
            sw.claim_response_async(d, &sendable, ResponseStatus::Sending, None)
                .await
                .unwrap()
        );
    }
    support::pg::run_sql(
        &url,
        &format!("UPDATE chat_responses SET sent_by = 'ghost' WHERE id = {orphan}"),
    )
    .unwrap();
    let lease_w = team::acquire_reader(&url, "w", &channels).await.unwrap();
    let fresh_since = (chrono::Utc::now() - chrono::Duration::seconds(600)).timestamp_millis();
    let taken = lease_w.pick_up("w", &channels, fresh_since).await.unwrap();
    assert_eq!(
        taken.iter().map(|d| d.row.id).collect::<Vec<_>>(),
        vec![waiting]
    );
    assert!(
        lease_w
            .pick_up("w", &channels, fresh_since)
            .await
            .unwrap()
            .is_empty(),
        "once"
    );
    let status = |d: i64| {
        support::pg::query_text(
            &url,
            &format!("SELECT status FROM chat_responses WHERE id = {d}"),
        )
    };
    assert_eq!(status(stale).as_deref(), Some("failed"));
    assert_eq!(status(orphan).as_deref(), Some("unconfirmed"));
    assert_eq!(
        status(id).as_deref(),
        Some("sending"),
        "a live console's send is its own to settle"
    );
    cancel.cancel();
}

/// YouTube through the team gate: two real `clank --auto` consoles poll one
/// fake Data API through one PostgreSQL database. Only the reader polls; it
/// keeps its page token in the shared store, so after `kill -9` the console
/// that takes over asks for the next page from there: nothing said before
/// the kill is stored twice, nothing said after it is missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_youtube_reader_killed_is_replaced_by_one_that_resumes_from_the_stored_page_token() {
    use support::fake_youtube::{FakeYoutube, KEY, Video, text};

    let dir = tempfile::tempdir().unwrap();
    let url = support::pg::fresh_database_url();
    let fake = FakeYoutube::start(vec![Video::Live("chat1".into())]).await;
    fake.state.lock().unwrap().interval_ms = 200;
    fake.push((1..=5).map(|i| text(&format!("y{i}"), "Ann", &format!("hi {i}"))));
    let cfg = dir.path().join("clank.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[youtube]
api_key = "{KEY}"
video_id = "vid1"
api_url = "{}"
streaming = false
[store]
path = "{}"
[llm]
url = "http://127.0.0.1:9"
retries = 0
"#,
            fake.base_url(),
            dir.path().join("unused.db").display()
        ),
    )
    .unwrap();
    let mut children: Vec<tokio::process::Child> =
        (0..2).map(|_| clank(&cfg, dir.path(), &url)).collect();
    // The reader polls once the schema is in place.
    eventually("the reader's first poll", PATIENCE, || {
        !fake.lists().is_empty()
    })
    .await;
    let count = |sql: &str| support::pg::query_i64(&url, sql);
    eventually("the first 5 messages stored", PATIENCE, || {
        count("SELECT count(*) FROM chat_messages") == 5
    })
    .await;
    let token = || {
        support::pg::query_text(
            &url,
            "SELECT value FROM adapter_state WHERE platform = 'youtube' AND key = 'page_token:chat1'",
        )
    };
    eventually("the reader's page token stored", PATIENCE, || {
        token().as_deref() == Some("p5")
    })
    .await;

    let reader = support::pg::query_text(
        &url,
        "SELECT member FROM team_readers WHERE platform = 'youtube'",
    )
    .expect("a reader is recorded");
    let pid: u32 = reader.rsplit('#').next().unwrap().parse().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let lists_before = fake.lists().len();
    // Said while nobody reads.
    fake.push((6..=10).map(|i| text(&format!("y{i}"), "Ann", &format!("hi {i}"))));
    eventually("all 10 messages stored", PATIENCE, || {
        count("SELECT count(*) FROM chat_messages") >= 10
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count("SELECT count(*) FROM chat_messages"), 10);
    assert_eq!(
        count("SELECT count(DISTINCT platform_msg_id) FROM chat_messages"),
        10,
        "no message stored twice"
    );
    let new_reader = support::pg::query_text(
        &url,
        "SELECT member FROM team_readers WHERE platform = 'youtube'",
    )
    .unwrap();
    assert_ne!(new_reader, reader, "the other console reads now");
    let resumed = fake.lists()[lists_before..]
        .first()
        .map(|r| r.query.get("pageToken").cloned());
    assert_eq!(
        resumed,
        Some(Some("p5".to_string())),
        "the new reader's first page starts where the old one stopped"
    );
    for c in &mut children {
        let _ = c.start_kill();
    }
}
