//! The running clank: chat sources -> the core (on its own thread) -> drafts
//! (LLM, output gate) -> auto policy or operator -> sinks, plus the agent and
//! avatar integrations, all stopped by one `CancellationToken`.
//!
//! # API for front ends (console, headless)
//!
//! ```text
//! let (events_tx, events_rx) = tokio::sync::mpsc::channel(1024);
//! // any number of sources push `ChatEvent`s into clones of `events_tx`:
//! runtime::spawn_chatlog_source(path, ChatLogOptions { .. }, events_tx, cancel.clone());
//! let rt = runtime::start(RuntimeOptions::new(config, store, events_rx))?;
//! // rt.updates:  mpsc::Receiver<Update>   what happened, in order (session.rs)
//! // rt.requests: mpsc::Sender<Request>    what the operator asks (session.rs)
//! // rt.cancel:   CancellationToken        cancel() = shut down (as Request::Quit)
//! // rt.join:     JoinHandle<Result<RunSummary, RuntimeError>>
//! ```
//!
//! Every `Request` is handled here, so a front end is only a view. `Clock::Wall`
//! (live, the demo) ticks the core four times a second and drafts concurrently;
//! `Clock::Virtual` (replay) takes time from the events and finishes each draft,
//! agent push and avatar call before the next event, so output is deterministic.
//! With `exit_when_sources_end`, the runtime stops once every source sender is
//! dropped and nothing is in flight.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::chatlog::ChatLogReader;
use crate::config::Config;
use crate::core::{Core, CoreEvent};
use crate::engine::filter::ContentFilter;
use crate::engine::salience::SalienceWeights;
use crate::integrations::agent::{AgentClient, ChatStats, listen_guidance};
use crate::integrations::avatar::{AvatarClient, AvatarSpeak};
use crate::model::{
    AttentionState, ChannelConfig, ChatEvent, DraftId, DraftSource, DraftState, DraftView,
    MessageKey, Platform, Priority,
};
use crate::replay::{Speed, shifted};
use crate::reply::context::Guidance;
use crate::reply::llm::LlmClient;
use crate::reply::pipeline::{
    DraftGoal, DraftOutcome, DraftParams, Drafter, PipelineEvent, SharedGuidance,
};
use crate::reply::policy::{AutoPolicy, DraftFacts};
use crate::session::{Component, Health, QueueItem, Request, Snapshot, Update};
use crate::store::{NewResponse, ResponseStatus, Store};

/// A boxed, sendable future (keeps [`Sink`] dyn-compatible).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the runtime could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("core: {0}")]
    Core(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the core thread stopped")]
    CoreGone,
    #[error("cannot start the core thread: {0}")]
    Spawn(std::io::Error),
}

/// One reply leaving clank.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outbound {
    pub draft: DraftId,
    pub platform: Platform,
    pub channel: String,
    /// Exactly what goes on the wire (already through the output gate).
    pub text: String,
    /// The platform id of the message answered.
    pub reply_to: Option<String>,
}

/// Why a sink could not deliver.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where sent replies go: a platform adapter, or a recorder in replay.
pub trait Sink: Send + Sync {
    fn send<'a>(&'a self, m: &'a Outbound) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Keeps every reply instead of sending it (replay, tests).
#[derive(Debug, Default)]
pub struct RecordingSink {
    sent: Mutex<Vec<Outbound>>,
}

impl RecordingSink {
    pub fn sent(&self) -> Vec<Outbound> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Sink for RecordingSink {
    fn send<'a>(&'a self, m: &'a Outbound) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.sent
                .lock()
                .map_err(|_| SinkError("recorder poisoned".into()))?
                .push(m.clone());
            Ok(())
        })
    }
}

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock; the core is ticked four times a second.
    Wall,
    /// The events' own times (never backwards); drafts finish before the next event.
    Virtual,
}

/// How to run.
pub struct RuntimeOptions {
    pub config: Config,
    pub store: Store,
    /// Every source's events, merged (clone the sender for more sources).
    pub events: mpsc::Receiver<ChatEvent>,
    pub clock: Clock,
    /// Send drafts the auto policy allows without the operator.
    pub auto_send: bool,
    pub sink: Arc<dyn Sink>,
    /// The LLM; `None` = connect as the config says.
    pub llm: Option<Arc<dyn LlmClient>>,
    /// Seeds the attention machine and the drafts.
    pub seed: u64,
    pub exit_when_sources_end: bool,
    /// Send `Update::Snapshot`s (the console wants them, the JSON log does not).
    pub snapshots: bool,
    /// Capacity of the update channel.
    pub update_capacity: usize,
    pub cancel: CancellationToken,
}

impl RuntimeOptions {
    /// Live defaults: wall clock, no auto-send, a recording sink, snapshots on.
    pub fn new(config: Config, store: Store, events: mpsc::Receiver<ChatEvent>) -> Self {
        let seed = config.attention.seed.unwrap_or(42);
        Self {
            config,
            store,
            events,
            clock: Clock::Wall,
            auto_send: false,
            sink: Arc::new(RecordingSink::default()),
            llm: None,
            seed,
            exit_when_sources_end: false,
            snapshots: true,
            update_capacity: 4096,
            cancel: CancellationToken::new(),
        }
    }
}

/// A started runtime.
pub struct Runtime {
    pub updates: mpsc::Receiver<Update>,
    pub requests: mpsc::Sender<Request>,
    pub cancel: CancellationToken,
    pub join: JoinHandle<Result<RunSummary, RuntimeError>>,
}

/// What a run did (the headless log's final `summary` line).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub events: u64,
    pub drafts: u64,
    pub fallbacks: u64,
    pub sent: u64,
    pub blocked: u64,
    pub withdrawn: u64,
    pub expired: u64,
    pub rejected: u64,
    pub failed: u64,
    pub held: u64,
    pub skipped_answered: u64,
    pub agent_updates: u64,
    pub avatar_calls: u64,
    /// The core's counters and time per state.
    pub core: serde_json::Value,
}

