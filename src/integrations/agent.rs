//! The autonomous agent ("Autoliza"): a `ChatContextUpdate` summary of chat
//! (activity, salience, topics and sentiment from the lexicons, pure code) is
//! POSTed to its webhook; the JSON it answers with is guidance. Guidance can
//! also be pushed to a loopback `POST /guidance` listener guarded by a token.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::engine::lexicon::{Lexicon, LexiconList};
use crate::model::{ChatMessage, Platform};
use crate::reply::context::Guidance;
use crate::secret::Secret;

/// Why the agent could not be told or heard.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    #[error("agent answered HTTP {0}")]
    Status(u16),
    #[error("agent's answer is not guidance JSON: {0}")]
    Body(String),
    #[error("cannot listen for guidance on {addr}: {message}")]
    Listen { addr: String, message: String },
}

/// One platform's line in the context update (field names as the agent expects).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformContext {
    pub active_users: usize,
    pub average_salience: f64,
    pub top_topics: Vec<String>,
    pub sentiment: &'static str,
    pub last_interaction: String,
}

/// The whole chat at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalContext {
    pub total_messages: u64,
    pub response_rate: f64,
    pub engagement_trend: &'static str,
    pub recommended_action: String,
}

/// What is POSTed to the agent's webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatContextUpdate {
    pub platforms: serde_json::Map<String, serde_json::Value>,
    pub global_context: GlobalContext,
}

/// How far back "active" and the topic and sentiment counts look.
const WINDOW: TimeDelta = TimeDelta::minutes(5);

/// Messages the statistics keep at most (twice the window of a chat of
/// about 80 messages a second); a bigger flood keeps its newest.
const MAX_RECENT: usize = 50_000;
const TOP_TOPICS: usize = 5;

#[derive(Debug, Clone)]
struct Seen {
    at: DateTime<Utc>,
    platform: Platform,
    author: String,
    score: f64,
    words: Vec<String>,
    sentiment: i32,
}

/// Rolling chat statistics (pure: fed messages and times, no clock of its own).
pub struct ChatStats {
    lexicon: Lexicon,
    recent: VecDeque<Seen>,
    last_at: HashMap<Platform, DateTime<Utc>>,
    total_messages: u64,
    sent: u64,
}

impl Default for ChatStats {
    fn default() -> Self {
        Self::new(Lexicon::embedded())
    }
}

impl ChatStats {
    pub fn new(lexicon: Lexicon) -> Self {
        Self {
            lexicon,
            recent: VecDeque::new(),
            last_at: HashMap::new(),
            total_messages: 0,
            sent: 0,
        }
    }

    /// A viewer message with its salience score (0 if unscored).
    pub fn observe(&mut self, m: &ChatMessage, score: f64) {
        self.total_messages += 1;
        let mut words = Vec::new();
        let mut sentiment = 0;
        for raw in m.text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
            let w = raw.trim_matches('\'').to_lowercase();
            if w.is_empty() {
                continue;
            }
            let lists = self.lexicon.word_lists(&w);
            if lists.contains(LexiconList::Positive) {
                sentiment += 1;
            }
            if lists.contains(LexiconList::Negative) || lists.contains(LexiconList::Distress) {
                sentiment -= 1;
            }
            let topical = w.chars().count() >= 4
                && !w.chars().all(|c| c.is_ascii_digit())
                && !lists.contains(LexiconList::Stopwords)
                && !lists.contains(LexiconList::LowValue)
                && !lists.contains(LexiconList::Emotes)
                && !lists.contains(LexiconList::Greetings)
                && !lists.contains(LexiconList::QuestionWords)
                && !lists.contains(LexiconList::SecondPerson);
            if topical {
                words.push(w);
            }
        }
        let e = self.last_at.entry(m.platform).or_insert(m.at);
        *e = (*e).max(m.at);
        // Pruned here too, not only when a context is made: between two
        // pushes a busy chat would otherwise pile up without bound. Under a
        // flood the window holds at most MAX_RECENT messages (the newest).
        self.prune(m.at);
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Seen {
            at: m.at,
            platform: m.platform,
            author: m.author.id.clone(),
            score,
            words,
            sentiment,
        });
    }

    /// A bot reply went out.
    pub fn observe_sent(&mut self) {
        self.sent += 1;
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        // Twice the window is kept: the older half gives the trend.
        while self.recent.front().is_some_and(|s| s.at < now - WINDOW * 2) {
            self.recent.pop_front();
        }
    }

    /// The update to POST at `now`.
    pub fn context(&mut self, now: DateTime<Utc>) -> ChatContextUpdate {
        self.prune(now);
        let recent_start = now - WINDOW;
        let mut platforms = serde_json::Map::new();
        let mut quiet = true;
        for p in Platform::ALL {
            let Some(last) = self.last_at.get(&p).copied() else {
                continue;
            };
            let seen: Vec<&Seen> = self
                .recent
                .iter()
                .filter(|s| s.platform == p && s.at >= recent_start)
                .collect();
            let users: HashSet<&str> = seen.iter().map(|s| s.author.as_str()).collect();
            let avg = if seen.is_empty() {
                0.0
            } else {
                seen.iter().map(|s| s.score).sum::<f64>() / seen.len() as f64
            };
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for s in &seen {
                for w in &s.words {
                    *counts.entry(w.as_str()).or_default() += 1;
                }
            }
            let mut topics: Vec<(&str, usize)> = counts.into_iter().collect();
            topics.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let mood: i32 = seen.iter().map(|s| s.sentiment).sum();
            let sentiment = if mood > 0 {
                "positive"
            } else if mood < 0 {
                "negative"
            } else {
                "neutral"
            };
            if !seen.is_empty() {
                quiet = false;
            }
            let ctx = PlatformContext {
                active_users: users.len(),
                average_salience: (avg * 1000.0).round() / 1000.0,
                top_topics: topics
                    .into_iter()
                    .filter(|(_, n)| *n >= 2)
                    .take(TOP_TOPICS)
                    .map(|(w, _)| w.to_string())
                    .collect(),
                sentiment,
                last_interaction: last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            if let Ok(v) = serde_json::to_value(ctx) {
                platforms.insert(p.as_str().to_string(), v);
            }
        }
        let newer = self.recent.iter().filter(|s| s.at >= recent_start).count();
        let older = self.recent.len() - newer;
        let trend = if newer as f64 > older as f64 * 1.25 && newer >= 4 {
            "increasing"
        } else if (newer as f64) < older as f64 * 0.75 {
            "decreasing"
        } else {
            "stable"
        };
        let response_rate = if self.total_messages == 0 {
            0.0
        } else {
            ((self.sent as f64 / self.total_messages as f64) * 1000.0).round() / 1000.0
        };
        let recommended_action = if quiet {
            "start a conversation: chat has been quiet"
        } else if trend == "decreasing" {
            "re-engage chat: activity is falling"
        } else if trend == "increasing" {
            "keep the momentum: answer the top questions"
        } else {
            "keep chatting at the current pace"
        }
        .to_string();
        ChatContextUpdate {
            platforms,
            global_context: GlobalContext {
                total_messages: self.total_messages,
                response_rate,
                engagement_trend: trend,
                recommended_action,
            },
        }
    }
}

