//! Console state and the one synchronous function that changes it:
//! [`App::handle`] takes a key, mouse event, resize, runtime update or clock
//! tick and returns the [`Request`]s to send. No I/O and no clock reads here,
//! so every key and state change is unit-tested without a terminal.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;

use super::keymap::{Action, Keymap};
use super::theme::Theme;
use super::{ShowDeleted, UiConfig};
use crate::core::CoreEvent;
use crate::engine::salience::SalienceWeights;
use crate::model::{
    AttentionState, ChatMessage, DraftId, DraftState, DraftView, MessageKey, Platform, Salience,
};
use crate::session::{
    Component, Health, HeldItem, QueueItem, Request, Snapshot, SystemLine, Update,
};

/// Most drafts remembered; older finished ones are dropped first.
const MAX_DRAFTS: usize = 200;
/// Notices (errors, warnings, command replies) remembered.
const MAX_NOTICES: usize = 50;
/// Minutes of message-rate history for the sparklines.
const RATE_MINUTES: usize = 60;
/// Attention transitions remembered for the timeline.
const MAX_TIMELINE: usize = 256;
/// Step of one weight adjustment.
const WEIGHT_STEP: f64 = 0.05;

/// Everything the console reacts to.
// Updates are moved once from the channel into `handle`; boxing them would
// add an allocation per chat message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Update(Update),
    /// The clock moved (the time-in-state display and notices age with it).
    Tick(DateTime<Utc>),
}

/// The pane that keys like j/k act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Chat,
    Queue,
    Drafts,
}

impl Focus {
    fn next(self) -> Focus {
        match self {
            Focus::Chat => Focus::Queue,
            Focus::Queue => Focus::Drafts,
            Focus::Drafts => Focus::Chat,
        }
    }
    fn prev(self) -> Focus {
        match self {
            Focus::Chat => Focus::Drafts,
            Focus::Queue => Focus::Chat,
            Focus::Drafts => Focus::Queue,
        }
    }
}

/// What a one-line prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Topic,
    Filter,
}

/// Modal states; `Normal` routes keys through the keymap.
#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    Help,
    Edit {
        draft: DraftId,
        area: Box<TextArea<'static>>,
    },
    Prompt {
        kind: PromptKind,
        area: Box<TextArea<'static>>,
    },
    StatePicker {
        sel: usize,
    },
    Weights {
        sel: usize,
    },
    /// The refused, failed and unconfirmed drafts, to retry or discard;
    /// `sel` indexes [`App::not_delivered`] (clamped, as the list changes
    /// under it while open).
    NotDelivered {
        sel: usize,
    },
    /// The review lane: held messages to release or discard; `sel` indexes
    /// [`App::held`] (clamped).
    Review {
        sel: usize,
    },
    ConfirmQuit,
}

/// What the operator asked for a not-delivered draft, until the runtime
/// answers with a new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Retry,
    Discard,
}

/// How loud a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Something the operator should read once (errors, warnings, command replies).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub text: String,
}

/// One line of the chat scrollback: a message, or a platform event shown
/// between messages.
#[derive(Debug, Clone)]
pub struct ChatLine {
    pub entry: ChatEntry,
    // The text and the author's name lowercased, made the first time a filter
    // reads the line and kept: filtering 10k lines per frame allocates
    // nothing, and a flood with no filter set never pays for it.
    lowered: OnceCell<Lowered>,
}

/// Two lines are equal when they show the same thing: the lowercased copy
/// is a cache, made or not depending on whether a filter has read the line.
impl PartialEq for ChatLine {
    fn eq(&self, other: &Self) -> bool {
        self.entry == other.entry
    }
}

#[derive(Debug, Clone)]
struct Lowered {
    text: String,
    // Empty for system lines, so a `user:` filter hides them.
    name: String,
}

/// What a chat line shows.
// Messages are nearly every line and the hot path: boxing them would cost an
// allocation each, to save a little space on the rare system line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEntry {
    /// Shared with the core's queue and the store's batch.
    Message {
        message: Arc<ChatMessage>,
        salience: Option<Arc<Salience>>,
        deleted: bool,
    },
    /// A raid, sub, announcement or cleared chat. Never struck: moderation
    /// removes what people said, not what the platform reported.
    System(SystemLine),
}

impl ChatLine {
    fn new(entry: ChatEntry) -> Self {
        Self {
            entry,
            lowered: OnceCell::new(),
        }
    }

    fn lowered(&self) -> &Lowered {
        self.lowered.get_or_init(|| match &self.entry {
            ChatEntry::Message { message, .. } => Lowered {
                text: message.text.to_lowercase(),
                name: message.author.name.to_lowercase(),
            },
            ChatEntry::System(line) => Lowered {
                text: line.text.to_lowercase(),
                name: String::new(),
            },
        })
    }

    /// The chat message, unless this is a system line.
    pub fn message(&self) -> Option<&ChatMessage> {
        match &self.entry {
            ChatEntry::Message { message, .. } => Some(message),
            ChatEntry::System(_) => None,
        }
    }

    /// Whether a moderator removed the message (never for system lines).
    pub fn deleted(&self) -> bool {
        matches!(self.entry, ChatEntry::Message { deleted: true, .. })
    }

    pub fn platform(&self) -> Platform {
        match &self.entry {
            ChatEntry::Message { message, .. } => message.platform,
            ChatEntry::System(line) => line.platform,
        }
    }
}

