//! The Discord adapter (serenity 0.12) against a loopback fake Discord that
//! speaks the real wire: REST over HTTP (through `HttpBuilder::proxy`, or as
//! `discord.com` over TLS so serenity's own rate limiter runs) and the
//! WebSocket gateway (HELLO, IDENTIFY with intents, READY, heartbeats,
//! dispatches, RECONNECT, INVALID_SESSION, RESUME, close codes). The full
//! runtime tests use a real SQLite file in a temp dir.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use clank::adapters::Backoff;
use clank::adapters::discord::{
    ADVICE_INTENTS, ADVICE_TOKEN, DiscordOptions, Rest, Roles, SendLimits, intents, run,
};
use clank::adapters::hub::{self, Hub};
use clank::adapters::{AdapterStatus, Inbound, NoticeKind, Outbound, SendRejection, SendVerdict};
use clank::config::Config;
use clank::model::{ChatEvent, ChatMessage, Platform, Role};
use clank::runtime::{self, RuntimeOptions};
use clank::secret::Secret;
use clank::session::{Request, Update};
use clank::store::Store;
use serde_json::{Value, json};
use support::fake_discord::*;
use support::live::{PATIENCE, is_event, json as update_json, until};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn options(fake: &FakeDiscord, rest: Rest) -> DiscordOptions {
    let _ = fake;
    DiscordOptions {
        token: Secret::new(TOKEN),
        channels: vec![CHANNEL_ID],
        roles: Roles {
            streamer: Some(STREAMER_ID),
            moderators: vec![MOD_ROLE],
            vips: vec![VIP_ROLE],
        },
        rest,
        ping_reply_author: true,
        address_as: Some("Mika".into()),
        backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
        },
        limits: SendLimits::default(),
        connect_patience: Duration::from_secs(2),
        seed: 7,
    }
}

fn proxy(fake: &FakeDiscord) -> Rest {
    Rest::Proxy(fake.api_url())
}

/// serenity with its rate limiter on, calling https://discord.com, which a
/// reqwest client that trusts the test CA resolves to the fake's TLS port.
fn discord_com(fake: &FakeDiscord) -> Rest {
    let addr = fake.tls_addr();
    let ca = reqwest012::Certificate::from_pem(include_bytes!("support/discord_tls/ca.pem"))
        .expect("test CA");
    let client = reqwest012::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .resolve("discord.com", addr)
        .build()
        .expect("client");
    Rest::Custom(Arc::new(move |token: &Secret| {
        serenity::http::HttpBuilder::new(token.expose())
            .client(client.clone())
            .build()
    }))
}

/// A running adapter, its inbound events, its send queue.
struct Running {
    rx: mpsc::Receiver<Inbound>,
    out: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    seen: Vec<Inbound>,
}

impl Running {
    fn start(options: DiscordOptions) -> Running {
        let (tx, rx) = mpsc::channel(1024);
        let (out, out_rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(options, tx, out_rx, cancel.clone()));
        Running {
            rx,
            out,
            cancel,
            task,
            seen: Vec::new(),
        }
    }

    /// Reads events until `pred` accepts one; everything read is in `seen`.
    async fn until(&mut self, what: &str, pred: impl Fn(&Inbound) -> bool) -> Inbound {
        loop {
            let ev = match tokio::time::timeout(PATIENCE, self.rx.recv()).await {
                Ok(Some(ev)) => ev,
                _ => panic!("no {what}; saw:\n{:#?}", self.seen),
            };
            self.seen.push(ev.clone());
            if pred(&ev) {
                return ev;
            }
        }
    }

    async fn connected(&mut self) {
        self.until("connected", |e| {
            is_status(e, |s| *s == AdapterStatus::Connected)
        })
        .await;
    }

