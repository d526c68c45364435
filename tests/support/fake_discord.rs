//! A loopback fake of the Discord parts clank uses, speaking the real wire
//! formats (API v10, JSON encoding):
//! - REST over HTTP/1.1 (hyper): `GET /api/v10/gateway` and `/gateway/bot`
//!   answering this fake's `ws://127.0.0.1:PORT`, `POST
//!   /api/v10/channels/{id}/messages` recording payloads and answering the
//!   created message (and echoing it on the gateway, as Discord does), 429s
//!   with `Retry-After` / `retry_after`, and error JSON (`{"message","code"}`).
//!   Served twice: plain http (for `HttpBuilder::proxy`) and TLS as
//!   `discord.com` with the test CA in `discord_tls/` (for serenity's own
//!   rate limiter, which only ever calls https://discord.com).
//! - The gateway over WebSocket (tokio-tungstenite): HELLO op 10, IDENTIFY
//!   op 2 (token and intents checked: close 4004 / 4014), READY and
//!   GUILD_CREATE, heartbeat op 1 / ack op 11, dispatches with sequence
//!   numbers, RECONNECT op 7, INVALID_SESSION op 9, RESUME op 6 (replaying
//!   what the client missed, then RESUMED) and close codes on demand.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub const TOKEN: &str = "MTA5ODc2NTQzMjE.fake-bot.token-value";
pub const BOT_ID: u64 = 1098765432100000001;
pub const GUILD_ID: u64 = 1098765432100000100;
pub const OWNER_ID: u64 = 1098765432100000200;
pub const STREAMER_ID: u64 = 1098765432100000201;
/// The configured channel (#stream-chat).
pub const CHANNEL_ID: u64 = 1098765432100000300;
/// A channel of the same guild that is not configured (#off-topic).
pub const OTHER_CHANNEL_ID: u64 = 1098765432100000301;
/// A public thread under [`CHANNEL_ID`], known from GUILD_CREATE.
pub const THREAD_ID: u64 = 1098765432100000302;
pub const MOD_ROLE: u64 = 1098765432100000400;
pub const VIP_ROLE: u64 = 1098765432100000401;
pub const OTHER_ROLE: u64 = 1098765432100000402;

/// Privileged intents: GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
pub const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub token: String,
    pub heartbeat_ms: u64,
    /// Whether the application may use privileged intents (the Developer
    /// Portal switches); `false` closes IDENTIFY with 4014.
    pub allow_privileged: bool,
    /// Whether a posted message comes back as MESSAGE_CREATE on the gateway.
    pub echo_posts: bool,
    /// Whether dispatches are kept for RESUME (a benchmark turns it off so
    /// the fake's memory does not count as the client's).
    pub keep_log: bool,
    /// What `/gateway` answers instead of this fake's own address.
    pub gateway_url: Option<String>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            token: TOKEN.into(),
            heartbeat_ms: 41_250,
            allow_privileged: true,
            echo_posts: true,
            keep_log: true,
            gateway_url: None,
        }
    }
}

/// One `POST /channels/{id}/messages` the fake accepted (or refused).
#[derive(Debug, Clone)]
pub struct Post {
    pub channel: String,
    pub body: Value,
    pub authorization: Option<String>,
    /// The status the fake answered.
    pub status: u16,
    pub tls: bool,
}

struct Session {
    id: String,
    seq: u64,
    /// Every dispatch frame of the session, for RESUME.
    log: Vec<Value>,
}

#[derive(Default)]
pub struct State {
    /// IDENTIFY payloads (`d`), in order.
    pub identifies: Vec<Value>,
    /// RESUME payloads (`d`), in order.
    pub resumes: Vec<Value>,
    pub heartbeats: u64,
    pub connections: u64,
    /// Close codes the fake sent.
    pub closes: Vec<u16>,
    pub posts: Vec<Post>,
    /// REST requests seen: "METHOD /path".
    pub requests: Vec<String>,
    /// The next posts answer 429 with this many seconds to wait.
    pub rate_limit_next: VecDeque<u64>,
    /// The next posts answer this status and error JSON.
    pub post_errors: VecDeque<(u16, Value)>,
    session: Option<Session>,
    /// The live connection's writer, if any.
    conn: Option<mpsc::UnboundedSender<WsMessage>>,
    next_id: u64,
}

