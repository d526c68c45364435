//! The few Data API v3 calls the adapter makes (`videos.list` to find the
//! live chat, `liveChatMessages.list` to read it, `liveChatMessages.insert`
//! to send), over reqwest, with Google's error JSON turned into reasons.
//! The API key goes in the `key` query parameter, as Google documents; every
//! reqwest error is stripped of its URL so the key never reaches a message.

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

/// A Data API client for one key.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: Secret,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(base: &str, key: Secret, timeout: Duration) -> Result<Api, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiError::Decode(e.without_url().to_string()))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        })
    }

    /// `base + path` with query parameters, percent-encoded. The error
    /// never shows the URL (it may hold the key).
    fn url(&self, path: &str, params: &[(&str, &str)]) -> Result<reqwest::Url, ApiError> {
        reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| ApiError::Decode(format!("bad api_url: {e}")))
    }

    /// Finds the active live chat of a video (1 unit).
    pub async fn lookup(&self, video_id: &str) -> Result<Lookup, ApiError> {
        let url = self.url(
            "/youtube/v3/videos",
            &[
                ("part", "liveStreamingDetails"),
                ("id", video_id),
                ("key", self.key.expose()),
            ],
        )?;
        let req = self.http.get(url);
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
            ("key", self.key.expose()),
        ];
        if let Some(t) = page_token {
            q.push(("pageToken", t));
        }
        let req = self
            .http
            .get(self.url("/youtube/v3/liveChat/messages", &q)?);
        let v = send_json(req, false).await?;
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
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
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
        return Err(ApiError::Status {
            status: status.as_u16(),
            reason,
            message,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(e.to_string()))
}
