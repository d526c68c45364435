//! The conductor: the one task that owns the reply side's state. It takes
//! adapter events, operator requests and the results of slow work, drives
//! the core thread, starts drafts and decides (or lets the operator decide)
//! what is sent. Sends and their verdicts live in `delivery.rs`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::clock::RunClock;
use super::core_thread::{CoreCmd, CoreHandle, CoreOut};
use super::{RunSummary, RuntimeError};
use crate::adapters::hub::Router;
use crate::adapters::{AdapterStatus, Inbound, NoticeKind, SubKind};
use crate::config::Config;
use crate::core::CoreEvent;
use crate::integrations::agent::{AgentClient, ChatStats, listen_guidance};
use crate::integrations::avatar::{AvatarClient, AvatarSpeak};
use crate::model::{
    ChannelConfig, ChatEvent, ChatMessage, DraftId, DraftSource, DraftState, DraftView, MessageKey,
};
use crate::reply::context::Guidance;
use crate::reply::llm::LlmClient;
use crate::reply::pipeline::{
    DraftGoal, DraftOutcome, DraftParams, Drafter, PipelineEvent, SharedGuidance,
};
use crate::reply::policy::{AutoPolicy, DraftFacts};
use crate::session::{Component, Health, Request, SystemKind, SystemLine, Update};
use crate::store::{LabelAction, NewResponse, OperatorLabel, ResponseStatus, Store, StoreError};

pub(super) struct LiveDraft {
    pub view: DraftView,
    pub goal: DraftGoal,
    pub channel: ChannelConfig,
    pub created_at: DateTime<Utc>,
    /// Team mode: the console that drafted it, when not this one.
    pub owner: Option<String>,
}

/// Results of slow work (an LLM draft, an HTTP call), done beside the
/// conductor on the wall clock or inline on the virtual one.
pub(super) enum Side {
    Draft(DraftId, DraftOutcome),
    Agent(String, serde_json::Value, Result<Option<Guidance>, String>),
    Avatar(DraftId, Result<String, String>),
    Model(Result<String, String>),
    /// Guidance the agent pushed to the listener (not work clank started).
    Pushed(Guidance),
}

/// What the run loop handles next.
enum Step {
    Stop,
    Request(Request),
    Side(Side),
    Inbound(Inbound),
    Verdict(DraftId, crate::adapters::SendVerdict),
    /// A send's verdict is overdue (virtual clock).
    Overdue,
    Tick,
    SourcesClosed,
}

pub(super) struct Conductor {
    pub config: Config,
    pub clock: RunClock,
    pub core: CoreHandle,
    pub drafter: Arc<Drafter>,
    pub guidance: SharedGuidance,
    pub drafts: BTreeMap<DraftId, LiveDraft>,
    /// Messages drafted for in this run (one draft per message, bar Regenerate).
    pub answered: HashSet<MessageKey>,
    /// Messages the operator released from the review lane: their drafts
    /// always wait for the operator.
    pub reviewed: HashSet<MessageKey>,
    /// Learning from the operator: the score each recent message had (a
    /// label needs it), the choices so far (this run's and the store's),
    /// drafts already labelled, and the fitted weights to offer.
    /// Keyed by [`score_key`]: a hash, not the message's id string, since
    /// this holds tens of thousands of entries (the id strings were a fifth
    /// of a 1M-message flood's peak RSS).
    pub scores: HashMap<u64, Arc<crate::model::Salience>>,
    pub choices: Vec<crate::engine::tuning::Choice>,
    pub labelled: HashSet<DraftId>,
    pub suggestion: Option<crate::engine::tuning::Suggestion>,
    pub suggestion_stale: bool,
    pub updates: mpsc::Sender<Update>,
    pub router: Router,
    pub store: Store,
    pub policy: AutoPolicy,
    pub auto_send: bool,
    pub paused: bool,
    pub topic: String,
    pub stats: ChatStats,
    pub agent: Option<AgentClient>,
    pub agent_interval: ChronoDuration,
    pub next_agent_at: Option<DateTime<Utc>>,
    /// While the LLM is down: when to ask it again and how many probes in a
    /// row failed (the wait doubles, see [`LLM_PROBE_MAX_S`]).
    pub llm_probe: Option<(DateTime<Utc>, u32)>,
    /// The core's attention state as of its last answer.
    pub attention: Option<crate::model::AttentionState>,
    pub avatar: Option<(AvatarClient, AvatarSpeak)>,
    pub side_tx: mpsc::Sender<Side>,
    pub in_flight: usize,
    pub seed: u64,
    pub seq: u64,
    pub summary: RunSummary,
    pub health: std::collections::HashMap<Component, Health>,
    pub snapshots: bool,
    pub dirty: bool,
    pub rejected_total: u64,
    pub model_checked: bool,
    /// The store's error count already reported, and its commit count then.
    pub store_errors_seen: u64,
    pub store_commits_at_error: u64,
    /// When the store's outage was last said: a full disk fails every
    /// batch, and each failure need not be a line of its own.
    pub store_down_said: Option<tokio::time::Instant>,
    /// The store's counters when the run began (the summary counts this
    /// run's rows).
    pub store_at_start: crate::store::StoreStats,
    /// The earliest time a draft may expire; `None` = none can.
    pub next_expiry: Option<DateTime<Utc>>,
    /// Drafts handed to an adapter, with the wall time their verdict is due.
    pub sending: HashMap<DraftId, tokio::time::Instant>,
    /// Refused, failed and unconfirmed drafts, kept for the operator.
    pub undelivered: BTreeMap<DraftId, LiveDraft>,
    pub verdict_timeout: Duration,
    /// Events read while a send's verdict was awaited inline (virtual clock),
    /// taken before the channel so the order stays the adapters' order.
    pub held_inbound: VecDeque<Inbound>,
    pub sources_ended: usize,
    pub finite_sources: usize,
    /// The run's cancel token (for work started outside a request or event).
    pub shutdown: CancellationToken,
    /// Team mode (PostgreSQL store): shared drafts, roster, reader's state.
    pub team: Option<super::team_sync::TeamCtx>,
}

