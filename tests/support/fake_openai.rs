//! A loopback OpenAI-compatible server (`/v1/chat/completions` streamed as
//! server-sent events ending `data: [DONE]`, `/v1/models`), optionally
//! requiring a bearer key. Scripts and records come from [`super::fake_ollama`].
#![allow(dead_code)]

use serde_json::{Value, json};

use super::fake_ollama::{Dialect, DoneStats, FakeServer, Route};

pub struct OpenAi {
    /// The bearer key the server insists on, if any.
    pub key: Option<String>,
}

impl Dialect for OpenAi {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }

    fn route(&self, method: &str, path: &str) -> Route {
        match (method, path) {
            ("POST", "/v1/chat/completions") => Route::Chat,
            ("GET", "/v1/models") => Route::Models,
            // llama.cpp's server properties: it serves 3 requests at once.
            ("GET", "/props") => Route::Json(json!({"total_slots": 3}).to_string()),
            _ => Route::NotFound,
        }
    }

    fn models_body(&self, models: &[String]) -> String {
        let data: Vec<Value> = models
            .iter()
            .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "local"}))
            .collect();
        json!({"object": "list", "data": data}).to_string()
    }

    fn unknown_model(&self, model: &str, models: &[String]) -> Option<(u16, String)> {
        (!models.iter().any(|m| m == model)).then(|| {
            (
                404,
                json!({"error": {"message": format!("The model `{model}` does not exist or you do not have access to it."),
                    "type": "invalid_request_error", "code": "model_not_found"}})
                .to_string(),
            )
        })
    }

    fn token(&self, model: &str, token: &str) -> String {
        let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": null}]});
        format!("data: {chunk}\n\n")
    }

    fn done(&self, model: &str, st: &DoneStats) -> String {
        let finish = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        let usage = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [],
            "usage": {"prompt_tokens": 26, "completion_tokens": st.tokens, "total_tokens": 26 + st.tokens}});
        format!("data: {finish}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
    }

    fn error(&self, message: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"error": {"message": message, "type": "server_error"}})
        )
    }

    fn refuse(&self, authorization: Option<&str>) -> Option<(u16, String)> {
        let key = self.key.as_deref()?;
        let ok = authorization.and_then(|a| a.strip_prefix("Bearer ")) == Some(key);
        (!ok).then(|| {
            (
                401,
                json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}})
                    .to_string(),
            )
        })
    }
}

/// Starts a fake OpenAI-compatible server; with `key`, requests must carry it.
pub async fn start(key: Option<&str>) -> FakeServer {
    FakeServer::start(OpenAi {
        key: key.map(str::to_string),
    })
    .await
}
