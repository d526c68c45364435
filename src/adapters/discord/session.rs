//! The Discord adapter's task: runs serenity's gateway client on a thread of
//! its own, turns its events into [`Inbound`] events in arrival order, maps
//! its shard stages to the status the console shows, stops for good on a bad
//! token or a missing intent (with the advice to fix it), and reconnects
//! with backoff otherwise. Sending lives in [`super::send`].
//!
//! Why a thread with a single-threaded runtime: serenity hands every gateway
//! event to its handler in a task of its own (`client/dispatch.rs`). On a
//! multi-threaded runtime two such tasks may run in either order, so a
//! MESSAGE_DELETE could overtake the MESSAGE_CREATE it deletes. A
//! current-thread runtime polls tasks in the order they were spawned, and the
//! handler's first act is a synchronous push into one channel: arrival order
//! is kept.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serenity::all::{
    ClientBuilder, ConnectionStage, Context, EventHandler, GatewayError, GatewayIntents,
    RawEventHandler, ShardStageUpdateEvent,
};
use serenity::async_trait;
use serenity::http::Http;
use serenity::model::event::Event;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::map::{Mapper, Roles};
use super::send::{self, Rest, SendLimits};
use crate::adapters::Backoff;
use crate::adapters::{AdapterStatus, Inbound, Outbound, PlatformAdapter};
use crate::model::Platform;
use crate::secret::Secret;

/// What the bot subscribes to. MESSAGE_CONTENT and GUILD_MEMBERS are
/// privileged: the Developer Portal must switch them on, or Discord closes
/// the connection with 4014.
pub fn intents() -> GatewayIntents {
    // GUILDS: guild owner, role names, threads under the read channels.
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        // GUILD_BAN_ADD.
        | GatewayIntents::GUILD_MODERATION
        // GUILD_MEMBER_UPDATE carries `communication_disabled_until` (timeouts).
        | GatewayIntents::GUILD_MEMBERS
}

/// What to do when Discord closes with 4004 (bad token).
pub const ADVICE_TOKEN: &str = "Discord refused the bot token (close code 4004): copy a fresh token from the Developer Portal (Applications > your app > Bot > Reset Token) into DISCORD_BOT_TOKEN and restart clank";
/// What to do when Discord closes with 4014 (a privileged intent is off).
pub const ADVICE_INTENTS: &str = "Discord refused the intents (close code 4014): in the Developer Portal (Applications > your app > Bot > Privileged Gateway Intents) switch on MESSAGE CONTENT INTENT and SERVER MEMBERS INTENT, then restart clank";

/// Everything the adapter needs to run.
#[derive(Clone)]
pub struct DiscordOptions {
    pub token: Secret,
    /// Channel ids to read (threads under them too).
    pub channels: Vec<u64>,
    pub roles: Roles,
    pub rest: Rest,
    /// `allowed_mentions.replied_user` on replies.
    pub ping_reply_author: bool,
    /// What a mention of the bot or the streamer reads as (the streamer's name).
    pub address_as: Option<String>,
    pub backoff: Backoff,
    pub limits: SendLimits,
    /// How long the gateway may stay silent before the status says so.
    pub connect_patience: Duration,
    pub seed: u64,
}

impl std::fmt::Debug for DiscordOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordOptions")
            .field("token", &self.token)
            .field("channels", &self.channels)
            .field("roles", &self.roles)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

/// The adapter the hub starts.
pub struct DiscordAdapter {
    pub options: DiscordOptions,
}

impl PlatformAdapter for DiscordAdapter {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn platforms(&self) -> Vec<Platform> {
        vec![Platform::Discord]
    }

    fn run(
        self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> crate::adapters::BoxFuture<'static, ()> {
        Box::pin(run(self.options, inbound, outbound, cancel))
    }
}

/// What the gateway thread passes on, in arrival order.
enum Gw {
    Event(Box<Event>),
    /// (old, new)
    Stage(ConnectionStage, ConnectionStage),
}

/// serenity's handler: forwards events and stage changes, nothing else.
/// The push happens before the handler's first await (see the module doc).
struct Forward {
    tx: mpsc::UnboundedSender<Gw>,
}

#[async_trait]
impl RawEventHandler for Forward {
    async fn raw_event(&self, _ctx: Context, ev: Event) {
        let _ = self.tx.send(Gw::Event(Box::new(ev)));
    }
}

#[async_trait]
impl EventHandler for Forward {
    async fn shard_stage_update(&self, _ctx: Context, ev: ShardStageUpdateEvent) {
        let _ = self.tx.send(Gw::Stage(ev.old, ev.new));
    }
}

/// How one run of serenity's client ended.
enum Ended {
    /// Shut down on cancel.
    Cancelled,
    /// A close code that reconnecting cannot fix; the reason says what can.
    Fatal(String),
    /// Anything else: worth another try after a backoff.
    Lost(String),
}