    /// The messages read up to and including the one whose text is `last`.
    async fn messages_until(&mut self, last: &str) -> Vec<ChatMessage> {
        let from = self.seen.len();
        self.until(
            &format!("message {last:?}"),
            |e| matches!(e, Inbound::Chat(ChatEvent::Message(m)) if m.text == last),
        )
        .await;
        self.seen[from..]
            .iter()
            .filter_map(|e| match e {
                Inbound::Chat(ChatEvent::Message(m)) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the adapter stops on cancel")
            .unwrap();
    }
}

fn is_status(e: &Inbound, f: impl Fn(&AdapterStatus) -> bool) -> bool {
    matches!(e, Inbound::Status { platform: Platform::Discord, status, .. } if f(status))
}

fn viewer(id: u64, name: &str) -> Value {
    user(id, name, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_with_roles_reply_links_threads_and_readable_mentions() {
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    a.connected().await;

    // IDENTIFY asked for exactly the intents the README tells the operator to allow.
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.identifies.len(), 1);
        assert_eq!(st.identifies[0]["intents"].as_u64(), Some(intents().bits()));
        assert!(intents().bits() & PRIVILEGED != 0);
        assert!(
            st.requests.contains(&"GET /api/v10/gateway".to_string()),
            "{:?}",
            st.requests
        );
    }

    let owner = fake.say(
        CHANNEL_ID,
        viewer(OWNER_ID, "mika_owner"),
        Some(member(&[], false, None)),
        "we start in 5",
        None,
        vec![],
    );
    let m_mod = fake.say(
        CHANNEL_ID,
        viewer(11, "modkat"),
        Some(member(&[MOD_ROLE, OTHER_ROLE], true, Some("Kat (mod)"))),
        "please keep it civil",
        None,
        vec![],
    );
    fake.say(
        CHANNEL_ID,
        viewer(12, "vippy"),
        Some(member(&[VIP_ROLE], false, None)),
        "hype",
        None,
        vec![],
    );
    fake.say(
        CHANNEL_ID,
        viewer(STREAMER_ID, "mika"),
        Some(member(&[], false, None)),
        "thanks all",
        None,
        vec![],
    );
    let reply = fake.say(
        CHANNEL_ID,
        viewer(13, "ana"),
        Some(member(&[], false, None)),
        "same question here",
        Some(m_mod),
        vec![],
    );
    // Another bot, and a channel that is not configured: not chat to answer.
    fake.say(
        CHANNEL_ID,
        user(99, "otherbot", true),
        None,
        "beep boop",
        None,
        vec![],
    );
    fake.say(
        OTHER_CHANNEL_ID,
        viewer(14, "offtopic"),
        None,
        "elsewhere",
        None,
        vec![],
    );
    let in_thread = fake.say(
        THREAD_ID,
        viewer(15, "strat_guy"),
        Some(member(&[], false, None)),
        "phase 2 cheese?",
        None,
        vec![],
    );
    fake.say(
        CHANNEL_ID,
        viewer(16, "bo"),
        Some(member(&[], false, None)),
        &format!("<@{BOT_ID}> how is the run <:mikaLove:1109457951620419654> <a:pat:42> ask <@&{OTHER_ROLE}> or <@!17> in <#{OTHER_CHANNEL_ID}>"),
        None,
        vec![viewer(17, "cy")],
    );
    fake.say(
        CHANNEL_ID,
        viewer(16, "bo"),
        Some(member(&[], false, None)),
        "end",
        None,
        vec![],
    );

    let got = a.messages_until("end").await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "we start in 5",
            "please keep it civil",
            "hype",
            "thanks all",
            "same question here",
            "phase 2 cheese?",
            "@Mika how is the run :mikaLove: :pat: ask @Artists or @cy in #off-topic",
            "end"
        ]
    );
    let by = |t: &str| got.iter().find(|m| m.text == t).unwrap().clone();
    assert_eq!(by("we start in 5").author.roles, vec![Role::Broadcaster]);
    assert_eq!(by("we start in 5").id, owner.to_string());
    let m = by("please keep it civil");
    assert_eq!(m.author.roles, vec![Role::Moderator, Role::Subscriber]);
    assert_eq!(m.author.name, "Kat (mod)");
    assert_eq!(by("hype").author.roles, vec![Role::Vip]);
    assert_eq!(by("thanks all").author.roles, vec![Role::Broadcaster]);
    let r = by("same question here");
    assert_eq!(r.id, reply.to_string());
    assert_eq!(r.reply_to, Some(m_mod.to_string()));
    assert!(r.author.roles.is_empty());
    let t = by("phase 2 cheese?");
    assert_eq!(
        (t.channel.as_str(), t.id.as_str()),
        (
            THREAD_ID.to_string().as_str(),
            in_thread.to_string().as_str()
        )
    );
    for m in &got {
        assert_eq!(m.platform, Platform::Discord);
    }
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_bulk_deletes_bans_and_timeouts_become_purges() {
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    a.connected().await;
    let m1 = fake.say(CHANNEL_ID, viewer(21, "ana"), None, "one", None, vec![]);
    let m2 = fake.say(CHANNEL_ID, viewer(21, "ana"), None, "two", None, vec![]);
    let m3 = fake.say(CHANNEL_ID, viewer(22, "bo"), None, "three", None, vec![]);
    a.messages_until("three").await;
    let ch = CHANNEL_ID.to_string();
    let g = GUILD_ID.to_string();
    fake.dispatch(
        "MESSAGE_DELETE",
        json!({"id": m1.to_string(), "channel_id": ch, "guild_id": g}),
    );
    fake.dispatch(
        "MESSAGE_DELETE_BULK",
        json!({"ids": [m2.to_string(), m3.to_string()], "channel_id": ch, "guild_id": g}),
    );
    // Deletions elsewhere are not ours.
    fake.dispatch(
        "MESSAGE_DELETE",
        json!({"id": "5", "channel_id": OTHER_CHANNEL_ID.to_string(), "guild_id": g}),
    );
    fake.dispatch(
        "GUILD_BAN_ADD",
        json!({"guild_id": g, "user": viewer(21, "ana")}),
    );
    let until = chrono::Utc::now() + chrono::Duration::minutes(10);
    let update = json!({
        "guild_id": g, "roles": [], "user": viewer(22, "bo"), "nick": null, "avatar": null,
        "joined_at": "2025-06-01T12:00:00.000000+00:00", "premium_since": null,
        "deaf": false, "mute": false, "pending": false, "flags": 0,
        "communication_disabled_until": ts(until),
    });
    fake.dispatch("GUILD_MEMBER_UPDATE", update.clone());
    // The same timeout repeated (any member update while timed out) is not new.
    fake.dispatch("GUILD_MEMBER_UPDATE", update);
    fake.say(CHANNEL_ID, viewer(23, "cy"), None, "end", None, vec![]);
    let from = a.seen.len();
    a.messages_until("end").await;
    let evs: Vec<ChatEvent> = a.seen[from..]
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let deletes: Vec<(String, String)> = evs
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Delete { channel, id, .. } => Some((channel.clone(), id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        deletes,
        vec![
            (ch.clone(), m1.to_string()),
            (ch.clone(), m2.to_string()),
            (ch.clone(), m3.to_string())
        ]
    );
    let bans: Vec<(String, String, Option<u64>)> = evs
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Ban {
                channel,
                author_id,
                duration_s,
                ..
            } => Some((channel.clone(), author_id.clone(), *duration_s)),
            _ => None,
        })
        .collect();
    // A ban and a timeout are guild-wide: the channel and its thread.
    assert_eq!(bans.len(), 4, "{bans:?}");
    assert_eq!(bans[0], (ch.clone(), "21".into(), None));
    assert_eq!(bans[1], (THREAD_ID.to_string(), "21".into(), None));
    assert_eq!((&bans[2].0, &bans[2].1), (&ch, &"22".to_string()));
    assert_eq!(bans[3].0, THREAD_ID.to_string());
    let d = bans[2].2.expect("a timeout has a duration");
    assert!((590..=600).contains(&d), "{d}");
    a.stop().await;
}

