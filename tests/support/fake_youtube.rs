//! A loopback fake of the YouTube Data API v3 calls clank makes: videos.list
//! (`liveStreamingDetails.activeLiveChatId`), liveChatMessages.list (pages
//! with `nextPageToken`, `pollingIntervalMillis`, `offlineAt`) and
//! liveChatMessages.insert, with Google's error JSON (`error.errors[0].reason`);
//! the server-streaming `liveChat/messages/stream` (a JSON array whose
//! elements are written as chat arrives, then the connection drops);
//! `channels.list` (`mine`, `forHandle`), `liveBroadcasts.list`
//! (`broadcastStatus=active`) and `search.list` (`eventType=live`); and
//! Google's OAuth device flow (`/device/code`, `/token`, with Google's
//! status codes and RFC 8628 error names) and refresh, on the same port.
//! Real HTTP/1.1 on tokio, one request per connection. The page token is
//! "p<index>": the position in the chat's history the next page starts at.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// What videos.list says about the video, in turn (the last one repeats).
#[derive(Debug, Clone, PartialEq)]
pub enum Video {
    Live(String),
    NotLive,
    Ended,
    Missing,
}

/// How the stream endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamMode {
    /// 404: as if Google did not serve it (clank must poll).
    Refused,
    /// Writes this many pages (the history, then one per push), then drops.
    PagesThenDrop(usize),
}

/// What the device grant answers (Google's codes).
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceOutcome {
    /// 428 `authorization_pending` this many times, then a token.
    ApproveAfter(u32),
    /// `authorization_pending` this many times, then 403 `access_denied`.
    DenyAfter(u32),
    /// `authorization_pending` this many times, then 400 `expired_token`.
    ExpiredAfter(u32),
    /// 403 `slow_down` once, then a token.
    SlowDownThenApprove,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    pub body: String,
    pub at: Instant,
}

#[derive(Debug)]
pub struct State {
    pub key: String,
    /// Bearer token insert accepts.
    pub token: String,
    pub videos: VecDeque<Video>,
    /// The chat's whole history, oldest first.
    pub messages: Vec<Value>,
    pub interval_ms: u64,
    pub offline_at: Option<String>,
    /// The next list calls answer these errors first (status, reason).
    pub list_errors: VecDeque<(u16, String)>,
    pub insert_errors: VecDeque<(u16, String)>,
    /// Messages the fake accepted from insert.
    pub inserted: Vec<String>,
    pub requests: Vec<Request>,
    pub stream: StreamMode,
    pub device: DeviceOutcome,
    pub device_polls: u32,
    /// Seconds between two polls, as the device code answer asks.
    pub device_interval: u64,
    /// Access and refresh tokens the fake issued and still accepts.
    pub valid_access: HashSet<String>,
    pub valid_refresh: HashSet<String>,
    pub issued: u32,
    /// Seconds an issued access token lives.
    pub token_ttl: i64,
    /// The logged-in owner's active broadcast (video, chat).
    pub broadcast: Option<(String, String)>,
    /// What search.list finds live.
    pub search_live: Option<String>,
}

pub struct FakeYoutube {
    addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    /// Bumped on every request, so a test can wait for one without a timer.
    pub ticks: Arc<watch::Sender<u64>>,
    /// Bumped on every push, so open streams write the new messages.
    pushed: Arc<watch::Sender<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeYoutube {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const KEY: &str = "AIza-fake-key-0123456789";
pub const TOKEN: &str = "ya29.fake-access-token";

impl FakeYoutube {
    pub async fn start(videos: Vec<Video>) -> Self {
        Self::start_at("127.0.0.1:0", videos).await
    }

    /// On a chosen loopback address (for trying the binary by hand).
    pub async fn start_at(addr: &str, videos: Vec<Video>) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            key: KEY.into(),
            token: TOKEN.into(),
            videos: videos.into(),
            messages: Vec::new(),
            interval_ms: 3000,
            offline_at: None,
            list_errors: VecDeque::new(),
            insert_errors: VecDeque::new(),
            inserted: Vec::new(),
            requests: Vec::new(),
            stream: StreamMode::Refused,
            device: DeviceOutcome::ApproveAfter(1),
            device_polls: 0,
            device_interval: 5,
            valid_access: HashSet::new(),
            valid_refresh: HashSet::new(),
            issued: 0,
            token_ttl: 3599,
            broadcast: None,
            search_live: None,
        }));
        let s = state.clone();
        let ticks = Arc::new(watch::channel(0).0);
        let t = ticks.clone();
        let pushed = Arc::new(watch::channel(0).0);
        let p = pushed.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(handle(s.clone(), t.clone(), p.clone(), sock));
            }
        });
        Self {
            addr,
            state,
            ticks,
            pushed,
            task,
        }
    }

    /// The stream calls (GET liveChat/messages/stream).
    pub fn streams(&self) -> Vec<Request> {
        self.requests(STREAM)
    }

    /// Every access token stops working (they expired).
    pub fn expire_access_tokens(&self) {
        let mut s = self.state.lock().unwrap();
        s.valid_access.clear();
        s.token = String::new();
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, items: impl IntoIterator<Item = Value>) {
        self.state.lock().unwrap().messages.extend(items);
        self.pushed.send_modify(|n| *n += 1);
    }

    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The list calls (GET liveChat/messages).
    pub fn lists(&self) -> Vec<Request> {
        self.requests(MESSAGES)
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect()
    }

    pub fn lookups(&self) -> Vec<Request> {
        self.requests(VIDEOS)
    }
}