/// The chat filter typed after `/`: free words, `user:NAME`, `platform:NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFilter {
    pub raw: String,
    words: Vec<String>,
    user: Option<String>,
    platform: Option<Platform>,
}

impl ChatFilter {
    pub fn parse(raw: &str) -> Option<ChatFilter> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let mut f = ChatFilter {
            raw: raw.to_string(),
            words: Vec::new(),
            user: None,
            platform: None,
        };
        for tok in raw.split_whitespace() {
            let lower = tok.to_lowercase();
            if let Some(u) = lower
                .strip_prefix("user:")
                .or_else(|| lower.strip_prefix("u:"))
                .or_else(|| lower.strip_prefix('@'))
            {
                f.user = Some(u.to_string());
            } else if let Some(p) = lower
                .strip_prefix("platform:")
                .or_else(|| lower.strip_prefix("p:"))
            {
                f.platform = match p {
                    "tw" => Some(Platform::Twitch),
                    "yt" => Some(Platform::Youtube),
                    "dc" => Some(Platform::Discord),
                    other => other.parse().ok(),
                };
                if f.platform.is_none() {
                    // An unknown platform matches nothing rather than everything.
                    f.words.push(tok.to_lowercase());
                }
            } else {
                f.words.push(lower);
            }
        }
        Some(f)
    }

    pub fn matches(&self, line: &ChatLine) -> bool {
        if let Some(p) = self.platform {
            if line.platform() != p {
                return false;
            }
        }
        if self.user.is_none() && self.words.is_empty() {
            return true;
        }
        let lowered = line.lowered();
        if let Some(u) = &self.user {
            if !lowered.name.contains(u.as_str()) {
                return false;
            }
        }
        self.words.iter().all(|w| lowered.text.contains(w.as_str()))
    }
}

/// Figures behind the metrics pane, accumulated from updates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// (minute since the epoch, messages per platform), oldest first.
    pub per_minute: VecDeque<(i64, [u64; 3])>,
    /// Scores of all scored messages in tenths.
    pub score_bins: [u64; 10],
    /// Attention transitions, oldest first.
    pub timeline: VecDeque<(DateTime<Utc>, AttentionState)>,
    /// Queue depth per snapshot, oldest first.
    pub depth: VecDeque<u64>,
    /// Time to first token of recent drafts, oldest first.
    pub ttft_ms: VecDeque<u64>,
}

impl Metrics {
    fn count(&mut self, msg: &ChatMessage, salience: Option<&Salience>) {
        let minute = msg.at.timestamp().div_euclid(60);
        match self.per_minute.back_mut() {
            Some((m, counts)) if *m == minute => counts[msg.platform.index()] += 1,
            Some((m, _)) if *m > minute => {
                // Late message: count it in the newest minute rather than reorder.
                if let Some((_, counts)) = self.per_minute.back_mut() {
                    counts[msg.platform.index()] += 1;
                }
            }
            _ => {
                // Minutes without messages still show as zero.
                if let Some(&(last, _)) = self.per_minute.back() {
                    let gap = (minute - last - 1).clamp(0, RATE_MINUTES as i64);
                    for i in 0..gap {
                        self.per_minute.push_back((minute - gap + i, [0; 3]));
                    }
                }
                let mut counts = [0; 3];
                counts[msg.platform.index()] = 1;
                self.per_minute.push_back((minute, counts));
            }
        }
        while self.per_minute.len() > RATE_MINUTES {
            self.per_minute.pop_front();
        }
        if let Some(s) = salience {
            let bin = ((s.score * 10.0).floor() as i64).clamp(0, 9) as usize;
            self.score_bins[bin] += 1;
        }
    }

    fn transition(&mut self, at: DateTime<Utc>, state: AttentionState) {
        if self.timeline.back().map(|(_, s)| *s) == Some(state) {
            return;
        }
        self.timeline.push_back((at, state));
        while self.timeline.len() > MAX_TIMELINE {
            self.timeline.pop_front();
        }
    }
}

/// The whole console state.
pub struct App {
    pub config: UiConfig,
    pub keymap: Keymap,
    pub theme: Theme,
    /// The latest clock reading (from ticks and snapshots).
    pub now: DateTime<Utc>,
    /// The streamer's time zone for displayed times.
    pub offset: FixedOffset,
    pub size: (u16, u16),
    pub snapshot: Option<Snapshot>,
    pub weights: SalienceWeights,
    pub auto_send: bool,
    pub paused: bool,
    pub chat: VecDeque<ChatLine>,
    pub drafts: BTreeMap<DraftId, DraftView>,
    /// Drafts the operator already approved, edited, rejected or regenerated:
    /// a second key press on them sends nothing.
    acted: HashSet<DraftId>,
    /// Not-delivered drafts the operator asked to retry or discard: a second
    /// press sends nothing until the runtime reports a new state (a retry
    /// goes through `Sending`, so a new verdict may be retried again).
    asked: HashMap<DraftId, Asked>,
    /// Held messages the operator already released or discarded, until the
    /// runtime's next snapshot no longer holds them.
    decided: HashSet<MessageKey>,
    pub health: Vec<(Component, Health)>,
    /// The latest quota figures per platform (YouTube's units).
    pub quota: Vec<(Platform, String)>,
    pub notices: VecDeque<Notice>,
    pub metrics: Metrics,
    pub focus: Focus,
    pub mode: Mode,
    pub filter: Option<ChatFilter>,
    queue_sel: Option<MessageKey>,
    draft_sel: Option<DraftId>,
    /// Messages scrolled back from the newest (0 = following the chat).
    pub chat_scroll: usize,
    /// Team mode: who is connected and who reads (shown in the header).
    pub team: Option<crate::session::TeamView>,
    quit: bool,
}