fn send(draft_id: i64, channel: u64, text: &str, reply_to: Option<u64>) -> Outbound {
    Outbound::Send {
        draft_id,
        platform: Platform::Discord,
        channel: channel.to_string(),
        text: text.into(),
        reply_to: reply_to.map(|r| r.to_string()),
    }
}

async fn verdict(a: &mut Running, id: i64) -> SendVerdict {
    match a
        .until(
            "a verdict",
            |e| matches!(e, Inbound::SendResult { draft_id, .. } if *draft_id == id),
        )
        .await
    {
        Inbound::SendResult { verdict, .. } => verdict,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reference_their_message_and_ping_no_one_even_when_the_text_tries() {
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    a.connected().await;
    let q = fake.say(
        CHANNEL_ID,
        viewer(31, "ana"),
        None,
        "is the boss hard?",
        None,
        vec![],
    );
    a.messages_until("is the boss hard?").await;

    a.out
        .send(send(1, CHANNEL_ID, "Not if you dodge left!", Some(q)))
        .await
        .unwrap();
    assert_eq!(verdict(&mut a, 1).await, SendVerdict::Sent);
    // Past the output gate, a draft that still says @everyone or names a
    // role or a user pings no one: the payload itself forbids it.
    a.out
        .send(send(
            2,
            CHANNEL_ID,
            "@everyone <@&1098765432100000402> <@31> @here look",
            None,
        ))
        .await
        .unwrap();
    assert_eq!(verdict(&mut a, 2).await, SendVerdict::Sent);
    a.out
        .send(send(3, CHANNEL_ID, &"x".repeat(2001), None))
        .await
        .unwrap();
    let v = verdict(&mut a, 3).await;
    assert!(
        matches!(&v, SendVerdict::Refused(SendRejection::Refused(w)) if w.contains("2000")),
        "{v:?}"
    );
    fake.state.lock().unwrap().post_errors.push_back((
        403,
        json!({"message": "Missing Permissions", "code": 50013}),
    ));
    a.out
        .send(send(4, CHANNEL_ID, "hello?", None))
        .await
        .unwrap();
    let v = verdict(&mut a, 4).await;
    assert!(
        matches!(&v, SendVerdict::Refused(SendRejection::Platform(w)) if w.contains("Missing Permissions") && w.contains("Send Messages")),
        "{v:?}"
    );
    // Without serenity's limiter (proxy mode) a 429 is a refusal that says so.
    fake.state.lock().unwrap().rate_limit_next.push_back(1);
    a.out
        .send(send(5, CHANNEL_ID, "too fast?", None))
        .await
        .unwrap();
    let v = verdict(&mut a, 5).await;
    assert!(
        matches!(&v, SendVerdict::Refused(SendRejection::RateLimited(w)) if w.contains("429")),
        "{v:?}"
    );

    let posts = fake.posts();
    assert_eq!(
        posts.len(),
        4,
        "the 2001-character draft never left: {posts:#?}"
    );
    let p = &posts[0];
    assert_eq!(p.channel, CHANNEL_ID.to_string());
    assert_eq!(
        p.authorization.as_deref(),
        Some(format!("Bot {TOKEN}").as_str())
    );
    assert_eq!(p.body["content"], "Not if you dodge left!");
    assert_eq!(p.body["message_reference"]["message_id"], q.to_string());
    assert_eq!(
        p.body["message_reference"]["channel_id"],
        CHANNEL_ID.to_string()
    );
    assert_eq!(
        p.body["allowed_mentions"],
        json!({"parse": [], "users": [], "roles": [], "replied_user": true})
    );
    let p = &posts[1];
    assert!(p.body.get("message_reference").is_none_or(Value::is_null));
    assert_eq!(
        p.body["allowed_mentions"],
        json!({"parse": [], "users": [], "roles": [], "replied_user": false})
    );
    // The bot's own posts come back on the gateway (as on Discord) and are
    // not read as chat.
    fake.say(CHANNEL_ID, viewer(31, "ana"), None, "thanks", None, vec![]);
    let got = a.messages_until("thanks").await;
    assert_eq!(got.len(), 1, "{got:?}");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_by_serenitys_rate_limiter() {
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut a = Running::start(options(&fake, discord_com(&fake)));
    a.connected().await;
    fake.state.lock().unwrap().rate_limit_next.push_back(1);
    a.out
        .send(send(7, CHANNEL_ID, "after the wait", None))
        .await
        .unwrap();
    assert_eq!(verdict(&mut a, 7).await, SendVerdict::Sent);
    let posts = fake.posts();
    let statuses: Vec<(u16, bool)> = posts.iter().map(|p| (p.status, p.tls)).collect();
    assert_eq!(
        statuses,
        vec![(429, true), (200, true)],
        "retried once, over TLS"
    );
    assert_eq!(posts[1].body["content"], "after the wait");
    assert!(
        a.seen.iter().any(|e| matches!(e, Inbound::Notice { kind: NoticeKind::RateLimited, text, .. } if text.contains("wait 1.0 s"))),
        "the operator hears about the wait: {:#?}",
        a.seen
    );
    // The gateway address came from the TLS REST too.
    assert!(
        fake.state
            .lock()
            .unwrap()
            .requests
            .contains(&"GET /api/v10/gateway".to_string())
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_and_invalid_session_lose_nothing_and_double_nothing() {
    let fake = FakeDiscord::start(FakeConfig {
        heartbeat_ms: 500,
        ..Default::default()
    })
    .await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    a.connected().await;
    let say = |t: &str| fake.say(CHANNEL_ID, viewer(41, "ana"), None, t, None, vec![]);
    say("m1");
    say("m2");
    a.messages_until("m2").await;
    fake.wait_for("a heartbeat acknowledged", PATIENCE, |st| {
        st.heartbeats >= 1
    })
    .await;

    // RECONNECT: what is said meanwhile reaches the new connection by RESUME.
    fake.reconnect();
    say("m3");
    say("m4");
    fake.wait_for("a RESUME", PATIENCE, |st| st.resumes.len() == 1)
        .await;
    say("m5");
    a.messages_until("m5").await;
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.resumes[0]["session_id"], "fake-session-1");
        assert_eq!(st.identifies.len(), 1, "resumed, not re-identified");
    }

    // A resumable INVALID_SESSION resumes too.
    fake.invalid_session(true);
    fake.wait_for("a second RESUME", PATIENCE, |st| st.resumes.len() == 2)
        .await;
    say("m6");
    a.messages_until("m6").await;

    // A non-resumable one: serenity identifies afresh (after its 5 s queue).
    fake.invalid_session(false);
    fake.wait_for("a new IDENTIFY", PATIENCE, |st| st.identifies.len() == 2)
        .await;
    fake.wait_for("the new session", PATIENCE, State::live)
        .await;
    say("m7");
    say("m8");
    a.messages_until("m8").await;

    let ids: Vec<String> = a
        .seen
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Message(m)) => Some(m.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec!["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
    let statuses: Vec<String> = a
        .seen
        .iter()
        .filter_map(|e| match e {
            Inbound::Status { status, .. } => Some(status.to_string()),
            _ => None,
        })
        .collect();
    let resumed = statuses
        .iter()
        .filter(|s| s.contains("resuming the session"))
        .count();
    assert_eq!(
        resumed, 2,
        "RECONNECT and the resumable INVALID_SESSION: {statuses:?}"
    );
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("connected"),
        "{statuses:?}"
    );
    a.stop().await;
}

/// Waits `secs` of real time: serenity would have restarted a shard by now
/// (its queue waits 5 s), so nothing new means it will not.
async fn quiet_for(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_4004_and_4014_are_down_with_advice_and_never_reconnect() {
    // 4014: the privileged intents are not switched on in the Portal.
    let fake = FakeDiscord::start(FakeConfig {
        allow_privileged: false,
        ..Default::default()
    })
    .await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    let down = a
        .until("down", |e| {
            is_status(e, |s| matches!(s, AdapterStatus::Down { .. }))
        })
        .await;
    let Inbound::Status {
        status: AdapterStatus::Down { reason },
        ..
    } = down
    else {
        unreachable!()
    };
    assert_eq!(reason, ADVICE_INTENTS);
    assert!(reason.contains("MESSAGE CONTENT INTENT") && reason.contains("4014"));
    quiet_for(7).await;
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(
            (st.connections, st.identifies.len()),
            (1, 1),
            "no reconnect loop"
        );
    }
    // Sends still get a verdict while the gateway is down (REST still works).
    a.out
        .send(send(9, CHANNEL_ID, "still here", None))
        .await
        .unwrap();
    assert_eq!(verdict(&mut a, 9).await, SendVerdict::Sent);
    a.stop().await;

    // 4004: the token was reset while connected.
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    a.connected().await;
    fake.close(4004, "Authentication failed.");
    let down = a
        .until("down", |e| {
            is_status(e, |s| matches!(s, AdapterStatus::Down { .. }))
        })
        .await;
    let Inbound::Status {
        status: AdapterStatus::Down { reason },
        ..
    } = down
    else {
        unreachable!()
    };
    assert_eq!(reason, ADVICE_TOKEN);
    quiet_for(7).await;
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(
            (st.connections, st.identifies.len(), st.resumes.len()),
            (1, 1, 0)
        );
    }
    a.stop().await;

    // A token the API refuses outright: down before the gateway, token never shown.
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut o = options(&fake, proxy(&fake));
    o.token = Secret::new("MTA5.wrong-token-value");
    let mut a = Running::start(o);
    let down = a
        .until("down", |e| {
            is_status(e, |s| matches!(s, AdapterStatus::Down { .. }))
        })
        .await;
    let text = format!("{down:?}");
    assert!(
        text.contains("401") && text.contains("Reset Token"),
        "{text}"
    );
    assert!(!text.contains("wrong-token-value"));
    assert_eq!(fake.state.lock().unwrap().connections, 0);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_goes_away_is_reconnecting_then_connected() {
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    a.connected().await;
    // An ordinary close (Discord restarting a node): serenity resumes.
    fake.close(4000, "Unknown error.");
    fake.wait_for("a RESUME", PATIENCE, |st| st.resumes.len() == 1)
        .await;
    a.until("connected again", |e| {
        is_status(e, |s| *s == AdapterStatus::Connected)
    })
    .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_never_answers_is_reported_not_left_connecting() {
    // A port nothing listens on: serenity's queue retries it silently.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", closed.local_addr().unwrap());
    drop(closed);
    let fake = FakeDiscord::start(FakeConfig {
        gateway_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    let mut a = Running::start(options(&fake, proxy(&fake)));
    let st = a
        .until("reconnecting", |e| {
            is_status(e, |s| matches!(s, AdapterStatus::Reconnecting { .. }))
        })
        .await;
    let text = format!("{st:?}");
    assert!(text.contains(&url) && text.contains("no session"), "{text}");
    a.stop().await;
}

// ---- the whole runtime: store, queue and drafts ----

fn live_config(dir: &std::path::Path, fake: &FakeDiscord) -> Config {
    let dead_llm = format!("http://{}", support::fake_ollama::free_addr());
    let text = format!(
        r#"
[discord]
channels = ["{CHANNEL_ID}"]
bot_token = "{TOKEN}"
streamer_user_id = "{STREAMER_ID}"
moderator_roles = ["{MOD_ROLE}"]
vip_roles = ["{VIP_ROLE}"]
api_url = "{api}"
[store]
path = "{db}"
[llm]
url = "{dead_llm}"
timeout_s = 2
retries = 0
[salience]
streamer_names = ["Mika"]
[channel_defaults]
time_delay_s = 0
[attention]
min_dwell_s = 3600
max_dwell_s = 3600
seed = 7
"#,
        api = fake.api_url(),
        db = dir.join("clank.db").display(),
    );
    Config::from_toml(&text).unwrap_or_else(|e| panic!("config: {e}\n{text}"))
}

fn draft_for(u: &Update, message_id: u64) -> Option<Value> {
    let v = update_json(u);
    let id = message_id.to_string();
    (v["event"] == "draft" && v["message_id"].as_str() == Some(id.as_str())).then_some(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_hub_deletes_bans_and_timeouts_purge_store_queue_and_drafts_and_replies_ping_no_one()
 {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    let config = live_config(dir.path(), &fake);
    let store = Store::open(config.db_path(), &config.store).unwrap();
    let built = hub::configured(&config, &store).await.unwrap();
    assert_eq!(built.len(), 1, "discord is configured");
    assert!(
        built[0]
            .warning
            .as_deref()
            .unwrap_or("")
            .contains("rate limiter is off")
    );
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel(1024);
    let hub = Hub::start(
        built.into_iter().map(|b| b.adapter).collect(),
        tx,
        cancel.clone(),
    );
    let mut o = RuntimeOptions::new(config.clone(), store.clone(), rx);
    o.router = hub.router();
    o.auto_send = false;
    o.cancel = cancel.clone();
    let mut rt = runtime::start(o).unwrap();
    let mut seen = Vec::new();
    until(&mut rt.updates, &mut seen, "discord connected", |u| {
        is_event(
            u,
            "health",
            &[("component", "discord"), ("status", "connected")],
        )
    })
    .await;

    let asks = |id: u64, name: &str, text: &str, roles: &[u64]| {
        fake.say(
            CHANNEL_ID,
            viewer(id, name),
            Some(member(roles, false, None)),
            &format!("<@{BOT_ID}> {text}"),
            None,
            vec![],
        )
    };
    let a1 = asks(51, "ana", "how long is the stream today?", &[]);
    let a2 = asks(51, "ana", "and what game is next?", &[]);
    let b1 = asks(52, "bo", "what is your favourite boss?", &[VIP_ROLE]);
    let c1 = asks(53, "cy", "which controller do you use?", &[]);
    let e1 = asks(54, "di", "when is the next collab?", &[]);
    let mut drafts = std::collections::HashMap::new();
    while drafts.len() < 5 {
        let u = until(
            &mut rt.updates,
            &mut seen,
            "a draft for each question",
            |u| {
                [a1, a2, b1, c1, e1]
                    .iter()
                    .any(|m| draft_for(u, *m).is_some())
            },
        )
        .await;
        let v = update_json(&u);
        drafts.insert(
            v["message_id"].as_str().unwrap().to_string(),
            v["id"].as_i64().unwrap(),
        );
    }
    assert_eq!(drafts.len(), 5, "{drafts:?}");
    let stored = store
        .last_messages_async(Platform::Discord, &CHANNEL_ID.to_string(), 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 5);
    assert_eq!(
        stored
            .iter()
            .find(|m| m.id == b1.to_string())
            .unwrap()
            .author
            .roles,
        vec![Role::Vip]
    );
    assert!(
        stored.iter().all(|m| m.text.starts_with("@Mika ")),
        "{stored:?}"
    );

    // A moderator deletes ana's first question, bulk-deletes cy's, bans
    // bo and times out di.
    let ch = CHANNEL_ID.to_string();
    let g = GUILD_ID.to_string();
    fake.dispatch(
        "MESSAGE_DELETE",
        json!({"id": a1.to_string(), "channel_id": ch, "guild_id": g}),
    );
    fake.dispatch(
        "MESSAGE_DELETE_BULK",
        json!({"ids": [c1.to_string()], "channel_id": ch, "guild_id": g}),
    );
    fake.dispatch(
        "GUILD_BAN_ADD",
        json!({"guild_id": g, "user": viewer(52, "bo")}),
    );
    fake.dispatch(
        "GUILD_MEMBER_UPDATE",
        json!({
            "guild_id": g, "roles": [], "user": viewer(54, "di"), "nick": null, "avatar": null,
            "joined_at": "2025-06-01T12:00:00.000000+00:00", "premium_since": null,
            "deaf": false, "mute": false, "pending": false, "flags": 0,
            "communication_disabled_until": ts(chrono::Utc::now() + chrono::Duration::minutes(5)),
        }),
    );
    let mut withdrawn = HashSet::new();
    while withdrawn.len() < 4 {
        let u = until(&mut rt.updates, &mut seen, "withdrawn drafts", |u| {
            is_event(u, "withdrawn", &[])
        })
        .await;
        withdrawn.insert(update_json(&u)["id"].as_i64().unwrap());
    }
    let want: HashSet<i64> = [a1, c1, b1, e1]
        .iter()
        .map(|m| drafts[&m.to_string()])
        .collect();
    assert_eq!(withdrawn, want);
    // The queue holds only ana's second question now.
    let snap = until(&mut rt.updates, &mut seen, "a snapshot after the purge", |u| {
        matches!(u, Update::Snapshot(s) if s.queue.iter().all(|q| q.message.id != c1.to_string()))
    })
    .await;
    let Update::Snapshot(s) = snap else {
        unreachable!()
    };
    let queued: Vec<&str> = s
        .queue
        .iter()
        .filter(|q| q.message.platform == Platform::Discord)
        .map(|q| q.message.id.as_str())
        .collect();
    assert!(queued.iter().all(|id| *id == a2.to_string()), "{queued:?}");

    // The operator puts @everyone and a role ping into ana's answer: the
    // gate takes them out, the payload forbids them anyway, and it replies.
    let id = drafts[&a2.to_string()];
    rt.requests
        .send(Request::Edit(
            id,
            format!("@everyone <@&{OTHER_ROLE}> the next game is a surprise!"),
        ))
        .await
        .unwrap();
    let sent = until(&mut rt.updates, &mut seen, "sent", |u| {
        is_event(u, "sent", &[])
    })
    .await;
    assert_eq!(update_json(&sent)["id"].as_i64(), Some(id));
    cancel.cancel();
    let summary = rt.join.await.unwrap().unwrap();
    hub.join().await;
    assert_eq!(summary.sent, 1);

    let posts = fake.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let body = &posts[0].body;
    let content = body["content"].as_str().unwrap();
    assert!(
        content.contains("the next game is a surprise!"),
        "{content}"
    );
    assert!(
        !content.contains("@everyone") && !content.contains("<@&"),
        "{content}"
    );
    assert_eq!(body["message_reference"]["message_id"], a2.to_string());
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(body["allowed_mentions"]["roles"], json!([]));
    assert_eq!(body["allowed_mentions"]["users"], json!([]));

    let stored = store
        .last_messages_async(Platform::Discord, &ch, 100)
        .await
        .unwrap();
    let ids: Vec<String> = stored.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        ids,
        vec![a2.to_string()],
        "only ana's second question is left"
    );
    let row = store.get_response_async(id).await.unwrap().unwrap();
    assert_eq!(row.status.as_str(), "sent");
}

/// Not a test: the fake Discord for trying the binary by hand, driven from
/// stdin. `cargo test --test discord -- --ignored --nocapture manual_fake`
/// prints the `[discord]` section to use, then takes commands:
/// `say NAME TEXT`, `ask NAME TEXT` (mentions the bot), `mod NAME TEXT`,
/// `reply ID NAME TEXT`, `delete ID`, `ban USER_ID`, `timeout USER_ID SECS`,
/// `reconnect`, `invalid`, `close CODE`, `posts`, `quit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a manual tool, not a test"]
async fn manual_fake() {
    use tokio::io::AsyncBufReadExt;
    let fake = FakeDiscord::start(FakeConfig::default()).await;
    println!(
        "[discord]\nchannels = [\"{CHANNEL_ID}\"]\nbot_token = \"{TOKEN}\"\nstreamer_user_id = \"{STREAMER_ID}\"\nmoderator_roles = [\"{MOD_ROLE}\"]\nvip_roles = [\"{VIP_ROLE}\"]\napi_url = \"{}\"",
        fake.api_url()
    );
    let id_of = |name: &str| 5_000 + name.bytes().map(u64::from).sum::<u64>();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut shown = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        let mut w = line.splitn(3, ' ');
        let (cmd, a, b) = (
            w.next().unwrap_or(""),
            w.next().unwrap_or(""),
            w.next().unwrap_or(""),
        );
        let g = GUILD_ID.to_string();
        let ch = CHANNEL_ID.to_string();
        match cmd {
            "say" | "ask" | "mod" => {
                let roles: &[u64] = if cmd == "mod" { &[MOD_ROLE] } else { &[] };
                let text = if cmd == "ask" {
                    format!("<@{BOT_ID}> {b}")
                } else {
                    b.to_string()
                };
                let id = fake.say(
                    CHANNEL_ID,
                    viewer(id_of(a), a),
                    Some(member(roles, false, None)),
                    &text,
                    None,
                    vec![],
                );
                println!("said {id} (author {})", id_of(a));
            }
            "reply" => {
                let mut r = b.splitn(2, ' ');
                let (name, text) = (r.next().unwrap_or(""), r.next().unwrap_or(""));
                let id = fake.say(
                    CHANNEL_ID,
                    viewer(id_of(name), name),
                    Some(member(&[], false, None)),
                    text,
                    a.parse().ok(),
                    vec![],
                );
                println!("said {id}");
            }
            "delete" => println!(
                "{}",
                fake.dispatch(
                    "MESSAGE_DELETE",
                    json!({"id": a, "channel_id": ch, "guild_id": g})
                )
            ),
            "ban" => println!(
                "{}",
                fake.dispatch(
                    "GUILD_BAN_ADD",
                    json!({"guild_id": g, "user": viewer(a.parse().unwrap_or(1), "banned")})
                )
            ),
            "timeout" => {
                let secs: i64 = b.parse().unwrap_or(60);
                println!("{}", fake.dispatch("GUILD_MEMBER_UPDATE", json!({
                    "guild_id": g, "roles": [], "user": viewer(a.parse().unwrap_or(1), "timed_out"), "nick": null,
                    "avatar": null, "joined_at": "2025-06-01T12:00:00.000000+00:00", "premium_since": null,
                    "deaf": false, "mute": false, "pending": false, "flags": 0,
                    "communication_disabled_until": ts(chrono::Utc::now() + chrono::Duration::seconds(secs)),
                })));
            }
            "reconnect" => fake.reconnect(),
            "invalid" => fake.invalid_session(a == "true"),
            "close" => fake.close(a.parse().unwrap_or(4000), b),
            "posts" => {
                for p in fake.posts().iter().skip(shown) {
                    println!("POST {} -> {}: {}", p.channel, p.status, p.body);
                }
                shown = fake.posts().len();
            }
            "quit" => break,
            _ => println!("?"),
        }
        let st = fake.state.lock().unwrap();
        println!(
            "  (connections {}, identifies {}, resumes {}, heartbeats {}, posts {})",
            st.connections,
            st.identifies.len(),
            st.resumes.len(),
            st.heartbeats,
            st.posts.len()
        );
    }
}
