//! Wire-level tests of the Twitch adapter against the loopback fake IRC
//! server: handshake, the real nymn capture, moderation events, reconnects
//! with backoff (virtual time), PING handling, safe and rate-limited sends,
//! anonymous read-only mode and a revoked token.

mod support;

use std::sync::Arc;
use std::time::Duration;

use clank::adapters::twitch::{Endpoint, TwitchHandle, TwitchOptions, spawn};
use clank::adapters::{AdapterStatus, Inbound, NoticeKind, SendRejection, SendVerdict};
use clank::auth::{CredentialSource, Credentials, StaticCredentials};
use clank::model::ChatEvent;
use clank::secret::Secret;
use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc, Received, spawn_time_ticker};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FIXTURE: &str = include_str!("fixtures/twitch-nymn.irc");
const TOKEN: &str = "s3cr3t-irc-t0ken";
const LIMIT: Duration = Duration::from_secs(3600);

struct Running {
    fake: FakeTwitchIrc,
    rx: mpsc::Receiver<Inbound>,
    handle: TwitchHandle,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    ticker: tokio::task::JoinHandle<()>,
}

fn creds() -> Arc<dyn CredentialSource> {
    Arc::new(StaticCredentials(Credentials {
        login: "clankbot".into(),
        token: Secret::new(TOKEN),
    }))
}

async fn start(
    config: FakeConfig,
    channels: &[&str],
    credentials: Option<Arc<dyn CredentialSource>>,
) -> Running {
    let ticker = spawn_time_ticker(Duration::from_millis(50));
    let fake = FakeTwitchIrc::start(config).await;
    let endpoint = Endpoint::from_config(&fake.irc_addr(), false).unwrap();
    let mut opts = TwitchOptions::new(channels.iter().map(|c| c.to_string()).collect(), endpoint);
    opts.seed = 42;
    // Confirmation by timeout is not under test here; a long one keeps a
    // refusal NOTICE from racing it on a loaded machine.
    opts.confirm_timeout = Duration::from_secs(120);
    let (tx, rx) = mpsc::channel(8192);
    let cancel = CancellationToken::new();
    let (handle, task) = spawn(opts, credentials, tx, cancel.clone());
    Running {
        fake,
        rx,
        handle,
        cancel,
        task,
        ticker,
    }
}

/// Receives events until `pred` holds for one; returns all of them.
async fn until(rx: &mut mpsc::Receiver<Inbound>, pred: impl Fn(&Inbound) -> bool) -> Vec<Inbound> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                let done = pred(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
            Ok(None) => panic!("adapter stopped; saw {seen:#?}"),
            Err(_) => panic!("timed out; saw {seen:#?}"),
        }
    }
}

fn is_status(ev: &Inbound, want: fn(&AdapterStatus) -> bool) -> bool {
    matches!(ev, Inbound::Status { channel: None, status, .. } if want(status))
}

/// The text parameter of a PRIVMSG line, however it was framed.
fn text_of(r: &Received) -> String {
    let m = twitch_irc::message::IRCMessage::parse(&r.line).expect("client sent valid IRC");
    m.params.get(1).cloned().unwrap_or_default()
}

async fn stop(r: Running) {
    r.cancel.cancel();
    r.task.await.unwrap();
    r.ticker.abort();
}