impl App {
    /// A console with nothing received yet, showing the configured `weights`
    /// until the first snapshot says which ones the runtime uses.
    pub fn new(config: UiConfig, weights: SalienceWeights, now: DateTime<Utc>) -> App {
        let keymap = config.keys.build().unwrap_or_default();
        let theme = Theme::new(config.theme);
        App {
            config,
            keymap,
            theme,
            now,
            offset: Utc.fix(),
            size: (80, 24),
            snapshot: None,
            weights,
            auto_send: false,
            paused: false,
            chat: VecDeque::new(),
            drafts: BTreeMap::new(),
            acted: HashSet::new(),
            asked: HashMap::new(),
            decided: HashSet::new(),
            health: Vec::new(),
            quota: Vec::new(),
            notices: VecDeque::new(),
            metrics: Metrics::default(),
            focus: Focus::Queue,
            mode: Mode::Normal,
            filter: None,
            queue_sel: None,
            draft_sel: None,
            chat_scroll: 0,
            team: None,
            quit: false,
        }
    }

    /// Shows times in this UTC offset (the local zone in the real console).
    pub fn with_offset(mut self, offset: FixedOffset) -> App {
        self.offset = offset;
        self
    }

    /// True once the operator confirmed quitting.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Applies one event; returns what to ask of the runtime.
    pub fn handle(&mut self, event: AppEvent) -> Vec<Request> {
        match event {
            AppEvent::Key(key) => {
                // Key release events (kitty protocol, Windows) would double every press.
                if key.kind == KeyEventKind::Release {
                    return Vec::new();
                }
                self.key(key)
            }
            AppEvent::Mouse(m) => {
                self.mouse(m);
                Vec::new()
            }
            AppEvent::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            AppEvent::Update(u) => {
                self.update(u);
                Vec::new()
            }
            AppEvent::Tick(now) => {
                self.now = now;
                Vec::new()
            }
        }
    }

    // ---- runtime updates ----

    fn update(&mut self, u: Update) {
        match u {
            Update::Chat { message, salience } => self.push_chat(message, salience),
            Update::ChatRemoved {
                platform,
                channel,
                message_ids,
            } => {
                let ids: HashSet<&str> = message_ids.iter().map(String::as_str).collect();
                for line in self.chat.iter_mut().rev() {
                    if let ChatEntry::Message {
                        message: m,
                        deleted,
                        ..
                    } = &mut line.entry
                        && m.platform == platform
                        && m.channel == channel
                        && ids.contains(m.id.as_str())
                    {
                        *deleted = true;
                    }
                }
            }
            Update::AuthorRemoved {
                platform,
                channel,
                author_id,
            } => {
                for line in self.chat.iter_mut() {
                    if let ChatEntry::Message {
                        message: m,
                        deleted,
                        ..
                    } = &mut line.entry
                        && m.platform == platform
                        && m.channel == channel
                        && m.author.id == author_id
                    {
                        *deleted = true;
                    }
                }
            }
            Update::Core(ev) => self.core_event(ev),
            Update::Draft(view) => self.draft(view),
            Update::Health { component, health } => {
                match self.health.iter_mut().find(|(c, _)| *c == component) {
                    Some(slot) => slot.1 = health,
                    None => self.health.push((component, health)),
                }
            }
            Update::Snapshot(s) => self.snapshot(*s),
            Update::Error { at, what } => self.notice(at, Level::Error, what),
            Update::Quota { platform, text } => {
                match self.quota.iter_mut().find(|(p, _)| *p == platform) {
                    Some(slot) => slot.1 = text,
                    None => self.quota.push((platform, text)),
                }
            }
            Update::System(line) => self.push_system(line),
            Update::Pipeline(ev) => self.pipeline_event(ev),
            Update::Team(t) => self.team = Some(t),
        }
    }

    /// Drafts arrive as `Update::Draft`; here only what the operator should
    /// read in the notices: why something was held back, and the integrations.
    fn pipeline_event(&mut self, ev: crate::reply::pipeline::PipelineEvent) {
        use crate::reply::pipeline::PipelineEvent as P;
        match ev {
            P::Blocked { at, id, why } => {
                self.notice(at, Level::Warn, format!("draft {id} blocked: {why}"))
            }
            P::Withdrawn { at, id, why } => {
                self.notice(at, Level::Info, format!("draft {id} withdrawn: {why}"))
            }
            P::NotDelivered {
                at,
                id,
                platform,
                channel,
                status,
                why,
            } => self.notice(
                at,
                Level::Error,
                format!("reply {id} {status} on {platform} #{channel}: {why}"),
            ),
            P::AgentUpdate {
                at, error: Some(e), ..
            } => self.notice(at, Level::Warn, format!("agent: {e}")),
            P::AgentUpdate {
                at,
                guidance: Some(g),
                ..
            } if !g.topics.is_empty() => self.notice(
                at,
                Level::Info,
                format!("agent guidance: {}", g.topics.join(", ")),
            ),
            P::Avatar { at, id, status } if status != "processing" => {
                self.notice(at, Level::Warn, format!("avatar, draft {id}: {status}"))
            }
            _ => {}
        }
    }