pub const MESSAGES: &str = "/youtube/v3/liveChat/messages";
pub const STREAM: &str = "/youtube/v3/liveChat/messages/stream";
pub const VIDEOS: &str = "/youtube/v3/videos";
pub const CHANNELS: &str = "/youtube/v3/channels";
pub const BROADCASTS: &str = "/youtube/v3/liveBroadcasts";
pub const SEARCH: &str = "/youtube/v3/search";
pub const DEVICE: &str = "/device/code";
pub const OAUTH_TOKEN: &str = "/token";
pub const CLIENT_ID: &str = "1234-fake.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "GOCSPX-fake-secret";
pub const OWNER_CHANNEL: &str = "UCfakeOwner000000000000";

/// A text message item as the API sends it.
pub fn text(id: &str, author: &str, text: &str) -> Value {
    item(
        id,
        author,
        json!({"type": "textMessageEvent", "textMessageDetails": {"messageText": text},
               "displayMessage": text}),
    )
}

/// An item of any kind: `snippet` gets `publishedAt` and `authorChannelId`.
pub fn item(id: &str, author: &str, mut snippet: Value) -> Value {
    snippet["publishedAt"] = json!("2026-12-02T18:00:00.000Z");
    snippet["authorChannelId"] = json!(format!("UC{author}"));
    snippet["liveChatId"] = json!("chat1");
    json!({
        "kind": "youtube#liveChatMessage",
        "etag": "e",
        "id": id,
        "snippet": snippet,
        "authorDetails": {
            "channelId": format!("UC{author}"),
            "channelUrl": format!("http://www.youtube.com/channel/UC{author}"),
            "displayName": author,
            "profileImageUrl": "https://yt3.ggpht.com/x.jpg",
            "isVerified": false, "isChatOwner": false, "isChatSponsor": false, "isChatModerator": false
        }
    })
}

fn error(status: u16, reason: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": status, "message": format!("fake {reason}"),
            "errors": [{"message": format!("fake {reason}"), "domain": "youtube.liveChat", "reason": reason}]}}),
    )
}

/// RFC 6749 error JSON, as Google's OAuth server sends it.
fn oauth_error(status: u16, error: &str) -> (u16, Value) {
    (
        status,
        json!({"error": error, "error_description": format!("fake {error}")}),
    )
}

fn issue(s: &mut State, with_refresh: bool) -> Value {
    s.issued += 1;
    let access = format!("ya29.a0fake-{:04}-Qw8", s.issued);
    s.valid_access.insert(access.clone());
    let mut v = json!({"access_token": access, "expires_in": s.token_ttl,
        "scope": "https://www.googleapis.com/auth/youtube", "token_type": "Bearer"});
    if with_refresh {
        let refresh = format!("1//0gfake-refresh-{:04}-Zx", s.issued);
        s.valid_refresh.insert(refresh.clone());
        v["refresh_token"] = json!(refresh);
    }
    v
}

fn bearer_ok(s: &State, req: &Request) -> bool {
    let Some(t) = req
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
    else {
        return false;
    };
    (!s.token.is_empty() && t == s.token) || s.valid_access.contains(t)
}