async fn status(inbound: &mpsc::Sender<Inbound>, status: AdapterStatus) {
    let _ = inbound
        .send(Inbound::Status {
            platform: Platform::Discord,
            channel: None,
            status,
        })
        .await;
}

/// The adapter's task body: see the module doc. Returns only on cancel.
pub async fn run(
    options: DiscordOptions,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<Outbound>,
    cancel: CancellationToken,
) {
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let sender = tokio::spawn(send::run(
        options.rest.build(&options.token, Some(notice_tx)),
        outbound,
        notice_rx,
        inbound.clone(),
        options.limits,
        options.ping_reply_author,
        cancel.clone(),
    ));
    let mut mapper = Mapper::new(
        &options.channels,
        &options.roles,
        options.address_as.clone(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut attempt: u32 = 0;
    loop {
        status(&inbound, AdapterStatus::Connecting).await;
        let ended = tokio::select! {
            _ = cancel.cancelled() => Ended::Cancelled,
            e = connect_once(&options, &mut mapper, &inbound, &cancel, &mut attempt) => e,
        };
        match ended {
            Ended::Cancelled => break,
            Ended::Fatal(reason) => {
                tracing::error!(platform = "discord", "{reason}");
                status(&inbound, AdapterStatus::Down { reason }).await;
                // No reconnect loop: only the operator can fix this. Sends
                // still get their verdicts meanwhile.
                cancel.cancelled().await;
                break;
            }
            Ended::Lost(reason) => {
                let wait = options.backoff.delay(attempt, &mut rng);
                attempt = attempt.saturating_add(1);
                tracing::warn!(platform = "discord", "{reason}; retrying in {wait:?}");
                status(
                    &inbound,
                    AdapterStatus::Reconnecting {
                        in_s: wait.as_secs().max(1),
                        reason,
                    },
                )
                .await;
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    let _ = sender.await;
}

/// One gateway session, from asking for the gateway's address to serenity's
/// client returning.
async fn connect_once(
    options: &DiscordOptions,
    mapper: &mut Mapper,
    inbound: &mpsc::Sender<Inbound>,
    cancel: &CancellationToken,
    attempt: &mut u32,
) -> Ended {
    let http = options.rest.build(&options.token, None);
    // Asked here first because serenity, when this fails, falls back to
    // Discord's public gateway: a loopback setup must never send its token there.
    let url = match http.get_gateway().await {
        Ok(g) => g.url,
        Err(e) => return ended_by_rest(&e),
    };
    if let Err(why) = gateway_url_ok(&url) {
        return Ended::Fatal(why);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = cancel.child_token();
    let mut done = match spawn_gateway(http, tx, stop.clone()) {
        Ok(d) => d,
        Err(e) => return Ended::Lost(format!("could not start the gateway thread: {e}")),
    };
    // Events until the thread drops its sender; then how it ended.
    // serenity retries a shard that cannot connect every 5 s without
    // telling anyone, so a gateway that stays silent is said out loud.
    let mut up = false;
    let mut told = false;
    let mut silent_until = tokio::time::Instant::now() + options.connect_patience;
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                if let Gw::Stage(_, new) = &msg {
                    up = *new == ConnectionStage::Connected;
                    if !up {
                        silent_until = tokio::time::Instant::now() + options.connect_patience;
                        told = false;
                    }
                }
                handle(msg, mapper, inbound, attempt).await;
            }
            _ = tokio::time::sleep_until(silent_until), if !up && !told => {
                told = true;
                status(inbound, AdapterStatus::Reconnecting {
                    in_s: 5,
                    reason: format!(
                        "no session with the gateway at {url} after {} s; serenity retries every 5 s",
                        options.connect_patience.as_secs()
                    ),
                })
                .await;
            }
        }
    }
    let ended = (&mut done)
        .await
        .unwrap_or_else(|_| Ended::Lost("the gateway thread stopped".into()));
    stop.cancel();
    ended
}

async fn handle(msg: Gw, mapper: &mut Mapper, inbound: &mpsc::Sender<Inbound>, attempt: &mut u32) {
    match msg {
        Gw::Event(ev) => {
            for out in mapper.map(*ev, chrono::Utc::now()) {
                if inbound.send(out).await.is_err() {
                    return;
                }
            }
        }
        Gw::Stage(old, new) => {
            // serenity sets Resuming and leaves it within one step of its
            // shard loop, so a resume only shows as the stage it came from:
            // say it then, before the new stage.
            if old == ConnectionStage::Resuming && new != ConnectionStage::Resuming {
                status(
                    inbound,
                    AdapterStatus::Reconnecting {
                        in_s: 0,
                        reason: "resuming the session; Discord replays what was missed".into(),
                    },
                )
                .await;
            }
            let st = match new {
                ConnectionStage::Connected => {
                    *attempt = 0;
                    AdapterStatus::Connected
                }
                ConnectionStage::Resuming => AdapterStatus::Reconnecting {
                    in_s: 0,
                    reason: "resuming the session".into(),
                },
                ConnectionStage::Disconnected => AdapterStatus::Reconnecting {
                    // serenity's shard queue waits up to 5 s between starts.
                    in_s: 5,
                    reason: "the gateway connection closed".into(),
                },
                _ => AdapterStatus::Connecting,
            };
            status(inbound, st).await;
        }
    }
}

/// Starts serenity's client on its own thread and current-thread runtime.
/// The receiver yields how it ended; the event channel closes just before.
fn spawn_gateway(
    http: Http,
    tx: mpsc::UnboundedSender<Gw>,
    stop: CancellationToken,
) -> std::io::Result<oneshot::Receiver<Ended>> {
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("discord-gateway".into())
        .spawn(move || {
            let ended = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(gateway(http, tx, stop)),
                Err(e) => Ended::Lost(format!("could not start the gateway runtime: {e}")),
            };
            let _ = done_tx.send(ended);
        })?;
    Ok(done_rx)
}

async fn gateway(http: Http, tx: mpsc::UnboundedSender<Gw>, stop: CancellationToken) -> Ended {
    let client = ClientBuilder::new_with_http(http, intents())
        .raw_event_handler(Forward { tx: tx.clone() })
        .event_handler(Forward { tx })
        .await;
    let mut client = match client {
        Ok(c) => c,
        Err(e) => return Ended::Lost(format!("could not set up the gateway client: {e}")),
    };
    let manager = Arc::clone(&client.shard_manager);
    tokio::select! {
        r = client.start() => match r {
            Ok(()) => Ended::Lost("the gateway client stopped".into()),
            Err(serenity::Error::Gateway(e)) => ended_by_gateway(&e),
            Err(e) => Ended::Lost(format!("gateway: {e}")),
        },
        _ = stop.cancelled() => {
            // Say goodbye with a close frame, but never hang shutdown on it.
            let _ = tokio::time::timeout(Duration::from_secs(2), manager.shutdown_all()).await;
            Ended::Cancelled
        }
    }
}

fn ended_by_gateway(e: &GatewayError) -> Ended {
    match e {
        GatewayError::InvalidAuthentication => Ended::Fatal(ADVICE_TOKEN.into()),
        GatewayError::DisallowedGatewayIntents => Ended::Fatal(ADVICE_INTENTS.into()),
        GatewayError::InvalidGatewayIntents => Ended::Fatal(format!(
            "Discord says the intents are invalid (close code 4013): {e}"
        )),
        other => Ended::Lost(format!("gateway: {other}")),
    }
}

fn ended_by_rest(e: &serenity::Error) -> Ended {
    match send::status_of(e) {
        Some(401) => Ended::Fatal(
            "Discord refused the bot token (401 on /gateway): copy a fresh token from the Developer Portal (Applications > your app > Bot > Reset Token) into DISCORD_BOT_TOKEN and restart clank".into(),
        ),
        _ => Ended::Lost(format!("asking for the gateway address: {}", send::describe(e))),
    }
}

/// The gateway address from the REST answer must be encrypted unless it is
/// a loopback fake: the token goes over it in IDENTIFY.
pub fn gateway_url_ok(url: &str) -> Result<(), String> {
    if url.starts_with("wss://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("ws://") {
        let host_port = rest.split(['/', '?']).next().unwrap_or("");
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
    }
    Err(format!(
        "the API answered the gateway address {url:?}; only wss://, or ws:// to a loopback address, is accepted"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_in_clear_only_to_loopback() {
        assert!(gateway_url_ok("wss://gateway.discord.gg").is_ok());
        assert!(gateway_url_ok("ws://127.0.0.1:4000").is_ok());
        assert!(gateway_url_ok("ws://[::1]:4000/?v=10").is_ok());
        let e = gateway_url_ok("ws://gateway.example:80").unwrap_err();
        assert!(e.contains("gateway.example"), "{e}");
        assert!(gateway_url_ok("http://127.0.0.1").is_err());
    }

    #[test]
    fn intents_include_the_privileged_ones_the_readme_names() {
        let i = intents();
        assert!(i.contains(GatewayIntents::MESSAGE_CONTENT));
        assert!(i.contains(GatewayIntents::GUILD_MEMBERS));
        assert!(i.contains(GatewayIntents::GUILD_MODERATION));
        assert!(!i.contains(GatewayIntents::GUILD_PRESENCES));
    }
}
