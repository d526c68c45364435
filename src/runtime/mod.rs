//! The running clank: adapter events -> the core (on its own thread) ->
//! drafts (LLM, output gate) -> auto policy or operator -> sends routed back
//! to the platform's adapter, whose verdict settles each reply; plus the agent
//! and avatar integrations, all stopped by one `CancellationToken`.
//!
//! # API for front ends (console, headless)
//!
//! ```text
//! let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(1024);
//! let hub = adapters::hub::Hub::start(adapters, inbound_tx, cancel.clone());
//! let mut o = RuntimeOptions::new(config, store, inbound_rx);
//! o.router = hub.router();
//! let rt = runtime::start(o)?;
//! // rt.updates:  mpsc::Receiver<Update>   what happened, in order (session.rs)
//! // rt.requests: mpsc::Sender<Request>    what the operator asks (session.rs)
//! // rt.cancel:   CancellationToken        cancel() = shut down (as Request::Quit)
//! // rt.join:     JoinHandle<Result<RunSummary, RuntimeError>>
//! ```
//!
//! Every `Request` is handled here, so a front end is only a view. The
//! [`Clock`] decides whether slow work runs beside the conductor (live) or
//! inline before the next event (replay, deterministic). With
//! `exit_when_sources_end`, the runtime stops once its finite sources have
//! ended (or every sender is dropped) and nothing is in flight.
//!
//! - `core_thread.rs`: the core on its own std thread, behind a handle.
//! - `conductor.rs`: the one task that owns the reply side's state.
//! - `delivery.rs`: sends, platform verdicts, the not-delivered list.
//! - `clock.rs`: wall or virtual time.

mod clock;
mod conductor;
mod core_thread;
mod delivery;
mod team_sync;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use self::clock::Clock;
use self::clock::RunClock;
use self::conductor::Conductor;
use self::core_thread::CoreHandle;
use crate::adapters::Inbound;
use crate::adapters::hub::Router;
use crate::config::Config;
use crate::engine::filter::ContentFilter;
use crate::integrations::agent::{AgentClient, ChatStats};
use crate::integrations::avatar::AvatarClient;
use crate::reply::llm::LlmClient;
use crate::reply::pipeline::{Drafter, SharedGuidance};
use crate::reply::policy::AutoPolicy;
use crate::session::Update;
use crate::store::Store;

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

/// How to run.
pub struct RuntimeOptions {
    pub config: Config,
    pub store: Store,
    /// Every adapter's events, merged in one bounded channel (the hub gives
    /// each adapter a clone of its sender).
    pub inbound: mpsc::Receiver<Inbound>,
    /// Where sends go, by platform (the hub's router). The default routes
    /// nowhere: every send fails with "not connected".
    pub router: Router,
    /// Finite sources (chat logs) feeding `inbound`; with
    /// `exit_when_sources_end` the run ends after that many `Inbound::Ended`.
    pub finite_sources: usize,
    pub clock: Clock,
    /// Send drafts the auto policy allows without the operator.
    pub auto_send: bool,
    /// The LLM; `None` = connect as the config says.
    pub llm: Option<Arc<dyn LlmClient>>,
    /// Seeds the attention machine and the drafts.
    pub seed: u64,
    pub exit_when_sources_end: bool,
    /// Send `Update::Snapshot`s (the console wants them, the JSON log does not).
    pub snapshots: bool,
    /// Capacity of the update channel.
    pub update_capacity: usize,
    /// How long a send waits for its platform's verdict before it is
    /// reported unconfirmed.
    pub verdict_timeout: Duration,
    pub cancel: CancellationToken,
    /// Team mode: this console's member name and where to publish what the
    /// team should hear (the team link); `None` with a SQLite store.
    pub team: Option<(String, mpsc::Sender<serde_json::Value>)>,
}

