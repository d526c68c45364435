//! The hub with two platforms: the real Twitch adapter (built from config,
//! logged in through the fake OAuth, against the fake IRC) beside a test-only
//! adapter serving Discord, a real runtime and a real SQLite file. Chat from
//! both reaches the store, each reply goes out on its own platform and is
//! settled `sent` by that platform, and a Discord adapter that dies shows
//! Discord down while Twitch goes on reading and sending.

mod support;

use std::sync::{Arc, Mutex};

use chrono::Utc;
use clank::adapters::hub::{self, Hub};
use clank::adapters::{AdapterStatus, BoxFuture, Inbound, Outbound, PlatformAdapter, SendVerdict};
use clank::model::{Author, ChatEvent, ChatMessage, Platform};
use clank::runtime::{self, RuntimeOptions};
use clank::session::{Component, Health, Update};
use clank::store::{ResponseStatus, Store};
use support::fake_ollama::{self, Reply};
use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc};
use support::fake_twitch_oauth::{DeviceOutcome, FakeTwitchOAuth};
use support::live::{self, CHANNEL, PATIENCE, is_event, json, until};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const GUILD_CHANNEL: &str = "general";

/// What the test tells its Discord stand-in to do.
enum Wire {
    /// A viewer writes in `#general`.
    Say {
        id: String,
        author: String,
        text: String,
    },
    /// The gateway code hits a bug.
    Panic,
    /// The task ends without being cancelled.
    Return,
}

/// A Discord adapter in miniature: chat comes from the test over a channel,
/// every send is recorded and confirmed, as the real gateway would.
struct TestDiscord {
    wire: mpsc::UnboundedReceiver<Wire>,
    sent: Arc<Mutex<Vec<Outbound>>>,
}