/// Scores of recent messages kept for labels; a draft is approved within
/// minutes of its message, so starting over when full loses next to none.
/// 20,000 is 20 s of a 1,000 msgs/s raid and minutes of an ordinary chat;
/// 50,000 cost 12 MB of peak RSS under a flood.
const MAX_SCORES: usize = 20_000;

/// The key of a message's score in [`Conductor::scores`]: a 64-bit hash of
/// platform and id (a false match needs a collision among 20,000 entries).
fn score_key(key: &MessageKey) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

/// Most drafts at once taken from a server's own slot count.
const MAX_SERVER_SLOTS: usize = 16;

/// The longest a shutdown spends on events the adapters had already read.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The longest a shutdown waits for stopping adapters' verdicts on sends
/// in flight (they answer at once; a hung one must not hold the exit).
const VERDICT_DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// While the store stays down, how often its health line is said again
/// with fresh counts (a full disk fails every batch: 20 lines a
/// second at 1,000 msgs/s before).
const STORE_DOWN_REFRESH: Duration = Duration::from_secs(5);

/// Chat messages handed to the core in one round trip at most.
const CORE_BATCH: usize = 128;

/// Stored states of a draft nobody decided on yet (team mode: a rejection
/// or an expiry is a claim from these, so it cannot undo an approval).
const WAITING: [ResponseStatus; 3] = [
    ResponseStatus::Pending,
    ResponseStatus::Approved,
    ResponseStatus::Edited,
];

/// How long a chat message waits for others to join its round trip to the
/// core (wall clock only). At ordinary rates messages arrive a few at a time,
/// and every round trip runs the core thread and the store writer on caches
/// the other threads have evicted since: the cost per message follows the
/// size of the bursts more than the work. At 1,000 msgs/s the live path cost
/// 53-68 us/msg with 20 ms bursts and a commit every ~50 ms, 42-49 with 50
/// ms bursts each committed at once (`Store::commit_soon`), 48-51 with 80
/// ms. What a `kill -9` can lose is this wait plus one round trip and a
/// commit: with 50 ms, 88 ms of input in 4 kills of 20 at 1,000 msgs/s, so
/// 40 keeps a margin under the 100 ms allowed. Nobody sees 40 ms on a
/// console that redraws chat at most every 33 ms (100 ms under a flood).
/// Under a flood a round trip fills before the wait ends.
const CHAT_LINGER: Duration = Duration::from_millis(40);

pub(super) const LIVE: [DraftState; 4] = [
    DraftState::Streaming,
    DraftState::Pending,
    DraftState::Approved,
    DraftState::Edited,
];

impl Conductor {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn emit(&self, u: Update) {
        let _ = self.updates.send(u).await;
    }

    pub async fn log(&self, e: PipelineEvent) {
        self.emit(Update::Pipeline(e)).await;
    }

    pub async fn error(&self, what: String) {
        let at = self.now();
        tracing::warn!("{what}");
        self.emit(Update::Error { at, what }).await;
    }

