//! Sends and their verdicts: a draft is claimed (`sending`, committed, so it
//! can never go twice), handed to its platform's adapter through the hub's
//! router, and settled by the platform's answer: `sent`, `refused`, `failed`
//! or `unconfirmed`. Only `sent` counts as sent. What was not delivered
//! waits in a list for the operator to retry or discard; nothing is resent
//! on its own.

use serde_json::json;

use super::RuntimeError;
use super::conductor::{Conductor, LiveDraft, Side};
use super::core_thread::CoreCmd;
use crate::adapters::{Outbound, SendVerdict};
use crate::integrations::avatar::AvatarSpeak;
use crate::model::{DraftId, DraftSource, DraftState, DraftView, Priority};
use crate::reply::pipeline::{DraftGoal, PipelineEvent};
use crate::session::Update;
use crate::store::ResponseStatus;

/// How many not-delivered replies of earlier runs the list shows again.
const NOT_DELIVERED_KEPT: usize = 200;

/// States a draft can be sent from: waiting, approved, edited, or (only by
/// the operator's retry) not delivered before.
const SENDABLE: [ResponseStatus; 6] = [
    ResponseStatus::Pending,
    ResponseStatus::Approved,
    ResponseStatus::Edited,
    ResponseStatus::Refused,
    ResponseStatus::Failed,
    ResponseStatus::Unconfirmed,
];

impl Conductor {
    /// Sends a draft once: the store claim (-> sending, committed) comes
    /// first, so no path can send it a second time. The platform's verdict
    /// arrives later as `Inbound::SendResult` (see [`Conductor::on_verdict`]).
    pub(super) async fn send(&mut self, id: DraftId) -> Result<(), RuntimeError> {
        let now = self.now();
        let Some(d) = self.drafts.get(&id) else {
            return Ok(());
        };
        let platform = d.view.platform;
        let channel = d.view.channel.clone();
        let out = Outbound::Send {
            draft_id: id,
            platform,
            channel: channel.clone(),
            text: d.view.text.clone(),
            reply_to: d.view.message_id.clone(),
        };
        let claimed = self
            .store
            .claim_response_async(id, &SENDABLE, ResponseStatus::Sending, None)
            .await?;
        if !claimed {
            let message_id = d.view.message_id.clone();
            self.drafts.remove(&id);
            self.log(PipelineEvent::Decision {
                at: now,
                id: Some(id),
                message_id,
                action: "skip".into(),
                reason: "no longer sendable (already sent, withdrawn or expired)".into(),
            })
            .await;
            return Ok(());
        }
        if let Some(d) = self.drafts.get_mut(&id) {
            d.view.state = DraftState::Sending;
            d.view.why = None;
            let view = d.view.clone();
            self.emit(Update::Draft(view)).await;
        }
        if self.sent_elsewhere(id, platform, &channel).await {
            // Team mode: the console reading the channel takes the claim
            // and sends it; its verdict comes back as a team event.
            self.log(PipelineEvent::Decision {
                at: now,
                id: Some(id),
                message_id: self.drafts.get(&id).and_then(|d| d.view.message_id.clone()),
                action: "send".into(),
                reason: format!(
                    "approved here; the console reading {platform} #{channel} sends it"
                ),
            })
            .await;
            return Ok(());
        }
        // The attempt counts against the rate limit whatever the verdict.
        self.policy.record_send(platform, &channel, now);
        match self.router.send(platform, out) {
            Ok(()) => {
                let due = tokio::time::Instant::now() + self.verdict_timeout;
                self.sending.insert(id, due);
                Ok(())
            }
            Err(why) => self.on_verdict(id, SendVerdict::Failed(why)).await,
        }
    }

