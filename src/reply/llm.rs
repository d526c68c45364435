//! LLM clients that stream one chat completion token by token: Ollama's native
//! `/api/chat` (NDJSON) and the OpenAI-compatible `/v1/chat/completions` (SSE),
//! behind one dyn-compatible trait, with a deadline, bounded retries and timings.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::secret::Secret;
use crate::validate::{ConfigError, check_range};

/// A boxed, sendable future: keeps [`LlmClient`] usable as `Arc<dyn LlmClient>`
/// without pulling in `async_trait`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which wire protocol the LLM server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Ollama's native API (`/api/chat`, `/api/tags`).
    Ollama,
    /// OpenAI-compatible servers: llama.cpp, vLLM, LM Studio, Ollama's `/v1`.
    Openai,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ollama => "ollama",
            Provider::Openai => "openai",
        }
    }
}

/// The `[llm]` config section: the local LLM that drafts replies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Wire protocol: "ollama" (native API) or "openai" (OpenAI-compatible).
    pub provider: Provider,
    /// Base URL of the server (env `OLLAMA_URL`). For "openai" a trailing `/v1` is optional.
    pub url: String,
    /// Model name (env `OLLAMA_MODEL`); a channel's `model` setting overrides it.
    pub model: String,
    /// Seconds before a draft is given up, retries included (env `OLLAMA_TIMEOUT`, 1..=600).
    pub timeout_s: u64,
    /// Sampling temperature (0.0..=2.0).
    pub temperature: f64,
    /// Nucleus sampling cut-off (0.0..=1.0).
    pub top_p: f64,
    /// Most tokens generated per draft (1..=4096); chat replies are short.
    pub num_predict: u32,
    /// Extra attempts after a transient failure (connect error, 5xx, dropped stream
    /// before the first token), with doubling backoff (0..=10). 4xx is never retried.
    pub retries: u32,
    /// Ollama `keep_alive`: how long the model stays loaded after a draft ("" = server default).
    pub keep_alive: String,
    /// Name of the environment variable holding a bearer API key; absent = no key.
    pub api_key_env: Option<String>,
    /// Drafts talking to the LLM at once (0..=16); the rest wait by priority.
    /// 0 = the provider's default: 1 for Ollama (one model, one queue), 4 for
    /// OpenAI-compatible servers (llama-server's default parallel slots).
    /// Set it to the server's slots: more only makes every draft late.
    pub max_in_flight: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: Provider::Ollama,
            url: "http://127.0.0.1:11434".into(),
            model: "llama3.2".into(),
            timeout_s: 30,
            temperature: 0.8,
            top_p: 0.9,
            num_predict: 120,
            retries: 2,
            keep_alive: "30m".into(),
            api_key_env: None,
            max_in_flight: 0,
        }
    }
}

impl LlmConfig {
    /// Drafts at the LLM at once: `max_in_flight`, or the provider's default.
    pub fn drafts_in_flight(&self) -> usize {
        match (self.max_in_flight, self.provider) {
            (0, Provider::Ollama) => 1,
            (0, Provider::Openai) => 4,
            (n, _) => n,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "llm.url",
                format!("{:?} is not an http:// or https:// URL", self.url),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(ConfigError::invalid("llm.model", "must not be empty"));
        }
        check_range("llm.timeout_s", self.timeout_s, 1, 600)?;
        check_range("llm.temperature", self.temperature, 0.0, 2.0)?;
        check_range("llm.top_p", self.top_p, 0.0, 1.0)?;
        check_range("llm.num_predict", self.num_predict, 1, 4096)?;
        check_range("llm.retries", self.retries, 0, 10)?;
        check_range("llm.max_in_flight", self.max_in_flight, 0, 16)?;
        if let Some(var) = &self.api_key_env {
            if var.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "llm.api_key_env",
                    "must name an environment variable (or be left out)",
                ));
            }
        }
        Ok(())
    }
}

/// Sampling knobs sent with every request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    pub num_predict: u32,
}

/// Everything a client needs at run time, derived from [`LlmConfig`].
/// Tests build it directly to use sub-second deadlines.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub base_url: String,
    pub model: String,
    /// Deadline for one whole call, retries and backoff included.
    pub timeout: Duration,
    /// Extra attempts after a transient failure.
    pub retries: u32,
    /// Delay before the first retry; doubles each time, capped at 5 s.
    pub backoff: Duration,
    pub sampling: Sampling,
    /// Ollama `keep_alive`; `None` = server default.
    pub keep_alive: Option<String>,
    /// Bearer key; never logged (see [`Secret`]).
    pub api_key: Option<Secret>,
}

impl ClientSettings {
    /// Reads the API key (if configured) through `env`, so tests never touch the process env.
    pub fn from_config(
        cfg: &LlmConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        let api_key = match &cfg.api_key_env {
            None => None,
            Some(var) => match env(var) {
                Some(v) if !v.trim().is_empty() => Some(Secret::new(v.trim())),
                _ => {
                    return Err(LlmError::Config(format!(
                        "environment variable {var} (named by llm.api_key_env) is not set"
                    )));
                }
            },
        };
        Ok(Self::with_key(cfg, api_key))
    }

