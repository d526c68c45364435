//! One draft from goal to safe text: the channel's recent chat from the store,
//! the prompt, the LLM stream (each token reported as it comes), the output
//! gate and platform formatting; a marked fallback when the LLM fails. Also the
//! pipeline's log events (draft, sent, blocked, withdrawn, decision, agent).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::chatlog::ser_time;
use crate::engine::filter::ContentFilter;
use crate::model::{ChatMessage, DraftId, DraftSource, Platform, Priority};
use crate::reply::context::{Goal, Guidance, Persona, PromptInput, build_prompt, chat_is_busy};
use crate::reply::format::{
    Blocked, EchoGuard, Fallbacks, OutputPolicy, Target, make_safe, screen_llm_text,
};
use crate::reply::llm::{LlmClient, LlmError};
use crate::reply::slots::LlmSlots;
use crate::store::Store;

/// Guidance shared between the agent integration (writer) and drafts (readers).
pub type SharedGuidance = Arc<RwLock<Option<Guidance>>>;

/// Something the reply side did, for the console's log and the JSON log.
/// `text` is always exactly what would go (or went) on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PipelineEvent {
    Draft {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        platform: Platform,
        channel: String,
        text: String,
        source: DraftSource,
        #[serde(skip_serializing_if = "Option::is_none")]
        ttft_ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Why the gate refused the LLM's earlier text (see `DraftOutcome::gate`).
        #[serde(skip_serializing_if = "Option::is_none")]
        gate: Option<String>,
    },
    /// The auto policy's (or the operator's) verdict on a draft, with its reason.
    Decision {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<DraftId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// "send", "hold", "skip" or "approve".
        action: String,
        reason: String,
    },
    Sent {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        platform: Platform,
        channel: String,
        text: String,
    },
    Blocked {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
        why: String,
    },
    /// The platform refused a sent reply, it never reached the platform, or
    /// no verdict came: `status` is "refused", "failed" or "unconfirmed".
    /// It waits in the not-delivered list for the operator.
    NotDelivered {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
        platform: Platform,
        channel: String,
        status: String,
        why: String,
    },
    Withdrawn {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
        why: String,
    },
    Expired {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
    },
    /// Context went to the agent; `guidance` is what came back, if anything.
    AgentUpdate {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        reason: String,
        context: serde_json::Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        guidance: Option<Guidance>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A sent reply went to the avatar; `status` is its answer.
    Avatar {
        #[serde(serialize_with = "ser_time")]
        at: DateTime<Utc>,
        id: DraftId,
        status: String,
    },
}

/// What to draft.
#[derive(Debug, Clone, PartialEq)]
// Goals are made once per draft; boxing the message would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum DraftGoal {
    Answer {
        message: ChatMessage,
        priority: Option<Priority>,
    },
    Unprompted {
        platform: Platform,
        channel: String,
    },
    /// Thank a supporter (a new subscriber, a gifter) in their channel.
    Thanks {
        platform: Platform,
        channel: String,
        /// The supporter's display name.
        who: String,
        /// What they did, in words ("a gift of 5 subs").
        what: String,
    },
}

impl DraftGoal {
    pub fn platform(&self) -> Platform {
        match self {
            DraftGoal::Answer { message, .. } => message.platform,
            DraftGoal::Unprompted { platform, .. } | DraftGoal::Thanks { platform, .. } => {
                *platform
            }
        }
    }

    pub fn channel(&self) -> &str {
        match self {
            DraftGoal::Answer { message, .. } => &message.channel,
            DraftGoal::Unprompted { channel, .. } | DraftGoal::Thanks { channel, .. } => channel,
        }
    }

    pub fn message(&self) -> Option<&ChatMessage> {
        match self {
            DraftGoal::Answer { message, .. } => Some(message),
            DraftGoal::Unprompted { .. } | DraftGoal::Thanks { .. } => None,
        }
    }

    pub fn priority(&self) -> Option<Priority> {
        match self {
            DraftGoal::Answer { priority, .. } => *priority,
            DraftGoal::Unprompted { .. } => None,
            // Thanking a supporter is something a streamer does promptly.
            DraftGoal::Thanks { .. } => Some(Priority::High),
        }
    }

    pub fn target(&self) -> Target {
        match self {
            DraftGoal::Answer { message, .. } => Target::reply_to(message),
            DraftGoal::Unprompted { platform, .. } => Target {
                platform: *platform,
                asker: None,
            },
            DraftGoal::Thanks { platform, who, .. } => Target {
                platform: *platform,
                asker: Some(who.clone()),
            },
        }
    }
}