    pub async fn set_health(&mut self, component: Component, health: Health) {
        if self.health.get(&component) == Some(&health) {
            return;
        }
        self.health.insert(component.clone(), health.clone());
        self.emit(Update::Health { component, health }).await;
    }

    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Inbound>,
        mut requests: mpsc::Receiver<Request>,
        mut side_rx: mpsc::Receiver<Side>,
        cancel: CancellationToken,
        exit_when_sources_end: bool,
    ) -> Result<RunSummary, RuntimeError> {
        self.startup(&cancel).await;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut sources_open = true;
        // An operator's request that ended a chat batch's wait: served first.
        let mut early_request: Option<Request> = None;
        let mut requests_open = true;
        let wall = self.clock.ticks();
        let mut result = Ok(());
        loop {
            let sources_done = !sources_open
                || (self.finite_sources > 0 && self.sources_ended >= self.finite_sources);
            if sources_done
                && exit_when_sources_end
                && self.in_flight == 0
                && self.sending.is_empty()
                && self.held_inbound.is_empty()
            {
                break;
            }
            let step = if let Some(req) = early_request.take() {
                Step::Request(req)
            } else if self.clock.inline() && !self.sending.is_empty() {
                // On the virtual clock a send's verdict comes before the next
                // event: other events read meanwhile wait, in order.
                let due = self.sending.values().min().copied();
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => Step::Stop,
                    ev = events.recv(), if sources_open => match ev {
                        Some(Inbound::SendResult { draft_id, verdict }) => Step::Verdict(draft_id, verdict),
                        Some(other) => {
                            self.held_inbound.push_back(other);
                            continue;
                        }
                        None => Step::SourcesClosed,
                    },
                    _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)) => Step::Overdue,
                }
            } else if !self.held_inbound.is_empty() {
                // The operator's requests still come before events, as in
                // the select below.
                match requests.try_recv() {
                    Ok(req) => Step::Request(req),
                    Err(_) => match self.held_inbound.pop_front() {
                        Some(ev) => Step::Inbound(ev),
                        None => continue,
                    },
                }
            } else {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => Step::Stop,
                    Some(req) = requests.recv() => Step::Request(req),
                    Some(side) = side_rx.recv() => Step::Side(side),
                    ev = events.recv(), if sources_open => match ev {
                        Some(ev) => Step::Inbound(ev),
                        None => Step::SourcesClosed,
                    },
                    _ = tick.tick(), if wall => Step::Tick,
                }
            };
            let outcome = match step {
                Step::Stop => break,
                Step::Request(Request::Quit) => {
                    cancel.cancel();
                    break;
                }
                Step::SourcesClosed => {
                    sources_open = false;
                    continue;
                }
                Step::Overdue => {
                    self.unconfirm_overdue().await;
                    continue;
                }
                Step::Request(req) => self.on_request(req, &cancel).await,
                Step::Side(side) => {
                    if !matches!(side, Side::Pushed(_)) {
                        self.in_flight = self.in_flight.saturating_sub(1);
                    }
                    self.on_side(side, &cancel).await
                }
                // On the wall clock a burst of chat goes to the core in one
                // round trip. (The virtual clock finishes each event's work
                // before the next, so a replay stays one at a time.)
                Step::Inbound(Inbound::Chat(ChatEvent::Message(m))) if !self.clock.inline() => {
                    let mut batch = vec![m];
                    let linger_until = tokio::time::Instant::now() + CHAT_LINGER;
                    let mut lingered = false;
                    // Events held back come before the channel's: the batch
                    // grows from the channel only once none is held.
                    while batch.len() < CORE_BATCH && self.held_inbound.is_empty() {
                        match events.try_recv() {
                            Ok(Inbound::Chat(ChatEvent::Message(m))) => batch.push(m),
                            Ok(other) => {
                                // Handled next, in its place in the order.
                                self.held_inbound.push_back(other);
                                break;
                            }
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                sources_open = false;
                                break;
                            }
                            Err(mpsc::error::TryRecvError::Empty) if lingered => break,
                            Err(mpsc::error::TryRecvError::Empty) => {
                                // Let the rest of the burst arrive, then take
                                // it all at once (waking for each arrival
                                // would cost what the batch saves). An
                                // operator's key or a stop ends the wait.
                                lingered = true;
                                tokio::select! {
                                    biased;
                                    _ = cancel.cancelled() => break,
                                    req = requests.recv(), if requests_open => match req {
                                        // Served right after this batch.
                                        Some(req) => {
                                            early_request = Some(req);
                                            break;
                                        }
                                        None => requests_open = false,
                                    },
                                    _ = tokio::time::sleep_until(linger_until) => {}
                                }
                            }
                        }
                    }
                    // The channel ran dry while this batch gathered: its rows
                    // commit now rather than wait out the store's own batch
                    // age on top of the wait here (a backlog under a flood
                    // never lingers and commits by size). A full batch counts
                    // too: at 3,600 msgs/s, hinting only short ones let a
                    // kill -9 lose 80 ms.
                    let outcome = self.on_messages(batch, &cancel).await;
                    if lingered {
                        self.store.commit_soon();
                    }
                    outcome
                }
                Step::Inbound(ev) => self.on_inbound(ev, &cancel).await,
                Step::Verdict(id, verdict) => self.on_verdict(id, verdict).await,
                Step::Tick => self.on_tick(&cancel).await,
            };
            if let Err(e) = outcome
                && let Err(e) = self.survive(e).await
            {
                result = Err(e);
                break;
            }
        }
        result?;
        self.drain(&mut events, &cancel).await?;
        // Sends still waiting for their verdict may or may not reach chat:
        // say so now rather than leave them `sending` until the next start.
        let waiting: Vec<DraftId> = self.sending.keys().copied().collect();
        for id in waiting {
            let why = crate::store::STOPPED_BEFORE_VERDICT.to_string();
            if let Err(e) = self
                .on_verdict(id, crate::adapters::SendVerdict::Unconfirmed(why))
                .await
            {
                self.survive(e).await?;
            }
        }
        let now = self.now();
        let out = self.core.call(CoreCmd::Summary(now)).await?;
        self.summary.core = out.summary.unwrap_or(serde_json::Value::Null);
        let st = self.store.flush_async().await?;
        self.summary.stored = st.inserted.saturating_sub(self.store_at_start.inserted);
        self.summary.store_lost = st.lost.saturating_sub(self.store_at_start.lost);
        Ok(self.summary)
    }

    /// On shutdown, what the adapters had already read still goes through
    /// the core (stored, scored), within [`DRAIN_LIMIT`], so a stop while
    /// behind loses nothing that reached clank. New drafts are not started
    /// (the token is cancelled, so their work ends at once).
    async fn drain(
        &mut self,
        events: &mut mpsc::Receiver<Inbound>,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        let verdicts_by = tokio::time::Instant::now() + VERDICT_DRAIN_LIMIT;
        let mut drained = 0u64;
        while tokio::time::Instant::now() < deadline {
            let ev = match self.held_inbound.pop_front() {
                Some(ev) => ev,
                None => match events.try_recv() {
                    Ok(ev) => ev,
                    // Adapters stopping report the sends they never wrote
                    // (failed) or wrote unconfirmed: wait for those verdicts
                    // a moment, until every adapter is gone.
                    Err(mpsc::error::TryRecvError::Empty) if !self.sending.is_empty() => {
                        match tokio::time::timeout_at(verdicts_by.min(deadline), events.recv())
                            .await
                        {
                            Ok(Some(ev)) => ev,
                            _ => break,
                        }
                    }
                    Err(_) => break,
                },
            };
            if let Err(e) = self.on_inbound(ev, cancel).await {
                self.survive(e).await?;
            }
            drained += 1;
        }
        if drained > 0 {
            tracing::info!(drained, "events read before the stop were handled");
        }
        Ok(())
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
        self.restore_not_delivered().await;
        // What earlier runs learnt from the operator counts too.
        match self.store.labels_async().await {
            Ok(labels) => {
                self.choices = labels
                    .iter()
                    .map(|l| crate::engine::tuning::Choice {
                        breakdown: l.salience.breakdown,
                        chosen: l.action.chosen(),
                    })
                    .collect();
                self.suggestion_stale = true;
            }
            Err(e) => {
                self.error(format!("could not read operator labels: {e}"))
                    .await
            }
        }
        // A platform no adapter reads is off, not "connecting".
        let routed = self.router.platforms();
        for p in crate::model::Platform::ALL {
            if !routed.contains(&p) {
                self.set_health(Component::Platform(p), Health::Off).await;
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
                            if side.send(Side::Pushed(g)).await.is_err() {
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
        if self.clock.ticks() {
            self.check_model(cancel).await;
        }
    }

    /// A store error that leaves the store usable (locked by another
    /// program, one failed statement) is shown and the run goes on: the
    /// writes are held and retried by the store. Anything else ends the run.
    async fn survive(&mut self, e: RuntimeError) -> Result<(), RuntimeError> {
        match e {
            RuntimeError::Store(se) if !matches!(se, StoreError::Closed { .. }) => {
                self.store_commits_at_error = self.store.stats().commits;
                self.store_down(se.to_string()).await;
                Ok(())
            }
            other => Err(other),
        }
    }

    /// Marks the store down with `reason`; the error line is said once per
    /// outage, not once per failed call.
    async fn store_down(&mut self, reason: String) {
        let was_down = matches!(
            self.health.get(&Component::Store),
            Some(Health::Down { .. })
        );
        // Down and said lately: the new reason (fresh counts, mostly) waits
        // for the next refresh.
        if was_down
            && self
                .store_down_said
                .is_some_and(|at| at.elapsed() < STORE_DOWN_REFRESH)
        {
            return;
        }
        self.store_down_said = Some(tokio::time::Instant::now());
        self.set_health(
            Component::Store,
            Health::Down {
                reason: reason.clone(),
            },
        )
        .await;
        if !was_down {
            self.error(format!("store: {reason}; clank keeps running"))
                .await;
        }
    }

    /// Notices store trouble the conductor's own calls did not hit (a full
    /// disk failing the writer's batches, a lock holding writes): the store's
    /// health goes down once with the reason, and comes back when nothing is
    /// held and a batch has committed since the last error.
    async fn check_store(&mut self) {
        let errors = self.store.error_count();
        let down = matches!(
            self.health.get(&Component::Store),
            Some(Health::Down { .. })
        );
        if errors == self.store_errors_seen && !down {
            return;
        }
        let st = self.store.stats();
        if errors != self.store_errors_seen {
            self.store_errors_seen = errors;
            self.store_commits_at_error = st.commits;
            let reason = format!(
                "{}; {} writes lost, {} held",
                st.last_error.as_deref().unwrap_or("a write failed"),
                st.lost,
                st.held
            );
            self.store_down(reason).await;
        } else if st.held == 0 && st.commits > self.store_commits_at_error {
            self.set_health(Component::Store, Health::Connected).await;
        }
    }

    /// Runs slow work beside the conductor (wall clock: its result comes
    /// back as a [`Side`] later) or inline (virtual clock: handled before the
    /// next event, so replays are deterministic). The one place the two
    /// clocks differ in how work is done.
    pub(super) async fn offload(
        &mut self,
        work: impl Future<Output = Side> + Send + 'static,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        if self.clock.inline() {
            let side = tokio::select! {
                s = work => s,
                _ = cancel.cancelled() => return Ok(()),
            };
            // Boxed: handling a result can start more work (a draft that is
            // sent starts an avatar call), which comes back here.
            return Box::pin(self.on_side(side, cancel)).await;
        }
        self.in_flight += 1;
        let side = self.side_tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                s = work => { let _ = side.send(s).await; }
                _ = cancel.cancelled() => {}
            }
        });
        Ok(())
    }

    async fn check_model(&mut self, cancel: &CancellationToken) {
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
        // Unless configured, drafts at once follow what the server says it
        // serves (llama.cpp's slots); a guess of 4 stands until it answers.
        if self.config.llm.max_in_flight == 0 {
            let (asked, slots) = (llm.clone(), self.drafter.slots.clone());
            tokio::spawn(async move {
                if let Some(n) = asked.parallel_slots().await {
                    let n = n.min(MAX_SERVER_SLOTS);
                    tracing::info!(slots = n, "the LLM server serves {n} drafts at once");
                    slots.set_max(n);
                }
            });
        }
        // A model check changes no state the run depends on.
        let _ = self
            .offload(async move { Side::Model(model_check(llm).await) }, cancel)
            .await;
    }

    /// One event from an adapter.
    async fn on_inbound(
        &mut self,
        inbound: Inbound,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        match inbound {
            Inbound::Chat(ev) => self.on_event(ev, cancel).await,
            Inbound::SendResult { draft_id, verdict } => self.on_verdict(draft_id, verdict).await,
            Inbound::Status {
                platform,
                channel: None,
                status,
            } => {
                self.set_health(Component::Platform(platform), health_of(&status))
                    .await;
                Ok(())
            }
            // One channel's state (joined, suspended, banned from it) is not
            // the platform's: the others still work.
            Inbound::Status {
                platform,
                channel: Some(channel),
                status,
            } => {
                match status {
                    // Read-only shows on the platform already (no login).
                    AdapterStatus::Connected
                    | AdapterStatus::Connecting
                    | AdapterStatus::ReadOnly { .. } => {
                        tracing::info!(%platform, %channel, %status, "channel status");
                    }
                    other => self.error(format!("{platform} #{channel}: {other}")).await,
                }
                Ok(())
            }
            Inbound::Notice {
                platform,
                kind: NoticeKind::Quota,
                text,
                ..
            } => {
                self.emit(Update::Quota { platform, text }).await;
                Ok(())
            }
            Inbound::Notice {
                platform,
                channel,
                text,
                ..
            } => {
                let place = channel.map(|c| format!(" #{c}")).unwrap_or_default();
                self.error(format!("{platform}{place}: {text}")).await;
                Ok(())
            }
            Inbound::Ended { adapter, detail } => {
                self.sources_ended += 1;
                tracing::info!(adapter, "source ended: {detail}");
                Ok(())
            }
            Inbound::Raid {
                platform,
                channel,
                from,
                viewers,
                at,
                ..
            } => {
                let now = self.platform_event(at, cancel).await;
                let text = format!("raid from {from} with {viewers} viewers");
                self.system(now, platform, &channel, SystemKind::Raid, text)
                    .await;
                let out = self.core.call(CoreCmd::Raid { from, viewers, now }).await?;
                self.after_core(out, now, cancel).await
            }
            Inbound::Sub {
                platform,
                channel,
                kind,
                author,
                months,
                recipient,
                count,
                text,
                at,
            } => {
                let now = self.platform_event(at, cancel).await;
                let who = author.name.clone();
                let what = match (kind, &recipient) {
                    (SubKind::Sub, _) => "subscribing".to_string(),
                    (SubKind::Resub, _) => match months {
                        Some(m) => format!("{m} months of support"),
                        None => "resubscribing".to_string(),
                    },
                    (SubKind::Gift, Some(r)) => format!("gifting a sub to {r}"),
                    (SubKind::Gift, None) => "gifting a sub".to_string(),
                    (SubKind::MysteryGift, _) => format!("gifting {} subs", count.unwrap_or(1)),
                    (SubKind::GiftUpgrade, _) => "keeping their gifted sub going".to_string(),
                };
                let mut line = format!("{who}: thanks for {what}");
                if let Some(t) = text.as_deref().filter(|t| !t.trim().is_empty()) {
                    line.push_str(&format!(" (\"{t}\")"));
                }
                self.system(now, platform, &channel, SystemKind::Sub, line)
                    .await;
                // A supporter is someone a streamer thanks, when her attention
                // allows; the core says whether it does.
                let out = self
                    .core
                    .call(CoreCmd::Thanks {
                        goal: DraftGoal::Thanks {
                            platform,
                            channel,
                            who,
                            what,
                        },
                        now,
                    })
                    .await?;
                self.after_core(out, now, cancel).await
            }
            Inbound::Announcement {
                platform,
                channel,
                author,
                text,
                at,
            } => {
                let now = self.platform_event(at, cancel).await;
                let line = format!("announcement by {}: {text}", author.name);
                self.system(now, platform, &channel, SystemKind::Announcement, line)
                    .await;
                Ok(())
            }
            Inbound::ChatCleared {
                platform,
                channel,
                at,
            } => {
                let now = self.platform_event(at, cancel).await;
                let line = "a moderator cleared the chat".to_string();
                self.system(now, platform, &channel, SystemKind::ChatCleared, line)
                    .await;
                Ok(())
            }
            // Room settings and our own badges matter to the adapter's send
            // limits, which it keeps itself.
            Inbound::RoomState { .. } | Inbound::SelfState { .. } => Ok(()),
            Inbound::Team(ev) => self.on_team(ev).await,
        }
    }

    /// Moves the clock to a platform event's time and counts it.
    async fn platform_event(
        &mut self,
        at: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> DateTime<Utc> {
        let now = self.clock.advance(at);
        if !self.model_checked {
            self.check_model(cancel).await;
        }
        self.summary.platform_events += 1;
        self.dirty = true;
        now
    }

    async fn system(
        &self,
        at: DateTime<Utc>,
        platform: crate::model::Platform,
        channel: &str,
        kind: SystemKind,
        text: String,
    ) {
        self.emit(Update::System(SystemLine {
            at,
            platform,
            channel: channel.to_string(),
            kind,
            text,
        }))
        .await;
    }

    async fn on_event(
        &mut self,
        ev: ChatEvent,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let now = self.clock.advance(ev.at());
        if !self.model_checked {
            self.check_model(cancel).await;
        }
        // Also here, not only on ticks: the virtual clock has no ticks.
        self.probe_llm_if_due(now, cancel).await;
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
                self.withdraw_matching(&why, |d| {
                    d.view.platform == *platform
                        && d.view.channel == *channel
                        && d.view.message_id.as_deref() == Some(id.as_str())
                })
                .await;
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
                self.withdraw_matching(&why, |d| {
                    d.goal.message().is_some_and(|m| {
                        m.platform == *platform
                            && m.channel == *channel
                            && m.author.id == *author_id
                    })
                })
                .await;
                self.emit(Update::AuthorRemoved {
                    platform: *platform,
                    channel: channel.clone(),
                    author_id: author_id.clone(),
                })
                .await;
            }
            ChatEvent::Message(_) => {}
        }
        let out = match ev {
            ChatEvent::Message(m) => {
                let m = Arc::new(m);
                let out = self
                    .core
                    .call(CoreCmd::HandleMessage(Arc::clone(&m), now))
                    .await?;
                self.show(m, &out).await;
                out
            }
            ev => self.core.call(CoreCmd::Handle(ev, now)).await?,
        };
        self.after_core(out, now, cancel).await
    }

    /// A run of chat messages (a burst read from the channel at once): the
    /// same steps as [`Conductor::on_event`] for each, in order, with one
    /// round trip to the core thread for all of them.
    async fn on_messages(
        &mut self,
        mut batch: Vec<ChatMessage>,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        if batch.len() == 1
            && let Some(m) = batch.pop()
        {
            return self.on_event(ChatEvent::Message(m), cancel).await;
        }
        let mut cmds = Vec::with_capacity(batch.len());
        let mut shown = Vec::with_capacity(batch.len());
        for m in batch {
            let now = self.clock.advance(m.at);
            if !self.model_checked {
                self.check_model(cancel).await;
            }
            self.probe_llm_if_due(now, cancel).await;
            self.summary.events += 1;
            let m = Arc::new(m);
            shown.push((Arc::clone(&m), now));
            cmds.push(CoreCmd::HandleMessage(m, now));
        }
        self.dirty = true;
        let outs = self.core.call_many(cmds).await?;
        for ((m, now), out) in shown.into_iter().zip(outs) {
            self.show(m, &out).await;
            // A store error on one message must not cost the rest their turn.
            if let Err(e) = self.after_core(out, now, cancel).await {
                self.survive(e).await?;
            }
        }
        Ok(())
    }

    /// The console's chat line for a message the core took. Filtered and
    /// held messages stay out of the chat pane (a held one shows, masked,
    /// in the review lane).
    async fn show(&mut self, m: Arc<ChatMessage>, out: &CoreOut) {
        if out.events.iter().any(|e| {
            matches!(e, CoreEvent::Filtered { id, .. } | CoreEvent::Held { id, .. } if *id == m.id)
        }) {
            return;
        }
        // The score each shown message had, for the operator's labels.
        if let Some(s) = &out.salience {
            if self.scores.len() >= MAX_SCORES {
                self.scores.clear();
            }
            self.scores.insert(score_key(&m.key()), Arc::clone(s));
        }
        // Chat statistics feed only the agent's context: without an agent
        // they cost a lowercased copy of every word, for nobody.
        if self.agent.is_some() {
            self.stats
                .observe(&m, out.salience.as_ref().map_or(0.0, |s| s.score));
        }
        self.emit(Update::Chat {
            message: m,
            salience: out.salience.clone(),
        })
        .await;
    }

    async fn on_tick(&mut self, cancel: &CancellationToken) -> Result<(), RuntimeError> {
        let now = self.now();
        let out = self.core.call(CoreCmd::Tick(now)).await?;
        if !out.events.is_empty() {
            self.dirty = true;
        }
        self.after_core(out, now, cancel).await?;
        self.retry_approved(now).await;
        self.probe_llm_if_due(now, cancel).await;
        self.unconfirm_overdue().await;
        self.check_store().await;
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
            s.sent = self.summary.sent;
            s.rejected = self.rejected_total;
            if self.suggestion_stale {
                self.suggestion_stale = false;
                self.suggestion =
                    crate::engine::tuning::suggest(&self.choices, &self.config.salience.weights);
            }
            s.suggestion = self.suggestion;
            // A held message never went by as chat: once released and
            // answered, its label needs the score it was held with.
            for h in &s.held {
                self.scores
                    .entry(score_key(&h.message.key()))
                    .or_insert_with(|| Arc::new(h.salience.clone()));
            }
            self.emit(Update::Snapshot(s)).await;
        }
        Ok(())
    }

    /// Everything that follows a core call: its events, drafts, expiry, agent.
    pub(super) async fn after_core(
        &mut self,
        out: CoreOut,
        now: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        if let Some(e) = out.error {
            self.error(format!("core: {e}")).await;
        }
        if out.attention.is_some() {
            self.attention = out.attention;
        }
        let mut state_changed = false;
        for ev in out.events {
            if matches!(ev, CoreEvent::Attention { from: Some(_), .. }) {
                state_changed = true;
            }
            self.emit(Update::Core(ev)).await;
        }
        // Team mode: the readers' state, for the others' headers (sent
        // only when it changed).
        self.publish_attention().await;
        for job in out.jobs {
            self.start_draft(job.goal, job.channel, false, cancel)
                .await?;
        }
        self.expire(now).await;
        self.check_store().await;
        let due = self.next_agent_at.is_none_or(|t| now >= t);
        if self.agent.is_some() && (due || state_changed) {
            let reason = if state_changed {
                "attention state changed"
            } else {
                "interval"
            };
            self.next_agent_at = Some(now + self.agent_interval);
            self.push_agent(reason, now, cancel).await?;
        }
        Ok(())
    }

    async fn push_agent(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let Some(agent) = self.agent.clone() else {
            return Ok(());
        };
        let ctx = self.stats.context(now);
        let value = serde_json::to_value(&ctx).unwrap_or(serde_json::Value::Null);
        let reason = reason.to_string();
        self.offload(
            async move {
                let r = agent.push(&ctx).await.map_err(|e| e.to_string());
                Side::Agent(reason, value, r)
            },
            cancel,
        )
        .await
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
        // In a team only the channel's reader drafts; the others show its
        // drafts (every console's core selects the same messages).
        if !regenerate && self.drafts_elsewhere(goal.platform(), goal.channel()) {
            return Ok(());
        }
        // Under auto-send, a draft that can only expire waiting for the
        // channel's delay is not started: the LLM's time goes to drafts that
        // can be sent. (The operator may still pick the message by hand.)
        if self.auto_send
            && !regenerate
            && let Some(why) = self.policy.delay_outlasts_draft(
                goal.platform(),
                goal.channel(),
                channel.time_delay_s,
                now,
            )
        {
            self.summary.skipped_delay += 1;
            self.log(PipelineEvent::Decision {
                at: now,
                id: None,
                message_id: goal.message().map(|m| m.id.clone()),
                action: "skip".into(),
                reason: why,
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
        // The state the draft was started in (issue 14: it was NULL in every row).
        let attention = self.attention;
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
            team: None,
        };
        self.emit(Update::Draft(view.clone())).await;
        self.summary.drafts += 1;
        let expires = now + ChronoDuration::seconds(self.policy.config().draft_ttl_s as i64);
        self.next_expiry = Some(self.next_expiry.map_or(expires, |t| t.min(expires)));
        self.drafts.insert(
            id,
            LiveDraft {
                view: view.clone(),
                goal: goal.clone(),
                channel,
                created_at: now,
                owner: None,
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
        self.offload(async move { Side::Draft(id, work.await) }, cancel)
            .await
    }

    async fn finish_draft(
        &mut self,
        id: DraftId,
        outcome: DraftOutcome,
        _cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        match &outcome.error {
            // Dropped from the LLM's queue: nothing learned about its health.
            None if outcome.dropped.is_some() => {}
            None => self.set_health(Component::Llm, Health::Connected).await,
            // A deadline passed while the server was busy: slow, not down,
            // and no probe (it answers probes; it is drafts it is late with).
            Some(e) if outcome.timed_out => {
                self.set_health(Component::Llm, Health::Slow { reason: e.clone() })
                    .await
            }
            Some(e) => {
                self.set_health(Component::Llm, Health::Down { reason: e.clone() })
                    .await;
                self.schedule_llm_probe(now);
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
        if outcome.gate.is_some() {
            self.summary.gate_refused += 1;
            if source == DraftSource::Fallback {
                self.summary.gate_fallbacks += 1;
            }
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
                // The gate's reason when it redrafted or fell back, so the
                // operator sees why this is not the first text the LLM wrote.
                d.view.why = outcome
                    .error
                    .clone()
                    .or_else(|| outcome.gate.clone())
                    .or_else(|| outcome.dropped.clone());
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
                    // Why this is no LLM text: its failure, or no turn at it.
                    error: outcome.error.or(outcome.dropped),
                    gate: outcome.gate,
                })
                .await;
                if !self.auto_send {
                    return Ok(());
                }
                let reviewed = view.message_id.as_ref().is_some_and(|id| {
                    self.reviewed.contains(&MessageKey {
                        platform: view.platform,
                        id: id.clone(),
                    })
                });
                let verdict = self.policy.auto_send(
                    &DraftFacts {
                        platform: view.platform,
                        channel: &view.channel,
                        source,
                        priority,
                        time_delay_s,
                        reviewed,
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

    async fn on_side(
        &mut self,
        side: Side,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        match side {
            Side::Draft(id, outcome) => self.finish_draft(id, outcome, cancel).await?,
            Side::Pushed(g) => {
                let ctx = json!({"pushed": true});
                self.on_agent("pushed".into(), ctx, Ok(Some(g))).await
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
                self.llm_probe = None;
                self.set_health(Component::Llm, Health::Connected).await;
            }
            Err(reason) => {
                // A failed probe is not news: the header already says down.
                if self.llm_probe.is_none() {
                    self.error(format!("LLM: {reason}")).await;
                }
                self.set_health(Component::Llm, Health::Down { reason })
                    .await;
                let now = self.now();
                self.schedule_llm_probe(now);
            }
        }
    }

    /// The LLM is down: ask it again later, waiting twice as long after each
    /// failed probe (5 s, 10 s, ... up to a minute), so the header says "up"
    /// soon after the server is back, without hammering a dead one.
    fn schedule_llm_probe(&mut self, now: DateTime<Utc>) {
        if self.drafter.llm.is_none() {
            return;
        }
        let failures = self.llm_probe.map_or(0, |(_, n)| n.saturating_add(1));
        let wait = (LLM_PROBE_FIRST_S << failures.min(8)).min(LLM_PROBE_MAX_S);
        self.llm_probe = Some((now + ChronoDuration::seconds(wait), failures));
    }

    /// Probes the LLM when one is due (see [`Self::schedule_llm_probe`]).
    async fn probe_llm_if_due(&mut self, now: DateTime<Utc>, cancel: &CancellationToken) {
        if self.llm_probe.is_some_and(|(at, _)| now >= at)
            && matches!(self.health.get(&Component::Llm), Some(Health::Down { .. }))
            && let Some(llm) = self.drafter.llm.clone()
        {
            // Pushed out first: a probe that takes a while is not started twice.
            if let Some((at, n)) = self.llm_probe {
                self.llm_probe = Some((at + ChronoDuration::seconds(LLM_PROBE_MAX_S), n));
            }
            let _ = self
                .offload(async move { Side::Model(model_check(llm).await) }, cancel)
                .await;
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

    pub async fn on_avatar(&mut self, id: DraftId, r: Result<String, String>) {
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
        if self.foreign(id) {
            // Its owner withdraws it; the team hears.
            return;
        }
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

    /// Withdraws every live or not-delivered draft that `matches` (its
    /// message was deleted, or its author banned).
    async fn withdraw_matching(&mut self, why: &str, matches: impl Fn(&LiveDraft) -> bool) {
        let live: Vec<DraftId> = self
            .drafts
            .iter()
            .filter(|(_, d)| matches(d))
            .map(|(k, _)| *k)
            .collect();
        for id in live {
            self.withdraw(id, why).await;
        }
        let gone: Vec<DraftId> = self
            .undelivered
            .iter()
            .filter(|(_, d)| matches(d))
            .map(|(k, _)| *k)
            .collect();
        self.withdraw_undelivered(gone, why).await;
    }

    /// Not-delivered replies whose message went away can no longer be
    /// retried: they leave the list as withdrawn.
    async fn withdraw_undelivered(&mut self, ids: Vec<DraftId>, why: &str) {
        for id in ids {
            let Some(mut d) = self.undelivered.remove(&id) else {
                continue;
            };
            self.summary.withdrawn += 1;
            if let Err(e) = self
                .store
                .set_response_verdict_async(id, ResponseStatus::Withdrawn, Some(why), self.now())
                .await
            {
                self.error(format!("store: {e}")).await;
            }
            d.view.state = DraftState::Withdrawn;
            d.view.why = Some(why.to_string());
            self.emit(Update::Draft(d.view)).await;
        }
    }

    /// Drafts nobody approved within `auto.draft_ttl_s` expire. Runs after
    /// every event, so it only walks the drafts when one is due.
    async fn expire(&mut self, now: DateTime<Utc>) {
        if self.next_expiry.is_none_or(|t| now < t) {
            return;
        }
        let ttl = ChronoDuration::seconds(self.policy.config().draft_ttl_s as i64);
        let old: Vec<DraftId> = self
            .drafts
            .iter()
            .filter(|(_, d)| {
                matches!(
                    d.view.state,
                    DraftState::Pending | DraftState::Approved | DraftState::Edited
                ) && now - d.created_at >= ttl
                    && d.owner.is_none()
            })
            .map(|(k, _)| *k)
            .collect();
        for id in old {
            // Only a console has an operator who could have acted on it.
            if self.snapshots {
                self.label(id, LabelAction::Ignored).await;
            }
            if let Some(mut d) = self.drafts.remove(&id) {
                self.summary.expired += 1;
                if self.team.is_some() {
                    // Another console may have approved it just now: only
                    // a draft still waiting expires.
                    let _ = self
                        .store
                        .claim_response_async(id, &WAITING, ResponseStatus::Expired, None)
                        .await;
                } else {
                    let _ = self
                        .store
                        .set_response_status_async(id, ResponseStatus::Expired, None)
                        .await;
                }
                d.view.state = DraftState::Expired;
                d.view.why = Some("nobody approved it in time".into());
                self.emit(Update::Draft(d.view)).await;
                self.log(PipelineEvent::Expired { at: now, id }).await;
            }
        }
        // Streaming drafts become pending later, with their old creation time.
        self.next_expiry = self
            .drafts
            .values()
            .filter(|d| LIVE.contains(&d.view.state))
            .map(|d| d.created_at + ttl)
            .min();
    }

    /// Operator-approved drafts that hit the per-minute cap go when it allows.
    async fn retry_approved(&mut self, now: DateTime<Utc>) {
        let approved: Vec<DraftId> = self
            .drafts
            .iter()
            // Edited drafts are operator-approved too (an edit sends).
            .filter(|(_, d)| matches!(d.view.state, DraftState::Approved | DraftState::Edited))
            // Another console's approved draft is its to send.
            .filter(|(_, d)| d.owner.is_none())
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
            Request::Approve(id) => {
                self.label(id, LabelAction::Approved).await;
                self.approve(id, now).await?
            }
            Request::Edit(id, text) => {
                let Some(d) = self.drafts.get_mut(&id) else {
                    return Ok(());
                };
                if !LIVE.contains(&d.view.state) || d.view.state == DraftState::Streaming {
                    return Ok(());
                }
                match self.drafter.make_safe(&text, &d.goal.target()) {
                    Ok(safe) => {
                        self.label(id, LabelAction::Edited).await;
                        let Some(d) = self.drafts.get_mut(&id) else {
                            return Ok(());
                        };
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
            Request::Reject(id) => {
                self.label(id, LabelAction::Rejected).await;
                self.reject(id, "rejected by the operator").await?
            }
            Request::Regenerate(id) => {
                let Some(d) = self.drafts.get(&id) else {
                    return Ok(());
                };
                if let Some(owner) = &d.owner {
                    let what = format!(
                        "draft {id} was drafted by {owner}: regenerate it there (or reject it here)"
                    );
                    self.error(what).await;
                    return Ok(());
                }
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
                    None => {
                        self.config.salience.weights = w;
                        self.suggestion_stale = true;
                    }
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
            Request::ReleaseHeld {
                platform,
                message_id,
            } => {
                // A released message is answered only with the operator's
                // approval: the auto policy never sends from the review lane.
                self.reviewed.insert(MessageKey {
                    platform,
                    id: message_id.clone(),
                });
                let out = self
                    .core
                    .call(CoreCmd::DecideHeld(platform, message_id, true, now))
                    .await?;
                self.after_core(out, now, cancel).await?;
            }
            Request::DiscardHeld {
                platform,
                message_id,
            } => {
                let out = self
                    .core
                    .call(CoreCmd::DecideHeld(platform, message_id, false, now))
                    .await?;
                self.after_core(out, now, cancel).await?;
            }
            Request::Retry(id) => self.retry(id).await?,
            Request::Discard(id) => self.discard(id).await?,
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

    /// The operator's choice on a live draft that answers a message becomes
    /// a label with the score the message had (learning from the operator),
    /// once per draft. Store trouble is shown, never fatal: a lost label
    /// costs a little learning, not the run.
    async fn label(&mut self, id: DraftId, action: LabelAction) {
        let Some(d) = self.drafts.get(&id) else {
            return;
        };

        if !LIVE.contains(&d.view.state) || d.view.state == DraftState::Streaming {
            return;
        }
        let Some(m) = d.goal.message() else {
            return;
        };
        let Some(salience) = self.scores.get(&score_key(&m.key())).cloned() else {
            return;
        };
        if !self.labelled.insert(id) {
            return;
        }
        let label = OperatorLabel {
            platform: m.platform,
            channel: m.channel.clone(),
            message_id: m.id.clone(),
            draft_id: Some(id),
            action,
            at: self.now(),
            salience: Arc::unwrap_or_clone(salience),
        };
        self.choices.push(crate::engine::tuning::Choice {
            breakdown: label.salience.breakdown,
            chosen: action.chosen(),
        });
        self.suggestion_stale = true;
        if let Err(e) = self.store.insert_label_async(label).await {
            self.error(format!("store: operator label not kept: {e}"))
                .await;
        }
    }

    async fn reject(&mut self, id: DraftId, why: &str) -> Result<(), RuntimeError> {
        let Some(mut d) = self.drafts.remove(&id) else {
            return Ok(());
        };
        if !LIVE.contains(&d.view.state) {
            return Ok(());
        }
        if self.team.is_some() {
            // Another console may have approved it meanwhile: the first
            // decision the server applies stands.
            let won = self
                .store
                .claim_response_async(id, &WAITING, ResponseStatus::Rejected, None)
                .await?;
            if !won {
                self.error(format!(
                    "draft {id} was already approved or settled by the team"
                ))
                .await;
                return Ok(());
            }
        } else {
            self.store
                .set_response_status_async(id, ResponseStatus::Rejected, None)
                .await?;
        }
        self.summary.rejected += 1;
        self.rejected_total += 1;
        d.view.state = DraftState::Rejected;
        d.view.why = Some(why.to_string());
        self.emit(Update::Draft(d.view)).await;
        Ok(())
    }
}

/// First wait before probing a down LLM again, in seconds; it doubles per failure.
const LLM_PROBE_FIRST_S: i64 = 5;
/// Longest wait between two probes of a down LLM, in seconds.
const LLM_PROBE_MAX_S: i64 = 60;

/// Asks the LLM server for its models: `Ok` with a note when drafting can go
/// on, `Err` with the reason when it cannot.
async fn model_check(llm: Arc<dyn LlmClient>) -> Result<String, String> {
    // Name the endpoint this provider's check really asked.
    let listing = match llm.provider() {
        crate::reply::llm::Provider::Ollama => "/api/tags",
        crate::reply::llm::Provider::Openai => "/v1/models",
    };
    match tokio::time::timeout(Duration::from_secs(5), llm.check_model()).await {
        Err(_) => Err(format!("the LLM server did not answer {listing} in 5 s")),
        Ok(Err(e)) => Err(e.to_string()),
        // Only a binding list (Ollama's) makes a missing name an error.
        Ok(Ok(st)) if st.found || !st.listing_is_binding => Ok(st.to_string()),
        Ok(Ok(st)) => Err(st.to_string()),
    }
}

/// The console's word for an adapter's status.
fn health_of(status: &AdapterStatus) -> Health {
    match status {
        AdapterStatus::Connecting => Health::Connecting,
        AdapterStatus::Connected => Health::Connected,
        AdapterStatus::ReadOnly { .. } => Health::ReadOnly,
        AdapterStatus::Reconnecting { in_s, reason } => Health::Reconnecting {
            in_s: *in_s,
            reason: reason.clone(),
        },
        AdapterStatus::Down { reason } => Health::Down {
            reason: reason.clone(),
        },
    }
}