    fn with_key(cfg: &LlmConfig, api_key: Option<Secret>) -> Self {
        Self {
            base_url: cfg.url.trim_end_matches('/').to_string(),
            model: cfg.model.clone(),
            timeout: Duration::from_secs(cfg.timeout_s),
            retries: cfg.retries,
            backoff: Duration::from_millis(250),
            sampling: Sampling {
                temperature: cfg.temperature,
                top_p: cfg.top_p,
                num_predict: cfg.num_predict,
            },
            keep_alive: (!cfg.keep_alive.trim().is_empty()).then(|| cfg.keep_alive.clone()),
            api_key,
        }
    }

    /// Settings for a server at `base_url` with the config defaults otherwise.
    pub fn for_url(base_url: &str, model: &str) -> Self {
        let cfg = LlmConfig {
            url: base_url.to_string(),
            model: model.to_string(),
            ..LlmConfig::default()
        };
        Self::with_key(&cfg, None)
    }
}

/// Who speaks a prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptRole {
    System,
    User,
    Assistant,
}

/// One message of the prompt, as both APIs expect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptMessage {
    pub role: PromptRole,
    pub content: String,
}

impl PromptMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: PromptRole::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: PromptRole::User,
            content: content.into(),
        }
    }
}

/// One chat completion to draft.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub messages: Vec<PromptMessage>,
    /// The channel's model; `None` = the configured one.
    pub model: Option<String>,
    /// Sampling seed, for reproducible drafts in replay.
    pub seed: Option<u64>,
    /// Stop sequences.
    pub stop: Vec<String>,
}

/// What the server reported about its own work (absent fields were not sent).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ServerTimings {
    pub total: Option<Duration>,
    pub load: Option<Duration>,
    pub prompt_tokens: Option<u64>,
    pub eval_count: Option<u64>,
    pub eval_duration: Option<Duration>,
}

/// A finished draft and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub model: String,
    /// "stop", "length", ... as the server said it.
    pub done_reason: Option<String>,
    /// From the start of the call (first attempt) to the first non-empty token, as clank saw it.
    pub time_to_first_token: Option<Duration>,
    /// From the start of the call to the end of the stream.
    pub total: Duration,
    /// Generated tokens: the server's count if given, else the number of streamed chunks.
    pub tokens: u64,
    /// From `eval_count / eval_duration` when the server gives them, else measured
    /// between the first and last token.
    pub tokens_per_s: Option<f64>,
    pub server: ServerTimings,
    /// 1 when the first attempt succeeded.
    pub attempts: u32,
}

/// Whether the configured model is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    pub wanted: String,
    pub found: bool,
    /// The server lists the models it will actually serve (Ollama). Not so
    /// for OpenAI-compatible servers such as llama.cpp, which answer any
    /// model name with the one they loaded: a name missing from their list
    /// is a note, not a reason to call the LLM down.
    pub listing_is_binding: bool,
    /// Every model the server offers, so per-channel models can be checked too.
    pub available: Vec<String>,
}

impl ModelStatus {
    /// Whether `name` is offered (Ollama's implicit `:latest` tag counts).
    pub fn has(&self, name: &str) -> bool {
        model_matches(&self.available, name)
    }
}

impl std::fmt::Display for ModelStatus {
    /// A status line for the operator, with what to do when the model is missing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.found {
            return write!(f, "model {} is available", self.wanted);
        }
        write!(f, "model {} is not on the LLM server", self.wanted)?;
        if self.available.is_empty() {
            write!(f, " (it has no models)")?;
        } else {
            write!(f, " (it has: {})", self.available.join(", "))?;
        }
        if self.listing_is_binding {
            write!(
                f,
                "; pull it (e.g. `ollama pull {}`) or set llm.model",
                self.wanted
            )
        } else {
            write!(
                f,
                "; an OpenAI-compatible server such as llama.cpp serves the model it loaded \
                 whatever the name, so drafting goes on"
            )
        }
    }
}

fn model_matches(available: &[String], wanted: &str) -> bool {
    available.iter().any(|m| {
        m == wanted
            || (!wanted.contains(':') && m.strip_suffix(":latest") == Some(wanted))
            || (wanted.ends_with(":latest") && wanted.strip_suffix(":latest") == Some(m))
    })
}

/// A plain 404 on the chat endpoint means the server speaks the other API
/// (llama.cpp answers Ollama's `/api/chat` with "File Not Found"): say which
/// `llm.provider` to set instead of leaving a bare "HTTP 404".
fn wrong_api_hint(e: LlmError, used: Provider) -> LlmError {
    match e {
        LlmError::Status {
            status: 404,
            message,
        } => {
            let hint = match used {
                Provider::Ollama => {
                    "the server has no Ollama /api/chat: for llama.cpp's llama-server, vLLM or \
                     LM Studio set llm.provider = \"openai\""
                }
                Provider::Openai => {
                    "the server has no /v1/chat/completions: check llm.url, or for Ollama's \
                     own API set llm.provider = \"ollama\""
                }
            };
            LlmError::Status {
                status: 404,
                message: format!("{message} ({hint})"),
            }
        }
        other => other,
    }
}