impl State {
    /// Whether a session is live (READY or RESUMED sent, connection open).
    pub fn live(&self) -> bool {
        self.conn.is_some() && self.session.is_some()
    }
}

pub struct FakeDiscord {
    pub config: FakeConfig,
    pub state: Arc<Mutex<State>>,
    /// Bumped whenever something happens, to wait without a timer.
    pub ticks: Arc<watch::Sender<u64>>,
    rest: SocketAddr,
    tls: SocketAddr,
    gateway: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A timestamp as Discord writes them.
pub fn ts(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(), "username": name, "discriminator": "0",
        "global_name": name, "avatar": null, "bot": bot, "public_flags": 0,
        "avatar_decoration_data": null, "banner": null, "accent_color": null,
    })
}

/// A viewer in the guild: roles by id, `boosting` sets `premium_since`.
pub fn member(roles: &[u64], boosting: bool, nick: Option<&str>) -> Value {
    json!({
        "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "premium_since": if boosting { Value::from("2026-01-05T10:00:00.000000+00:00") } else { Value::Null },
        "pending": false, "nick": nick, "mute": false, "deaf": false,
        "joined_at": "2025-06-01T12:00:00.000000+00:00", "flags": 0,
        "communication_disabled_until": null, "avatar": null, "banner": null,
    })
}

/// A MESSAGE_CREATE payload as Discord sends it in a guild channel.
pub fn message(
    id: u64,
    channel: u64,
    author: Value,
    member: Option<Value>,
    content: &str,
    reply_to: Option<u64>,
    mentions: Vec<Value>,
) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel.to_string(),
        "guild_id": GUILD_ID.to_string(), "author": author, "content": content,
        "timestamp": ts(chrono::Utc::now()), "edited_timestamp": null, "tts": false,
        "mention_everyone": false, "mentions": mentions, "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false,
        "type": if reply_to.is_some() { 19 } else { 0 }, "flags": 0, "components": [],
        "nonce": null,
    });
    if let Some(member) = member {
        m["member"] = member;
    }
    if let Some(r) = reply_to {
        m["message_reference"] = json!({
            "type": 0, "message_id": r.to_string(), "channel_id": channel.to_string(),
            "guild_id": GUILD_ID.to_string(),
        });
    }
    m
}

fn role(id: u64, name: &str, position: u64) -> Value {
    json!({
        "id": id.to_string(), "name": name, "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false, "icon": null, "unicode_emoji": null, "position": position,
        "permissions": "0", "managed": false, "mentionable": false, "flags": 0,
    })
}

fn text_channel(id: u64, name: &str, position: u64) -> Value {
    json!({
        "id": id.to_string(), "type": 0, "guild_id": GUILD_ID.to_string(), "name": name,
        "position": position, "permission_overwrites": [], "nsfw": false,
        "parent_id": null, "topic": null, "last_message_id": null,
        "rate_limit_per_user": 0, "flags": 0,
    })
}

/// A public thread (type 11) under `parent`.
pub fn thread(id: u64, parent: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(), "type": 11, "guild_id": GUILD_ID.to_string(),
        "parent_id": parent.to_string(), "owner_id": OWNER_ID.to_string(), "name": name,
        "last_message_id": null, "rate_limit_per_user": 0, "flags": 0,
        "message_count": 0, "member_count": 1, "total_message_sent": 0,
        "thread_metadata": {
            "archived": false, "auto_archive_duration": 1440,
            "archive_timestamp": "2026-12-01T10:00:00.000000+00:00", "locked": false,
            "create_timestamp": "2026-12-01T10:00:00.000000+00:00",
        },
    })
}