/// Starts the runtime on the current tokio runtime.
pub fn start(opts: RuntimeOptions) -> Result<Runtime, RuntimeError> {
    opts.config.validate()?;
    let (updates_tx, updates_rx) = mpsc::channel(opts.update_capacity.max(16));
    let (requests_tx, requests_rx) = mpsc::channel(256);
    let cancel = opts.cancel.clone();
    let core = CoreHandle::spawn(opts.config.clone(), opts.store.clone(), opts.seed)?;
    let llm = match opts.llm.clone() {
        Some(l) => Some(l),
        None => match crate::reply::llm::connect(&opts.config.llm, &|k| std::env::var(k).ok()) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("LLM: {e}");
                None
            }
        },
    };
    let persona = opts.config.reply.load_persona()?;
    let fallbacks = opts.config.reply.load_fallbacks()?;
    let guidance: SharedGuidance = Arc::new(RwLock::new(None));
    let drafter = Arc::new(Drafter {
        llm,
        store: opts.store.clone(),
        persona,
        fallbacks,
        output: opts.config.reply.output_policy(),
        filter: Arc::new(ContentFilter::load(&opts.config.filter)),
        token_budget: opts.config.reply.token_budget,
        timeout: Duration::from_secs(opts.config.llm.timeout_s) + Duration::from_millis(500),
        guidance: guidance.clone(),
    });
    let timeout = |s: u64| Duration::from_secs(s);
    let agent = opts
        .config
        .agent
        .webhook_url
        .as_deref()
        .and_then(|u| AgentClient::new(u, timeout(opts.config.agent.timeout_s)).ok());
    let avatar = opts
        .config
        .avatar
        .endpoint_url
        .as_deref()
        .and_then(|u| AvatarClient::new(u, timeout(opts.config.avatar.timeout_s)).ok())
        .map(|c| (c, opts.config.avatar.speak));
    let (side_tx, side_rx) = mpsc::channel(256);
    let conductor = Conductor {
        policy: AutoPolicy::new(opts.config.auto.clone()),
        topic: opts.config.salience.topic.clone(),
        agent_interval: ChronoDuration::seconds(opts.config.agent.interval_s as i64),
        config: opts.config,
        clock: opts.clock,
        now: None,
        core,
        drafter,
        guidance,
        drafts: BTreeMap::new(),
        answered: HashSet::new(),
        updates: updates_tx,
        sink: opts.sink,
        store: opts.store,
        auto_send: opts.auto_send,
        paused: false,
        stats: ChatStats::default(),
        agent,
        next_agent_at: None,
        avatar,
        side_tx,
        in_flight: 0,
        seed: opts.seed,
        seq: 0,
        summary: RunSummary::default(),
        health: Default::default(),
        snapshots: opts.snapshots,
        dirty: true,
        sent_total: 0,
        rejected_total: 0,
        model_checked: false,
    };
    let join = tokio::spawn(conductor.run(
        opts.events,
        requests_rx,
        side_rx,
        opts.cancel.clone(),
        opts.exit_when_sources_end,
    ));
    Ok(Runtime {
        updates: updates_rx,
        requests: requests_tx,
        cancel,
        join,
    })
}

// ---------------------------------------------------------------------------
// The core on its own thread (its store calls block).

/// A draft the core asked for, with the channel's settings.
struct Job {
    goal: DraftGoal,
    channel: ChannelConfig,
}

#[derive(Default)]
struct CoreOut {
    events: Vec<CoreEvent>,
    salience: Option<crate::model::Salience>,
    jobs: Vec<Job>,
    snapshot: Option<Box<Snapshot>>,
    summary: Option<serde_json::Value>,
    error: Option<String>,
}

// Commands move once through a channel; boxing the event would add an allocation per message.
#[allow(clippy::large_enum_variant)]
enum CoreCmd {
    Handle(ChatEvent, DateTime<Utc>),
    Tick(DateTime<Utc>),
    Force(AttentionState, DateTime<Utc>),
    Topic(String),
    Weights(SalienceWeights),
    BotMessage(Platform, String, DateTime<Utc>),
    TakeQueued(Platform, String, DateTime<Utc>),
    Snapshot(DateTime<Utc>),
    Summary(DateTime<Utc>),
}

impl CoreCmd {
    fn now(&self) -> Option<DateTime<Utc>> {
        match self {
            CoreCmd::Handle(_, t)
            | CoreCmd::Tick(t)
            | CoreCmd::Force(_, t)
            | CoreCmd::BotMessage(_, _, t)
            | CoreCmd::TakeQueued(_, _, t)
            | CoreCmd::Snapshot(t)
            | CoreCmd::Summary(t) => Some(*t),
            CoreCmd::Topic(_) | CoreCmd::Weights(_) => None,
        }
    }
}

type CoreMsg = (CoreCmd, oneshot::Sender<CoreOut>);

struct CoreHandle {
    tx: std::sync::mpsc::Sender<CoreMsg>,
}

impl CoreHandle {
    fn spawn(config: Config, store: Store, seed: u64) -> Result<Self, RuntimeError> {
        let (tx, rx) = std::sync::mpsc::channel::<CoreMsg>();
        std::thread::Builder::new()
            .name("clank-core".into())
            .spawn(move || core_thread(config, store, seed, rx))
            .map_err(RuntimeError::Spawn)?;
        Ok(Self { tx })
    }

    async fn call(&self, cmd: CoreCmd) -> Result<CoreOut, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .map_err(|_| RuntimeError::CoreGone)?;
        rx.await.map_err(|_| RuntimeError::CoreGone)
    }
}

