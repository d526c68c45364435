//! A loopback Ollama server (`/api/chat` NDJSON streaming, `/api/tags`) driven
//! by a per-test script, plus the HTTP plumbing the OpenAI-compatible fake
//! shares. It records the requests it received and the timings it reported.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the fake does with one chat request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Streams the tokens, then a proper end. `split_lines` sends each line in
    /// two TCP writes, cut inside the JSON.
    Tokens {
        tokens: Vec<String>,
        first_delay: Duration,
        gap: Duration,
        split_lines: bool,
    },
    /// Answers with this status and JSON body, no stream.
    Status { status: u16, body: String },
    /// Streams `before`, then an error object with HTTP status 200.
    MidStreamError { before: Vec<String>, error: String },
    /// Streams `before`, then a line that is not JSON.
    Garbage { before: Vec<String>, line: String },
    /// Streams `before`, then breaks the connection without ending the body.
    Drop { before: Vec<String> },
    /// Streams `before`, then sends nothing ever again.
    HangAfter { before: Vec<String> },
    /// Never answers at all, not even the headers.
    Stall,
}

impl Reply {
    /// `text` streamed word by word with no delays.
    pub fn text(text: &str) -> Self {
        Reply::Tokens {
            tokens: split_tokens(text),
            first_delay: Duration::ZERO,
            gap: Duration::ZERO,
            split_lines: false,
        }
    }

    /// `text` word by word, the first token after `first_delay`, then `gap` apart.
    pub fn slow(text: &str, first_delay: Duration, gap: Duration) -> Self {
        Reply::Tokens {
            tokens: split_tokens(text),
            first_delay,
            gap,
            split_lines: false,
        }
    }

    /// Every line cut in two TCP writes 5 ms apart.
    pub fn split(text: &str) -> Self {
        Reply::Tokens {
            tokens: split_tokens(text),
            first_delay: Duration::ZERO,
            gap: Duration::ZERO,
            split_lines: true,
        }
    }
}

/// What a hostile model says: each must be defused by the output gate.
pub const HOSTILE: &[&str] = &[
    "/ban streamer",
    ".timeout x 600",
    "@everyone free skins!!",
    "hey @here, <@&123456> <@!42> look",
    "visit https://free-skins.example/claim now",
    "you are a badword and a worseword",
    "\u{200B}/ban streamer",
    "\u{FF0F}timeout someone 600",
    "\"/me is the best\"",
    "As an AI language model, /ban streamer",
];

/// About 6,000 characters of chatter, longer than any platform allows. The
/// sentences differ (numbered words): a repeated sentence or phrase is a loop
/// the gate blocks.
pub fn hostile_long() -> String {
    (0..130)
        .map(|i| format!("Item {i} went well for the w{i} team today. "))
        .collect()
}

/// Words kept whole with their following space, so joined tokens are the text.
pub fn split_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if c == ' ' {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

/// The timings the fake saw and reported for one streamed answer.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub received_at: Instant,
    pub first_token_at: Option<Instant>,
    pub last_token_at: Option<Instant>,
    pub tokens: usize,
    /// What the final line reported as `total_duration` / `eval_duration` (ns).
    pub reported_total_ns: Option<u64>,
    pub reported_eval_ns: Option<u64>,
}

impl Served {
    /// Time to first token as the fake saw it.
    pub fn ttft(&self) -> Option<Duration> {
        self.first_token_at.map(|t| t - self.received_at)
    }
}

/// How one wire protocol frames the stream.
pub trait Dialect: Send + Sync + 'static {
    fn content_type(&self) -> &'static str;
    /// Route for `(method, path)`.
    fn route(&self, method: &str, path: &str) -> Route;
    fn models_body(&self, models: &[String]) -> String;
    /// `Some((status, body))` when the model is unknown to the server.
    fn unknown_model(&self, model: &str, models: &[String]) -> Option<(u16, String)>;
    fn token(&self, model: &str, token: &str) -> String;
    fn done(&self, model: &str, stats: &DoneStats) -> String;
    fn error(&self, message: &str) -> String;
    /// `Some` when the request's credentials are refused.
    fn refuse(&self, authorization: Option<&str>) -> Option<(u16, String)>;
}

pub enum Route {
    Chat,
    Models,
    /// A fixed JSON answer (e.g. llama.cpp's `/props`).
    Json(String),
    NotFound,
}

pub struct DoneStats {
    pub tokens: usize,
    pub total_ns: u64,
    pub eval_ns: u64,
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    models: Vec<String>,
    received: Vec<Received>,
    served: Vec<Served>,
}