/// GUILD_CREATE for the test guild: owner, roles, channels and one thread.
pub fn guild_create() -> Value {
    // Two halves: one json! of every field would pass the macro's recursion limit.
    let mut g = json!({
        "id": GUILD_ID.to_string(), "name": "Mika's Den", "icon": null, "icon_hash": null,
        "splash": null, "discovery_splash": null, "owner_id": OWNER_ID.to_string(),
        "afk_channel_id": null, "afk_timeout": 300, "widget_enabled": false,
        "widget_channel_id": null, "verification_level": 1,
        "default_message_notifications": 1, "explicit_content_filter": 2,
        "roles": [
            role(GUILD_ID, "@everyone", 0), role(MOD_ROLE, "Mods", 3),
            role(VIP_ROLE, "VIP", 2), role(OTHER_ROLE, "Artists", 1),
        ],
        "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
        "max_presences": null, "max_members": 500000, "vanity_url_code": null,
    });
    let rest = json!({
        "description": null, "banner": null, "premium_tier": 1,
        "premium_subscription_count": 3, "preferred_locale": "en-US",
        "public_updates_channel_id": null, "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50, "nsfw_level": 0, "stickers": [],
        "premium_progress_bar_enabled": false, "safety_alerts_channel_id": null,
        "incidents_data": null,
        "joined_at": "2026-11-30T09:00:00.000000+00:00", "large": false,
        "unavailable": false, "member_count": 42, "voice_states": [], "members": [],
        "channels": [
            text_channel(CHANNEL_ID, "stream-chat", 0),
            text_channel(OTHER_CHANNEL_ID, "off-topic", 1),
        ],
        "threads": [thread(THREAD_ID, CHANNEL_ID, "boss-strats")],
        "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        "soundboard_sounds": [], "lazy": true,
    });
    if let (Some(g), Value::Object(rest)) = (g.as_object_mut(), rest) {
        g.extend(rest);
    }
    g
}

fn ready(session: &str, resume_url: &str) -> Value {
    json!({
        "v": 10, "user": user(BOT_ID, "clank", true), "guilds": [
            {"id": GUILD_ID.to_string(), "unavailable": true}
        ],
        "session_id": session, "resume_gateway_url": resume_url,
        "session_type": "normal", "shard": [0, 1],
        "application": {"id": BOT_ID.to_string(), "flags": 0},
        "private_channels": [], "relationships": [], "presences": [],
        "guild_join_requests": [], "geo_ordered_rtc_regions": [],
        "user_settings": {}, "_trace": ["[\"fake-gateway\"]"],
    })
}

