//! The few Data API v3 calls the adapter makes, over reqwest, with Google's
//! error JSON turned into reasons: finding the live chat (`videos.list`;
//! `channels.list` for a handle; `liveBroadcasts.list` for the logged-in
//! owner, `search.list` otherwise), reading it (`liveChatMessages.list`
//! polling, or the server-streaming `liveChat/messages/stream`), and
//! sending (`liveChatMessages.insert`). The API key goes in the `key` query
//! parameter, as Google documents, an OAuth token in the `Authorization`
//! header; every reqwest error is stripped of its URL so the key never
//! reaches a message.

use std::time::Duration;

use serde_json::Value;

use crate::secret::Secret;

/// One page of `liveChatMessages.list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    pub next_page_token: Option<String>,
    /// How long the server asks us to wait before the next call.
    pub polling_interval: Option<Duration>,
    /// Set once the stream went offline.
    pub offline_at: Option<String>,
}

/// What `videos.list?part=liveStreamingDetails` says about a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Live now, with this chat.
    Live(String),
    /// Scheduled or not started yet.
    NotLive,
    /// The broadcast has ended.
    Ended,
    /// No such video (or it is private).
    NotFound,
}

/// Why a call failed. Never contains the key or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Google answered with an error: HTTP status and the first `reason`.
    #[error("HTTP {status} {reason}: {message}")]
    Status {
        status: u16,
        reason: String,
        message: String,
    },
    /// No answer: connection refused, reset, timed out.
    #[error("network: {detail}")]
    Network {
        detail: String,
        /// The request may have reached Google (a send may have happened).
        maybe_sent: bool,
    },
    /// An answer that is not the JSON we expect.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ApiError {
    pub fn reason(&self) -> &str {
        match self {
            ApiError::Status { reason, .. } => reason,
            _ => "",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A Data API client for one key (reads) and, per call, an OAuth token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// No overall timeout: a stream lives as long as the broadcast; a read
    /// that stays silent for `stream_idle` ends it instead.
    stream_http: reqwest::Client,
    base: String,
    key: Option<Secret>,
}

/// The biggest message of a stream kept in memory while it arrives.
const MAX_STREAM_MESSAGE: usize = 16 << 20;

/// The live chat of the logged-in owner's active broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    pub video_id: String,
    pub chat_id: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(base: &str, key: Option<Secret>, timeout: Duration) -> Result<Api, ApiError> {
        Self::with_stream_idle(base, key, timeout, Some(Duration::from_secs(300)))
    }

    /// `stream_idle`: how long a stream may stay silent before it counts as
    /// lost (and is opened again from the last page token); `None`: as
    /// long as the connection lives.
    pub fn with_stream_idle(
        base: &str,
        key: Option<Secret>,
        timeout: Duration,
        stream_idle: Option<Duration>,
    ) -> Result<Api, ApiError> {
        let build = |b: reqwest::ClientBuilder| {
            b.user_agent(concat!("clank/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ApiError::Decode(e.without_url().to_string()))
        };
        let http = build(reqwest::Client::builder().timeout(timeout))?;
        let mut stream_builder = reqwest::Client::builder().connect_timeout(timeout);
        if let Some(idle) = stream_idle {
            stream_builder = stream_builder.read_timeout(idle);
        }
        let stream_http = build(stream_builder)?;
        Ok(Api {
            http,
            stream_http,
            base: base.trim_end_matches('/').to_string(),
            key,
        })
    }

    /// The key parameter, when reading with a key.
    fn key_param(&self) -> Option<(&'static str, &str)> {
        self.key.as_ref().map(|k| ("key", k.expose()))
    }

    /// A GET authorised by the key, or by `token` when given.
    fn get<'a>(
        &'a self,
        path: &str,
        mut params: Vec<(&'a str, &'a str)>,
        token: Option<&Secret>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        match token {
            Some(t) => Ok(self
                .http
                .get(self.url(path, &params)?)
                .bearer_auth(t.expose())),
            None => {
                params.extend(self.key_param());
                Ok(self.http.get(self.url(path, &params)?))
            }
        }
    }

    /// `base + path` with query parameters, percent-encoded. The error
    /// never shows the URL (it may hold the key).
    fn url(&self, path: &str, params: &[(&str, &str)]) -> Result<reqwest::Url, ApiError> {
        reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| ApiError::Decode(format!("bad api_url: {e}")))
    }

    /// Finds the active live chat of a video (1 unit).
    pub async fn lookup(&self, video_id: &str) -> Result<Lookup, ApiError> {
        let req = self.get(
            "/youtube/v3/videos",
            vec![("part", "liveStreamingDetails"), ("id", video_id)],
            None,
        )?;
        let v = send_json(req, false).await?;
        let Some(item) = v
            .get("items")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        else {
            return Ok(Lookup::NotFound);
        };
        let d = item.get("liveStreamingDetails");
        let chat = d
            .and_then(|d| d.get("activeLiveChatId"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        Ok(match chat {
            Some(c) => Lookup::Live(c.to_string()),
            None if d.and_then(|d| d.get("actualEndTime")).is_some() => Lookup::Ended,
            None => Lookup::NotLive,
        })
    }

    /// One page of chat after `page_token` (5 units).
    pub async fn list(
        &self,
        chat_id: &str,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<Page, ApiError> {
        let max = max_results.to_string();
        let mut q = vec![
            ("liveChatId", chat_id),
            ("part", "id,snippet,authorDetails"),
            ("maxResults", max.as_str()),
        ];
        if let Some(t) = page_token {
            q.push(("pageToken", t));
        }
        let req = self.get("/youtube/v3/liveChat/messages", q, None)?;
        page_from(send_json(req, false).await?)
    }

    /// Opens the server-streaming form of `list` (5 units a connection):
    /// the recent history first, then each new page as Google pushes it.
    /// Google's generated clients name it `youtube.v3.liveChat.messages.stream`
    /// (GET `youtube/v3/liveChat/messages/stream`, a `LiveChatMessageListResponse`
    /// per message); over HTTP/JSON the body is a JSON array whose elements
    /// arrive one by one, which [`ChatStream`] reads as they come.
    pub async fn stream(
        &self,
        chat_id: &str,
        page_token: Option<&str>,
        max_results: u32,
        token: Option<&Secret>,
    ) -> Result<ChatStream, ApiError> {
        let max = max_results.to_string();
        let mut q = vec![
            ("liveChatId", chat_id),
            ("part", "id,snippet,authorDetails"),
            ("maxResults", max.as_str()),
        ];
        if let Some(t) = page_token {
            q.push(("pageToken", t));
        }
        let req = match token {
            Some(t) => self
                .stream_http
                .get(self.url("/youtube/v3/liveChat/messages/stream", &q)?)
                .bearer_auth(t.expose()),
            None => {
                q.extend(self.key_param());
                self.stream_http
                    .get(self.url("/youtube/v3/liveChat/messages/stream", &q)?)
            }
        };
        let resp = req.send().await.map_err(|e| ApiError::Network {
            maybe_sent: false,
            detail: e.without_url().to_string(),
        })?;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            return Err(status_error(status, &bytes));
        }
        Ok(ChatStream {
            resp,
            seq: JsonSeq::default(),
        })
    }

    /// The channel id of a `@handle` (`channels.list?forHandle`, 1 unit);
    /// `None` when no channel has it.
    pub async fn channel_for_handle(&self, handle: &str) -> Result<Option<String>, ApiError> {
        let req = self.get(
            "/youtube/v3/channels",
            vec![("part", "id"), ("forHandle", handle)],
            None,
        )?;
        let v = send_json(req, false).await?;
        Ok(first_item(&v)
            .and_then(|i| i.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    /// The logged-in account's channel: id and title (`channels.list?mine`, 1 unit).
    pub async fn my_channel(&self, token: &Secret) -> Result<Option<(String, String)>, ApiError> {
        let req = self.get(
            "/youtube/v3/channels",
            vec![("part", "id,snippet"), ("mine", "true")],
            Some(token),
        )?;
        let v = send_json(req, false).await?;
        Ok(first_item(&v).and_then(|i| {
            let id = i.get("id")?.as_str()?.to_string();
            let title = i
                .pointer("/snippet/title")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_string();
            Some((id, title))
        }))
    }

    /// The logged-in owner's active broadcast and its chat
    /// (`liveBroadcasts.list?broadcastStatus=active`, 1 unit).
    pub async fn my_active_broadcast(&self, token: &Secret) -> Result<Option<Broadcast>, ApiError> {
        let req = self.get(
            "/youtube/v3/liveBroadcasts",
            vec![
                ("part", "id,snippet"),
                ("broadcastStatus", "active"),
                ("broadcastType", "all"),
            ],
            Some(token),
        )?;
        let v = send_json(req, false).await?;
        let items = v.get("items").and_then(Value::as_array);
        Ok(items.into_iter().flatten().find_map(|i| {
            Some(Broadcast {
                video_id: i.get("id")?.as_str()?.to_string(),
                chat_id: i
                    .pointer("/snippet/liveChatId")?
                    .as_str()
                    .filter(|c| !c.is_empty())?
                    .to_string(),
            })
        }))
    }

    /// A channel's live video (`search.list?eventType=live`, 100 units).
    pub async fn search_live(&self, channel_id: &str) -> Result<Option<String>, ApiError> {
        let req = self.get(
            "/youtube/v3/search",
            vec![
                ("part", "id"),
                ("channelId", channel_id),
                ("eventType", "live"),
                ("type", "video"),
            ],
            None,
        )?;
        let v = send_json(req, false).await?;
        Ok(first_item(&v)
            .and_then(|i| i.pointer("/id/videoId"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    /// Posts `text` in the chat as the logged-in account (20 units).
    /// Authorised by the OAuth token alone (no key: one secret per request).
    pub async fn insert(&self, chat_id: &str, text: &str, token: &Secret) -> Result<(), ApiError> {
        let body = serde_json::json!({
            "snippet": {
                "liveChatId": chat_id,
                "type": "textMessageEvent",
                "textMessageDetails": {"messageText": text}
            }
        });
        let req = self
            .http
            .post(self.url("/youtube/v3/liveChat/messages", &[("part", "snippet")])?)
            .bearer_auth(token.expose())
            .json(&body);
        send_json(req, true).await.map(|_| ())
    }
}

fn first_item(v: &Value) -> Option<&Value> {
    v.get("items")?.as_array()?.first()
}

/// A `LiveChatMessageListResponse` (from `list` or one stream message).
pub fn page_from(v: Value) -> Result<Page, ApiError> {
    let items = match v.get("items") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ApiError::Decode("items is not a list".into())),
    };
    Ok(Page {
        items,
        next_page_token: v
            .get("nextPageToken")
            .and_then(Value::as_str)
            .map(str::to_string),
        polling_interval: v
            .get("pollingIntervalMillis")
            .and_then(|n| n.as_u64().or_else(|| n.as_str()?.parse().ok()))
            .map(Duration::from_millis),
        offline_at: v
            .get("offlineAt")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// An open chat stream: pages as Google pushes them.
pub struct ChatStream {
    resp: reqwest::Response,
    seq: JsonSeq,
}

impl ChatStream {
    /// The next page; `Ok(None)` when Google closed the stream. Cancel-safe:
    /// a chunk is only taken when the future completes.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ApiError> {
        loop {
            if let Some(v) = self.seq.next_value()? {
                return page_from(v).map(Some);
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => self.seq.push(&bytes)?,
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(ApiError::Network {
                        maybe_sent: false,
                        detail: e.without_url().to_string(),
                    });
                }
            }
        }
    }
}

/// Splits a JSON array (or a plain sequence) of objects arriving in pieces
/// into whole objects: `[{...},\n{...}` gives each `{...}` as soon as its
/// closing brace is in. Strings are tracked so braces inside them count not.
#[derive(Debug, Default)]
pub struct JsonSeq {
    buf: Vec<u8>,
    pos: usize,
    depth: u32,
    in_str: bool,
    escaped: bool,
    start: Option<usize>,
}

impl JsonSeq {
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        if self.buf.len() + bytes.len() > MAX_STREAM_MESSAGE {
            return Err(ApiError::Decode(format!(
                "a stream message is larger than {MAX_STREAM_MESSAGE} bytes"
            )));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next whole object, if one is in.
    pub fn next_value(&mut self) -> Result<Option<Value>, ApiError> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            let Some(start) = self.start else {
                match b {
                    b'{' => {
                        self.start = Some(self.pos - 1);
                        self.depth = 1;
                    }
                    b'[' | b']' | b',' | b' ' | b'\n' | b'\r' | b'\t' => {}
                    other => {
                        return Err(ApiError::Decode(format!(
                            "unexpected {:?} between stream messages",
                            other as char
                        )));
                    }
                }
                continue;
            };
            if self.in_str {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_str = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        let v = serde_json::from_slice(&self.buf[start..self.pos])
                            .map_err(|e| ApiError::Decode(format!("stream message: {e}")));
                        self.buf.drain(..self.pos);
                        self.pos = 0;
                        self.start = None;
                        return v.map(Some);
                    }
                }
                _ => {}
            }
        }
        if self.start.is_none() {
            self.buf.clear();
            self.pos = 0;
        }
        Ok(None)
    }
}

fn status_error(status: reqwest::StatusCode, bytes: &[u8]) -> ApiError {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let err = v.get("error").unwrap_or(&Value::Null);
    let reason = err
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|e| e.get("reason"))
        .and_then(Value::as_str)
        .or_else(|| err.get("status").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or(""))
        .chars()
        .take(300)
        .collect();
    ApiError::Status {
        status: status.as_u16(),
        reason,
        message,
    }
}

async fn send_json(req: reqwest::RequestBuilder, is_write: bool) -> Result<Value, ApiError> {
    let resp = req.send().await.map_err(|e| ApiError::Network {
        // A write that failed after connecting may have reached Google.
        maybe_sent: is_write && !e.is_connect() && !e.is_builder(),
        detail: e.without_url().to_string(),
    })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| ApiError::Network {
        maybe_sent: is_write,
        detail: e.without_url().to_string(),
    })?;
    if !status.is_success() {
        return Err(status_error(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_seq_splits_an_array_arriving_in_pieces() {
        let body = br#"[{"items":[{"id":"a","s":"}{\"]"}],"nextPageToken":"t1"},
{"items":[],"nextPageToken":"t2"}]"#;
        let mut seq = JsonSeq::default();
        let mut got = Vec::new();
        for chunk in body.chunks(3) {
            seq.push(chunk).unwrap();
            while let Some(v) = seq.next_value().unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["items"][0]["s"], "}{\"]");
        assert_eq!(got[1]["nextPageToken"], "t2");
    }

    #[test]
    fn json_seq_names_garbage() {
        let mut seq = JsonSeq::default();
        seq.push(b"[{\"a\":1}, x").unwrap();
        assert!(seq.next_value().unwrap().is_some());
        let e = seq.next_value().unwrap_err().to_string();
        assert!(e.contains("'x'"), "{e}");
    }
}