#[tokio::test(start_paused = true)]
async fn handshake_capture_and_moderation_events() {
    let mut r = start(FakeConfig::default(), &["nymn", "MikaVT"], Some(creds())).await;
    let joins = r.fake.wait_for("JOIN", 1, LIMIT).await;
    let lines: Vec<String> = r.fake.received().into_iter().map(|x| x.line).collect();
    assert_eq!(lines[0], "CAP REQ :twitch.tv/tags twitch.tv/commands");
    assert_eq!(lines[1], format!("PASS oauth:{TOKEN}"));
    assert_eq!(lines[2], "NICK clankbot");
    assert_eq!(joins[0].line, "JOIN #nymn,#mikavt");

    let seen = until(&mut r.rx, |e| {
        matches!(e, Inbound::Status { channel: Some(c), status: AdapterStatus::Connected, .. } if c == "mikavt")
    })
    .await;
    assert!(is_status(&seen[0], |s| *s == AdapterStatus::Connecting));
    assert!(
        seen.iter()
            .any(|e| is_status(e, |s| *s == AdapterStatus::Connected))
    );

    for line in FIXTURE.lines() {
        r.fake.send(line);
    }
    r.fake.send("@login=jontemillian;room-id=;target-msg-id=8f921b5d-29b1-4c70-bc87-7a88a9d32ba8;tmi-sent-ts=1704558200000 :tmi.twitch.tv CLEARMSG #nymn :forsenParty");
    r.fake.send("@room-id=62300805;target-user-id=51967700;tmi-sent-ts=1704558201000 :tmi.twitch.tv CLEARCHAT #nymn :patixxl");
    r.fake.send("@ban-duration=600;room-id=62300805;target-user-id=474204887;tmi-sent-ts=1704558202000 :tmi.twitch.tv CLEARCHAT #nymn :mnqn18");
    r.fake
        .send("@room-id=1;tmi-sent-ts=1704558203000 :tmi.twitch.tv CLEARCHAT #mikavt");
    r.fake.send("@badge-info=;badges=;color=;display-name=BigStreamer;emotes=;flags=;id=r1;login=bigstreamer;mod=0;msg-id=raid;msg-param-displayName=BigStreamer;msg-param-login=bigstreamer;msg-param-profileImageURL=x;msg-param-viewerCount=321;room-id=1;subscriber=0;system-msg=321\\sraiders;tmi-sent-ts=1704558204000;user-id=99;user-type= :tmi.twitch.tv USERNOTICE #mikavt");
    r.fake.send("@msg-id=msg_ratelimit :tmi.twitch.tv NOTICE #mikavt :Your message was not sent because you are sending messages too quickly.");

    let seen = until(&mut r.rx, |e| matches!(e, Inbound::Notice { .. })).await;
    let ids: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Message(m)) => Some(m.id.as_str()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = FIXTURE
        .lines()
        .filter(|l| l.contains(" PRIVMSG "))
        .filter_map(|l| l.split(";id=").nth(1).or_else(|| l.strip_prefix("@id=")))
        .map(|rest| rest.split([';', ' ']).next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 798, "every PRIVMSG of the capture arrives");
    assert_eq!(ids, expected, "in order");
    let bans: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Ban {
                author_id,
                duration_s,
                channel,
                ..
            }) => Some((author_id.as_str(), *duration_s, channel.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        bans,
        vec![
            ("423574282", Some(180), "nymn"),
            ("31034458", Some(180), "nymn"),
            ("51967700", None, "nymn"),
            ("474204887", Some(600), "nymn"),
        ]
    );
    assert!(seen.iter().any(|e| matches!(e, Inbound::Chat(ChatEvent::Delete { id, .. }) if id == "8f921b5d-29b1-4c70-bc87-7a88a9d32ba8")));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Inbound::ChatCleared { channel, .. } if channel == "mikavt"))
    );
    assert!(
        seen.iter().any(
            |e| matches!(e, Inbound::Raid { from, viewers: 321, .. } if from == "BigStreamer")
        )
    );
    assert!(matches!(
        seen.last(),
        Some(Inbound::Notice {
            kind: NoticeKind::RateLimited,
            ..
        })
    ));
    stop(r).await;
}