    fn push_chat(&mut self, message: Arc<ChatMessage>, salience: Option<Arc<Salience>>) {
        self.metrics.count(&message, salience.as_deref());
        self.push_line(ChatLine::new(ChatEntry::Message {
            message,
            salience,
            deleted: false,
        }));
    }

    /// Not counted in the message rates: nobody said it.
    fn push_system(&mut self, line: SystemLine) {
        self.push_line(ChatLine::new(ChatEntry::System(line)));
    }

    fn push_line(&mut self, line: ChatLine) {
        // A scrolled-back view stays on the same messages while chat flows.
        if self.chat_scroll > 0 && self.filter.as_ref().is_none_or(|f| f.matches(&line)) {
            self.chat_scroll += 1;
        }
        self.chat.push_back(line);
        while self.chat.len() > self.config.scrollback {
            self.chat.pop_front();
        }
    }

    fn core_event(&mut self, ev: CoreEvent) {
        match ev {
            CoreEvent::Attention { at, state, .. } => self.metrics.transition(at, state),
            CoreEvent::Warning { at, what } => self.notice(at, Level::Warn, what),
            CoreEvent::Command { at, reply, .. } => {
                self.notice(at, Level::Info, format!("command: {reply}"))
            }
            CoreEvent::Held {
                at,
                author,
                reason,
                paid_usd,
                ..
            } => {
                let paid = paid_usd
                    .map(|u| format!(" (paid ${u:.2})"))
                    .unwrap_or_default();
                let key = self.keymap.label(Action::Review);
                self.notice(
                    at,
                    Level::Warn,
                    format!("message from {author}{paid} held: {reason} ({key} reviews)"),
                )
            }
            _ => {}
        }
    }

    fn notice(&mut self, at: DateTime<Utc>, level: Level, text: String) {
        self.notices.push_back(Notice { at, level, text });
        while self.notices.len() > MAX_NOTICES {
            self.notices.pop_front();
        }
    }

    fn draft(&mut self, view: DraftView) {
        if view.state == DraftState::Streaming {
            // Regenerating: the draft is new again and may be acted on.
            self.acted.remove(&view.id);
        }
        if self.drafts.get(&view.id).map(|d| d.state) != Some(view.state) {
            // The runtime answered the retry or discard: a new verdict may be
            // acted on again. The same state repeated is no answer.
            self.asked.remove(&view.id);
        }
        if let Some(ms) = view.time_to_first_token_ms {
            let first = self
                .drafts
                .get(&view.id)
                .is_none_or(|d| d.time_to_first_token_ms.is_none());
            if first {
                self.metrics.ttft_ms.push_back(ms);
                while self.metrics.ttft_ms.len() > 50 {
                    self.metrics.ttft_ms.pop_front();
                }
            }
        }
        let id = view.id;
        self.drafts.insert(id, view);
        if self.draft_sel.is_none_or(|s| !self.is_active(s)) && self.is_active(id) {
            self.draft_sel = Some(id);
        }
        if self.drafts.len() > MAX_DRAFTS {
            // Not-delivered drafts wait for the operator, so they go last.
            let finished = |d: &&DraftView| !self.is_active(d.id);
            let old: Vec<DraftId> = self
                .drafts
                .values()
                .filter(|d| finished(d) && !d.state.not_delivered())
                .chain(
                    self.drafts
                        .values()
                        .filter(|d| finished(d) && d.state.not_delivered()),
                )
                .map(|d| d.id)
                .take(self.drafts.len() - MAX_DRAFTS)
                .collect();
            for d in old {
                self.drafts.remove(&d);
                self.asked.remove(&d);
            }
        }
    }

    fn snapshot(&mut self, s: Snapshot) {
        self.now = self.now.max(s.at);
        self.auto_send = s.auto_send;
        self.paused = s.paused;
        // While the operator tunes weights, the ones being typed win until the
        // runtime has caught up with them; the queue order is always the
        // runtime's (it re-ranks when it gets `SetWeights`).
        if !matches!(self.mode, Mode::Weights { .. }) {
            self.weights = s.weights;
        }
        self.metrics.transition(s.state_since, s.state);
        self.metrics.depth.push_back(s.queue_len as u64);
        while self.metrics.depth.len() > 120 {
            self.metrics.depth.pop_front();
        }
        // When the selected message leaves the queue (its draft was asked
        // for, it expired, a moderator removed it), the cursor stays where it
        // was, on the message that took its place, not back at the top.
        let old_pos = self.queue_selected();
        self.decided
            .retain(|k| s.held.iter().any(|h| h.message.key() == *k));
        self.snapshot = Some(s);
        if let (Some(key), Some(pos)) = (&self.queue_sel, old_pos) {
            let ranked = self.ranked();
            let still_there = ranked
                .iter()
                .any(|i| i.message.platform == key.platform && i.message.id == key.id);
            if !still_there && !ranked.is_empty() {
                let next = &ranked[pos.min(ranked.len() - 1)].message;
                self.queue_sel = Some(next.key());
            }
        }
    }

    // ---- queries the views use ----

    /// The queue as the runtime ranked it in its latest snapshot, best first
    /// (each item's score and priority are under the runtime's weights).
    pub fn ranked(&self) -> &[QueueItem] {
        self.snapshot
            .as_ref()
            .map(|s| s.queue.as_slice())
            .unwrap_or(&[])
    }