fn core_thread(config: Config, store: Store, seed: u64, rx: std::sync::mpsc::Receiver<CoreMsg>) {
    let mut core: Option<Core> = None;
    let mut topic = config.salience.topic.clone();
    let mut pending_weights: Option<SalienceWeights> = None;
    while let Ok((cmd, reply)) = rx.recv() {
        let mut out = CoreOut::default();
        // The core is built at the first moment it is told the time, so a
        // replay starts its attention machine at the log's first event.
        if core.is_none()
            && let Some(now) = cmd.now()
        {
            match Core::new(&config, store.clone(), seed, now) {
                Ok((mut c, events)) => {
                    out.events = events;
                    c.set_topic(&topic);
                    if let Some(w) = pending_weights.take() {
                        let _ = c.set_weights(w);
                    }
                    core = Some(c);
                }
                Err(e) => {
                    out.error = Some(format!("cannot start the core: {e}"));
                    let _ = reply.send(out);
                    continue;
                }
            }
        }
        let result = match (&mut core, cmd) {
            (_, CoreCmd::Topic(t)) => {
                topic = t;
                if let Some(c) = core.as_mut() {
                    c.set_topic(&topic);
                }
                Ok(())
            }
            (None, CoreCmd::Weights(w)) => {
                pending_weights = Some(w);
                Ok(())
            }
            (Some(c), CoreCmd::Weights(w)) => c.set_weights(w).map_err(|e| e.to_string()),
            (None, _) => Ok(()),
            (Some(c), CoreCmd::Handle(ev, now)) => c
                .handle(ev, now, &mut out.events)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    out.salience = c.take_last_salience();
                    collect_jobs(c, &mut out, now)
                }),
            (Some(c), CoreCmd::Tick(now)) => c
                .tick(now, &mut out.events)
                .map_err(|e| e.to_string())
                .and_then(|()| collect_jobs(c, &mut out, now)),
            (Some(c), CoreCmd::Force(st, now)) => {
                c.force_state(st, now, &mut out.events);
                Ok(())
            }
            (Some(c), CoreCmd::BotMessage(p, ch, now)) => {
                c.on_bot_message(p, &ch, now);
                Ok(())
            }
            (Some(c), CoreCmd::TakeQueued(p, id, _)) => match c.take_queued(p, &id) {
                Ok(Some((m, priority))) => {
                    let priority = Some(priority);
                    match c.channel_config(m.platform, &m.channel) {
                        Ok(cfg) => {
                            out.jobs.push(Job {
                                goal: DraftGoal::Answer {
                                    message: m,
                                    priority,
                                },
                                channel: cfg,
                            });
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                Ok(None) => Err(format!("message {id} is not in the queue")),
                Err(e) => Err(e.to_string()),
            },
            (Some(c), CoreCmd::Snapshot(now)) => {
                out.snapshot = Some(Box::new(core_snapshot(c, now)));
                Ok(())
            }
            (Some(c), CoreCmd::Summary(now)) => {
                out.summary = Some(core_summary(c, now));
                Ok(())
            }
        };
        if let Err(e) = result {
            out.error = Some(e);
        }
        let _ = reply.send(out);
    }
}

/// Turns the core's selections and triggers into draft jobs.
fn collect_jobs(c: &mut Core, out: &mut CoreOut, _now: DateTime<Utc>) -> Result<(), String> {
    let selected = c.take_selected();
    for ev in &out.events {
        match ev {
            CoreEvent::Selected {
                id,
                platform,
                priority,
                ..
            } => {
                if let Some(m) = selected
                    .iter()
                    .find(|m| m.id == *id && m.platform == *platform)
                {
                    let cfg = c
                        .channel_config(m.platform, &m.channel)
                        .map_err(|e| e.to_string())?;
                    out.jobs.push(Job {
                        goal: DraftGoal::Answer {
                            message: m.clone(),
                            priority: Some(*priority),
                        },
                        channel: cfg,
                    });
                }
            }
            CoreEvent::Trigger {
                kind,
                platform,
                channel,
                id,
                ..
            } => {
                let cfg = c
                    .channel_config(*platform, channel)
                    .map_err(|e| e.to_string())?;
                if kind == "unprompted" {
                    out.jobs.push(Job {
                        goal: DraftGoal::Unprompted {
                            platform: *platform,
                            channel: channel.clone(),
                        },
                        channel: cfg,
                    });
                } else if kind == "mention" {
                    // A direct mention is answered now, taken out of the queue
                    // so the attention machine does not pick it a second time.
                    if let Some((m, priority)) =
                        c.take_queued(*platform, id).map_err(|e| e.to_string())?
                    {
                        out.jobs.push(Job {
                            goal: DraftGoal::Answer {
                                message: m,
                                priority: Some(priority),
                            },
                            channel: cfg,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn core_snapshot(c: &Core, now: DateTime<Utc>) -> Snapshot {
    let att = c.attention();
    let queue: Vec<QueueItem> = c
        .queue()
        .iter_sorted()
        .take(300)
        .map(|e| QueueItem {
            message: e.message.clone(),
            salience: e.salience.clone(),
        })
        .collect();
    let mut msgs = [0.0; 3];
    for p in Platform::ALL {
        msgs[p.index()] = f64::from(att.velocity(p, now));
    }
    Snapshot {
        at: now,
        state: att.state(),
        state_since: att.entered_at(),
        next_transition_at: att.next_transition_at(),
        auto_send: false,
        paused: false,
        topic: String::new(),
        weights: SalienceWeights::default(),
        queue_len: c.queue().len(),
        queue,
        sent: 0,
        rejected: 0,
        msgs_per_min: msgs,
        counts_by_priority: c.counters().by_priority,
    }
}

fn core_summary(c: &Core, now: DateTime<Utc>) -> serde_json::Value {
    let seconds = c.state_seconds(now);
    let mut per_state = serde_json::Map::new();
    for st in AttentionState::ALL {
        per_state.insert(
            st.as_str().into(),
            json!((seconds[st.index()] * 10.0).round() / 10.0),
        );
    }
    json!({
        "counts": c.counters(),
        "seconds_per_state": per_state,
        "virtual_seconds": (now - c.started_at()).num_milliseconds() as f64 / 1000.0,
    })
}

// ---------------------------------------------------------------------------
// The conductor: one task that owns the reply side's state.

struct LiveDraft {
    view: DraftView,
    goal: DraftGoal,
    channel: ChannelConfig,
    created_at: DateTime<Utc>,
}

/// Results of work done off the conductor (wall-clock mode).
enum Side {
    Draft(DraftId, DraftOutcome),
    Agent(String, serde_json::Value, Result<Option<Guidance>, String>),
    Avatar(DraftId, Result<String, String>),
    Model(Result<String, String>),
}

struct Conductor {
    config: Config,
    clock: Clock,
    now: Option<DateTime<Utc>>,
    core: CoreHandle,
    drafter: Arc<Drafter>,
    guidance: SharedGuidance,
    drafts: BTreeMap<DraftId, LiveDraft>,
    /// Messages drafted for in this run (one draft per message, bar Regenerate).
    answered: HashSet<MessageKey>,
    updates: mpsc::Sender<Update>,
    sink: Arc<dyn Sink>,
    store: Store,
    policy: AutoPolicy,
    auto_send: bool,
    paused: bool,
    topic: String,
    stats: ChatStats,
    agent: Option<AgentClient>,
    agent_interval: ChronoDuration,
    next_agent_at: Option<DateTime<Utc>>,
    avatar: Option<(AvatarClient, AvatarSpeak)>,
    side_tx: mpsc::Sender<Side>,
    in_flight: usize,
    seed: u64,
    seq: u64,
    summary: RunSummary,
    health: std::collections::HashMap<Component, Health>,
    snapshots: bool,
    dirty: bool,
    sent_total: u64,
    rejected_total: u64,
    model_checked: bool,
}

const LIVE: [DraftState; 4] = [
    DraftState::Streaming,
    DraftState::Pending,
    DraftState::Approved,
    DraftState::Edited,
];

impl Conductor {
    fn now(&self) -> DateTime<Utc> {
        match self.clock {
            Clock::Wall => Utc::now(),
            Clock::Virtual => self.now.unwrap_or_else(Utc::now),
        }
    }

    async fn emit(&self, u: Update) {
        let _ = self.updates.send(u).await;
    }

    async fn log(&self, e: PipelineEvent) {
        self.emit(Update::Pipeline(e)).await;
    }

    async fn error(&self, what: String) {
        let at = self.now();
        tracing::warn!("{what}");
        self.emit(Update::Error { at, what }).await;
    }

    async fn set_health(&mut self, component: Component, health: Health) {
        if self.health.get(&component) == Some(&health) {
            return;
        }
        self.health.insert(component.clone(), health.clone());
        self.emit(Update::Health { component, health }).await;
    }

    async fn run(
        mut self,
        mut events: mpsc::Receiver<ChatEvent>,
        mut requests: mpsc::Receiver<Request>,
        mut side_rx: mpsc::Receiver<Side>,
        cancel: CancellationToken,
        exit_when_sources_end: bool,
    ) -> Result<RunSummary, RuntimeError> {
        self.startup(&cancel).await;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut sources_open = true;
        let wall = self.clock == Clock::Wall;
        let mut result = Ok(());
        loop {
            if !sources_open && exit_when_sources_end && self.in_flight == 0 {
                break;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(req) = requests.recv() => {
                    if matches!(req, Request::Quit) {
                        cancel.cancel();
                        break;
                    }
                    if let Err(e) = self.on_request(req, &cancel).await {
                        result = Err(e);
                        break;
                    }
                }
                Some(side) = side_rx.recv() => {
                    if let Err(e) = self.on_side(side, &cancel).await {
                        result = Err(e);
                        break;
                    }
                }
                ev = events.recv(), if sources_open => match ev {
                    Some(ev) => {
                        if let Err(e) = self.on_event(ev, &cancel).await {
                            result = Err(e);
                            break;
                        }
                    }
                    None => sources_open = false,
                },
                _ = tick.tick(), if wall => {
                    if let Err(e) = self.on_tick(&cancel).await {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        result?;
        let now = self.now();
        let out = self.core.call(CoreCmd::Summary(now)).await?;
        self.summary.core = out.summary.unwrap_or(serde_json::Value::Null);
        self.store.flush_async().await?;
        Ok(self.summary)
    }

    async fn startup(&mut self, cancel: &CancellationToken) {
        // Drafts live in memory: any the last run left unsent can never go
        // out now, so the store says so instead of showing them as waiting.
        match self.store.expire_unsent_responses_async().await {
            Ok(0) => {}
            Ok(n) => {
                let what = format!("{n} unsent drafts from an earlier run marked expired");
                tracing::info!("{what}");
                self.emit(Update::Core(CoreEvent::Warning {
                    at: self.now(),
                    what,
                }))
                .await;
            }
            Err(e) => {
                self.error(format!("could not expire old drafts: {e}"))
                    .await
            }
        }
        self.set_health(
            Component::Agent,
            if self.agent.is_some() {
                Health::Connecting
            } else {
                Health::Off
            },
        )
        .await;
        self.set_health(
            Component::Avatar,
            if self.avatar.is_some() {
                Health::Connecting
            } else {
                Health::Off
            },
        )
        .await;
        if let (Some(addr), Some(token)) = (
            self.config.agent.guidance_listen.clone(),
            self.config.agent.guidance_token.clone(),
        ) {
            let (tx, mut rx) = mpsc::channel::<Guidance>(16);
            match listen_guidance(&addr, token, tx, cancel.clone()).await {
                Ok(bound) => {
                    tracing::info!(%bound, "guidance listener up");
                    let side = self.side_tx.clone();
                    tokio::spawn(async move {
                        while let Some(g) = rx.recv().await {
                            let ctx = json!({"pushed": true});
                            if side
                                .send(Side::Agent("pushed".into(), ctx, Ok(Some(g))))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    });
                }
                Err(e) => self.error(e.to_string()).await,
            }
        }
        // A replay checks the model at its first event, so every line it
        // prints carries virtual time.
        if self.clock == Clock::Wall {
            self.check_model().await;
        }
    }

    async fn check_model(&mut self) {
        self.model_checked = true;
        let Some(llm) = self.drafter.llm.clone() else {
            self.set_health(
                Component::Llm,
                Health::Down {
                    reason: "no LLM configured".into(),
                },
            )
            .await;
            return;
        };
        self.set_health(Component::Llm, Health::Connecting).await;
        let check = async move {
            match tokio::time::timeout(Duration::from_secs(5), llm.check_model()).await {
                Err(_) => Err("the LLM server did not answer /api/tags in 5 s".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(st)) if st.found => Ok(st.to_string()),
                Ok(Ok(st)) => Err(st.to_string()),
            }
        };
        match self.clock {
            Clock::Virtual => {
                let r = check.await;
                self.on_model(r).await;
            }
            Clock::Wall => {
                let side = self.side_tx.clone();
                tokio::spawn(async move {
                    let _ = side.send(Side::Model(check.await)).await;
                });
            }
        }
    }

    fn advance(&mut self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self.clock {
            Clock::Wall => Utc::now(),
            Clock::Virtual => {
                let now = match self.now {
                    Some(prev) if at < prev => prev,
                    _ => at,
                };
                self.now = Some(now);
                now
            }
        }
    }

    async fn on_event(
        &mut self,
        ev: ChatEvent,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let now = self.advance(ev.at());
        if !self.model_checked {
            self.check_model().await;
        }
        self.summary.events += 1;
        self.dirty = true;
        // Withdraw drafts whose message is going away before anything else.
        match &ev {
            ChatEvent::Delete {
                platform,
                channel,
                id,
                ..
            } => {
                let why = format!("message {id} was deleted by a moderator");
                let ids: Vec<DraftId> = self
                    .drafts
                    .iter()
                    .filter(|(_, d)| {
                        d.goal.message().is_some_and(|m| {
                            m.platform == *platform && m.channel == *channel && m.id == *id
                        })
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for d in ids {
                    self.withdraw(d, &why).await;
                }
                self.emit(Update::ChatRemoved {
                    platform: *platform,
                    channel: channel.clone(),
                    message_ids: vec![id.clone()],
                })
                .await;
            }
            ChatEvent::Ban {
                platform,
                channel,
                author_id,
                ..
            } => {
                let why = format!("its author {author_id} was banned or timed out");
                let ids: Vec<DraftId> = self
                    .drafts
                    .iter()
                    .filter(|(_, d)| {
                        d.goal.message().is_some_and(|m| {
                            m.platform == *platform
                                && m.channel == *channel
                                && m.author.id == *author_id
                        })
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for d in ids {
                    self.withdraw(d, &why).await;
                }
                self.emit(Update::AuthorRemoved {
                    platform: *platform,
                    channel: channel.clone(),
                    author_id: author_id.clone(),
                })
                .await;
            }
            ChatEvent::Message(_) => {}
        }
        let message = match &ev {
            ChatEvent::Message(m) => Some(m.clone()),
            _ => None,
        };
        let out = self.core.call(CoreCmd::Handle(ev, now)).await?;
        if let Some(m) = message
            && !out
                .events
                .iter()
                .any(|e| matches!(e, CoreEvent::Filtered { id, .. } if *id == m.id))
        {
            self.stats
                .observe(&m, out.salience.as_ref().map_or(0.0, |s| s.score));
            self.emit(Update::Chat {
                message: m,
                salience: out.salience.clone(),
            })
            .await;
        }
        self.after_core(out, now, cancel).await
    }

    async fn on_tick(&mut self, cancel: &CancellationToken) -> Result<(), RuntimeError> {
        let now = self.now();
        let out = self.core.call(CoreCmd::Tick(now)).await?;
        if !out.events.is_empty() {
            self.dirty = true;
        }
        self.after_core(out, now, cancel).await?;
        self.retry_approved(now).await;
        if self.snapshots && self.dirty {
            self.dirty = false;
            self.snapshot(now).await?;
        }
        Ok(())
    }

    async fn snapshot(&mut self, now: DateTime<Utc>) -> Result<(), RuntimeError> {
        let out = self.core.call(CoreCmd::Snapshot(now)).await?;
        if let Some(mut s) = out.snapshot {
            s.auto_send = self.auto_send;
            s.paused = self.paused;
            s.topic = self.topic.clone();
            s.weights = self.config.salience.weights;
            s.sent = self.sent_total;
            s.rejected = self.rejected_total;
            self.emit(Update::Snapshot(s)).await;
        }
        Ok(())
    }

    /// Everything that follows a core call: its events, drafts, expiry, agent.
    async fn after_core(
        &mut self,
        out: CoreOut,
        now: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        if let Some(e) = out.error {
            self.error(format!("core: {e}")).await;
        }
        let mut state_changed = false;
        for ev in out.events {
            if matches!(ev, CoreEvent::Attention { from: Some(_), .. }) {
                state_changed = true;
            }
            self.emit(Update::Core(ev)).await;
        }
        for job in out.jobs {
            self.start_draft(job.goal, job.channel, false, cancel)
                .await?;
        }
        self.expire(now).await;
        let due = self.next_agent_at.is_none_or(|t| now >= t);
        if self.agent.is_some() && (due || state_changed) {
            let reason = if state_changed {
                "attention state changed"
            } else {
                "interval"
            };
            self.next_agent_at = Some(now + self.agent_interval);
            self.push_agent(reason, now).await?;
        }
        Ok(())
    }

    async fn push_agent(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), RuntimeError> {
        let Some(agent) = self.agent.clone() else {
            return Ok(());
        };
        let ctx = self.stats.context(now);
        let value = serde_json::to_value(&ctx).unwrap_or(serde_json::Value::Null);
        let reason = reason.to_string();
        match self.clock {
            Clock::Virtual => {
                let r = agent.push(&ctx).await.map_err(|e| e.to_string());
                self.on_agent(reason, value, r).await;
                Ok(())
            }
            Clock::Wall => {
                let side = self.side_tx.clone();
                tokio::spawn(async move {
                    let r = agent.push(&ctx).await.map_err(|e| e.to_string());
                    let _ = side.send(Side::Agent(reason, value, r)).await;
                });
                Ok(())
            }
        }
    }

    async fn start_draft(
        &mut self,
        goal: DraftGoal,
        channel: ChannelConfig,
        regenerate: bool,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        if self.paused {
            self.log(PipelineEvent::Decision {
                at: now,
                id: None,
                message_id: goal.message().map(|m| m.id.clone()),
                action: "skip".into(),
                reason: "paused by the operator".into(),
            })
            .await;
            return Ok(());
        }
        if let Some(m) = goal.message() {
            let key = m.key();
            if !regenerate && !self.answered.insert(key) {
                return Ok(());
            }
            // Across a restart the same message can be selected again: the
            // store remembers whether it was already answered.
            if !regenerate
                && let Some(prev) = self
                    .store
                    .sent_response_for_async(m.platform, &m.channel, &m.id, m.at)
                    .await?
            {
                self.summary.skipped_answered += 1;
                self.log(PipelineEvent::Decision {
                    at: now,
                    id: None,
                    message_id: Some(m.id.clone()),
                    action: "skip".into(),
                    reason: format!("already answered by reply {prev}"),
                })
                .await;
                return Ok(());
            }
        }
        let platform = goal.platform();
        let attention = None;
        let id = self
            .store
            .insert_response_async(NewResponse {
                platform,
                channel: goal.channel().to_string(),
                original_id: goal.message().map(|m| m.id.clone()),
                original_at: goal.message().map(|m| m.at),
                response_text: String::new(),
                response_type: "llm".into(),
                attention_state: attention,
                generation_time_ms: None,
                agent_context: None,
                status: ResponseStatus::Pending,
                created_at: now,
            })
            .await?;
        self.seq += 1;
        let params = DraftParams {
            context_limit: channel.context_limit,
            model: channel.model.clone(),
            topic: (!self.topic.trim().is_empty()).then(|| self.topic.clone()),
            seed: self.seed.wrapping_mul(1_000_003).wrapping_add(self.seq),
        };
        let view = DraftView {
            id,
            message_id: goal.message().map(|m| m.id.clone()),
            platform,
            channel: goal.channel().to_string(),
            text: String::new(),
            source: DraftSource::Llm,
            state: DraftState::Streaming,
            why: None,
            limit: platform.max_message_chars(),
            time_to_first_token_ms: None,
        };
        self.emit(Update::Draft(view.clone())).await;
        self.summary.drafts += 1;
        self.drafts.insert(
            id,
            LiveDraft {
                view: view.clone(),
                goal: goal.clone(),
                channel,
                created_at: now,
            },
        );
        let drafter = self.drafter.clone();
        let updates = self.updates.clone();
        let work = async move {
            let mut partial = view;
            let mut on_token = |tok: &str| {
                partial.text.push_str(tok);
                // Token updates are cumulative: one lost to a full channel is
                // made good by the next.
                let _ = updates.try_send(Update::Draft(partial.clone()));
            };
            drafter.draft(&goal, &params, &mut on_token).await
        };
        match self.clock {
            Clock::Virtual => {
                let outcome = tokio::select! {
                    o = work => o,
                    _ = cancel.cancelled() => return Ok(()),
                };
                self.finish_draft(id, outcome, cancel).await
            }
            Clock::Wall => {
                self.in_flight += 1;
                let side = self.side_tx.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        o = work => { let _ = side.send(Side::Draft(id, o)).await; }
                        _ = cancel.cancelled() => {}
                    }
                });
                Ok(())
            }
        }
    }

    async fn finish_draft(
        &mut self,
        id: DraftId,
        outcome: DraftOutcome,
        _cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        match &outcome.error {
            None => self.set_health(Component::Llm, Health::Connected).await,
            Some(e) => {
                self.set_health(Component::Llm, Health::Down { reason: e.clone() })
                    .await
            }
        }
        let Some(d) = self.drafts.get_mut(&id) else {
            return Ok(());
        };
        if d.view.state != DraftState::Streaming {
            // Withdrawn (or rejected) while the LLM was still writing.
            return Ok(());
        }
        let gen_ms = outcome.total.as_millis() as u64;
        d.view.source = outcome.source;
        d.view.time_to_first_token_ms = outcome.time_to_first_token.map(|t| t.as_millis() as u64);
        let source = outcome.source;
        if source == DraftSource::Fallback {
            self.summary.fallbacks += 1;
        }
        let source_str = match source {
            DraftSource::Llm => "llm",
            DraftSource::Fallback => "fallback",
            DraftSource::Operator => "operator",
        };
        match outcome.text {
            Ok(text) => {
                d.view.text = text.clone();
                d.view.state = DraftState::Pending;
                d.view.why = outcome.error.clone();
                let view = d.view.clone();
                let priority = d.goal.priority();
                let time_delay_s = d.channel.time_delay_s;
                self.store
                    .set_response_text_async(
                        id,
                        &text,
                        source_str,
                        ResponseStatus::Pending,
                        Some(gen_ms),
                    )
                    .await?;
                self.emit(Update::Draft(view.clone())).await;
                self.log(PipelineEvent::Draft {
                    at: now,
                    id,
                    message_id: view.message_id.clone(),
                    platform: view.platform,
                    channel: view.channel.clone(),
                    text,
                    source,
                    ttft_ms: view.time_to_first_token_ms,
                    error: outcome.error,
                })
                .await;
                if !self.auto_send {
                    return Ok(());
                }
                let verdict = self.policy.auto_send(
                    &DraftFacts {
                        platform: view.platform,
                        channel: &view.channel,
                        source,
                        priority,
                        time_delay_s,
                    },
                    now,
                );
                self.log(PipelineEvent::Decision {
                    at: now,
                    id: Some(id),
                    message_id: view.message_id.clone(),
                    action: if verdict.send { "send" } else { "hold" }.into(),
                    reason: verdict.reason,
                })
                .await;
                if verdict.send {
                    self.send(id).await?;
                } else {
                    self.summary.held += 1;
                }
            }
            Err(blocked) => {
                let why = match &blocked {
                    crate::reply::format::Blocked::BlockedWord(_) => {
                        "contains a blocked word".to_string()
                    }
                    other => other.to_string(),
                };
                d.view.state = DraftState::Blocked;
                d.view.why = Some(why.clone());
                let view = d.view.clone();
                self.drafts.remove(&id);
                self.summary.blocked += 1;
                self.store
                    .set_response_text_async(
                        id,
                        "",
                        source_str,
                        ResponseStatus::Blocked,
                        Some(gen_ms),
                    )
                    .await?;
                self.emit(Update::Draft(view)).await;
                self.log(PipelineEvent::Blocked { at: now, id, why }).await;
            }
        }
        Ok(())
    }

    /// Sends a draft once: the store claim (pending/approved/edited -> sent,
    /// committed) comes first, so no path can send it a second time.
    async fn send(&mut self, id: DraftId) -> Result<(), RuntimeError> {
        let now = self.now();
        let Some(d) = self.drafts.get(&id) else {
            return Ok(());
        };
        let out = Outbound {
            draft: id,
            platform: d.view.platform,
            channel: d.view.channel.clone(),
            text: d.view.text.clone(),
            reply_to: d.view.message_id.clone(),
        };
        let claimed = self
            .store
            .claim_response_async(
                id,
                &[
                    ResponseStatus::Pending,
                    ResponseStatus::Approved,
                    ResponseStatus::Edited,
                ],
                ResponseStatus::Sent,
                Some(now),
            )
            .await?;
        if !claimed {
            self.drafts.remove(&id);
            self.log(PipelineEvent::Decision {
                at: now,
                id: Some(id),
                message_id: out.reply_to.clone(),
                action: "skip".into(),
                reason: "no longer sendable (already sent, withdrawn or expired)".into(),
            })
            .await;
            return Ok(());
        }
        let Some(mut d) = self.drafts.remove(&id) else {
            return Ok(());
        };
        if let Err(e) = self.sink.send(&out).await {
            self.summary.failed += 1;
            self.store
                .set_response_status_async(id, ResponseStatus::Failed, None)
                .await?;
            d.view.state = DraftState::Failed;
            d.view.why = Some(e.to_string());
            self.emit(Update::Draft(d.view)).await;
            self.error(format!("sending reply {id} failed: {e}")).await;
            return Ok(());
        }
        self.summary.sent += 1;
        self.sent_total += 1;
        self.policy.record_send(out.platform, &out.channel, now);
        self.stats.observe_sent();
        self.core
            .call(CoreCmd::BotMessage(out.platform, out.channel.clone(), now))
            .await?;
        d.view.state = DraftState::Sent;
        self.emit(Update::Draft(d.view.clone())).await;
        self.log(PipelineEvent::Sent {
            at: now,
            id,
            message_id: out.reply_to.clone(),
            platform: out.platform,
            channel: out.channel.clone(),
            text: out.text.clone(),
        })
        .await;
        self.speak(&d, &out).await;
        Ok(())
    }

    async fn speak(&mut self, d: &LiveDraft, out: &Outbound) {
        let Some((avatar, speak)) = self.avatar.clone() else {
            return;
        };
        let priority = d.goal.priority();
        let wanted = match speak {
            AvatarSpeak::All => true,
            AvatarSpeak::Spoken => priority.is_none_or(|p| p >= Priority::High),
        };
        if !wanted {
            return;
        }
        let context = json!({
            "platform": out.platform,
            "channel": out.channel,
            "reply_to": d.goal.message().map(|m| json!({"user": m.author.name, "text": m.text})),
            "priority": priority,
            "topic": self.topic,
            "source": d.view.source,
        });
        self.summary.avatar_calls += 1;
        let text = out.text.clone();
        let id = out.draft;
        match self.clock {
            Clock::Virtual => {
                let r = avatar
                    .speak(&text, context)
                    .await
                    .map_err(|e| e.to_string());
                self.on_avatar(id, r).await;
            }
            Clock::Wall => {
                let side = self.side_tx.clone();
                tokio::spawn(async move {
                    let r = avatar
                        .speak(&text, context)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = side.send(Side::Avatar(id, r)).await;
                });
            }
        }
    }

    async fn on_side(
        &mut self,
        side: Side,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        match side {
            Side::Draft(id, outcome) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.finish_draft(id, outcome, cancel).await?;
            }
            Side::Model(r) => self.on_model(r).await,
            Side::Agent(reason, context, result) => self.on_agent(reason, context, result).await,
            Side::Avatar(id, r) => self.on_avatar(id, r).await,
        }
        Ok(())
    }

    async fn on_model(&mut self, r: Result<String, String>) {
        match r {
            Ok(status) => {
                tracing::info!("LLM: {status}");
                self.set_health(Component::Llm, Health::Connected).await;
            }
            Err(reason) => {
                self.error(format!("LLM: {reason}")).await;
                self.set_health(Component::Llm, Health::Down { reason })
                    .await;
            }
        }
    }

    async fn on_agent(
        &mut self,
        reason: String,
        context: serde_json::Value,
        result: Result<Option<Guidance>, String>,
    ) {
        let now = self.now();
        self.summary.agent_updates += 1;
        let (guidance, error) = match result {
            Ok(g) => {
                self.set_health(Component::Agent, Health::Connected).await;
                (g, None)
            }
            Err(e) => {
                self.set_health(Component::Agent, Health::Down { reason: e.clone() })
                    .await;
                (None, Some(e))
            }
        };
        if let Some(g) = &guidance
            && let Ok(mut cur) = self.guidance.write()
        {
            *cur = Some(g.clone());
        }
        self.log(PipelineEvent::AgentUpdate {
            at: now,
            reason,
            context,
            guidance,
            error,
        })
        .await;
    }

    async fn on_avatar(&mut self, id: DraftId, r: Result<String, String>) {
        let now = self.now();
        match r {
            Ok(status) => {
                self.set_health(Component::Avatar, Health::Connected).await;
                self.log(PipelineEvent::Avatar {
                    at: now,
                    id,
                    status,
                })
                .await;
            }
            Err(e) => {
                self.set_health(Component::Avatar, Health::Down { reason: e.clone() })
                    .await;
                self.log(PipelineEvent::Avatar {
                    at: now,
                    id,
                    status: format!("error: {e}"),
                })
                .await;
                self.error(format!("avatar: {e}")).await;
            }
        }
    }

    async fn withdraw(&mut self, id: DraftId, why: &str) {
        let now = self.now();
        let Some(d) = self.drafts.get_mut(&id) else {
            return;
        };
        if !LIVE.contains(&d.view.state) {
            return;
        }
        d.view.state = DraftState::Withdrawn;
        d.view.why = Some(why.to_string());
        let view = d.view.clone();
        // Gone from the map: a stream still running for it finds nothing to finish.
        self.drafts.remove(&id);
        self.summary.withdrawn += 1;
        if let Err(e) = self
            .store
            .set_response_status_async(id, ResponseStatus::Withdrawn, None)
            .await
        {
            self.error(format!("store: {e}")).await;
        }
        self.emit(Update::Draft(view)).await;
        self.log(PipelineEvent::Withdrawn {
            at: now,
            id,
            why: why.to_string(),
        })
        .await;
    }

    async fn expire(&mut self, now: DateTime<Utc>) {
        let ttl = ChronoDuration::seconds(self.policy.config().draft_ttl_s as i64);
        let old: Vec<DraftId> = self
            .drafts
            .iter()
            .filter(|(_, d)| {
                matches!(
                    d.view.state,
                    DraftState::Pending | DraftState::Approved | DraftState::Edited
                ) && now - d.created_at >= ttl
            })
            .map(|(k, _)| *k)
            .collect();
        for id in old {
            if let Some(mut d) = self.drafts.remove(&id) {
                self.summary.expired += 1;
                let _ = self
                    .store
                    .set_response_status_async(id, ResponseStatus::Expired, None)
                    .await;
                d.view.state = DraftState::Expired;
                d.view.why = Some("nobody approved it in time".into());
                self.emit(Update::Draft(d.view)).await;
                self.log(PipelineEvent::Expired { at: now, id }).await;
            }
        }
    }

    /// Operator-approved drafts that hit the per-minute cap go when it allows.
    async fn retry_approved(&mut self, now: DateTime<Utc>) {
        let approved: Vec<DraftId> = self
            .drafts
            .iter()
            // Edited drafts are operator-approved too (an edit sends).
            .filter(|(_, d)| matches!(d.view.state, DraftState::Approved | DraftState::Edited))
            .map(|(k, _)| *k)
            .collect();
        for id in approved {
            if !self.policy.rate_allows(now).send {
                return;
            }
            if let Err(e) = self.send(id).await {
                self.error(e.to_string()).await;
            }
        }
    }

    async fn on_request(
        &mut self,
        req: Request,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        self.dirty = true;
        match req {
            Request::Approve(id) => self.approve(id, now).await?,
            Request::Edit(id, text) => {
                let Some(d) = self.drafts.get_mut(&id) else {
                    return Ok(());
                };
                if !LIVE.contains(&d.view.state) || d.view.state == DraftState::Streaming {
                    return Ok(());
                }
                match self.drafter.make_safe(&text, &d.goal.target()) {
                    Ok(safe) => {
                        d.view.text = safe.clone();
                        d.view.state = DraftState::Edited;
                        d.view.source = DraftSource::Operator;
                        let view = d.view.clone();
                        self.store
                            .set_response_text_async(
                                id,
                                &safe,
                                "operator",
                                ResponseStatus::Edited,
                                None,
                            )
                            .await?;
                        self.emit(Update::Draft(view)).await;
                        // The console's editor sends on Ctrl-S/Enter ("send this
                        // text instead"): an edit is the operator's approval.
                        self.approve(id, now).await?;
                    }
                    Err(b) => {
                        self.error(format!("edited text for draft {id} refused: {b}"))
                            .await
                    }
                }
            }
            Request::Reject(id) => self.reject(id, "rejected by the operator").await?,
            Request::Regenerate(id) => {
                let Some(d) = self.drafts.get(&id) else {
                    return Ok(());
                };
                let (goal, channel) = (d.goal.clone(), d.channel.clone());
                self.reject(id, "regenerated").await?;
                self.start_draft(goal, channel, true, cancel).await?;
            }
            Request::SetAutoSend(on) => self.auto_send = on,
            Request::SetPaused(on) => self.paused = on,
            Request::SetTopic(t) => {
                self.topic = t.clone();
                self.core.call(CoreCmd::Topic(t)).await?;
            }
            Request::ForceState(st) => {
                let out = self.core.call(CoreCmd::Force(st, now)).await?;
                self.after_core(out, now, cancel).await?;
            }
            Request::SetWeights(w) => {
                let out = self.core.call(CoreCmd::Weights(w)).await?;
                match out.error {
                    Some(e) => self.error(format!("weights refused: {e}")).await,
                    None => self.config.salience.weights = w,
                }
            }
            Request::DraftFor {
                platform,
                message_id,
            } => {
                let out = self
                    .core
                    .call(CoreCmd::TakeQueued(platform, message_id, now))
                    .await?;
                self.after_core(out, now, cancel).await?;
            }
            Request::Retry(_) | Request::Discard(_) => {}
            Request::Quit => cancel.cancel(),
        }
        if self.snapshots {
            self.snapshot(now).await?;
        }
        Ok(())
    }

    /// Sends a waiting (or operator-edited) draft now, or holds it as approved
    /// while the per-minute cap says no; `retry_approved` sends it later.
    async fn approve(&mut self, id: DraftId, now: DateTime<Utc>) -> Result<(), RuntimeError> {
        let Some(d) = self.drafts.get_mut(&id) else {
            self.error(format!("draft {id} is not waiting for approval"))
                .await;
            return Ok(());
        };
        if !matches!(d.view.state, DraftState::Pending | DraftState::Edited) {
            return Ok(());
        }
        let verdict = self.policy.rate_allows(now);
        let message_id = d.view.message_id.clone();
        if verdict.send {
            self.log(PipelineEvent::Decision {
                at: now,
                id: Some(id),
                message_id,
                action: "send".into(),
                reason: format!("approved by the operator; {}", verdict.reason),
            })
            .await;
            self.send(id).await?;
        } else {
            if d.view.state == DraftState::Pending {
                d.view.state = DraftState::Approved;
                self.store
                    .set_response_status_async(id, ResponseStatus::Approved, None)
                    .await?;
            }
            let view = d.view.clone();
            self.emit(Update::Draft(view)).await;
            self.log(PipelineEvent::Decision {
                at: now,
                id: Some(id),
                message_id,
                action: "hold".into(),
                reason: format!("approved; waits for the rate limit: {}", verdict.reason),
            })
            .await;
        }
        Ok(())
    }

    async fn reject(&mut self, id: DraftId, why: &str) -> Result<(), RuntimeError> {
        let Some(mut d) = self.drafts.remove(&id) else {
            return Ok(());
        };
        if !LIVE.contains(&d.view.state) {
            return Ok(());
        }
        self.summary.rejected += 1;
        self.rejected_total += 1;
        self.store
            .set_response_status_async(id, ResponseStatus::Rejected, None)
            .await?;
        d.view.state = DraftState::Rejected;
        d.view.why = Some(why.to_string());
        self.emit(Update::Draft(d.view)).await;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Sources

/// How a chat log is played.
#[derive(Debug, Clone)]
pub struct ChatLogOptions {
    pub speed: Speed,
    /// Passes over the log (ids and times shifted per pass); 0 = forever.
    pub passes: u32,
    /// Shift every time so the first event happens now (the live demo).
    pub rebase_to_now: bool,
}

/// What a chat log source did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceReport {
    pub events: u64,
    pub bad_lines: u64,
}

/// Plays a chat log into `tx` on a task; ends after the last pass, when the
/// receiver is gone, or on `cancel`.
pub fn spawn_chatlog_source(
    path: PathBuf,
    opts: ChatLogOptions,
    tx: mpsc::Sender<ChatEvent>,
    cancel: CancellationToken,
) -> JoinHandle<Result<SourceReport, crate::chatlog::ChatLogError>> {
    tokio::spawn(async move {
        // The log is read once (blocking file I/O off the async threads).
        let read = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut bad = 0u64;
            let mut reader = ChatLogReader::open(&path)?;
            while let Some(item) = reader.next_event() {
                match item? {
                    Ok(ev) => out.push(ev),
                    Err(e) => {
                        bad += 1;
                        tracing::warn!(line = e.line(), "{e}");
                    }
                }
            }
            Ok::<_, crate::chatlog::ChatLogError>((out, bad))
        })
        .await;
        let (events, bad_lines) = match read {
            Ok(r) => r?,
            Err(_) => return Ok(SourceReport::default()),
        };
        let mut report = SourceReport {
            events: 0,
            bad_lines,
        };
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(report);
        };
        let span = last.at() - first.at() + ChronoDuration::seconds(1);
        let base = if opts.rebase_to_now {
            Utc::now() - first.at()
        } else {
            ChronoDuration::zero()
        };
        let started = tokio::time::Instant::now();
        let mut pass = 0u32;
        loop {
            for ev in &events {
                let ev = if pass == 0 && !opts.rebase_to_now {
                    ev.clone()
                } else {
                    shift_at(&shifted(ev, pass, span * pass as i32), base)
                };
                if let Speed::Factor(f) = opts.speed {
                    let since_start = (ev.at() - (first.at() + base)).to_std().unwrap_or_default();
                    let due = started + since_start.div_f64(f);
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = cancel.cancelled() => return Ok(report),
                    }
                }
                tokio::select! {
                    r = tx.send(ev) => if r.is_err() { return Ok(report) },
                    _ = cancel.cancelled() => return Ok(report),
                }
                report.events += 1;
            }
            pass += 1;
            if opts.passes != 0 && pass >= opts.passes {
                return Ok(report);
            }
        }
    })
}

/// Moves an event's time by `by` (ids unchanged).
fn shift_at(ev: &ChatEvent, by: ChronoDuration) -> ChatEvent {
    if by.is_zero() {
        return ev.clone();
    }
    let mut ev = ev.clone();
    match &mut ev {
        ChatEvent::Message(m) => m.at += by,
        ChatEvent::Delete { at, .. } | ChatEvent::Ban { at, .. } => *at += by,
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_looped_chat_log_reads_as_new_chat_each_pass() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"platform":"twitch","channel":"c","id":"a","at":"2026-11-21T20:00:00Z","author":{"id":"1","name":"x"},"text":"hi"}"#,
                "\n",
                "not json\n",
                r#"{"platform":"twitch","channel":"c","id":"b","at":"2026-11-21T20:00:09Z","author":{"id":"2","name":"y"},"text":"yo"}"#,
                "\n"
            ),
        )
        .unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let h = spawn_chatlog_source(
            p,
            ChatLogOptions {
                speed: Speed::Max,
                passes: 3,
                rebase_to_now: false,
            },
            tx,
            CancellationToken::new(),
        );
        let mut got = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let ChatEvent::Message(m) = ev {
                got.push((m.id, m.at));
            }
        }
        let report = h.await.unwrap().unwrap();
        assert_eq!(
            report,
            SourceReport {
                events: 6,
                bad_lines: 1
            }
        );
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "a~1", "b~1", "a~2", "b~2"]);
        // Each pass starts a second after the last one ended; time never runs back.
        assert_eq!((got[2].1 - got[0].1).num_seconds(), 10);
        assert!(got.windows(2).all(|w| w[0].1 < w[1].1));
    }
}