impl RuntimeOptions {
    /// Live defaults: wall clock, no auto-send, no routes, snapshots on.
    pub fn new(config: Config, store: Store, inbound: mpsc::Receiver<Inbound>) -> Self {
        let seed = config.attention.seed.unwrap_or(42);
        let verdict_timeout = Duration::from_secs(config.reply.send_verdict_timeout_s);
        Self {
            config,
            store,
            inbound,
            router: Router::default(),
            finite_sources: 0,
            clock: Clock::Wall,
            auto_send: false,
            llm: None,
            seed,
            exit_when_sources_end: false,
            snapshots: true,
            update_capacity: 4096,
            verdict_timeout,
            cancel: CancellationToken::new(),
            team: None,
        }
    }
}

/// A started runtime.
pub struct Runtime {
    pub updates: mpsc::Receiver<Update>,
    pub requests: mpsc::Sender<crate::session::Request>,
    pub cancel: CancellationToken,
    pub join: JoinHandle<Result<RunSummary, RuntimeError>>,
}

/// What a run did (the headless log's final `summary` line).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub events: u64,
    pub drafts: u64,
    pub fallbacks: u64,
    /// Accepted by the platform.
    pub sent: u64,
    /// Refused by the platform (or its adapter, e.g. read-only).
    pub refused: u64,
    /// Never reached the platform.
    pub failed: u64,
    /// Written, but the platform gave no verdict in time.
    pub unconfirmed: u64,
    pub blocked: u64,
    pub withdrawn: u64,
    pub expired: u64,
    pub rejected: u64,
    pub held: u64,
    pub skipped_answered: u64,
    /// Drafts not started under auto-send: the channel's delay would outlast them.
    pub skipped_delay: u64,
    /// Drafts whose first LLM text the gate refused as broken (echo, loop, cut off).
    pub gate_refused: u64,
    /// Of those, the ones whose retry was broken too: the fallback stood in.
    pub gate_fallbacks: u64,
    /// Raids, subs, announcements and chat clears seen.
    pub platform_events: u64,
    pub agent_updates: u64,
    pub avatar_calls: u64,
    /// Chat messages this run committed to the store: what the file holds
    /// (a batch a full disk rolled back is not counted). The core's own
    /// `stored` count is what it handed to the store.
    pub stored: u64,
    /// Writes the store dropped during this run (a full disk, a failed
    /// statement).
    pub store_lost: u64,
    /// The core's counters and time per state.
    pub core: serde_json::Value,
}

/// Drafts waiting for a turn at the LLM before the oldest low one is dropped:
/// a draft that waited behind eight others is usually stale anyway.
const MAX_DRAFTS_WAITING: usize = 8;

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
        history_lines: opts.config.reply.history_lines,
        slots: crate::reply::slots::LlmSlots::new(
            opts.config.llm.drafts_in_flight(),
            MAX_DRAFTS_WAITING,
        ),
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
        clock: RunClock::new(opts.clock),
        core,
        drafter,
        guidance,
        drafts: BTreeMap::new(),
        answered: HashSet::new(),
        reviewed: HashSet::new(),
        scores: HashMap::new(),
        choices: Vec::new(),
        labelled: HashSet::new(),
        suggestion: None,
        suggestion_stale: false,
        sending: HashMap::new(),
        next_expiry: None,
        store_errors_seen: opts.store.error_count(),
        store_commits_at_error: 0,
        store_down_said: None,
        store_at_start: opts.store.stats(),
        undelivered: BTreeMap::new(),
        verdict_timeout: opts.verdict_timeout,
        updates: updates_tx,
        router: opts.router,
        store: opts.store,
        auto_send: opts.auto_send,
        paused: false,
        stats: ChatStats::default(),
        agent,
        next_agent_at: None,
        llm_probe: None,
        attention: None,
        avatar,
        side_tx,
        in_flight: 0,
        seed: opts.seed,
        seq: 0,
        summary: RunSummary::default(),
        health: Default::default(),
        snapshots: opts.snapshots,
        dirty: true,
        rejected_total: 0,
        model_checked: false,
        held_inbound: Default::default(),
        sources_ended: 0,
        finite_sources: opts.finite_sources,
        shutdown: opts.cancel.clone(),
        team: opts
            .team
            .map(|(member, publish)| team_sync::TeamCtx::new(member, publish)),
    };
    let join = tokio::spawn(conductor.run(
        opts.inbound,
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