    /// Settles a send with its platform's verdict. A late `Sent` for a reply
    /// already reported unconfirmed corrects it.
    pub(super) async fn on_verdict(
        &mut self,
        id: DraftId,
        verdict: SendVerdict,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        self.sending.remove(&id);
        let d = match self.drafts.remove(&id) {
            Some(d) if d.view.state == DraftState::Sending => d,
            Some(d) => {
                // Not waiting for a verdict (cannot happen by design); keep it.
                self.drafts.insert(id, d);
                return Ok(());
            }
            None => match self.undelivered.remove(&id) {
                Some(d) if d.view.state == DraftState::Unconfirmed => {
                    self.summary.unconfirmed = self.summary.unconfirmed.saturating_sub(1);
                    d
                }
                Some(d) => {
                    self.undelivered.insert(id, d);
                    return Ok(());
                }
                None => return Ok(()),
            },
        };
        let mut d = d;
        let (status, state, why) = match &verdict {
            SendVerdict::Sent => (ResponseStatus::Sent, DraftState::Sent, None),
            SendVerdict::Refused(r) => (
                ResponseStatus::Refused,
                DraftState::Refused,
                Some(r.to_string()),
            ),
            SendVerdict::Failed(w) => (ResponseStatus::Failed, DraftState::Failed, Some(w.clone())),
            SendVerdict::Unconfirmed(w) => (
                ResponseStatus::Unconfirmed,
                DraftState::Unconfirmed,
                Some(w.clone()),
            ),
        };
        self.record_verdict(id, status, why.as_deref(), now).await?;
        d.view.state = state;
        d.view.why = why.clone();
        self.emit(Update::Draft(d.view.clone())).await;
        match verdict {
            SendVerdict::Sent => {
                self.summary.sent += 1;
                self.stats.observe_sent();
                self.core
                    .call(CoreCmd::BotMessage(
                        d.view.platform,
                        d.view.channel.clone(),
                        now,
                    ))
                    .await?;
                self.log(PipelineEvent::Sent {
                    at: now,
                    id,
                    message_id: d.view.message_id.clone(),
                    platform: d.view.platform,
                    channel: d.view.channel.clone(),
                    text: d.view.text.clone(),
                })
                .await;
                self.speak(&d).await;
            }
            _ => {
                match state {
                    DraftState::Refused => self.summary.refused += 1,
                    DraftState::Failed => self.summary.failed += 1,
                    _ => self.summary.unconfirmed += 1,
                }
                self.log(PipelineEvent::NotDelivered {
                    at: now,
                    id,
                    platform: d.view.platform,
                    channel: d.view.channel.clone(),
                    status: status.as_str().to_string(),
                    why: why.unwrap_or_default(),
                })
                .await;
                self.undelivered.insert(id, d);
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// Sends whose verdict is overdue become unconfirmed: they may be in
    /// chat, so they are never resent on their own.
    pub(super) async fn unconfirm_overdue(&mut self) {
        let now = tokio::time::Instant::now();
        let overdue: Vec<DraftId> = self
            .sending
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in overdue {
            let platform = self
                .drafts
                .get(&id)
                .map(|d| d.view.platform.to_string())
                .unwrap_or_default();
            let why = format!(
                "{platform} gave no verdict within {} s",
                self.verdict_timeout.as_secs()
            );
            if let Err(e) = self.on_verdict(id, SendVerdict::Unconfirmed(why)).await {
                self.error(e.to_string()).await;
            }
        }
    }

    /// The operator sends a not-delivered draft again.
    pub(super) async fn retry(&mut self, id: DraftId) -> Result<(), RuntimeError> {
        let Some(d) = self.undelivered.remove(&id) else {
            self.error(format!("reply {id} is not in the not-delivered list"))
                .await;
            return Ok(());
        };
        self.drafts.insert(id, d);
        self.send(id).await
    }

    /// The operator drops a not-delivered draft.
    pub(super) async fn discard(&mut self, id: DraftId) -> Result<(), RuntimeError> {
        let Some(mut d) = self.undelivered.remove(&id) else {
            return Ok(());
        };
        let now = self.now();
        self.record_verdict(
            id,
            ResponseStatus::Rejected,
            Some("discarded by the operator"),
            now,
        )
        .await?;
        self.summary.rejected += 1;
        self.rejected_total += 1;
        d.view.state = DraftState::Rejected;
        d.view.why = Some("discarded by the operator".into());
        self.emit(Update::Draft(d.view)).await;
        Ok(())
    }

    /// A sent reply goes to the avatar's text endpoint when it is wanted.
    async fn speak(&mut self, d: &LiveDraft) {
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
            "platform": d.view.platform,
            "channel": d.view.channel,
            "reply_to": d.goal.message().map(|m| json!({"user": m.author.name, "text": m.text})),
            "priority": priority,
            "topic": self.topic,
            "source": d.view.source,
        });
        self.summary.avatar_calls += 1;
        let text = d.view.text.clone();
        let id = d.view.id;
        let cancel = self.shutdown.clone();
        let _ = self
            .offload(
                async move {
                    let r = avatar
                        .speak(&text, context)
                        .await
                        .map_err(|e| e.to_string());
                    Side::Avatar(id, r)
                },
                &cancel,
            )
            .await;
    }

    /// Stores a verdict with its reason; `sent_at` only for `sent`.
    async fn record_verdict(
        &self,
        id: DraftId,
        status: ResponseStatus,
        why: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), RuntimeError> {
        self.store
            .set_response_verdict_async(id, status, why, now)
            .await?;
        Ok(())
    }

    /// Puts the replies an earlier run did not deliver back in the list, so
    /// the operator can still retry or discard them.
    pub(super) async fn restore_not_delivered(&mut self) {
        let rows = match self.store.not_delivered_async(NOT_DELIVERED_KEPT).await {
            Ok(rows) => rows,
            Err(e) => {
                self.error(format!("could not read the not-delivered replies: {e}"))
                    .await;
                return;
            }
        };
        for row in rows.into_iter().rev() {
            let state = match row.status {
                ResponseStatus::Refused => DraftState::Refused,
                ResponseStatus::Failed => DraftState::Failed,
                _ => DraftState::Unconfirmed,
            };
            let source = match row.response_type.as_str() {
                "fallback" => DraftSource::Fallback,
                "operator" => DraftSource::Operator,
                _ => DraftSource::Llm,
            };
            let view = DraftView {
                id: row.id,
                message_id: row.original_id.clone(),
                platform: row.platform,
                channel: row.channel.clone(),
                text: row.response_text,
                source,
                state,
                why: row.status_reason,
                limit: row.platform.max_message_chars(),
                time_to_first_token_ms: None,
                team: None,
            };
            self.emit(Update::Draft(view.clone())).await;
            self.undelivered.insert(
                row.id,
                LiveDraft {
                    view,
                    // The message it answered is not kept in memory across
                    // runs; a retry needs only the text and the reply id.
                    goal: DraftGoal::Unprompted {
                        platform: row.platform,
                        channel: row.channel,
                    },
                    channel: self.config.channel_defaults.to_channel_config(),
                    created_at: row.created_at,
                    owner: None,
                },
            );
        }
    }
}