    /// Position of the selected queue item in the ranking.
    pub fn queue_selected(&self) -> Option<usize> {
        let ranked = self.ranked();
        if ranked.is_empty() {
            return None;
        }
        let pos = self.queue_sel.as_ref().and_then(|key| {
            ranked
                .iter()
                .position(|i| i.message.platform == key.platform && i.message.id == key.id)
        });
        Some(pos.unwrap_or(0))
    }

    pub fn selected_item(&self) -> Option<&QueueItem> {
        self.queue_selected().and_then(|p| self.ranked().get(p))
    }

    /// Streaming or pending and not yet acted on.
    pub fn is_active(&self, id: DraftId) -> bool {
        self.drafts.get(&id).is_some_and(|d| {
            matches!(d.state, DraftState::Streaming | DraftState::Pending)
                && !self.acted.contains(&id)
        })
    }

    /// Drafts as listed: active ones oldest first, then the rest newest first.
    pub fn draft_list(&self) -> Vec<&DraftView> {
        let mut list: Vec<&DraftView> = self
            .drafts
            .values()
            .filter(|d| self.is_active(d.id))
            .collect();
        list.extend(self.drafts.values().rev().filter(|d| !self.is_active(d.id)));
        list
    }

    /// Drafts ready and waiting for the operator (not the ones still being
    /// written: those are [`App::writing_count`]).
    pub fn pending_count(&self) -> usize {
        self.drafts
            .values()
            .filter(|d| d.state == DraftState::Pending && self.is_active(d.id))
            .count()
    }

    /// Drafts the LLM is still writing.
    pub fn writing_count(&self) -> usize {
        self.drafts
            .values()
            .filter(|d| d.state == DraftState::Streaming && self.is_active(d.id))
            .count()
    }

    /// The message a draft answers, while it is still in the chat scrollback
    /// or the queue.
    pub fn answered_message(&self, d: &DraftView) -> Option<&ChatMessage> {
        let id = d.message_id.as_deref()?;
        let matches =
            |m: &&ChatMessage| m.id == id && m.platform == d.platform && m.channel == d.channel;
        self.chat
            .iter()
            .rev()
            .filter_map(ChatLine::message)
            .find(matches)
            .or_else(|| self.ranked().iter().map(|r| &*r.message).find(matches))
    }

    /// The draft the drafts pane shows and draft keys act on: in the queue,
    /// the selected message's draft; elsewhere the selected draft.
    pub fn shown_draft(&self) -> Option<&DraftView> {
        // With an empty queue the drafts still need answering from here.
        if let (Focus::Queue, Some(item)) = (self.focus, self.selected_item()) {
            return self.drafts.values().rev().find(|d| {
                d.platform == item.message.platform
                    && d.message_id.as_deref() == Some(item.message.id.as_str())
            });
        }
        let id = self
            .draft_sel
            .filter(|id| self.drafts.contains_key(id))
            .or_else(|| self.draft_list().first().map(|d| d.id))?;
        self.drafts.get(&id)
    }

    /// The selected draft's id in the list, if any.
    pub fn draft_selected(&self) -> Option<DraftId> {
        self.draft_sel
    }

    /// Whether the draft was already acted on from this console.
    pub fn acted_on(&self, id: DraftId) -> bool {
        self.acted.contains(&id)
    }

    /// Refused, failed and unconfirmed drafts, newest first (as the store's
    /// list after a restart).
    pub fn not_delivered(&self) -> Vec<&DraftView> {
        self.drafts
            .values()
            .rev()
            .filter(|d| d.state.not_delivered())
            .collect()
    }

    /// Not-delivered drafts still waiting for the operator (not yet asked
    /// to be retried or discarded).
    pub fn not_delivered_count(&self) -> usize {
        self.drafts
            .values()
            .filter(|d| d.state.not_delivered() && !self.asked.contains_key(&d.id))
            .count()
    }