#[tokio::test(start_paused = true)]
async fn reconnects_with_capped_jittered_backoff_and_rejoins() {
    let mut r = start(FakeConfig::default(), &["mikavt"], Some(creds())).await;
    r.fake.wait_for("JOIN", 1, LIMIT).await;

    // Three drops in a row: each wait lies in [d/2, d] for d = 1, 2, 4 s.
    for (i, full) in [1u64, 2, 4].into_iter().enumerate() {
        let dropped_at = Instant::now();
        r.fake.drop_connections();
        let seen = until(&mut r.rx, |e| {
            is_status(e, |s| matches!(s, AdapterStatus::Reconnecting { .. }))
        })
        .await;
        let Some(Inbound::Status {
            status: AdapterStatus::Reconnecting { in_s, reason },
            ..
        }) = seen.last()
        else {
            unreachable!()
        };
        assert!(*in_s <= full && *in_s >= 1, "attempt {i}: in_s {in_s}");
        assert!(reason.contains("closed"), "{reason}");
        let caps = r.fake.wait_for("CAP REQ", i + 2, LIMIT).await;
        let waited = caps[i + 1].at - dropped_at;
        // The close is seen at the next read, which the read pacing may
        // hold back up to 100 ms after the last one; 100 ms more of slack.
        assert!(
            waited >= Duration::from_millis(full * 500)
                && waited <= Duration::from_millis(full * 1000 + 200),
            "attempt {i}: waited {waited:?}"
        );
        let joins = r.fake.wait_for("JOIN", i + 2, LIMIT).await;
        assert_eq!(joins[i + 1].conn, i + 2, "rejoined on the new connection");
    }

    // Messages on the new connection arrive.
    r.fake.send("@badges=;display-name=Rin;id=after-1;room-id=1;tmi-sent-ts=1704558300000;user-id=11 :rin!rin@rin.tmi.twitch.tv PRIVMSG #mikavt :back?");
    until(
        &mut r.rx,
        |e| matches!(e, Inbound::Chat(ChatEvent::Message(m)) if m.id == "after-1"),
    )
    .await;

    // The server's PING is answered.
    r.fake.send("PING :tmi.twitch.tv");
    r.fake.wait_for("PONG", 1, LIMIT).await;

    // RECONNECT: a prompt reconnect, then the cap holds after many failures.
    r.fake.send(":tmi.twitch.tv RECONNECT");
    let seen = until(&mut r.rx, |e| {
        is_status(e, |s| matches!(s, AdapterStatus::Reconnecting { .. }))
    })
    .await;
    assert!(
        matches!(seen.last(), Some(Inbound::Status { status: AdapterStatus::Reconnecting { in_s: 1, reason }, .. }) if reason.contains("asked"))
    );
    r.fake.wait_for("JOIN", 5, LIMIT).await;
    stop(r).await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_is_detected_by_ping_timeout() {
    let mut r = start(
        FakeConfig {
            answer_ping: false,
            ..Default::default()
        },
        &["mikavt"],
        Some(creds()),
    )
    .await;
    r.fake.wait_for("JOIN", 1, LIMIT).await;
    let t0 = Instant::now();
    let seen = until(&mut r.rx, |e| {
        is_status(e, |s| matches!(s, AdapterStatus::Reconnecting { .. }))
    })
    .await;
    let Some(Inbound::Status {
        status: AdapterStatus::Reconnecting { reason, .. },
        ..
    }) = seen.last()
    else {
        unreachable!()
    };
    assert!(reason.contains("PING"), "{reason}");
    let pings = r.fake.received_starting("PING");
    assert_eq!(pings.len(), 1, "{:#?}", r.fake.received());
    // 60 s of silence, then 10 s for the PONG.
    assert!(Instant::now() - t0 >= Duration::from_secs(70));
    stop(r).await;
}

async fn send_many(h: &TwitchHandle, n: i64, channel: &str) {
    for i in 0..n {
        h.send(i, channel, &format!("answer number {i}"), None)
            .await
            .unwrap();
    }
}

fn max_in_30s(times: &[Instant]) -> usize {
    times
        .iter()
        .map(|&s| {
            times
                .iter()
                .filter(|&&t| t >= s && t < s + Duration::from_secs(30))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The next `n` verdicts; `Ok` only for `Sent` (the platform accepted it).
async fn results(
    rx: &mut mpsc::Receiver<Inbound>,
    n: usize,
) -> Vec<(i64, Result<(), SendRejection>)> {
    let mut out = Vec::new();
    while out.len() < n {
        let ev = until(rx, |e| matches!(e, Inbound::SendResult { .. })).await;
        if let Some(Inbound::SendResult { draft_id, verdict }) = ev.last() {
            let r = match verdict {
                SendVerdict::Sent => Ok(()),
                SendVerdict::Refused(r) => Err(r.clone()),
                other => Err(SendRejection::Platform(other.to_string())),
            };
            out.push((*draft_id, r));
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn sends_respect_the_rate_limit_and_never_start_with_a_command() {
    let mut r = start(FakeConfig::default(), &["mikavt"], Some(creds())).await;
    until(&mut r.rx, |e| {
        matches!(
            e,
            Inbound::Status {
                channel: Some(_),
                ..
            }
        )
    })
    .await;
    for (id, bad) in [
        (900, "/ban rin"),
        (901, ".timeout rin 600"),
        (902, "   /mod rin"),
        (903, "\n/ban rin"),
    ] {
        r.handle.send(id, "mikavt", bad, None).await.unwrap();
    }
    r.handle.send(904, "othercan", "hello", None).await.unwrap();
    r.handle
        .send(905, "mikavt", "hi\r\nPRIVMSG #mikavt :/ban rin", None)
        .await
        .unwrap();
    send_many(&r.handle, 45, "mikavt").await;
    let res = results(&mut r.rx, 51).await;
    for id in 900..904 {
        assert!(
            res.iter()
                .any(|(d, x)| *d == id && matches!(x, Err(SendRejection::Refused(_)))),
            "{id}: {res:?}"
        );
    }
    assert!(
        res.iter()
            .any(|(d, x)| *d == 904 && matches!(x, Err(SendRejection::UnknownChannel(_))))
    );
    assert_eq!(res.iter().filter(|(_, x)| x.is_ok()).count(), 46, "{res:?}");

    let sent = r.fake.received_starting("PRIVMSG");
    assert_eq!(sent.len(), 46);
    for s in &sent {
        let t = text_of(s);
        assert!(!t.starts_with('/') && !t.starts_with('.'), "{t:?}");
    }
    assert!(
        sent.iter()
            .any(|s| text_of(s) == "hi  PRIVMSG #mikavt :/ban rin"),
        "line break neutralised"
    );
    let times: Vec<Instant> = sent.iter().map(|s| s.at).collect();
    let max = max_in_30s(&times);
    assert!((15..=20).contains(&max), "at most 20 per 30 s, got {max}");
    stop(r).await;
}

#[tokio::test(start_paused = true)]
async fn a_moderator_bot_may_send_faster_but_within_100_per_30s() {
    let mut r = start(
        FakeConfig {
            bot_badges: "moderator/1".into(),
            ..Default::default()
        },
        &["mikavt"],
        Some(creds()),
    )
    .await;
    until(&mut r.rx, |e| {
        matches!(
            e,
            Inbound::SelfState {
                privileged: true,
                ..
            }
        )
    })
    .await;
    send_many(&r.handle, 150, "mikavt").await;
    let res = results(&mut r.rx, 150).await;
    assert!(res.iter().all(|(_, x)| x.is_ok()));
    let times: Vec<Instant> = r
        .fake
        .received_starting("PRIVMSG")
        .iter()
        .map(|s| s.at)
        .collect();
    let max = max_in_30s(&times);
    assert!(max > 20 && max <= 100, "privileged window max {max}");
    stop(r).await;
}

#[tokio::test(start_paused = true)]
async fn slow_mode_duplicates_and_refusals_are_respected_and_reported() {
    let mut r = start(
        FakeConfig {
            slow_s: 10,
            ..Default::default()
        },
        &["mikavt"],
        Some(creds()),
    )
    .await;
    until(&mut r.rx, |e| {
        matches!(
            e,
            Inbound::RoomState {
                slow_mode_s: Some(10),
                ..
            }
        )
    })
    .await;
    r.handle.send(1, "mikavt", "first", None).await.unwrap();
    r.handle
        .send(2, "mikavt", "second", Some("parent-id-7"))
        .await
        .unwrap();
    r.handle.send(3, "mikavt", "first", None).await.unwrap();
    let res = results(&mut r.rx, 3).await;
    assert!(res.contains(&(3, Err(SendRejection::Duplicate))), "{res:?}");
    let sent = r.fake.received_starting("PRIVMSG #mikavt");
    assert_eq!(text_of(&sent[0]), "first");
    let tagged = r
        .fake
        .received_starting("@reply-parent-msg-id=parent-id-7 PRIVMSG #mikavt");
    assert_eq!(
        (sent.len(), tagged.len()),
        (1, 1),
        "{:?}",
        r.fake.received()
    );
    assert_eq!(text_of(&tagged[0]), "second");
    let gap = tagged[0].at - sent[0].at;
    assert!(gap >= Duration::from_secs(10), "slow mode gap {gap:?}");

    // A refusal by NOTICE is reported on the draft and never resent.
    r.fake.config(|c| {
        c.refuse_next
            .push_back(("msg_ratelimit".into(), "too quickly".into()))
    });
    r.handle.send(4, "mikavt", "third", None).await.unwrap();
    let res = results(&mut r.rx, 1).await;
    assert!(
        matches!(&res[0], (4, Err(SendRejection::RateLimited(t))) if t.contains("too quickly")),
        "{res:?}"
    );
    tokio::time::sleep(Duration::from_secs(300)).await;
    let thirds = r
        .fake
        .received()
        .iter()
        .filter(|x| x.line.contains("PRIVMSG") && text_of(x) == "third")
        .count();
    assert_eq!(thirds, 1, "not retried");
    // The operator's retry of the refused text is not a duplicate: it was
    // never in chat, so it goes out and Twitch accepts it.
    r.handle.send(5, "mikavt", "third", None).await.unwrap();
    let res = results(&mut r.rx, 1).await;
    assert_eq!(res, vec![(5, Ok(()))]);
    stop(r).await;
}

#[tokio::test(start_paused = true)]
async fn without_a_token_it_reads_anonymously_and_refuses_sends() {
    let mut r = start(FakeConfig::default(), &["mikavt"], None).await;
    r.fake.wait_for("JOIN", 1, LIMIT).await;
    let lines = r.fake.received();
    assert!(lines.iter().all(|l| !l.line.starts_with("PASS")));
    let nick = lines.iter().find(|l| l.line.starts_with("NICK")).unwrap();
    assert!(nick.line.starts_with("NICK justinfan"), "{}", nick.line);
    let seen = until(&mut r.rx, |e| {
        is_status(e, |s| matches!(s, AdapterStatus::ReadOnly { .. }))
    })
    .await;
    assert!(
        !seen
            .iter()
            .any(|e| is_status(e, |s| *s == AdapterStatus::Connected))
    );
    r.fake.send("@badges=;display-name=Rin;id=ro-1;room-id=1;tmi-sent-ts=1704558300000;user-id=11 :rin!rin@rin.tmi.twitch.tv PRIVMSG #mikavt :hello lurker");
    until(
        &mut r.rx,
        |e| matches!(e, Inbound::Chat(ChatEvent::Message(m)) if m.id == "ro-1"),
    )
    .await;
    r.handle.send(1, "mikavt", "hi", None).await.unwrap();
    assert_eq!(
        results(&mut r.rx, 1).await,
        vec![(1, Err(SendRejection::ReadOnly))]
    );
    assert!(r.fake.received_starting("PRIVMSG").is_empty());
    stop(r).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_drops_to_read_only_without_a_crash_loop() {
    let mut cfg = FakeConfig::default();
    cfg.rejected_tokens.insert(TOKEN.into());
    let mut r = start(cfg, &["mikavt"], Some(creds())).await;
    let seen = until(&mut r.rx, |e| {
        is_status(e, |s| matches!(s, AdapterStatus::ReadOnly { .. }))
    })
    .await;
    let Some(Inbound::Status {
        status: AdapterStatus::ReadOnly { reason },
        ..
    }) = seen.last()
    else {
        unreachable!()
    };
    assert!(reason.contains("clank login twitch"), "{reason}");
    assert!(!reason.contains(TOKEN));
    // Ten minutes later it is still connected once, read-only, not looping.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(r.fake.connections(), 2);
    assert_eq!(r.fake.received_starting("PASS").len(), 1);
    stop(r).await;
}

/// With TLS on, nothing readable reaches the server before a TLS handshake:
/// a plain-text server sees no `CAP`/`PASS` line and the attempt fails with
/// a status, not a crash.
#[tokio::test(start_paused = true)]
async fn tls_is_really_used_and_a_failed_handshake_is_a_status() {
    let ticker = spawn_time_ticker(Duration::from_millis(50));
    let fake = FakeTwitchIrc::start(FakeConfig::default()).await;
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: fake.addr().port(),
        tls: Some(clank::adapters::twitch::connect::default_tls_config().unwrap()),
    };
    let opts = TwitchOptions::new(vec!["mikavt".into()], endpoint);
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let (_h, task) = spawn(opts, Some(creds()), tx, cancel.clone());
    let seen = until(&mut rx, |e| {
        is_status(e, |s| matches!(s, AdapterStatus::Reconnecting { .. }))
    })
    .await;
    let Some(Inbound::Status {
        status: AdapterStatus::Reconnecting { reason, .. },
        ..
    }) = seen.last()
    else {
        unreachable!()
    };
    assert!(reason.contains("127.0.0.1"), "{reason}");
    assert!(!reason.contains(TOKEN));
    let received = fake.received();
    assert!(
        !received
            .iter()
            .any(|r| r.line.contains("CAP REQ") || r.line.contains(TOKEN))
    );
    cancel.cancel();
    task.await.unwrap();
    ticker.abort();
}
