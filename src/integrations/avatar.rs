//! The VTuber avatar: each sent reply (all, or only the ones worth saying out
//! loud) is POSTed to a NeuroSync-style `/process_text` endpoint as
//! `{"text": ..., "autonomous_context": {...}}`. Its answers (200 processing,
//! 400 error, 403 idle) are reported, never fatal.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Which sent replies the avatar speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AvatarSpeak {
    /// Every sent reply.
    #[default]
    All,
    /// Only replies to HIGH or CRITICAL messages and unprompted lines.
    Spoken,
}

/// What the avatar said to one text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("avatar unreachable: {0}")]
    Unreachable(String),
    #[error("avatar is idle (HTTP 403): {0}")]
    Idle(String),
    #[error("avatar refused the text (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
}

/// Posts texts to the avatar endpoint.
#[derive(Clone)]
pub struct AvatarClient {
    client: reqwest::Client,
    url: String,
}

impl AvatarClient {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, AvatarError> {
        let client = super::http_client(timeout).map_err(AvatarError::Client)?;
        Ok(Self {
            client,
            url: url.to_string(),
        })
    }

    /// Sends one text; `Ok(status)` is the avatar's `status` field ("processing").
    pub async fn speak(&self, text: &str, context: Value) -> Result<String, AvatarError> {
        let body = serde_json::json!({"text": text, "autonomous_context": context});
        let resp = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| AvatarError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let body: Value = resp
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        match status {
            200..=299 => Ok(field("status").unwrap_or_else(|| "ok".into())),
            403 => Err(AvatarError::Idle(
                field("error").unwrap_or_else(|| "not accepting text now".into()),
            )),
            s => Err(AvatarError::Refused {
                status: s,
                message: field("error").unwrap_or_else(|| "no reason given".into()),
            }),
        }
    }
}