fn oauth(s: &mut State, req: &Request) -> (u16, Value) {
    let form: HashMap<String, String> = req
        .body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth_error(401, "invalid_client");
    }
    if req.path == DEVICE {
        s.device_polls = 0;
        return (
            200,
            json!({"device_code": "AH-1Ng-fake-device-code", "user_code": "GQVQ-JKEC",
                "verification_url": "https://www.google.com/device", "expires_in": 1800, "interval": s.device_interval}),
        );
    }
    if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return oauth_error(401, "invalid_client");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            if form.get("device_code").map(String::as_str) != Some("AH-1Ng-fake-device-code") {
                return oauth_error(400, "invalid_grant");
            }
            s.device_polls += 1;
            let n = s.device_polls;
            match s.device.clone() {
                DeviceOutcome::ApproveAfter(k) if n > k => (200, issue(s, true)),
                DeviceOutcome::DenyAfter(k) if n > k => oauth_error(403, "access_denied"),
                DeviceOutcome::ExpiredAfter(k) if n > k => oauth_error(400, "expired_token"),
                DeviceOutcome::SlowDownThenApprove if n == 1 => oauth_error(403, "slow_down"),
                DeviceOutcome::SlowDownThenApprove => (200, issue(s, true)),
                _ => oauth_error(428, "authorization_pending"),
            }
        }
        // Google keeps the refresh token: the answer carries none.
        Some("refresh_token") => {
            let r = form.get("refresh_token").cloned().unwrap_or_default();
            if s.valid_refresh.contains(&r) {
                (200, issue(s, false))
            } else {
                oauth_error(400, "invalid_grant")
            }
        }
        _ => oauth_error(400, "unsupported_grant_type"),
    }
}

/// One page of history from `start`, as list and the stream send it.
fn page(s: &State, start: usize, max: usize) -> Value {
    let start = start.min(s.messages.len());
    let end = start.saturating_add(max).min(s.messages.len());
    let mut page = json!({
        "kind": "youtube#liveChatMessageListResponse",
        "etag": "e",
        "pollingIntervalMillis": s.interval_ms,
        "pageInfo": {"totalResults": end - start, "resultsPerPage": end - start},
        "nextPageToken": format!("p{end}"),
        "items": s.messages[start..end].to_vec(),
    });
    if let Some(at) = &s.offline_at {
        page["offlineAt"] = json!(at);
    }
    page
}

fn start_of(req: &Request) -> usize {
    req.query
        .get("pageToken")
        .and_then(|t| t.strip_prefix('p'))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
}

