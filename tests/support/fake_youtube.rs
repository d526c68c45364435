//! A loopback fake of the YouTube Data API v3 calls clank makes: videos.list
//! (`liveStreamingDetails.activeLiveChatId`), liveChatMessages.list (pages
//! with `nextPageToken`, `pollingIntervalMillis`, `offlineAt`) and
//! liveChatMessages.insert, with Google's error JSON (`error.errors[0].reason`).
//! Real HTTP/1.1 on tokio, one request per connection. The page token is
//! "p<index>": the position in the chat's history the next page starts at.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
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
}

pub struct FakeYoutube {
    addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    /// Bumped on every request, so a test can wait for one without a timer.
    pub ticks: Arc<watch::Sender<u64>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
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
        }));
        let s = state.clone();
        let ticks = Arc::new(watch::channel(0).0);
        let t = ticks.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(handle(s.clone(), t.clone(), sock));
            }
        });
        Self {
            addr,
            state,
            ticks,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, items: impl IntoIterator<Item = Value>) {
        self.state.lock().unwrap().messages.extend(items);
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
pub const VIDEOS: &str = "/youtube/v3/videos";

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

fn answer(state: &Arc<Mutex<State>>, req: &Request) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    s.requests.push(req.clone());
    match (req.method.as_str(), req.path.as_str()) {
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
            let start = req
                .query
                .get("pageToken")
                .and_then(|t| t.strip_prefix('p'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
                .min(s.messages.len());
            let max: usize = req
                .query
                .get("maxResults")
                .and_then(|m| m.parse().ok())
                .unwrap_or(500);
            let end = (start + max).min(s.messages.len());
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
            (200, page)
        }
        ("POST", MESSAGES) => {
            if req.authorization.as_deref() != Some(&format!("Bearer {}", s.token)) {
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

async fn handle(state: Arc<Mutex<State>>, ticks: Arc<watch::Sender<u64>>, sock: TcpStream) {
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