impl PlatformAdapter for TestDiscord {
    fn name(&self) -> &'static str {
        "test discord"
    }

    fn platforms(&self) -> Vec<Platform> {
        vec![Platform::Discord]
    }

    fn run(
        self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        mut outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        let TestDiscord { mut wire, sent } = *self;
        Box::pin(async move {
            let connected = Inbound::Status {
                platform: Platform::Discord,
                channel: None,
                status: AdapterStatus::Connected,
            };
            if inbound.send(connected).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    w = wire.recv() => match w {
                        Some(Wire::Say { id, author, text }) => {
                            let m = ChatMessage {
                                platform: Platform::Discord,
                                channel: GUILD_CHANNEL.into(),
                                id,
                                at: Utc::now(),
                                author: Author {
                                    id: format!("d-{author}"),
                                    name: author,
                                    ..Author::default()
                                },
                                text,
                                paid: None,
                                reply_to: None,
                            };
                            if inbound.send(Inbound::Chat(ChatEvent::Message(m))).await.is_err() {
                                return;
                            }
                        }
                        Some(Wire::Panic) => panic!("gateway heartbeat state corrupted"),
                        Some(Wire::Return) | None => return,
                    },
                    out = outbound.recv() => {
                        let Some(out) = out else { return };
                        let Outbound::Send { draft_id, .. } = &out;
                        let draft_id = *draft_id;
                        sent.lock().unwrap().push(out);
                        let verdict = Inbound::SendResult { draft_id, verdict: SendVerdict::Sent };
                        if inbound.send(verdict).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
    }
}

fn health_is(u: &Update, platform: Platform, want: fn(&Health) -> bool) -> bool {
    matches!(u, Update::Health { component: Component::Platform(p), health } if *p == platform && want(health))
}

fn sent_on(u: &Update, platform: Platform) -> bool {
    is_event(u, "sent", &[("platform", platform.as_str())])
}

/// Every PRIVMSG the client wrote: the message it answers, and the text.
fn privmsgs(irc: &FakeTwitchIrc) -> Vec<(Option<String>, String)> {
    irc.received()
        .iter()
        .map(|r| twitch_irc::message::IRCMessage::parse(&r.line).expect("client sent valid IRC"))
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| {
            assert_eq!(m.params[0], format!("#{CHANNEL}"));
            let parent = m.tags.0.get("reply-parent-msg-id").cloned();
            (parent, m.params[1].clone())
        })
        .collect()
}

async fn two_platforms_then_discord_goes_down(how: Wire, cause: &str) {
    let dir = tempfile::tempdir().unwrap();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let oauth = FakeTwitchOAuth::start(DeviceOutcome::ApproveAfter(0)).await;
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text("the run is going great!"));
    let config = live::config(
        dir.path(),
        &irc.irc_addr(),
        Some(&oauth.base_url()),
        &ollama.url(),
    );
    let store = Store::open(config.db_path(), &config.store).unwrap();
    live::log_in(&oauth, dir.path(), &store).await;

    // Twitch through the hub's own list (config + saved login), Discord by hand.
    let mut built = hub::configured(&config, &store).await.unwrap();
    assert_eq!(built.len(), 1, "twitch is configured");
    let twitch = built.remove(0);
    assert!(twitch.warning.is_none(), "logged in: {:?}", twitch.warning);
    let (wire, wire_rx) = mpsc::unbounded_channel();
    let discord_sent = Arc::new(Mutex::new(Vec::new()));
    let adapters: Vec<Box<dyn PlatformAdapter>> = vec![
        twitch.adapter,
        Box::new(TestDiscord {
            wire: wire_rx,
            sent: discord_sent.clone(),
        }),
    ];
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel(1024);
    let hub = Hub::start(adapters, tx, cancel.clone());
    assert_eq!(
        hub.router().platforms(),
        vec![Platform::Twitch, Platform::Discord]
    );
    let mut o = RuntimeOptions::new(config.clone(), store.clone(), rx);
    o.router = hub.router();
    o.auto_send = true;
    o.snapshots = false;
    o.cancel = cancel.clone();
    let mut rt = runtime::start(o).unwrap();
    let mut seen = Vec::new();

    until(&mut rt.updates, &mut seen, "discord connected", |u| {
        health_is(u, Platform::Discord, |h| *h == Health::Connected)
    })
    .await;
    irc.wait_for("JOIN", 1, PATIENCE).await;
    assert_eq!(
        irc.received_starting("PASS")[0].line,
        format!(
            "PASS oauth:{}",
            oauth
                .state
                .lock()
                .unwrap()
                .valid_access
                .iter()
                .next()
                .unwrap()
        ),
        "twitch logged in with the saved token"
    );

    // One question on each platform: each answer goes back where it came from.
    irc.send(&live::privmsg(
        "tw-1",
        "ana",
        "101",
        "@clank how is the run going?",
    ));
    wire.send(Wire::Say {
        id: "dc-1".into(),
        author: "bo".into(),
        text: "clank, is the boss hard?".into(),
    })
    .unwrap();
    let mut sent = Vec::new();
    while sent.len() < 2 {
        let u = until(&mut rt.updates, &mut seen, "a send on each platform", |u| {
            is_event(u, "sent", &[])
        })
        .await;
        sent.push(json(&u));
    }
    let twitch_sent = sent.iter().find(|s| s["platform"] == "twitch").unwrap();
    let discord_sent_line = sent.iter().find(|s| s["platform"] == "discord").unwrap();
    assert_eq!(twitch_sent["message_id"], "tw-1");
    assert_eq!(discord_sent_line["message_id"], "dc-1");
    assert_eq!(discord_sent_line["channel"], GUILD_CHANNEL);

    // The Twitch reply is on the IRC wire, as a reply to its question, and
    // only there.
    let on_irc = privmsgs(&irc);
    assert_eq!(
        on_irc,
        vec![(
            Some("tw-1".to_string()),
            twitch_sent["text"].as_str().unwrap().to_string()
        )]
    );
    assert!(on_irc[0].1.contains("the run is going great!"));
    // The Discord reply reached the Discord adapter, and only it.
    let d = discord_sent.lock().unwrap().clone();
    assert_eq!(d.len(), 1, "{d:?}");
    let Outbound::Send {
        platform,
        channel,
        text,
        reply_to,
        ..
    } = &d[0];
    assert_eq!(*platform, Platform::Discord);
    assert_eq!(channel, GUILD_CHANNEL);
    assert_eq!(text, discord_sent_line["text"].as_str().unwrap());
    assert_eq!(reply_to.as_deref(), Some("dc-1"));

    // Discord dies; the operator sees it down, and Twitch is not touched.
    wire.send(how).unwrap();
    let down = until(&mut rt.updates, &mut seen, "discord down", |u| {
        health_is(u, Platform::Discord, |h| matches!(h, Health::Down { .. }))
    })
    .await;
    let Update::Health {
        health: Health::Down { reason },
        ..
    } = &down
    else {
        unreachable!()
    };
    assert!(reason.contains(cause), "{reason}");
    irc.send(&live::privmsg(
        "tw-2",
        "cy",
        "103",
        "@clank still with us after that?",
    ));
    let u = until(&mut rt.updates, &mut seen, "a second twitch send", |u| {
        sent_on(u, Platform::Twitch)
    })
    .await;
    let second = json(&u);
    assert_eq!(second["message_id"], "tw-2");
    let on_irc = privmsgs(&irc);
    assert_eq!(on_irc.len(), 2, "{on_irc:?}");
    assert_eq!(
        on_irc[1],
        (
            Some("tw-2".to_string()),
            second["text"].as_str().unwrap().to_string()
        )
    );
    assert!(
        !seen
            .iter()
            .any(|u| health_is(u, Platform::Twitch, |h| matches!(h, Health::Down { .. }))),
        "twitch never went down:\n{}",
        live::log(&seen)
    );

    cancel.cancel();
    let summary = rt.join.await.unwrap().unwrap();
    hub.join().await;
    assert_eq!((summary.sent, summary.refused, summary.failed), (3, 0, 0));

    // The store holds both platforms' chat and every reply settled `sent`.
    let tw = store
        .last_messages_async(Platform::Twitch, CHANNEL, 100)
        .await
        .unwrap();
    let ids: Vec<&str> = tw.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, vec!["tw-1", "tw-2"]);
    let dc = store
        .last_messages_async(Platform::Discord, GUILD_CHANNEL, 100)
        .await
        .unwrap();
    assert_eq!(dc.len(), 1);
    assert_eq!(
        (dc[0].id.as_str(), dc[0].text.as_str()),
        ("dc-1", "clank, is the boss hard?")
    );
    for s in sent.iter().chain([&second]) {
        let row = store
            .get_response_async(s["id"].as_i64().unwrap())
            .await
            .unwrap()
            .expect("reply row");
        assert_eq!(row.status, ResponseStatus::Sent, "{s}");
        assert!(row.sent_at.is_some(), "{s}");
        assert_eq!(row.platform.as_str(), s["platform"].as_str().unwrap());
        assert_eq!(row.response_text, s["text"].as_str().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_platforms_reach_the_store_and_send_on_their_own_then_a_crash_downs_only_discord() {
    two_platforms_then_discord_goes_down(Wire::Panic, "crashed: gateway heartbeat state corrupted")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_returns_on_its_own_is_down_and_twitch_goes_on() {
    two_platforms_then_discord_goes_down(Wire::Return, "the test discord adapter stopped").await;
}