fn json_response(status: u16, body: &Value, extra: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut r = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    for (k, v) in extra {
        r = r.header(*k, v.as_str());
    }
    r.body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

impl FakeDiscord {
    pub async fn start(config: FakeConfig) -> FakeDiscord {
        let rest = TcpListener::bind("127.0.0.1:0").await.expect("bind rest");
        let tls = TcpListener::bind("127.0.0.1:0").await.expect("bind tls");
        let gw = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let (rest_addr, tls_addr, gw_addr) = (
            rest.local_addr().unwrap(),
            tls.local_addr().unwrap(),
            gw.local_addr().unwrap(),
        );
        let state = Arc::new(Mutex::new(State {
            next_id: 1098765432199000000,
            ..Default::default()
        }));
        let (ticks, _) = watch::channel(0u64);
        let mut fake = FakeDiscord {
            config,
            state,
            ticks: Arc::new(ticks),
            rest: rest_addr,
            tls: tls_addr,
            gateway: gw_addr,
            tasks: Vec::new(),
        };
        let shared = fake.shared();
        fake.tasks
            .push(tokio::spawn(serve_rest(rest, shared.clone(), None)));
        fake.tasks.push(tokio::spawn(serve_rest(
            tls,
            shared.clone(),
            Some(acceptor()),
        )));
        fake.tasks.push(tokio::spawn(serve_gateway(gw, shared)));
        fake
    }

    fn shared(&self) -> Shared {
        Shared {
            config: self.config.clone(),
            state: self.state.clone(),
            ticks: self.ticks.clone(),
            gateway_url: self
                .config
                .gateway_url
                .clone()
                .unwrap_or_else(|| self.gateway_url()),
        }
    }

    /// The REST base for `[discord] api_url` / `HttpBuilder::proxy`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.rest)
    }

    /// The TLS REST listener, to resolve `discord.com` to.
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway)
    }

    /// Sends one dispatch (`t`, `d`) in the current session. Returns false
    /// when there is no session (Discord would not deliver it to anyone).
    /// Without a live connection it is kept for a RESUME, as Discord does.
    pub fn dispatch(&self, t: &str, d: Value) -> bool {
        let ok = self.shared().dispatch(t, d);
        self.ticks.send_modify(|n| *n += 1);
        ok
    }

    /// A viewer's message in `channel` (MESSAGE_CREATE); returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn say(
        &self,
        channel: u64,
        author: Value,
        member: Option<Value>,
        content: &str,
        reply_to: Option<u64>,
        mentions: Vec<Value>,
    ) -> u64 {
        let id = self.next_id();
        let m = message(id, channel, author, member, content, reply_to, mentions);
        assert!(
            self.dispatch("MESSAGE_CREATE", m),
            "no session to say it in"
        );
        id
    }

    pub fn next_id(&self) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        st.next_id
    }

    /// RECONNECT (op 7): the client should reconnect and RESUME.
    pub fn reconnect(&self) {
        self.op_and_drop(json!({"op": 7, "d": null}), true);
    }

    /// INVALID_SESSION (op 9).
    pub fn invalid_session(&self, resumable: bool) {
        self.op_and_drop(json!({"op": 9, "d": resumable}), resumable);
    }

    fn op_and_drop(&self, frame: Value, keep_session: bool) {
        let mut st = self.state.lock().unwrap();
        if let Some(c) = st.conn.take() {
            let _ = c.send(WsMessage::Text(frame.to_string()));
        }
        if !keep_session {
            st.session = None;
        }
        drop(st);
        self.ticks.send_modify(|n| *n += 1);
    }

    /// Closes the live connection with `code` (e.g. 4004, 4014).
    pub fn close(&self, code: u16, reason: &str) {
        let mut st = self.state.lock().unwrap();
        if let Some(c) = st.conn.take() {
            let _ = c.send(close_frame(code, reason));
            st.closes.push(code);
        }
        drop(st);
        self.ticks.send_modify(|n| *n += 1);
    }

    pub fn posts(&self) -> Vec<Post> {
        self.state.lock().unwrap().posts.clone()
    }

    /// Whether a session is live (READY or RESUMED sent, connection open).
    pub fn connected(&self) -> bool {
        self.state.lock().unwrap().live()
    }

    /// Waits until `pred` holds on the state, or panics after `patience`.
    pub async fn wait_for(&self, what: &str, patience: Duration, pred: impl Fn(&State) -> bool) {
        let mut rx = self.ticks.subscribe();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if pred(&self.state.lock().unwrap()) {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                let st = self.state.lock().unwrap();
                panic!(
                    "fake discord: no {what}; identifies {}, resumes {}, connections {}, closes {:?}, requests {:?}",
                    st.identifies.len(),
                    st.resumes.len(),
                    st.connections,
                    st.closes,
                    st.requests
                );
            }
        }
    }
}

fn close_frame(code: u16, reason: &str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    }))
}

#[derive(Clone)]
struct Shared {
    config: FakeConfig,
    state: Arc<Mutex<State>>,
    ticks: Arc<watch::Sender<u64>>,
    gateway_url: String,
}

impl Shared {
    fn tick(&self) {
        self.ticks.send_modify(|n| *n += 1);
    }