/// Why a draft could not be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("LLM misconfigured: {0}")]
    Config(String),
    #[error("cannot reach the LLM server: {0}")]
    Connect(String),
    #[error("LLM gave no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("model {model:?} not found on the LLM server: {message}")]
    ModelNotFound { model: String, message: String },
    #[error("LLM server answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("LLM server reported an error mid-stream: {0}")]
    Server(String),
    #[error("LLM server sent something unreadable: {0}")]
    Protocol(String),
    #[error("LLM stream broke off: {0}")]
    Interrupted(String),
}

impl LlmError {
    /// Worth another attempt: the server may be restarting or briefly overloaded.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Connect(_) | LlmError::Interrupted(_) => true,
            LlmError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A chat LLM that streams its answer. Dyn-compatible: hold it as `Arc<dyn LlmClient>`.
pub trait LlmClient: Send + Sync {
    /// Streams one completion, calling `on_token` with each non-empty piece of
    /// text as it arrives. Tokens already handed out are never repeated: once one
    /// has been delivered, failures are not retried.
    fn stream_chat<'a>(
        &'a self,
        req: ChatRequest,
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, LlmError>>;

    /// Lists the server's models and says whether the configured one is among them.
    fn check_model(&self) -> BoxFuture<'_, Result<ModelStatus, LlmError>>;

    /// How many requests the server serves at once, when it says so
    /// (llama.cpp's `/props` `total_slots`); `None` otherwise.
    fn parallel_slots(&self) -> BoxFuture<'_, Option<usize>> {
        Box::pin(async { None })
    }

    /// The wire protocol, for status lines.
    fn provider(&self) -> Provider;

    /// The configured model (used when a request names none).
    fn model(&self) -> &str;
}

/// Builds the client the config asks for.
pub fn connect(
    cfg: &LlmConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn LlmClient>, LlmError> {
    let settings = ClientSettings::from_config(cfg, env)?;
    Ok(match cfg.provider {
        Provider::Ollama => Arc::new(OllamaClient::new(settings)?),
        Provider::Openai => Arc::new(OpenAiClient::new(settings)?),
    })
}

// ---------------------------------------------------------------------------
// Shared HTTP plumbing

/// Longest line clank accepts from a stream; a server sending more without a
/// newline is broken or hostile.
const MAX_LINE_BYTES: usize = 1 << 20;
/// Largest error body read to explain a refusal.
const MAX_ERROR_BODY: usize = 64 * 1024;

struct Http {
    client: reqwest::Client,
    settings: ClientSettings,
}

impl Http {
    fn new(settings: ClientSettings) -> Result<Self, LlmError> {
        let connect_timeout = settings.timeout.min(Duration::from_secs(5));
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            // A local LLM must not be routed through a proxy taken from the environment.
            .no_proxy()
            .tcp_nodelay(true)
            .user_agent(concat!("clank/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, settings })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, url);
        match &self.settings.api_key {
            Some(key) => rb.bearer_auth(key.expose()),
            None => rb,
        }
    }

    /// Sends a request and turns a refusal into an [`LlmError`].
    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        model: &str,
    ) -> Result<reqwest::Response, LlmError> {
        let mut resp = rb.send().await.map_err(map_send_error)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                _ => break,
            }
        }
        let message = error_message(&body);
        // Ollama: "model 'x' not found"; OpenAI: "The model `x` does not exist".
        // A 404 that does not mention a model is a wrong URL, reported as such.
        if status.as_u16() == 404 && message.to_ascii_lowercase().contains("model") {
            return Err(LlmError::ModelNotFound {
                model: model.to_string(),
                message,
            });
        }
        Err(LlmError::Status {
            status: status.as_u16(),
            message,
        })
    }

    async fn get_json(&self, url: &str) -> Result<Value, LlmError> {
        let call = async {
            let rb = self.request(reqwest::Method::GET, url);
            let resp = self.send(rb, &self.settings.model).await?;
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| LlmError::Interrupted(e.to_string()))?;
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| LlmError::Protocol(format!("{url}: not JSON ({e})")))
        };
        tokio::time::timeout(self.settings.timeout, call)
            .await
            .unwrap_or(Err(LlmError::Timeout(self.settings.timeout)))
    }

    /// Runs attempts until one succeeds, a failure is not transient, a token has
    /// already been delivered, the retries are spent or the deadline passes.
    async fn stream_with_retries(
        &self,
        model: String,
        body: Value,
        url: String,
        new_decoder: fn() -> Box<dyn Decoder>,
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, LlmError> {
        let start = Instant::now();
        let mut progress = Progress::new(start);
        let timeout = self.settings.timeout;
        let run = async {
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                progress.attempts = attempt;
                let mut decoder = new_decoder();
                let rb = self.request(reqwest::Method::POST, &url).json(&body);
                let result = async {
                    let resp = self.send(rb, &model).await?;
                    read_stream(resp, decoder.as_mut(), &mut progress, on_token).await
                }
                .await;
                match result {
                    Ok(()) => return Ok(()),
                    Err(e)
                        if e.is_transient()
                            && progress.chunks == 0
                            && attempt <= self.settings.retries =>
                    {
                        let shift = (attempt - 1).min(5);
                        let wait =
                            (self.settings.backoff * (1u32 << shift)).min(Duration::from_secs(5));
                        tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "LLM call failed, retrying");
                        tokio::time::sleep(wait).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(())) => Ok(progress.finish(model)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LlmError::Timeout(timeout)),
        }
    }
}