/// POSTs context updates to the webhook and reads guidance from the answers.
#[derive(Clone)]
pub struct AgentClient {
    client: reqwest::Client,
    url: String,
}

impl AgentClient {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, AgentError> {
        let client = super::http_client(timeout).map_err(AgentError::Client)?;
        Ok(Self {
            client,
            url: url.to_string(),
        })
    }

    /// Sends one update; `Ok(None)` when the agent answered with no guidance.
    pub async fn push(&self, update: &ChatContextUpdate) -> Result<Option<Guidance>, AgentError> {
        let resp = self
            .client
            .post(&self.url)
            .json(update)
            .send()
            .await
            .map_err(|e| AgentError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(AgentError::Status(status.as_u16()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| AgentError::Unreachable(e.without_url().to_string()))?;
        parse_guidance(&body)
    }
}

/// Guidance from a JSON body; an empty body or `{}` means none.
pub fn parse_guidance(body: &[u8]) -> Result<Option<Guidance>, AgentError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let g: Guidance = serde_json::from_slice(body).map_err(|e| AgentError::Body(e.to_string()))?;
    if g == Guidance::default() {
        return Ok(None);
    }
    Ok(Some(g))
}

/// Largest request the guidance listener reads.
const MAX_REQUEST: usize = 64 * 1024;

/// Serves `POST /guidance` on `addr` until `cancel`: a JSON [`Guidance`] body
/// with `Authorization: Bearer <token>` (401 without it). Returns the bound
/// address (useful with port 0).
pub async fn listen_guidance(
    addr: &str,
    token: Secret,
    tx: mpsc::Sender<Guidance>,
    cancel: CancellationToken,
) -> Result<SocketAddr, AgentError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| AgentError::Listen {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
    let local = listener.local_addr().map_err(|e| AgentError::Listen {
        addr: addr.to_string(),
        message: e.to_string(),
    })?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "the guidance listener is reachable from other machines; only the bearer token protects it");
    }
    tokio::spawn(async move {
        // At most this many requests at once; past it the kernel's backlog
        // holds new connections instead of this process opening descriptors.
        let slots = Arc::new(Semaphore::new(MAX_GUIDANCE_CONNECTIONS));
        let mut failures = 0u32;
        loop {
            let permit = tokio::select! {
                _ = cancel.cancelled() => return,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let conn = tokio::select! {
                _ = cancel.cancelled() => return,
                c = listener.accept() => c,
            };
            let stream = match conn {
                Ok((stream, _)) => {
                    failures = 0;
                    stream
                }
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like fail again at
                    // once: back off instead of spinning a core.
                    failures += 1;
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(error = %e, failures, "guidance listener: accept failed; backing off");
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(accept_backoff(failures)) => {}
                    }
                    continue;
                }
            };
            let token = token.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                // An idle or slow client gives its slot back after this long.
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), serve_one(stream, &token, &tx))
                        .await;
                drop(permit);
            });
        }
    });
    Ok(local)
}