    fn dispatch(&self, t: &str, d: Value) -> bool {
        let mut st = self.state.lock().unwrap();
        let Some(session) = st.session.as_mut() else {
            return false;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "t": t, "s": session.seq, "d": d});
        let text = frame.to_string();
        if self.config.keep_log {
            session.log.push(frame);
        }
        if let Some(c) = &st.conn {
            let _ = c.send(WsMessage::Text(text));
        }
        true
    }
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    let certs = rustls_pemfile(include_str!("discord_tls/leaf.pem"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        pem_body(include_str!("discord_tls/leaf.key")).into(),
    );
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("test certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// The DER bytes of the first PEM block.
fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("pem")
}

fn rustls_pemfile(pem: &str) -> Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>> {
    vec![pem_body(pem).into()]
}

async fn serve_rest(listener: TcpListener, shared: Shared, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let is_tls = tls.is_some();
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(rest(req, &shared, is_tls).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                }
                Some(acc) => {
                    if let Ok(stream) = acc.accept(tcp).await {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            }
        });
    }
}

async fn rest(req: Request<Incoming>, shared: &Shared, tls: bool) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    shared
        .state
        .lock()
        .unwrap()
        .requests
        .push(format!("{method} {path}"));
    shared.tick();
    let authorized = auth.as_deref() == Some(&format!("Bot {}", shared.config.token));
    if !authorized {
        return json_response(
            401,
            &json!({"message": "401: Unauthorized", "code": 0}),
            &[],
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v10", "gateway"]) => {
            json_response(200, &json!({"url": shared.gateway_url}), &[])
        }
        ("GET", ["api", "v10", "gateway", "bot"]) => json_response(
            200,
            &json!({
                "url": shared.gateway_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999,
                    "reset_after": 14_400_000, "max_concurrency": 1},
            }),
            &[],
        ),
        ("POST", ["api", "v10", "channels", channel, "messages"]) => {
            post_message(shared, channel, &body, auth, tls)
        }
        _ => json_response(404, &json!({"message": "404: Not Found", "code": 0}), &[]),
    }
}

fn post_message(
    shared: &Shared,
    channel: &str,
    body: &[u8],
    authorization: Option<String>,
    tls: bool,
) -> Response<Full<Bytes>> {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut st = shared.state.lock().unwrap();
    let record = |status: u16, st: &mut State| {
        st.posts.push(Post {
            channel: channel.to_string(),
            body: body.clone(),
            authorization: authorization.clone(),
            status,
            tls,
        })
    };
    if let Some(wait) = st.rate_limit_next.pop_front() {
        record(429, &mut st);
        return json_response(
            429,
            &json!({"message": "You are being rate limited.", "retry_after": wait as f64, "global": false}),
            &[
                ("retry-after", wait.to_string()),
                ("x-ratelimit-limit", "5".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset-after", format!("{wait}.000")),
                ("x-ratelimit-bucket", "fakebucket01".into()),
                ("x-ratelimit-scope", "user".into()),
            ],
        );
    }
    if let Some((status, err)) = st.post_errors.pop_front() {
        record(status, &mut st);
        return json_response(status, &err, &[]);
    }
    record(200, &mut st);
    st.next_id += 1;
    let id = st.next_id;
    drop(st);
    let channel_id: u64 = channel.parse().unwrap_or(0);
    let reply_to = body["message_reference"]["message_id"]
        .as_str()
        .and_then(|s| s.parse().ok());
    let created = message(
        id,
        channel_id,
        user(BOT_ID, "clank", true),
        Some(member(&[], false, None)),
        body["content"].as_str().unwrap_or(""),
        reply_to,
        Vec::new(),
    );
    if shared.config.echo_posts {
        shared.dispatch("MESSAGE_CREATE", created.clone());
    }
    shared.tick();
    json_response(
        200,
        &created,
        &[
            ("x-ratelimit-limit", "5".into()),
            ("x-ratelimit-remaining", "4".into()),
            ("x-ratelimit-reset-after", "1.000".into()),
            ("x-ratelimit-bucket", "fakebucket01".into()),
        ],
    )
}

async fn serve_gateway(listener: TcpListener, shared: Shared) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                gateway_connection(ws, shared).await;
            }
        });
    }
}