/// A running fake; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub async fn start(dialect: impl Dialect) -> Self {
        Self::start_at(dialect, "127.0.0.1:0").await
    }

    /// On a given address, e.g. the port of a server that was down and comes back.
    pub async fn start_at(dialect: impl Dialect, addr: &str) -> Self {
        // A fake just dropped on this port lets go of it on its task's next poll.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries < 100 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("bind {addr}: {e}"),
            }
        };
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            default: Reply::text("Hello chat!"),
            models: vec!["llama3.2:latest".to_string()],
            received: Vec::new(),
            served: Vec::new(),
        }));
        let dialect = Arc::new(dialect);
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Like Ollama's Go server: no Nagle delay on small streamed writes.
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                let dialect = dialect.clone();
                // Connections live in the JoinSet, so stopping the fake ends them too.
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(req, st.clone(), dialect.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeServer { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the reply for the next chat request; the default answers after the queue.
    pub fn push(&self, reply: Reply) -> &Self {
        self.lock().script.push_back(reply);
        self
    }

    pub fn set_default(&self, reply: Reply) {
        self.lock().default = reply;
    }

    pub fn set_models(&self, models: &[&str]) {
        self.lock().models = models.iter().map(|m| m.to_string()).collect();
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Chat requests only.
    pub fn chats(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    pub fn served(&self) -> Vec<Served> {
        self.lock().served.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A streamed body fed from a channel; an `Err` breaks the connection.
pub struct ChanBody(mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

fn full(status: u16, content_type: &str, body: String) -> Response<ChanBody> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Ok(Frame::data(Bytes::from(body))));
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(ChanBody(rx))
        .expect("valid response")
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    dialect: Arc<dyn Dialect>,
) -> Result<Response<ChanBody>, Infallible> {
    fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
        s.lock().unwrap_or_else(|p| p.into_inner())
    }
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let received_at = Instant::now();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    lock(&state).received.push(Received {
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
        content_type,
        body: body.clone(),
    });
    if let Some((status, b)) = dialect.refuse(authorization.as_deref()) {
        return Ok(full(status, "application/json", b));
    }
    match dialect.route(&method, &path) {
        Route::NotFound => {
            return Ok(full(404, "text/plain", "404 page not found".into()));
        }
        Route::Models => {
            let models = lock(&state).models.clone();
            return Ok(full(200, "application/json", dialect.models_body(&models)));
        }
        Route::Json(body) => return Ok(full(200, "application/json", body)),
        Route::Chat => {}
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (reply, models) = {
        let mut s = lock(&state);
        let r = s.script.pop_front().unwrap_or_else(|| s.default.clone());
        (r, s.models.clone())
    };
    if let Some((status, b)) = dialect.unknown_model(&model, &models) {
        return Ok(full(status, "application/json", b));
    }
    let (before, end) = match reply {
        Reply::Status { status, body } => return Ok(full(status, "application/json", body)),
        Reply::Stall => return std::future::pending().await,
        Reply::Tokens {
            tokens,
            first_delay,
            gap,
            split_lines,
        } => (
            Plan {
                tokens,
                first_delay,
                gap,
                split_lines,
            },
            End::Done,
        ),
        Reply::MidStreamError { before, error } => (Plan::quick(before), End::Error(error)),
        Reply::Garbage { before, line } => (Plan::quick(before), End::Garbage(line)),
        Reply::Drop { before } => (Plan::quick(before), End::Drop),
        Reply::HangAfter { before } => (Plan::quick(before), End::Hang),
    };
    let (tx, rx) = mpsc::channel(16);
    let served_index = {
        let mut s = lock(&state);
        s.served.push(Served {
            received_at,
            first_token_at: None,
            last_token_at: None,
            tokens: 0,
            reported_total_ns: None,
            reported_eval_ns: None,
        });
        s.served.len() - 1
    };
    let ct = dialect.content_type();
    tokio::spawn(stream_reply(
        tx,
        before,
        end,
        model,
        dialect,
        state,
        served_index,
        received_at,
    ));
    Ok(Response::builder()
        .status(200)
        .header("content-type", ct)
        .body(ChanBody(rx))
        .expect("valid response"))
}

struct Plan {
    tokens: Vec<String>,
    first_delay: Duration,
    gap: Duration,
    split_lines: bool,
}

impl Plan {
    fn quick(tokens: Vec<String>) -> Self {
        Plan {
            tokens,
            first_delay: Duration::ZERO,
            gap: Duration::ZERO,
            split_lines: false,
        }
    }
}

enum End {
    Done,
    Error(String),
    Garbage(String),
    Drop,
    Hang,
}

type Tx = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

async fn send_line(tx: &Tx, line: String, split: bool) -> bool {
    if split && line.len() > 2 {
        // Cut at a byte in the middle (even inside a UTF-8 sequence), with a pause
        // so the halves arrive in separate TCP reads.
        let bytes = line.into_bytes();
        let mid = bytes.len() / 2;
        let (a, b) = bytes.split_at(mid);
        if tx
            .send(Ok(Frame::data(Bytes::copy_from_slice(a))))
            .await
            .is_err()
        {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        return tx
            .send(Ok(Frame::data(Bytes::copy_from_slice(b))))
            .await
            .is_ok();
    }
    tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_ok()
}

#[allow(clippy::too_many_arguments)]
async fn stream_reply(
    tx: Tx,
    plan: Plan,
    end: End,
    model: String,
    dialect: Arc<dyn Dialect>,
    state: Arc<Mutex<State>>,
    index: usize,
    received_at: Instant,
) {
    let update = |f: &dyn Fn(&mut Served)| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sv) = s.served.get_mut(index) {
            f(sv);
        }
    };
    let mut first = None;
    let mut last = None;
    for (i, tok) in plan.tokens.iter().enumerate() {
        let wait = if i == 0 { plan.first_delay } else { plan.gap };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let now = Instant::now();
        first.get_or_insert(now);
        last = Some(now);
        let n = i + 1;
        update(&|s| {
            s.first_token_at.get_or_insert(now);
            s.last_token_at = Some(now);
            s.tokens = n;
        });
        if !send_line(&tx, dialect.token(&model, tok), plan.split_lines).await {
            return;
        }
    }
    match end {
        End::Done => {
            let stats = DoneStats {
                tokens: plan.tokens.len(),
                total_ns: received_at.elapsed().as_nanos() as u64,
                eval_ns: match (first, last) {
                    (Some(a), Some(b)) => (b - a).as_nanos() as u64,
                    _ => 0,
                },
            };
            update(&|s| {
                s.reported_total_ns = Some(stats.total_ns);
                s.reported_eval_ns = Some(stats.eval_ns);
            });
            send_line(&tx, dialect.done(&model, &stats), plan.split_lines).await;
        }
        End::Error(msg) => {
            send_line(&tx, dialect.error(&msg), false).await;
        }
        End::Garbage(line) => {
            send_line(&tx, format!("{line}\n"), false).await;
        }
        End::Drop => {
            // Give the last token time to leave, then break the chunked body.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = tx
                .send(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake drops the connection",
                )))
                .await;
        }
        End::Hang => {
            std::future::pending::<()>().await;
        }
    }
}

// ---------------------------------------------------------------------------
// Ollama's dialect

pub struct Ollama;

fn ollama_has(models: &[String], wanted: &str) -> bool {
    models.iter().any(|m| {
        m == wanted || (!wanted.contains(':') && m.strip_suffix(":latest") == Some(wanted))
    })
}

const CREATED_AT: &str = "2026-11-21T20:00:00.000000Z";

impl Dialect for Ollama {
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn route(&self, method: &str, path: &str) -> Route {
        match (method, path) {
            ("POST", "/api/chat") => Route::Chat,
            ("GET", "/api/tags") => Route::Models,
            _ => Route::NotFound,
        }
    }

    fn models_body(&self, models: &[String]) -> String {
        let list: Vec<Value> = models
            .iter()
            .map(|m| {
                json!({"name": m, "model": m, "modified_at": CREATED_AT, "size": 2019393189u64,
                       "digest": "a80c4f17acd5", "details": {"format": "gguf", "family": "llama"}})
            })
            .collect();
        json!({ "models": list }).to_string()
    }

    fn unknown_model(&self, model: &str, models: &[String]) -> Option<(u16, String)> {
        if model.is_empty() {
            return Some((400, json!({"error": "model is required"}).to_string()));
        }
        (!ollama_has(models, model)).then(|| {
            (
                404,
                json!({"error": format!("model '{model}' not found")}).to_string(),
            )
        })
    }

    fn token(&self, model: &str, token: &str) -> String {
        let mut s = json!({"model": model, "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": token}, "done": false})
        .to_string();
        s.push('\n');
        s
    }

    fn done(&self, model: &str, st: &DoneStats) -> String {
        let mut s = json!({"model": model, "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": ""},
            "done_reason": "stop", "done": true,
            "total_duration": st.total_ns, "load_duration": 1000u64,
            "prompt_eval_count": 26, "prompt_eval_duration": 1000u64,
            "eval_count": st.tokens, "eval_duration": st.eval_ns})
        .to_string();
        s.push('\n');
        s
    }

    fn error(&self, message: &str) -> String {
        format!("{}\n", json!({ "error": message }))
    }

    fn refuse(&self, _authorization: Option<&str>) -> Option<(u16, String)> {
        None
    }
}

/// Starts a fake Ollama on a free loopback port.
pub async fn start() -> FakeServer {
    FakeServer::start(Ollama).await
}

/// Starts a fake Ollama on `addr` (e.g. "127.0.0.1:40123").
pub async fn start_at(addr: &str) -> FakeServer {
    FakeServer::start_at(Ollama, addr).await
}

/// A loopback address nothing listens on right now.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}