/// Requests the guidance listener serves at once.
const MAX_GUIDANCE_CONNECTIONS: usize = 32;

/// Wait after the n-th accept failure in a row: 10 ms doubling, at most 1 s.
fn accept_backoff(failures: u32) -> Duration {
    Duration::from_millis(
        10u64
            .saturating_mul(1 << failures.clamp(1, 8).saturating_sub(1))
            .min(1_000),
    )
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    token: &Secret,
    tx: &mpsc::Sender<Guidance>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (head_end, content_length) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_string();
            let len = header(&head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            break (pos + 4, len);
        }
        if buf.len() > MAX_REQUEST {
            return respond(&mut stream, 413, r#"{"error":"request too large"}"#).await;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if path != "/guidance" {
        return respond(&mut stream, 404, r#"{"error":"not found"}"#).await;
    }
    if method != "POST" {
        return respond(&mut stream, 405, r#"{"error":"use POST"}"#).await;
    }
    let authorized = header(&head, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::trim).map(str::to_string))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), token.expose().as_bytes()));
    if !authorized {
        return respond(&mut stream, 401, r#"{"error":"bearer token required"}"#).await;
    }
    if content_length > MAX_REQUEST {
        return respond(&mut stream, 413, r#"{"error":"request too large"}"#).await;
    }
    while buf.len() < head_end + content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_end..buf.len().min(head_end + content_length)];
    match parse_guidance(body) {
        Ok(Some(g)) => {
            let _ = tx.send(g).await;
            respond(&mut stream, 200, r#"{"status":"ok"}"#).await
        }
        Ok(None) => respond(&mut stream, 200, r#"{"status":"empty"}"#).await,
        Err(e) => {
            let body = serde_json::json!({"error": e.to_string()}).to_string();
            respond(&mut stream, 400, &body).await
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Compares without an early exit, so response times do not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: u16,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Payload Too Large",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_up_to_a_second() {
        let waits: Vec<u64> = (1..=10)
            .map(|n| accept_backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert!(waits.iter().all(|w| *w <= 1_000));
    }
    use crate::model::Author;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::seconds(s)
    }

    fn msg(p: Platform, author: &str, text: &str, at: i64) -> ChatMessage {
        ChatMessage {
            platform: p,
            channel: "mika".into(),
            id: format!("{author}-{at}"),
            at: t(at),
            author: Author {
                id: author.into(),
                name: author.into(),
                ..Author::default()
            },
            text: text.into(),
            paid: None,
            reply_to: None,
        }
    }

    #[test]
    fn context_has_the_agreed_shape_and_counts() {
        let mut s = ChatStats::default();
        s.observe(
            &msg(Platform::Twitch, "a", "love this speedrun, amazing!", 0),
            0.5,
        );
        s.observe(
            &msg(Platform::Twitch, "b", "speedrun route is great", 10),
            0.7,
        );
        s.observe(
            &msg(Platform::Twitch, "a", "thanks for the speedrun", 20),
            0.3,
        );
        s.observe_sent();
        let ctx = s.context(t(30));
        let v = serde_json::to_value(&ctx).unwrap();
        let tw = &v["platforms"]["twitch"];
        assert_eq!(tw["activeUsers"], 2);
        assert_eq!(tw["averageSalience"], 0.5);
        assert_eq!(tw["topTopics"][0], "speedrun");
        assert_eq!(tw["sentiment"], "positive");
        assert_eq!(tw["lastInteraction"], "2026-11-21T20:00:20Z");
        assert!(v["platforms"].get("youtube").is_none());
        let g = &v["globalContext"];
        assert_eq!(g["totalMessages"], 3);
        assert!((g["responseRate"].as_f64().unwrap() - 0.333).abs() < 1e-9);
        assert!(
            ["increasing", "stable", "decreasing"]
                .contains(&g["engagementTrend"].as_str().unwrap())
        );
        assert!(
            g["recommendedAction"]
                .as_str()
                .is_some_and(|a| !a.is_empty())
        );
    }

    #[test]
    fn sentiment_turns_negative_and_trend_decreases() {
        let mut s = ChatStats::default();
        for i in 0..10 {
            s.observe(
                &msg(Platform::Youtube, "x", "this is boring and awful", i),
                0.1,
            );
        }
        s.observe(&msg(Platform::Youtube, "y", "sad", 400), 0.1);
        let v = serde_json::to_value(s.context(t(410))).unwrap();
        assert_eq!(v["platforms"]["youtube"]["sentiment"], "negative");
        assert_eq!(v["globalContext"]["engagementTrend"], "decreasing");
    }

    #[test]
    fn guidance_bodies_parse_or_say_why_not() {
        assert_eq!(parse_guidance(b"").unwrap(), None);
        assert_eq!(parse_guidance(b"{}").unwrap(), None);
        let g = parse_guidance(br#"{"topics":["dlc"],"starters":["who tried it?"]}"#)
            .unwrap()
            .unwrap();
        assert_eq!(g.topics, vec!["dlc".to_string()]);
        assert!(parse_guidance(b"<html>").is_err());
    }
}