async fn gateway_connection(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    shared: Shared,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
    shared.state.lock().unwrap().connections += 1;
    shared.tick();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, WsMessage::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let hello = json!({"op": 10, "d": {"heartbeat_interval": shared.config.heartbeat_ms}, "s": null, "t": null});
    let _ = tx.send(WsMessage::Text(hello.to_string()));
    while let Some(Ok(frame)) = stream.next().await {
        let text = match frame {
            WsMessage::Text(t) => t,
            WsMessage::Close(_) => break,
            _ => continue,
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            let _ = tx.send(close_frame(4002, "Error while decoding payload."));
            break;
        };
        match v["op"].as_u64() {
            Some(1) => {
                shared.state.lock().unwrap().heartbeats += 1;
                let _ = tx.send(WsMessage::Text(json!({"op": 11}).to_string()));
            }
            Some(2) => identify(&shared, &tx, &v["d"]),
            Some(6) => resume(&shared, &tx, &v["d"]),
            _ => {}
        }
        shared.tick();
    }
    // This connection is gone: later dispatches wait in the log for a RESUME.
    {
        let mut st = shared.state.lock().unwrap();
        if st.conn.as_ref().is_some_and(|c| c.same_channel(&tx)) {
            st.conn = None;
        }
    }
    drop(tx);
    let _ = writer.await;
    shared.tick();
}

fn token_ok(shared: &Shared, token: &Value) -> bool {
    let t = token.as_str().unwrap_or("");
    t.strip_prefix("Bot ").unwrap_or(t) == shared.config.token
}

fn identify(shared: &Shared, tx: &mpsc::UnboundedSender<WsMessage>, d: &Value) {
    let mut st = shared.state.lock().unwrap();
    let mut logged = d.clone();
    logged["token"] = json!("<redacted>");
    st.identifies.push(logged);
    if !token_ok(shared, &d["token"]) {
        st.closes.push(4004);
        let _ = tx.send(close_frame(4004, "Authentication failed."));
        return;
    }
    let intents = d["intents"].as_u64().unwrap_or(0);
    if !shared.config.allow_privileged && intents & PRIVILEGED != 0 {
        st.closes.push(4014);
        let _ = tx.send(close_frame(4014, "Disallowed intent(s)."));
        return;
    }
    let n = st.identifies.len();
    st.session = Some(Session {
        id: format!("fake-session-{n}"),
        seq: 0,
        log: Vec::new(),
    });
    st.conn = Some(tx.clone());
    drop(st);
    let id = format!("fake-session-{n}");
    shared.dispatch("READY", ready(&id, &shared.gateway_url));
    shared.dispatch("GUILD_CREATE", guild_create());
}

fn resume(shared: &Shared, tx: &mpsc::UnboundedSender<WsMessage>, d: &Value) {
    let mut st = shared.state.lock().unwrap();
    let mut logged = d.clone();
    logged["token"] = json!("<redacted>");
    st.resumes.push(logged);
    if !token_ok(shared, &d["token"]) {
        st.closes.push(4004);
        let _ = tx.send(close_frame(4004, "Authentication failed."));
        return;
    }
    let seq = d["seq"].as_u64().unwrap_or(0);
    let same = st
        .session
        .as_ref()
        .is_some_and(|s| Some(s.id.as_str()) == d["session_id"].as_str());
    if !same {
        let _ = tx.send(WsMessage::Text(json!({"op": 9, "d": false}).to_string()));
        return;
    }
    // Replay what the client has not seen, then say RESUMED.
    if let Some(s) = &st.session {
        for f in s.log.iter().filter(|f| f["s"].as_u64() > Some(seq)) {
            let _ = tx.send(WsMessage::Text(f.to_string()));
        }
    }
    st.conn = Some(tx.clone());
    drop(st);
    shared.dispatch("RESUMED", json!({"_trace": ["fake-gateway"]}));
}