fn answer(state: &Arc<Mutex<State>>, req: &Request) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    s.requests.push(req.clone());
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", DEVICE | OAUTH_TOKEN) => oauth(&mut s, req),
        ("GET", CHANNELS) => {
            if let Some(h) = req.query.get("forHandle") {
                if req.query.get("key") != Some(&s.key) {
                    return error(400, "keyInvalid");
                }
                let items = if h == "@mikavt" {
                    json!([{"kind": "youtube#channel", "id": "UCmikavt0000000000000"}])
                } else {
                    json!([])
                };
                return (
                    200,
                    json!({"kind": "youtube#channelListResponse", "items": items}),
                );
            }
            if !bearer_ok(&s, req) {
                return error(401, "authError");
            }
            (
                200,
                json!({"kind": "youtube#channelListResponse", "items": [
                    {"kind": "youtube#channel", "id": OWNER_CHANNEL, "snippet": {"title": "Mika Ch."}}]}),
            )
        }
        ("GET", BROADCASTS) => {
            if !bearer_ok(&s, req) {
                return error(401, "authError");
            }
            if req.query.get("broadcastStatus").map(String::as_str) != Some("active") {
                return error(400, "incompatibleParameters");
            }
            let items = match &s.broadcast {
                Some((video, chat)) => json!([{"kind": "youtube#liveBroadcast", "id": video,
                    "snippet": {"title": "live now", "liveChatId": chat}}]),
                None => json!([]),
            };
            (
                200,
                json!({"kind": "youtube#liveBroadcastListResponse", "items": items}),
            )
        }
        ("GET", SEARCH) => {
            if req.query.get("key") != Some(&s.key) {
                return error(400, "keyInvalid");
            }
            let items = match &s.search_live {
                Some(v) => {
                    json!([{"kind": "youtube#searchResult", "id": {"kind": "youtube#video", "videoId": v}}])
                }
                None => json!([]),
            };
            (
                200,
                json!({"kind": "youtube#searchListResponse", "items": items}),
            )
        }
        ("GET", VIDEOS) => {
            if req.query.get("key") != Some(&s.key) {
                return error(400, "keyInvalid");
            }
            let v = if s.videos.len() > 1 {
                s.videos.pop_front()
            } else {
                s.videos.front().cloned()
            };
            let details = match v.unwrap_or(Video::Missing) {
                Video::Missing => {
                    return (
                        200,
                        json!({"kind": "youtube#videoListResponse", "items": []}),
                    );
                }
                Video::Live(chat) => {
                    json!({"actualStartTime": "2026-12-02T17:00:00Z", "activeLiveChatId": chat})
                }
                Video::NotLive => json!({"scheduledStartTime": "2026-12-02T20:00:00Z"}),
                Video::Ended => {
                    json!({"actualStartTime": "2026-12-02T17:00:00Z", "actualEndTime": "2026-12-02T19:00:00Z"})
                }
            };
            (
                200,
                json!({"kind": "youtube#videoListResponse",
                       "items": [{"kind": "youtube#video", "id": req.query.get("id"), "liveStreamingDetails": details}]}),
            )
        }
        ("GET", MESSAGES) => {
            if req.query.get("key") != Some(&s.key) {
                return error(400, "keyInvalid");
            }
            if let Some((st, reason)) = s.list_errors.pop_front() {
                return error(st, &reason);
            }
            let max: usize = req
                .query
                .get("maxResults")
                .and_then(|m| m.parse().ok())
                .unwrap_or(500);
            (200, page(&s, start_of(req), max))
        }
        ("POST", MESSAGES) => {
            if !bearer_ok(&s, req) {
                return error(401, "authError");
            }
            if let Some((st, reason)) = s.insert_errors.pop_front() {
                return error(st, &reason);
            }
            let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let text = body["snippet"]["textMessageDetails"]["messageText"]
                .as_str()
                .unwrap_or("")
                .to_string();
            s.inserted.push(text.clone());
            (
                200,
                item(
                    "sent1",
                    "clank",
                    json!({"type": "textMessageEvent",
                "textMessageDetails": {"messageText": text}}),
                ),
            )
        }
        _ => error(404, "notFound"),
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The stream: a JSON array written element by element, without a length
/// (the body ends when the connection does), then dropped after the
/// configured number of pages.
async fn stream(
    state: &Arc<Mutex<State>>,
    ticks: &Arc<watch::Sender<u64>>,
    pushed: &Arc<watch::Sender<u64>>,
    req: Request,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
) {
    let mut rx = pushed.subscribe();
    let (refused, mode) = {
        let mut s = state.lock().unwrap();
        s.requests.push(req.clone());
        let refused = match (s.stream, req.query.get("key")) {
            (StreamMode::Refused, _) => Some(error(404, "notFound")),
            (_, Some(k)) if *k != s.key => Some(error(400, "keyInvalid")),
            _ => s.list_errors.pop_front().map(|(st, r)| error(st, &r)),
        };
        (refused, s.stream)
    };
    let (pages, mut at) = {
        if let Some((status, v)) = refused {
            let body = v.to_string();
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = w.write_all(head.as_bytes()).await;
            let _ = w.write_all(body.as_bytes()).await;
            let _ = w.shutdown().await;
            ticks.send_modify(|n| *n += 1);
            return;
        }
        let StreamMode::PagesThenDrop(n) = mode else {
            return;
        };
        (n, start_of(&req))
    };
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\nconnection: close\r\n\r\n[";
    if w.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    ticks.send_modify(|n| *n += 1);
    let max: usize = req
        .query
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(500);
    for i in 0..pages {
        if i > 0 {
            // The next page when there is something new (a push that came
            // meanwhile counts).
            loop {
                if state.lock().unwrap().messages.len() > at {
                    break;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
        let (body, end) = {
            let s = state.lock().unwrap();
            let p = page(&s, at, max);
            (p.to_string(), at.saturating_add(max).min(s.messages.len()))
        };
        at = end;
        let sep = if i == 0 { "" } else { ",\n" };
        if w.write_all(format!("{sep}{body}").as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let _ = w.flush().await;
        ticks.send_modify(|n| *n += 1);
    }
    // Dropped without the closing bracket, as a lost connection would be.
    let _ = w.shutdown().await;
    ticks.send_modify(|n| *n += 1);
}

async fn handle(
    state: Arc<Mutex<State>>,
    ticks: Arc<watch::Sender<u64>>,
    pushed: Arc<watch::Sender<u64>>,
    sock: TcpStream,
) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let (path, qs) = target.split_once('?').unwrap_or((&target, ""));
    let query = qs
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let mut len = 0usize;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    if r.read_exact(&mut body).await.is_err() {
        return;
    }
    let req = Request {
        method,
        path: path.to_string(),
        query,
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    if req.method == "GET" && req.path == STREAM {
        stream(&state, &ticks, &pushed, req, &mut w).await;
        return;
    }
    let (status, v) = answer(&state, &req);
    let body = v.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(head.as_bytes()).await;
    let _ = w.write_all(body.as_bytes()).await;
    let _ = w.shutdown().await;
    ticks.send_modify(|n| *n += 1);
}