/// The channel settings and knobs one draft uses.
#[derive(Debug, Clone)]
pub struct DraftParams {
    pub context_limit: u32,
    /// The channel's model; `None` = the configured one.
    pub model: Option<String>,
    pub topic: Option<String>,
    /// Picks the fallback and seeds the LLM, so replays repeat.
    pub seed: u64,
}

/// How a draft ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftOutcome {
    /// The safe text, or why none may be sent.
    pub text: Result<String, Blocked>,
    pub source: DraftSource,
    /// Why the LLM gave no answer at all (then `source` is `Fallback`): the
    /// server's trouble, as opposed to [`DraftOutcome::gate`].
    pub error: Option<String>,
    /// Why the output gate refused the LLM's text (prompt echo, a loop, a cut
    /// off reply): it was drafted again with a stricter prompt, and if that
    /// failed too this says why the fallback stands in. The LLM itself is fine.
    pub gate: Option<String>,
    /// LLM calls made (0 without an LLM, 2 after a retry).
    pub attempts: u8,
    /// The LLM answered too slowly (the draft's deadline passed): the server
    /// is busy, not necessarily down.
    pub timed_out: bool,
    /// The draft never got a turn at the LLM (too many waited): the fallback
    /// stands in, and this says why. Says nothing about the LLM's health.
    pub dropped: Option<String>,
    pub time_to_first_token: Option<Duration>,
    pub total: Duration,
}

/// Everything drafting needs that does not change per draft. Cheap to share.
pub struct Drafter {
    pub llm: Option<Arc<dyn LlmClient>>,
    pub store: Store,
    pub persona: Persona,
    pub fallbacks: Fallbacks,
    pub output: OutputPolicy,
    pub filter: Arc<ContentFilter>,
    pub token_budget: usize,
    /// Most recent chat lines in a prompt (`reply.history_lines`).
    pub history_lines: usize,
    /// Turns at the LLM, shared by every draft.
    pub slots: Arc<LlmSlots>,
    /// Deadline for one draft (the client's own deadline plus a margin).
    pub timeout: Duration,
    pub guidance: SharedGuidance,
}

impl Drafter {
    /// The output gate with the content filter's blocked words.
    pub fn make_safe(&self, text: &str, target: &Target) -> Result<String, Blocked> {
        let filter = &self.filter;
        make_safe(text, target, &self.output, &|s| filter.find_blocked_word(s))
    }

    fn current_guidance(&self) -> Option<Guidance> {
        self.guidance.read().ok().and_then(|g| g.clone())
    }

    /// A starter for an unprompted line, from the agent's guidance.
    fn starter(&self, seed: u64) -> Option<String> {
        let g = self.current_guidance()?;
        if g.starters.is_empty() {
            return None;
        }
        Some(g.starters[(seed % g.starters.len() as u64) as usize].clone())
    }

    /// Drafts one reply. `on_token` sees each streamed piece of raw LLM text
    /// (for the console's live view; it is not safe to send). Text the gate
    /// calls broken (prompt echo, a loop, cut off, empty) is drafted once more
    /// with a stricter prompt; broken twice, the fallback stands in and
    /// `gate` says why. Unsafe text (a command, a blocked word) is blocked.
    pub async fn draft(
        &self,
        goal: &DraftGoal,
        params: &DraftParams,
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> DraftOutcome {
        let started = Instant::now();
        let target = goal.target();
        let Some(llm) = &self.llm else {
            return self.fallback(
                params,
                &target,
                Some("no LLM configured".into()),
                None,
                0,
                started,
            );
        };
        // One turn at the LLM for the draft and its retry; higher priority first.
        let rank = goal.priority().map_or(0, |p| p as u8 + 1);
        let _turn = match self.slots.acquire(rank).await {
            Ok(turn) => turn,
            Err(dropped) => {
                let mut out = self.fallback(params, &target, None, None, 0, started);
                out.dropped = Some(dropped.to_string());
                return out;
            }
        };
        let mut first_ttft = None;
        let mut gate = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let strict = attempt > 1;
            match self
                .ask_llm(llm.as_ref(), goal, params, strict, on_token)
                .await
            {
                Err((error, timed_out)) => {
                    let mut out =
                        self.fallback(params, &target, Some(error), gate, attempt, started);
                    out.timed_out = timed_out;
                    return out;
                }
                Ok(answer) => {
                    first_ttft = first_ttft.or(answer.ttft);
                    let checked = screen_llm_text(&answer.text, &answer.guard)
                        .and_then(|raw| self.make_safe(&raw, &target));
                    match checked {
                        Ok(text) => {
                            return DraftOutcome {
                                text: Ok(text),
                                source: DraftSource::Llm,
                                error: None,
                                gate,
                                time_to_first_token: first_ttft,
                                total: started.elapsed(),
                                attempts: attempt,
                                timed_out: false,
                                dropped: None,
                            };
                        }
                        Err(b) if b.is_broken_text() => {
                            tracing::debug!(attempt, why = %b, "draft refused by the gate");
                            gate = Some(match gate.take() {
                                None => format!("{b}; drafted again"),
                                Some(first) => format!("{first}; then {b}; fallback instead"),
                            });
                        }
                        Err(b) => {
                            return DraftOutcome {
                                text: Err(b),
                                source: DraftSource::Llm,
                                error: None,
                                gate,
                                time_to_first_token: first_ttft,
                                total: started.elapsed(),
                                attempts: attempt,
                                timed_out: false,
                                dropped: None,
                            };
                        }
                    }
                }
            }
        }
        let mut out = self.fallback(params, &target, None, gate, MAX_ATTEMPTS, started);
        out.time_to_first_token = first_ttft;
        out
    }