fn map_send_error(e: reqwest::Error) -> LlmError {
    if e.is_connect() || e.is_timeout() {
        LlmError::Connect(error_chain(&e))
    } else if e.is_builder() {
        LlmError::Config(error_chain(&e))
    } else {
        // The connection dropped before a response head arrived.
        LlmError::Interrupted(error_chain(&e))
    }
}

/// reqwest's top-level message is vague ("error sending request"); the causes say why.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The `error` of an error body (`{"error":"..."}` or `{"error":{"message":"..."}}`),
/// else the body itself, shortened.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = error_field(&v) {
            return m;
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        shorten(text, 200)
    }
}

fn error_field(v: &Value) -> Option<String> {
    match v.get("error")? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(
            o.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn shorten(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// What has been received so far in one call (across attempts).
struct Progress {
    start: Instant,
    text: String,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    chunks: u64,
    attempts: u32,
    stats: Stats,
}

/// End-of-stream facts a decoder collects.
#[derive(Debug, Default)]
struct Stats {
    done_reason: Option<String>,
    model: Option<String>,
    server: ServerTimings,
}

impl Progress {
    fn new(start: Instant) -> Self {
        Self {
            start,
            text: String::new(),
            first_token: None,
            last_token: None,
            chunks: 0,
            attempts: 0,
            stats: Stats::default(),
        }
    }

    fn token(&mut self, t: &str, on_token: &mut (dyn FnMut(&str) + Send)) {
        if t.is_empty() {
            return;
        }
        let now = Instant::now();
        self.first_token.get_or_insert(now);
        self.last_token = Some(now);
        self.chunks += 1;
        self.text.push_str(t);
        on_token(t);
    }

    fn finish(self, requested_model: String) -> Completion {
        let total = self.start.elapsed();
        let server = self.stats.server;
        let tokens = server.eval_count.unwrap_or(self.chunks);
        let reported_rate = match (server.eval_count, server.eval_duration) {
            (Some(n), Some(d)) if !d.is_zero() => Some(n as f64 / d.as_secs_f64()),
            _ => None,
        };
        let measured_rate = match (self.first_token, self.last_token) {
            (Some(a), Some(b)) if self.chunks >= 2 && b > a => {
                // n chunks span n-1 gaps between the first and the last.
                Some((self.chunks - 1) as f64 / (b - a).as_secs_f64())
            }
            _ => None,
        };
        Completion {
            text: self.text,
            model: self.stats.model.unwrap_or(requested_model),
            done_reason: self.stats.done_reason,
            time_to_first_token: self.first_token.map(|t| t - self.start),
            total,
            tokens,
            tokens_per_s: reported_rate.or(measured_rate),
            server,
            attempts: self.attempts,
        }
    }
}

/// Turns the lines of one streamed response into tokens and end-of-stream facts.
trait Decoder: Send {
    /// One complete line (no line terminator). Returns a token, if any, and
    /// whether the stream is complete.
    fn line(&mut self, line: &str, stats: &mut Stats) -> Result<Step, LlmError>;
    /// Called when the body ends; `Ok(true)` if that is a proper end.
    fn eof(&mut self, stats: &mut Stats) -> Result<Step, LlmError>;
}

#[derive(Debug, Default, PartialEq)]
struct Step {
    token: Option<String>,
    end: bool,
}

/// Splits a byte stream into lines whatever the chunking; a line split across
/// TCP reads (even inside a UTF-8 sequence) is reassembled first.
#[derive(Default)]
struct LineBuf {
    buf: Vec<u8>,
}

impl LineBuf {
    fn push(&mut self, bytes: &[u8]) -> Result<(), LlmError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > MAX_LINE_BYTES && !self.buf.contains(&b'\n') {
            return Err(LlmError::Protocol(format!(
                "a line longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// The next complete line, without `\n` or `\r\n`.
    fn next_line(&mut self) -> Option<Result<String, LlmError>> {
        let pos = self.buf.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(
            String::from_utf8(line)
                .map_err(|_| LlmError::Protocol("a line that is not UTF-8".into())),
        )
    }

    /// Whatever is left when the body ends (a last line without a newline).
    fn rest(&mut self) -> Option<Result<String, LlmError>> {
        if self.buf.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.buf);
        Some(
            String::from_utf8(line)
                .map_err(|_| LlmError::Protocol("a line that is not UTF-8".into())),
        )
    }
}

async fn read_stream(
    mut resp: reqwest::Response,
    decoder: &mut dyn Decoder,
    progress: &mut Progress,
    on_token: &mut (dyn FnMut(&str) + Send),
) -> Result<(), LlmError> {
    let mut lines = LineBuf::default();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| LlmError::Interrupted(error_chain(&e)))?;
        let Some(chunk) = chunk else {
            if let Some(line) = lines.rest() {
                let step = decoder.line(&line?, &mut progress.stats)?;
                if let Some(t) = &step.token {
                    progress.token(t, on_token);
                }
                if step.end {
                    return Ok(());
                }
            }
            let step = decoder.eof(&mut progress.stats)?;
            if let Some(t) = &step.token {
                progress.token(t, on_token);
            }
            return if step.end {
                Ok(())
            } else {
                Err(LlmError::Interrupted(
                    "the server closed the stream before it was done".into(),
                ))
            };
        };
        lines.push(&chunk)?;
        while let Some(line) = lines.next_line() {
            let step = decoder.line(&line?, &mut progress.stats)?;
            if let Some(t) = &step.token {
                progress.token(t, on_token);
            }
            if step.end {
                // Done: do not wait for the server to close the connection.
                return Ok(());
            }
        }
    }
}

fn ns(v: Option<u64>) -> Option<Duration> {
    v.map(Duration::from_nanos)
}

fn garbage(line: &str, e: &serde_json::Error) -> LlmError {
    LlmError::Protocol(format!("not a JSON object ({e}): {:?}", shorten(line, 80)))
}

// ---------------------------------------------------------------------------
// Ollama

/// Ollama's native API.
pub struct OllamaClient {
    http: Http,
}

impl OllamaClient {
    pub fn new(settings: ClientSettings) -> Result<Self, LlmError> {
        Ok(Self {
            http: Http::new(settings)?,
        })
    }

    /// The JSON body of `POST /api/chat`.
    pub fn request_body(settings: &ClientSettings, model: &str, req: &ChatRequest) -> Value {
        let s = &settings.sampling;
        let mut options = json!({
            "temperature": s.temperature,
            "top_p": s.top_p,
            "num_predict": s.num_predict,
        });
        if let Some(seed) = req.seed {
            options["seed"] = json!(seed);
        }
        if !req.stop.is_empty() {
            options["stop"] = json!(req.stop);
        }
        let mut body = json!({
            "model": model,
            "messages": req.messages,
            "stream": true,
            "options": options,
        });
        if let Some(k) = &settings.keep_alive {
            body["keep_alive"] = json!(k);
        }
        body
    }
}

#[derive(Deserialize)]
struct OllamaLine {
    model: Option<String>,
    message: Option<OllamaMsg>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    eval_duration: Option<u64>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct OllamaMsg {
    #[serde(default)]
    content: String,
}

#[derive(Default)]
struct OllamaDecoder;

impl Decoder for OllamaDecoder {
    fn line(&mut self, line: &str, stats: &mut Stats) -> Result<Step, LlmError> {
        if line.trim().is_empty() {
            return Ok(Step::default());
        }
        let parsed: OllamaLine = serde_json::from_str(line).map_err(|e| garbage(line, &e))?;
        if let Some(err) = &parsed.error {
            let msg = match err {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(LlmError::Server(msg));
        }
        if parsed.model.is_some() {
            stats.model = parsed.model;
        }
        let token = parsed.message.map(|m| m.content).filter(|c| !c.is_empty());
        if parsed.done {
            stats.done_reason = parsed.done_reason;
            stats.server = ServerTimings {
                total: ns(parsed.total_duration),
                load: ns(parsed.load_duration),
                prompt_tokens: parsed.prompt_eval_count,
                eval_count: parsed.eval_count,
                eval_duration: ns(parsed.eval_duration),
            };
        }
        Ok(Step {
            token,
            end: parsed.done,
        })
    }

    fn eof(&mut self, _stats: &mut Stats) -> Result<Step, LlmError> {
        Ok(Step::default())
    }
}

impl LlmClient for OllamaClient {
    fn stream_chat<'a>(
        &'a self,
        req: ChatRequest,
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, LlmError>> {
        Box::pin(async move {
            let s = &self.http.settings;
            let model = req.model.clone().unwrap_or_else(|| s.model.clone());
            let body = Self::request_body(s, &model, &req);
            let url = format!("{}/api/chat", s.base_url);
            self.http
                .stream_with_retries(model, body, url, || Box::new(OllamaDecoder), on_token)
                .await
                .map_err(|e| wrong_api_hint(e, Provider::Ollama))
        })
    }

    fn check_model(&self) -> BoxFuture<'_, Result<ModelStatus, LlmError>> {
        Box::pin(async move {
            let s = &self.http.settings;
            let v = self
                .http
                .get_json(&format!("{}/api/tags", s.base_url))
                .await?;
            let models = v
                .get("models")
                .and_then(Value::as_array)
                .ok_or_else(|| LlmError::Protocol("/api/tags: no \"models\" list".into()))?;
            let available: Vec<String> = models
                .iter()
                .filter_map(|m| m.get("name").or_else(|| m.get("model")))
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            Ok(ModelStatus {
                wanted: s.model.clone(),
                found: model_matches(&available, &s.model),
                available,
                listing_is_binding: true,
            })
        })
    }

    fn provider(&self) -> Provider {
        Provider::Ollama
    }

    fn model(&self) -> &str {
        &self.http.settings.model
    }
}

// ---------------------------------------------------------------------------
// OpenAI-compatible

/// OpenAI-compatible chat completions (llama.cpp, vLLM, LM Studio, Ollama `/v1`).
pub struct OpenAiClient {
    http: Http,
}

impl OpenAiClient {
    pub fn new(settings: ClientSettings) -> Result<Self, LlmError> {
        Ok(Self {
            http: Http::new(settings)?,
        })
    }

    /// `base` with `/v1` once, whether or not the configured URL ends in it.
    fn v1(base: &str) -> String {
        if base.ends_with("/v1") {
            base.to_string()
        } else {
            format!("{base}/v1")
        }
    }

    /// The JSON body of `POST /v1/chat/completions`.
    pub fn request_body(settings: &ClientSettings, model: &str, req: &ChatRequest) -> Value {
        let s = &settings.sampling;
        let mut body = json!({
            "model": model,
            "messages": req.messages,
            "stream": true,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.num_predict,
            // Asks for a final chunk with token counts; servers that do not know it ignore it.
            "stream_options": {"include_usage": true},
        });
        if let Some(seed) = req.seed {
            body["seed"] = json!(seed);
        }
        if !req.stop.is_empty() {
            body["stop"] = json!(req.stop);
        }
        body
    }
}

/// Server-sent events: `data:` lines gathered until a blank line make one event.
#[derive(Default)]
struct SseDecoder {
    data: Option<String>,
    event: Option<String>,
    finished: bool,
}

impl SseDecoder {
    fn dispatch(&mut self, stats: &mut Stats) -> Result<Step, LlmError> {
        let event = self.event.take();
        let Some(data) = self.data.take() else {
            return Ok(Step::default());
        };
        if data.trim() == "[DONE]" {
            return Ok(Step {
                token: None,
                end: true,
            });
        }
        let v: Value = serde_json::from_str(&data).map_err(|e| garbage(&data, &e))?;
        if let Some(msg) = error_field(&v) {
            return Err(LlmError::Server(msg));
        }
        if event.as_deref() == Some("error") {
            return Err(LlmError::Server(shorten(&data, 200)));
        }
        if !v.is_object() {
            return Err(LlmError::Protocol(format!(
                "an event that is not a JSON object: {:?}",
                shorten(&data, 80)
            )));
        }
        if let Some(m) = v.get("model").and_then(Value::as_str) {
            stats.model = Some(m.to_string());
        }
        let mut token = None;
        if let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        {
            token = choice
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                stats.done_reason = Some(r.to_string());
                self.finished = true;
            }
        }
        if let Some(n) = v
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
        {
            stats.server.eval_count = Some(n);
        }
        if let Some(n) = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64) {
            stats.server.prompt_tokens = Some(n);
        }
        // llama.cpp's server adds its own timings to the last chunk.
        if let Some(t) = v.get("timings") {
            if let (Some(n), Some(ms)) = (
                t.get("predicted_n").and_then(Value::as_u64),
                t.get("predicted_ms").and_then(Value::as_f64),
            ) {
                stats.server.eval_count = Some(n);
                stats.server.eval_duration = Duration::try_from_secs_f64(ms / 1000.0).ok();
            }
        }
        Ok(Step { token, end: false })
    }
}

impl Decoder for SseDecoder {
    fn line(&mut self, line: &str, stats: &mut Stats) -> Result<Step, LlmError> {
        if line.is_empty() {
            return self.dispatch(stats);
        }
        if line.starts_with(':') {
            return Ok(Step::default()); // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            "id" | "retry" => {}
            _ => {
                // Not SSE at all (an HTML error page, a JSON body): say so.
                return Err(LlmError::Protocol(format!(
                    "not a server-sent event line: {:?}",
                    shorten(line, 80)
                )));
            }
        }
        Ok(Step::default())
    }

    fn eof(&mut self, stats: &mut Stats) -> Result<Step, LlmError> {
        let step = self.dispatch(stats)?;
        // Some servers close after the finish_reason chunk without `[DONE]`.
        Ok(Step {
            end: step.end || self.finished,
            ..step
        })
    }
}

impl LlmClient for OpenAiClient {
    fn stream_chat<'a>(
        &'a self,
        req: ChatRequest,
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, LlmError>> {
        Box::pin(async move {
            let s = &self.http.settings;
            let model = req.model.clone().unwrap_or_else(|| s.model.clone());
            let body = Self::request_body(s, &model, &req);
            let url = format!("{}/chat/completions", Self::v1(&s.base_url));
            self.http
                .stream_with_retries(model, body, url, || Box::<SseDecoder>::default(), on_token)
                .await
                .map_err(|e| wrong_api_hint(e, Provider::Openai))
        })
    }

    fn parallel_slots(&self) -> BoxFuture<'_, Option<usize>> {
        Box::pin(async move {
            // `/props` sits beside `/v1`, not under it.
            let base = self.http.settings.base_url.trim_end_matches('/');
            let base = base.strip_suffix("/v1").unwrap_or(base);
            let v = self.http.get_json(&format!("{base}/props")).await.ok()?;
            let n = v.get("total_slots").and_then(Value::as_u64)?;
            usize::try_from(n).ok().filter(|n| *n > 0)
        })
    }

    fn check_model(&self) -> BoxFuture<'_, Result<ModelStatus, LlmError>> {
        Box::pin(async move {
            let s = &self.http.settings;
            let v = self
                .http
                .get_json(&format!("{}/models", Self::v1(&s.base_url)))
                .await?;
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| LlmError::Protocol("/v1/models: no \"data\" list".into()))?;
            let available: Vec<String> = data
                .iter()
                .filter_map(|m| m.get("id").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            Ok(ModelStatus {
                wanted: s.model.clone(),
                found: model_matches(&available, &s.model),
                available,
                listing_is_binding: false,
            })
        })
    }

    fn provider(&self) -> Provider {
        Provider::Openai
    }

    fn model(&self) -> &str {
        &self.http.settings.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(dec: &mut dyn Decoder, chunks: &[&[u8]]) -> Result<(String, Stats, bool), LlmError> {
        let mut lines = LineBuf::default();
        let mut stats = Stats::default();
        let mut text = String::new();
        for c in chunks {
            lines.push(c)?;
            while let Some(l) = lines.next_line() {
                let step = dec.line(&l?, &mut stats)?;
                text.push_str(step.token.as_deref().unwrap_or(""));
                if step.end {
                    return Ok((text, stats, true));
                }
            }
        }
        if let Some(l) = lines.rest() {
            let step = dec.line(&l?, &mut stats)?;
            text.push_str(step.token.as_deref().unwrap_or(""));
            if step.end {
                return Ok((text, stats, true));
            }
        }
        let step = dec.eof(&mut stats)?;
        Ok((text, stats, step.end))
    }

    const OLLAMA: &str = concat!(
        r#"{"model":"m","message":{"role":"assistant","content":"Hé"},"done":false}"#,
        "\n",
        r#"{"model":"m","message":{"role":"assistant","content":"llo 👋"},"done":false}"#,
        "\n",
        r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":2000000000,"eval_count":20,"eval_duration":1000000000}"#,
        "\n"
    );

    #[test]
    fn ollama_lines_split_anywhere_still_parse() {
        let bytes = OLLAMA.as_bytes();
        for cut in 1..bytes.len() {
            // Every split point, including inside the multi-byte é and 👋.
            let (a, b) = bytes.split_at(cut);
            let (text, stats, end) = feed(&mut OllamaDecoder, &[a, b]).unwrap();
            assert_eq!(text, "Héllo 👋", "cut at {cut}");
            assert!(end);
            assert_eq!(stats.done_reason.as_deref(), Some("stop"));
            assert_eq!(stats.server.eval_count, Some(20));
            assert_eq!(stats.server.eval_duration, Some(Duration::from_secs(1)));
        }
        // One byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(feed(&mut OllamaDecoder, &singles).unwrap().0, "Héllo 👋");
    }

    #[test]
    fn ollama_error_and_garbage_lines_are_errors() {
        let err = feed(
            &mut OllamaDecoder,
            &[b"{\"message\":{\"content\":\"a\"}}\n{\"error\":\"out of memory\"}\n"],
        )
        .unwrap_err();
        assert_eq!(err, LlmError::Server("out of memory".into()));
        let err = feed(&mut OllamaDecoder, &[b"<html>oops</html>\n"]).unwrap_err();
        assert!(
            matches!(&err, LlmError::Protocol(m) if m.contains("<html>")),
            "{err}"
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn ollama_stream_without_done_is_not_complete() {
        let (_, _, end) = feed(
            &mut OllamaDecoder,
            &[b"{\"message\":{\"content\":\"a\"}}\n"],
        )
        .unwrap();
        assert!(!end);
    }

    #[test]
    fn sse_events_parse_with_crlf_comments_and_multiline_data() {
        let stream = concat!(
            ": keep-alive\r\n",
            "data: {\"model\":\"q\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data:{\"choices\":[{\"delta\":\n",
            "data: {\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"completion_tokens\":7,\"prompt_tokens\":30}}\n\n",
            "data: [DONE]\n\n",
        );
        for cut in 1..stream.len() {
            let (a, b) = stream.as_bytes().split_at(cut);
            let (text, stats, end) = feed(&mut SseDecoder::default(), &[a, b]).unwrap();
            assert_eq!(text, "Hi there", "cut at {cut}");
            assert!(end);
            assert_eq!(stats.done_reason.as_deref(), Some("stop"));
            assert_eq!(stats.server.eval_count, Some(7));
            assert_eq!(stats.model.as_deref(), Some("q"));
        }
    }

    #[test]
    fn sse_errors_and_non_sse_bodies_are_named() {
        let err = feed(
            &mut SseDecoder::default(),
            &[b"data: {\"error\":{\"message\":\"context too long\"}}\n\n"],
        )
        .unwrap_err();
        assert_eq!(err, LlmError::Server("context too long".into()));
        let err = feed(&mut SseDecoder::default(), &[b"{\"id\":1}\n"]).unwrap_err();
        assert!(matches!(err, LlmError::Protocol(_)), "{err}");
        let err = feed(&mut SseDecoder::default(), &[b"data: nope\n\n"]).unwrap_err();
        assert!(matches!(err, LlmError::Protocol(_)), "{err}");
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut lines = LineBuf::default();
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        assert!(matches!(lines.push(&big), Err(LlmError::Protocol(_))));
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(
            error_message(br#"{"error":{"message":"bad key","type":"auth"}}"#),
            "bad key"
        );
        assert_eq!(error_message(b"  Bad Gateway \n"), "Bad Gateway");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn only_server_trouble_is_retried() {
        assert!(LlmError::Connect("refused".into()).is_transient());
        assert!(
            LlmError::Status {
                status: 503,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !LlmError::Status {
                status: 400,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !LlmError::Status {
                status: 429,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !LlmError::ModelNotFound {
                model: "x".into(),
                message: String::new()
            }
            .is_transient()
        );
        assert!(!LlmError::Timeout(Duration::from_secs(1)).is_transient());
    }

    #[test]
    fn request_bodies_carry_the_options() {
        let settings = ClientSettings::for_url("http://127.0.0.1:1", "llama3.2");
        let req = ChatRequest {
            messages: vec![PromptMessage::system("be nice"), PromptMessage::user("hi")],
            model: None,
            seed: Some(7),
            stop: vec!["\n\n".into()],
        };
        let b = OllamaClient::request_body(&settings, "m1", &req);
        assert_eq!(b["model"], "m1");
        assert_eq!(b["stream"], true);
        assert_eq!(b["keep_alive"], "30m");
        assert_eq!(b["options"]["num_predict"], 120);
        assert_eq!(b["options"]["seed"], 7);
        assert_eq!(b["options"]["stop"][0], "\n\n");
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "hi");
        let b = OpenAiClient::request_body(&settings, "m2", &ChatRequest::default());
        assert_eq!(b["max_tokens"], 120);
        assert!(b.get("seed").is_none() && b.get("stop").is_none());
        assert_eq!(OpenAiClient::v1("http://h:1/v1"), "http://h:1/v1");
        assert_eq!(OpenAiClient::v1("http://h:1"), "http://h:1/v1");
    }

    #[test]
    fn config_validates_and_reads_the_key_from_env() {
        assert!(LlmConfig::default().validate().is_ok());
        let bad = LlmConfig {
            top_p: 1.5,
            ..LlmConfig::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("llm.top_p") && err.contains("0 to 1"), "{err}");
        let cfg: LlmConfig =
            toml::from_str("provider = \"openai\"\napi_key_env = \"LLM_KEY\"\n").unwrap();
        assert_eq!(cfg.provider, Provider::Openai);
        let err = ClientSettings::from_config(&cfg, &|_| None).unwrap_err();
        assert!(err.to_string().contains("LLM_KEY"), "{err}");
        let s = ClientSettings::from_config(&cfg, &|k| (k == "LLM_KEY").then(|| "sk-123".into()))
            .unwrap();
        assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("sk-123"));
        assert!(!format!("{s:?}").contains("sk-123"));
        assert!(toml::from_str::<LlmConfig>("provder = \"x\"").is_err());
    }

    #[test]
    fn sse_stream_closed_after_finish_without_done_marker_is_complete() {
        let stream =
            "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n";
        let (text, _, end) = feed(&mut SseDecoder::default(), &[stream.as_bytes()]).unwrap();
        assert_eq!(text, "ok");
        assert!(end);
        let cut = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n";
        let (_, _, end) = feed(&mut SseDecoder::default(), &[cut.as_bytes()]).unwrap();
        assert!(!end, "no finish_reason and no [DONE]: the stream broke off");
    }

    #[test]
    fn model_status_says_what_to_do() {
        let st = ModelStatus {
            wanted: "llama3.2".into(),
            found: false,
            available: vec!["qwen2.5:7b".into()],
            listing_is_binding: true,
        };
        let s = st.to_string();
        assert!(
            s.contains("not on the LLM server")
                && s.contains("qwen2.5:7b")
                && s.contains("ollama pull llama3.2"),
            "{s}"
        );
        let ok = ModelStatus {
            found: true,
            ..st.clone()
        };
        assert_eq!(ok.to_string(), "model llama3.2 is available");
        // llama.cpp lists its loaded file and serves it under any name: no
        // `ollama pull` advice there.
        let llama = ModelStatus {
            wanted: "smollm2".into(),
            available: vec!["SmolLM2-135M-Instruct.Q4_1.gguf".into()],
            listing_is_binding: false,
            ..st
        };
        let s = llama.to_string();
        assert!(
            !s.contains("ollama pull") && s.contains("drafting goes on"),
            "{s}"
        );
    }

    #[test]
    fn a_404_on_the_chat_endpoint_names_the_provider_to_set() {
        let e = wrong_api_hint(
            LlmError::Status {
                status: 404,
                message: "File Not Found".into(),
            },
            Provider::Ollama,
        );
        let s = e.to_string();
        assert!(
            s.contains("File Not Found") && s.contains("provider = \"openai\""),
            "{s}"
        );
        let s = wrong_api_hint(
            LlmError::Status {
                status: 404,
                message: "not found".into(),
            },
            Provider::Openai,
        )
        .to_string();
        assert!(s.contains("provider = \"ollama\""), "{s}");
        let other = LlmError::Status {
            status: 500,
            message: "boom".into(),
        };
        assert_eq!(wrong_api_hint(other.clone(), Provider::Ollama), other);
    }

    #[test]
    fn ollama_latest_tag_is_implicit() {
        let avail = vec!["llama3.2:latest".to_string(), "qwen2.5:7b".to_string()];
        assert!(model_matches(&avail, "llama3.2"));
        assert!(model_matches(&avail, "llama3.2:latest"));
        assert!(model_matches(&avail, "qwen2.5:7b"));
        assert!(!model_matches(&avail, "qwen2.5"));
        assert!(!model_matches(&avail, "llama3"));
    }
}