    /// The review lane as the runtime's latest snapshot holds it, oldest
    /// first, without the ones already decided here. Texts are masked.
    pub fn held(&self) -> Vec<&HeldItem> {
        self.snapshot
            .as_ref()
            .map(|s| {
                s.held
                    .iter()
                    .filter(|h| !self.decided.contains(&h.message.key()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Release (true) or discard the held message at `sel`, once.
    fn decide_held(&mut self, sel: usize, release: bool) -> Vec<Request> {
        let list = self.held();
        let Some(last) = list.len().checked_sub(1) else {
            return Vec::new();
        };
        let key = list[sel.min(last)].message.key();
        self.decided.insert(key.clone());
        let (platform, message_id) = (key.platform, key.id);
        vec![if release {
            Request::ReleaseHeld {
                platform,
                message_id,
            }
        } else {
            Request::DiscardHeld {
                platform,
                message_id,
            }
        }]
    }

    /// What the operator asked for this not-delivered draft, if anything yet.
    pub fn asked(&self, id: DraftId) -> Option<Asked> {
        self.asked.get(&id).copied()
    }

    /// The entry of the not-delivered list that `sel` points at.
    pub fn not_delivered_at(&self, sel: usize) -> Option<&DraftView> {
        let list = self.not_delivered();
        let last = list.len().checked_sub(1)?;
        list.get(sel.min(last)).copied()
    }

    /// Retry or discard, once per verdict: never for a draft that is not
    /// (or no longer) refused, failed or unconfirmed.
    fn ask(&mut self, id: DraftId, what: Asked) -> Vec<Request> {
        let open = self
            .drafts
            .get(&id)
            .is_some_and(|d| d.state.not_delivered());
        if !open || self.asked.contains_key(&id) {
            return Vec::new();
        }
        self.asked.insert(id, what);
        match what {
            Asked::Retry => vec![Request::Retry(id)],
            Asked::Discard => vec![Request::Discard(id)],
        }
    }

    /// Chat lines that pass the filter and the deleted-message setting.
    pub fn chat_visible(&self, line: &ChatLine) -> bool {
        if line.deleted() && self.config.show_deleted == ShowDeleted::Removed {
            return false;
        }
        self.filter.as_ref().is_none_or(|f| f.matches(line))
    }

    /// The latest notice if it is recent enough to show.
    pub fn current_notice(&self) -> Option<&Notice> {
        self.notices
            .back()
            .filter(|n| (self.now - n.at).num_seconds() < 30)
    }

    // ---- keys ----

    fn key(&mut self, key: KeyEvent) -> Vec<Request> {
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        match mode {
            Mode::Normal => match self.keymap.action(&key) {
                Some(action) => self.action(action),
                None => Vec::new(),
            },
            Mode::Help => Vec::new(),
            Mode::NotDelivered { sel } => {
                let last = self.not_delivered().len().saturating_sub(1);
                let sel = sel.min(last);
                let stay = |sel| Mode::NotDelivered { sel };
                match (key.code, self.keymap.action(&key)) {
                    (KeyCode::Esc, _) | (_, Some(Action::NotDelivered)) => Vec::new(),
                    (_, Some(Action::Down)) => {
                        self.mode = stay((sel + 1).min(last));
                        Vec::new()
                    }
                    (_, Some(Action::Up)) => {
                        self.mode = stay(sel.saturating_sub(1));
                        Vec::new()
                    }
                    (_, Some(Action::Top)) => {
                        self.mode = stay(0);
                        Vec::new()
                    }
                    (_, Some(Action::Bottom)) => {
                        self.mode = stay(last);
                        Vec::new()
                    }
                    (_, Some(what @ (Action::Retry | Action::Discard))) => {
                        self.mode = stay(sel);
                        let Some(id) = self.not_delivered_at(sel).map(|d| d.id) else {
                            return Vec::new();
                        };
                        let what = if what == Action::Retry {
                            Asked::Retry
                        } else {
                            Asked::Discard
                        };
                        self.ask(id, what)
                    }
                    _ => {
                        self.mode = stay(sel);
                        Vec::new()
                    }
                }
            }
            Mode::Review { sel } => {
                let last = self.held().len().saturating_sub(1);
                let sel = sel.min(last);
                self.mode = Mode::Review { sel };
                match (key.code, self.keymap.action(&key)) {
                    (KeyCode::Esc, _) | (_, Some(Action::Review)) => {
                        self.mode = Mode::Normal;
                        Vec::new()
                    }
                    (_, Some(Action::Down)) => {
                        self.mode = Mode::Review {
                            sel: (sel + 1).min(last),
                        };
                        Vec::new()
                    }
                    (_, Some(Action::Up)) => {
                        self.mode = Mode::Review {
                            sel: sel.saturating_sub(1),
                        };
                        Vec::new()
                    }
                    (_, Some(Action::Approve)) => self.decide_held(sel, true),
                    (_, Some(Action::Reject | Action::Discard)) => self.decide_held(sel, false),
                    _ => Vec::new(),
                }
            }
            Mode::ConfirmQuit => {
                if matches!(
                    key.code,
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
                ) || self.keymap.action(&key) == Some(Action::Quit)
                {
                    self.quit = true;
                    vec![Request::Quit]
                } else {
                    Vec::new()
                }
            }
            Mode::Edit { draft, mut area } => {
                let send = key.code == KeyCode::Enter
                    || (key.code == KeyCode::Char('s')
                        && key.modifiers.contains(KeyModifiers::CONTROL));
                if key.code == KeyCode::Esc {
                    return Vec::new();
                }
                if send {
                    let text = area.lines().join(" ").trim().to_string();
                    if text.is_empty() || !self.can_act(draft) {
                        self.mode = Mode::Edit { draft, area };
                        return Vec::new();
                    }
                    self.acted_on_draft(draft);
                    return vec![Request::Edit(draft, text)];
                }
                area.input(key);
                self.mode = Mode::Edit { draft, area };
                Vec::new()
            }
            Mode::Prompt { kind, mut area } => match key.code {
                KeyCode::Esc => Vec::new(),
                KeyCode::Enter => {
                    let text = area.lines().join(" ").trim().to_string();
                    match kind {
                        PromptKind::Topic => vec![Request::SetTopic(text)],
                        PromptKind::Filter => {
                            self.filter = ChatFilter::parse(&text);
                            self.chat_scroll = 0;
                            Vec::new()
                        }
                    }
                }
                _ => {
                    area.input(key);
                    self.mode = Mode::Prompt { kind, area };
                    Vec::new()
                }
            },
            Mode::StatePicker { mut sel } => {
                let n = AttentionState::ALL.len();
                match (key.code, self.keymap.action(&key)) {
                    (KeyCode::Esc, _) | (_, Some(Action::ForceState)) => Vec::new(),
                    (KeyCode::Enter, _) => vec![Request::ForceState(AttentionState::ALL[sel])],
                    (KeyCode::Char(c @ '1'..='4'), _) => {
                        let i = c as usize - '1' as usize;
                        vec![Request::ForceState(AttentionState::ALL[i])]
                    }
                    (_, Some(Action::Down)) => {
                        sel = (sel + 1) % n;
                        self.mode = Mode::StatePicker { sel };
                        Vec::new()
                    }
                    (_, Some(Action::Up)) => {
                        sel = (sel + n - 1) % n;
                        self.mode = Mode::StatePicker { sel };
                        Vec::new()
                    }
                    _ => {
                        self.mode = Mode::StatePicker { sel };
                        Vec::new()
                    }
                }
            }
            Mode::Weights { mut sel } => {
                let delta = match key.code {
                    KeyCode::Char('l')
                    | KeyCode::Char('+')
                    | KeyCode::Char('=')
                    | KeyCode::Right => Some(WEIGHT_STEP),
                    KeyCode::Char('h') | KeyCode::Char('-') | KeyCode::Left => Some(-WEIGHT_STEP),
                    _ => None,
                };
                if let Some(d) = delta {
                    self.mode = Mode::Weights { sel };
                    return self.adjust_weight(sel, d);
                }
                // The fit to the operator's choices, only when asked for.
                if key.code == KeyCode::Char('f') {
                    self.mode = Mode::Weights { sel };
                    let fit = self.snapshot.as_ref().and_then(|s| s.suggestion);
                    return match fit {
                        Some(f) if f.weights != self.weights => {
                            self.weights = f.weights;
                            vec![Request::SetWeights(f.weights)]
                        }
                        _ => Vec::new(),
                    };
                }
                match (key.code, self.keymap.action(&key)) {
                    (KeyCode::Esc | KeyCode::Enter, _) | (_, Some(Action::Weights)) => {}
                    (_, Some(Action::Down)) => {
                        sel = (sel + 1) % 4;
                        self.mode = Mode::Weights { sel };
                    }
                    (_, Some(Action::Up)) => {
                        sel = (sel + 3) % 4;
                        self.mode = Mode::Weights { sel };
                    }
                    _ => self.mode = Mode::Weights { sel },
                }
                Vec::new()
            }
        }
    }

    fn adjust_weight(&mut self, factor: usize, delta: f64) -> Vec<Request> {
        let mut w = self.weights;
        let slot = match factor {
            0 => &mut w.content,
            1 => &mut w.authority,
            2 => &mut w.relevance,
            _ => &mut w.temporal,
        };
        // Rounded to the step so repeated presses land on clean values.
        *slot = ((*slot + delta).clamp(0.0, 1.0) / WEIGHT_STEP).round() * WEIGHT_STEP;
        if w == self.weights || w.validate().is_err() {
            return Vec::new();
        }
        // The queue keeps its order until the runtime, which owns the
        // ranking, answers with a snapshot re-ranked under `w`.
        self.weights = w;
        vec![Request::SetWeights(w)]
    }

    fn can_act(&self, id: DraftId) -> bool {
        self.drafts.contains_key(&id) && !self.acted.contains(&id)
    }

    /// Marks a draft as handled and moves the selection to the next one waiting.
    fn acted_on_draft(&mut self, id: DraftId) {
        self.acted.insert(id);
        if self.draft_sel == Some(id) || self.draft_sel.is_none() {
            self.draft_sel = self
                .drafts
                .keys()
                .copied()
                .find(|d| self.is_active(*d))
                .or(Some(id));
        }
    }

    fn action(&mut self, action: Action) -> Vec<Request> {
        let shown = self.shown_draft().map(|d| (d.id, d.state));
        match action {
            Action::FocusNext => self.focus = self.focus.next(),
            Action::FocusPrev => self.focus = self.focus.prev(),
            Action::Down => self.move_sel(1),
            Action::Up => self.move_sel(-1),
            Action::PageDown => self.move_sel(self.page() as isize),
            Action::PageUp => self.move_sel(-(self.page() as isize)),
            Action::Top => self.move_sel(isize::MIN / 2),
            Action::Bottom => self.move_sel(isize::MAX / 2),
            Action::Approve => {
                if let Some((id, DraftState::Pending)) = shown {
                    if self.can_act(id) {
                        self.acted_on_draft(id);
                        return vec![Request::Approve(id)];
                    }
                    return Vec::new();
                }
                if self.focus == Focus::Queue && shown.is_none() {
                    if let Some(item) = self.selected_item() {
                        return vec![Request::DraftFor {
                            platform: item.message.platform,
                            message_id: item.message.id.clone(),
                        }];
                    }
                }
            }
            Action::Edit => {
                if let Some((id, state)) = shown {
                    let editable = matches!(
                        state,
                        DraftState::Pending | DraftState::Blocked | DraftState::Failed
                    );
                    if editable && self.can_act(id) {
                        let text = self
                            .drafts
                            .get(&id)
                            .map(|d| d.text.clone())
                            .unwrap_or_default();
                        let mut area = TextArea::new(vec![text]);
                        // Drafts are longer than the pane is wide: wrap, don't scroll sideways.
                        area.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
                        area.move_cursor(ratatui_textarea::CursorMove::End);
                        self.mode = Mode::Edit {
                            draft: id,
                            area: Box::new(area),
                        };
                    }
                }
            }
            Action::Reject => {
                if let Some((id, state)) = shown {
                    let rejectable = matches!(
                        state,
                        DraftState::Pending | DraftState::Streaming | DraftState::Blocked
                    );
                    if rejectable && self.can_act(id) {
                        self.acted_on_draft(id);
                        return vec![Request::Reject(id)];
                    }
                }
            }
            Action::Regenerate => {
                if let Some((id, state)) = shown {
                    // In flight or maybe in chat (unconfirmed): a new draft
                    // for the same message could answer it twice.
                    let done = matches!(
                        state,
                        DraftState::Streaming
                            | DraftState::Sent
                            | DraftState::Approved
                            | DraftState::Edited
                            | DraftState::Sending
                            | DraftState::Unconfirmed
                    );
                    if !done && self.can_act(id) {
                        self.acted_on_draft(id);
                        return vec![Request::Regenerate(id)];
                    }
                }
            }
            Action::ToggleAuto => {
                self.auto_send = !self.auto_send;
                return vec![Request::SetAutoSend(self.auto_send)];
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                return vec![Request::SetPaused(self.paused)];
            }
            Action::Topic => {
                let topic = self
                    .snapshot
                    .as_ref()
                    .map(|s| s.topic.clone())
                    .unwrap_or_default();
                let mut area = TextArea::new(vec![topic]);
                area.move_cursor(ratatui_textarea::CursorMove::End);
                self.mode = Mode::Prompt {
                    kind: PromptKind::Topic,
                    area: Box::new(area),
                };
            }
            Action::Filter => {
                let raw = self
                    .filter
                    .as_ref()
                    .map(|f| f.raw.clone())
                    .unwrap_or_default();
                let mut area = TextArea::new(vec![raw]);
                area.move_cursor(ratatui_textarea::CursorMove::End);
                self.mode = Mode::Prompt {
                    kind: PromptKind::Filter,
                    area: Box::new(area),
                };
            }
            Action::ForceState => {
                let sel = self.snapshot.as_ref().map(|s| s.state.index()).unwrap_or(0);
                self.mode = Mode::StatePicker { sel };
            }
            Action::Weights => self.mode = Mode::Weights { sel: 0 },
            Action::NotDelivered => self.mode = Mode::NotDelivered { sel: 0 },
            Action::Review => self.mode = Mode::Review { sel: 0 },
            Action::Retry => {
                if let Some((id, _)) = shown {
                    return self.ask(id, Asked::Retry);
                }
            }
            Action::Discard => {
                if let Some((id, _)) = shown {
                    return self.ask(id, Asked::Discard);
                }
            }
            Action::Help => self.mode = Mode::Help,
            Action::Quit => {
                if self.pending_count() > 0 {
                    self.mode = Mode::ConfirmQuit;
                } else {
                    self.quit = true;
                    return vec![Request::Quit];
                }
            }
        }
        Vec::new()
    }

    fn page(&self) -> usize {
        let areas = super::views::areas(
            Rect::new(0, 0, self.size.0, self.size.1),
            self.team.is_some(),
        );
        usize::from(areas.chat.height.saturating_sub(2)).max(1)
    }

    fn move_sel(&mut self, delta: isize) {
        match self.focus {
            Focus::Chat => {
                // Scrolling down moves towards the newest message (offset 0).
                let max = self
                    .chat
                    .iter()
                    .filter(|l| self.chat_visible(l))
                    .count()
                    .saturating_sub(1);
                let cur = self.chat_scroll as isize;
                self.chat_scroll = (cur - delta).clamp(0, max as isize) as usize;
            }
            Focus::Queue => {
                let n = self.ranked().len();
                if n == 0 {
                    return;
                }
                let cur = self.queue_selected().unwrap_or(0) as isize;
                let pos = (cur + delta).clamp(0, n as isize - 1) as usize;
                let key = self.ranked().get(pos).map(|i| i.message.key());
                self.queue_sel = key;
            }
            Focus::Drafts => {
                let list: Vec<DraftId> = self.draft_list().iter().map(|d| d.id).collect();
                if list.is_empty() {
                    return;
                }
                let cur = self
                    .draft_sel
                    .and_then(|s| list.iter().position(|d| *d == s))
                    .unwrap_or(0) as isize;
                let pos = (cur + delta).clamp(0, list.len() as isize - 1) as usize;
                self.draft_sel = Some(list[pos]);
            }
        }
    }

    // ---- mouse ----

    fn mouse(&mut self, m: MouseEvent) {
        if !self.config.mouse || !matches!(self.mode, Mode::Normal) {
            return;
        }
        let areas = super::views::areas(
            Rect::new(0, 0, self.size.0, self.size.1),
            self.team.is_some(),
        );
        let pos = Position::new(m.column, m.row);
        let pane = if areas.chat.contains(pos) {
            Some(Focus::Chat)
        } else if areas.queue.contains(pos) {
            Some(Focus::Queue)
        } else if areas.drafts.contains(pos) {
            Some(Focus::Drafts)
        } else {
            None
        };
        let Some(pane) = pane else { return };
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let saved = self.focus;
                self.focus = pane;
                let step = if pane == Focus::Chat { 3 } else { 1 };
                self.move_sel(if m.kind == MouseEventKind::ScrollUp {
                    -step
                } else {
                    step
                });
                self.focus = saved;
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if pane == Focus::Queue {
                    // Rows start below the border; the list scrolls with the
                    // selection, so map the row through the same offset.
                    let row = usize::from(m.row.saturating_sub(areas.queue.y + 1));
                    let height = usize::from(super::views::queue::list_height(areas.queue));
                    let offset =
                        super::views::list_offset(self.queue_selected().unwrap_or(0), height);
                    let key = self.ranked().get(offset + row).map(|i| i.message.key());
                    if key.is_some() {
                        self.queue_sel = key;
                    }
                }
            }
            _ => {}
        }
    }
}