    /// The seeded fallback reply, through the gate like any text.
    fn fallback(
        &self,
        params: &DraftParams,
        target: &Target,
        error: Option<String>,
        gate: Option<String>,
        attempts: u8,
        started: Instant,
    ) -> DraftOutcome {
        let fb = self.fallbacks.pick(params.seed).to_string();
        DraftOutcome {
            text: self.make_safe(&fb, target),
            source: DraftSource::Fallback,
            error,
            gate,
            time_to_first_token: None,
            total: started.elapsed(),
            attempts,
            timed_out: false,
            dropped: None,
        }
    }

    async fn ask_llm(
        &self,
        llm: &dyn LlmClient,
        goal: &DraftGoal,
        params: &DraftParams,
        strict: bool,
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Answer, (String, bool)> {
        let history = self
            .store
            .last_messages_async(
                goal.platform(),
                goal.channel(),
                params.context_limit as usize,
            )
            .await
            .map_err(|e| (format!("reading recent chat: {e}"), false))?;
        // Messages the review lane holds are stored (never lost) but must
        // not reach the LLM before the operator has seen them.
        let mut history = history;
        history.retain(|m| !self.filter.check(&m.text).is_blocked());
        let guidance = self.current_guidance();
        let starter = match goal {
            DraftGoal::Unprompted { .. } => self.starter(params.seed),
            DraftGoal::Answer { .. } | DraftGoal::Thanks { .. } => None,
        };
        let prompt_goal = match goal {
            DraftGoal::Answer { message, .. } => Goal::Answer(message),
            DraftGoal::Unprompted { platform, channel } => Goal::Unprompted {
                platform: *platform,
                channel,
                starter: starter.as_deref(),
                busy: chat_is_busy(&history),
            },
            DraftGoal::Thanks {
                platform,
                channel,
                who,
                what,
            } => Goal::Thanks {
                platform: *platform,
                channel,
                who,
                what,
            },
        };
        // The agent's persona note enters the prompt as a tone hint (see
        // context.rs); the persona itself stays the configured one.
        let mut prompt = build_prompt(&PromptInput {
            persona: &self.persona,
            topic: params.topic.as_deref(),
            guidance: guidance.as_ref(),
            history: &history,
            goal: prompt_goal,
            token_budget: self.token_budget,
            strict,
            history_lines: self.history_lines,
        });
        let mut guard = std::mem::take(&mut prompt.guard);
        // Another seed for the retry, or it would write the same text again.
        let seed = params.seed.wrapping_add(u64::from(strict));
        let req = prompt.into_request(params.model.clone(), Some(seed));
        let run = llm.stream_chat(req, on_token);
        match tokio::time::timeout(self.timeout, run).await {
            Err(_) => Err((LlmError::Timeout(self.timeout).to_string(), true)),
            Ok(Err(e)) => Err((e.to_string(), matches!(e, LlmError::Timeout(_)))),
            Ok(Ok(c)) if c.text.trim().is_empty() => {
                Err(("the LLM answered nothing".into(), false))
            }
            Ok(Ok(c)) => {
                guard.cut_at_limit = c.done_reason.as_deref() == Some("length");
                Ok(Answer {
                    text: c.text,
                    ttft: c.time_to_first_token,
                    guard,
                })
            }
        }
    }
}

/// Tries per draft: the first, and one stricter retry after a broken text.
const MAX_ATTEMPTS: u8 = 2;

/// The LLM's raw text and what the gate needs to judge it.
struct Answer {
    text: String,
    ttft: Option<Duration>,
    guard: EchoGuard,
}
