//! Team mode in the conductor (PostgreSQL store): the drafts of every
//! console shown here, approvals sent through the console that reads the
//! channel, and the team's roster and reader's attention state for the
//! header. The events come from the team link (`store::team::link`) as
//! `Inbound::Team`; nothing here runs with a SQLite store.

use std::collections::HashSet;

use tokio::sync::mpsc;

use super::RuntimeError;
use super::conductor::{Conductor, LiveDraft};
use super::core_thread::CoreCmd;
use crate::adapters::Outbound;
use crate::model::{
    AttentionState, DraftId, DraftSource, DraftState, DraftView, MessageKey, Platform,
};
use crate::reply::pipeline::{DraftGoal, PipelineEvent};
use crate::session::{TeamView, Update};
use crate::store::ResponseStatus;
use crate::store::team::{TeamDraft, TeamEvent};

/// This console's place in the team, as the conductor needs it.
pub struct TeamCtx {
    pub member: String,
    /// Channels this console reads now (its gates hold their leases).
    pub reads: HashSet<(Platform, String)>,
    /// To the team link: what to NOTIFY the others (attention state).
    pub publish: mpsc::Sender<serde_json::Value>,
    /// Drafts approved here that the reading console sends; their
    /// verdict comes back as a team event.
    pub remote_sends: HashSet<DraftId>,
    pub view: TeamView,
    /// The attention state last published.
    pub published: Option<AttentionState>,
}

impl TeamCtx {
    pub fn new(member: String, publish: mpsc::Sender<serde_json::Value>) -> Self {
        TeamCtx {
            view: TeamView {
                me: member.clone(),
                ..TeamView::default()
            },
            member,
            reads: HashSet::new(),
            publish,
            remote_sends: HashSet::new(),
            published: None,
        }
    }

    pub fn reads(&self, platform: Platform, channel: &str) -> bool {
        self.reads.contains(&(platform, channel.to_string()))
    }
}

/// The console's state word for a stored status.
fn state_of(status: ResponseStatus) -> DraftState {
    match status {
        ResponseStatus::Pending => DraftState::Pending,
        ResponseStatus::Approved => DraftState::Approved,
        ResponseStatus::Edited => DraftState::Edited,
        ResponseStatus::Sending => DraftState::Sending,
        ResponseStatus::Sent => DraftState::Sent,
        ResponseStatus::Refused => DraftState::Refused,
        ResponseStatus::Failed => DraftState::Failed,
        ResponseStatus::Unconfirmed => DraftState::Unconfirmed,
        ResponseStatus::Rejected => DraftState::Rejected,
        ResponseStatus::Expired => DraftState::Expired,
        ResponseStatus::Withdrawn => DraftState::Withdrawn,
        ResponseStatus::Blocked => DraftState::Blocked,
    }
}

/// Who did what to a draft, as the drafts pane says it ("drafted by a ·
/// approved by b · sent by c"); this console is "here".
pub fn team_note(d: &TeamDraft, me: &str) -> Option<String> {
    let name = |m: &str| {
        if m == me {
            "here".to_string()
        } else {
            m.to_string()
        }
    };
    let mut parts = Vec::new();
    if let Some(m) = &d.drafted_by {
        parts.push(format!("drafted by {}", name(m)));
    }
    if let Some(m) = &d.claimed_by {
        let verb = match d.row.status {
            ResponseStatus::Rejected => "rejected",
            _ => "approved",
        };
        parts.push(format!("{verb} by {}", name(m)));
    }
    match (&d.sent_by, d.row.status) {
        (Some(m), _) => parts.push(format!("sent through {}", name(m))),
        (None, ResponseStatus::Sending) => {
            parts.push("waiting for the channel's reader to send it".into())
        }
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn view_of(d: &TeamDraft, me: &str) -> DraftView {
    let r = &d.row;
    DraftView {
        id: r.id,
        message_id: r.original_id.clone(),
        platform: r.platform,
        channel: r.channel.clone(),
        text: r.response_text.clone(),
        source: match r.response_type.as_str() {
            "fallback" => DraftSource::Fallback,
            "operator" => DraftSource::Operator,
            _ => DraftSource::Llm,
        },
        state: state_of(r.status),
        why: r.status_reason.clone(),
        limit: r.platform.max_message_chars(),
        time_to_first_token_ms: None,
        team: team_note(d, me),
    }
}

impl Conductor {
    /// One event from the team link or a gate.
    pub(super) async fn on_team(&mut self, ev: TeamEvent) -> Result<(), RuntimeError> {
        let Some(team) = self.team.as_mut() else {
            return Ok(());
        };
        match ev {
            TeamEvent::Reading { channels, on } => {
                for c in channels {
                    if on {
                        team.reads.insert(c);
                    } else {
                        team.reads.remove(&c);
                    }
                }
                // The team sees this console's state from now on.
                team.published = None;
                self.publish_attention().await;
                self.adopt_orphans();
            }
            TeamEvent::Roster(members) => {
                team.view.members = members;
                let reads_any = |m: &str| {
                    team.view
                        .members
                        .iter()
                        .any(|x| x.member == m && !x.reads.is_empty())
                };
                if team
                    .view
                    .reader_attention
                    .as_ref()
                    .is_some_and(|(m, _)| !reads_any(m))
                {
                    team.view.reader_attention = None;
                }
                let view = team.view.clone();
                self.emit(Update::Team(view)).await;
                self.adopt_orphans();
            }
            TeamEvent::Attention { member, state } => {
                team.view.reader_attention = Some((member, state));
                let view = team.view.clone();
                self.emit(Update::Team(view)).await;
            }
            TeamEvent::Draft(d) => self.on_team_draft(d).await?,
            TeamEvent::SendTaken(d) => self.send_taken(d).await?,
        }
        Ok(())
    }

    /// A team draft as this console keeps it: with the message goal it had
    /// here already (its own draft, or one seen before), else a goal that
    /// carries only its channel (a retry needs no more).
    fn shared_draft(
        &self,
        old: Option<LiveDraft>,
        d: &TeamDraft,
        view: DraftView,
        me: &str,
    ) -> LiveDraft {
        let (goal, channel, created_at) = match old {
            Some(o) => (o.goal, o.channel, o.created_at),
            None => (
                DraftGoal::Unprompted {
                    platform: d.row.platform,
                    channel: d.row.channel.clone(),
                },
                self.config.channel_defaults.to_channel_config(),
                d.row.created_at,
            ),
        };
        LiveDraft {
            view,
            goal,
            channel,
            created_at,
            owner: d.drafted_by.clone().filter(|m| m != me),
        }
    }

    /// Drafts of a console that left the team are adopted by the reader of
    /// their channel: it expires them (or sends them once approved) as its
    /// own, so none waits forever.
    fn adopt_orphans(&mut self) {
        let Some(team) = self.team.as_ref() else {
            return;
        };
        if team.view.members.is_empty() {
            return;
        }
        let live: HashSet<&str> = team
            .view
            .members
            .iter()
            .map(|m| m.member.as_str())
            .collect();
        let ttl = chrono::Duration::seconds(self.policy.config().draft_ttl_s as i64);
        let mut due: Option<chrono::DateTime<chrono::Utc>> = None;
        for d in self.drafts.values_mut() {
            if d.owner.as_deref().is_some_and(|o| !live.contains(o))
                && team.reads(d.view.platform, &d.view.channel)
            {
                d.owner = None;
                let at = d.created_at + ttl;
                due = Some(due.map_or(at, |t| t.min(at)));
            }
        }
        if let Some(at) = due {
            self.next_expiry = Some(self.next_expiry.map_or(at, |t| t.min(at)));
        }
    }

    /// Tells the team this console's attention state when it reads a
    /// channel and the state changed since it last said.
    pub(super) async fn publish_attention(&mut self) {
        let Some(state) = self.attention else {
            return;
        };
        let Some(team) = self.team.as_mut() else {
            return;
        };
        if team.reads.is_empty() || team.published == Some(state) {
            return;
        }
        team.published = Some(state);
        let note = serde_json::json!({
            "kind": "attention",
            "member": team.member,
            "state": state.as_str(),
        });
        let _ = team.publish.try_send(note);
    }

    /// Another console drafted, approved, sent or dropped a draft: show it
    /// as the team has it, and settle it here if it was approved here.
    async fn on_team_draft(&mut self, d: TeamDraft) -> Result<(), RuntimeError> {
        let Some(team) = self.team.as_mut() else {
            return Ok(());
        };
        let me = team.member.clone();
        let id = d.row.id;
        let mut view = view_of(&d, &me);
        let approved_here = team.remote_sends.contains(&id);
        let status = d.row.status;
        let live = matches!(
            status,
            ResponseStatus::Pending
                | ResponseStatus::Approved
                | ResponseStatus::Edited
                | ResponseStatus::Sending
        );
        let now = self.now();
        // The queue follows the team: a message another console drafts
        // for is not this console's to draft or show as waiting.
        if let Some(mid) = &d.row.original_id
            && !matches!(status, ResponseStatus::Withdrawn | ResponseStatus::Blocked)
            && self.answered.insert(MessageKey {
                platform: d.row.platform,
                id: mid.clone(),
            })
        {
            let mut out = self
                .core
                .call(CoreCmd::TakeQueued(d.row.platform, mid.clone(), now))
                .await?;
            // Not queued here (yet, or any more) is fine: nothing to drop.
            out.error = None;
            // Its job (if still queued) meets the answered mark: no draft.
            self.after_core(out, now, &self.shutdown.clone()).await?;
        }
        if live {
            if status == ResponseStatus::Sending && d.sent_by.is_some() {
                view.why = None;
            }
            let old = self
                .drafts
                .remove(&id)
                .or_else(|| self.undelivered.remove(&id));
            let entry = self.shared_draft(old, &d, view.clone(), &me);
            self.drafts.insert(id, entry);
            self.emit(Update::Draft(view)).await;
            return Ok(());
        }
        // Settled elsewhere: gone from the live drafts.
        let old = self
            .drafts
            .remove(&id)
            .or_else(|| self.undelivered.remove(&id));
        if let Some(team) = self.team.as_mut() {
            team.remote_sends.remove(&id);
        }
        self.sending.remove(&id);
        match status {
            ResponseStatus::Sent => {
                if approved_here {
                    self.summary.sent += 1;
                }
                // The bot spoke in the channel: this console's core
                // counts it as the reader's did.
                self.core
                    .call(CoreCmd::BotMessage(
                        d.row.platform,
                        d.row.channel.clone(),
                        now,
                    ))
                    .await?;
                self.log(PipelineEvent::Sent {
                    at: now,
                    id,
                    message_id: view.message_id.clone(),
                    platform: view.platform,
                    channel: view.channel.clone(),
                    text: view.text.clone(),
                })
                .await;
            }
            ResponseStatus::Refused | ResponseStatus::Failed | ResponseStatus::Unconfirmed => {
                let entry = self.shared_draft(old, &d, view.clone(), &me);
                self.undelivered.insert(id, entry);
            }
            _ => {}
        }
        self.dirty = true;
        self.emit(Update::Draft(view)).await;
        Ok(())
    }

    /// A draft this console reads the channel of and won the take for
    /// (approved on another console, or left unsent by a reader that
    /// died): its adapter sends it now, once, and the verdict is recorded
    /// here as for any send.
    async fn send_taken(&mut self, d: TeamDraft) -> Result<(), RuntimeError> {
        let Some(team) = self.team.as_mut() else {
            return Ok(());
        };
        let me = team.member.clone();
        team.remote_sends.remove(&d.row.id);
        let now = self.now();
        let id = d.row.id;
        let mut view = view_of(&d, &me);
        view.state = DraftState::Sending;
        view.why = None;
        let old = self
            .drafts
            .remove(&id)
            .or_else(|| self.undelivered.remove(&id));
        let entry = self.shared_draft(old, &d, view.clone(), &me);
        self.drafts.insert(id, entry);
        self.emit(Update::Draft(view.clone())).await;
        self.log(PipelineEvent::Decision {
            at: now,
            id: Some(id),
            message_id: view.message_id.clone(),
            action: "send".into(),
            reason: format!(
                "approved by {}; this console reads {} #{}",
                d.claimed_by.as_deref().unwrap_or("another console"),
                view.platform,
                view.channel
            ),
        })
        .await;
        self.policy.record_send(view.platform, &view.channel, now);
        let out = Outbound::Send {
            draft_id: id,
            platform: view.platform,
            channel: view.channel.clone(),
            text: view.text.clone(),
            reply_to: view.message_id.clone(),
        };
        match self.router.send(view.platform, out) {
            Ok(()) => {
                let due = tokio::time::Instant::now() + self.verdict_timeout;
                self.sending.insert(id, due);
                Ok(())
            }
            Err(why) => {
                self.on_verdict(id, crate::adapters::SendVerdict::Failed(why))
                    .await
            }
        }
    }

    /// After a claim won here: `true` when another console (the channel's
    /// reader) sends it, so this one only waits for the team's verdict.
    pub(super) async fn sent_elsewhere(
        &mut self,
        id: DraftId,
        platform: Platform,
        channel: &str,
    ) -> bool {
        match self.team.as_mut() {
            Some(team) if !team.reads(platform, channel) => {
                team.remote_sends.insert(id);
                if let Some(d) = self.drafts.get_mut(&id) {
                    let mut note = d
                        .owner
                        .as_ref()
                        .map(|o| format!("drafted by {o} · "))
                        .unwrap_or_default();
                    note.push_str("approved by here · waiting for the channel's reader to send it");
                    d.view.team = Some(note);
                    let view = d.view.clone();
                    self.emit(Update::Draft(view)).await;
                }
                true
            }
            _ => false,
        }
    }

    /// Another console's draft: this one neither expires, withdraws nor
    /// re-sends it on its own (its owner does, and the team hears).
    pub(super) fn foreign(&self, id: DraftId) -> bool {
        self.drafts.get(&id).is_some_and(|d| d.owner.is_some())
    }

    /// In team mode a console drafts only for the channels it reads (the
    /// others show the reader's drafts), unless the operator asked.
    pub(super) fn drafts_elsewhere(&self, platform: Platform, channel: &str) -> bool {
        self.team
            .as_ref()
            .is_some_and(|t| !t.reads(platform, channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredResponse;

    fn draft(status: ResponseStatus, claimed: Option<&str>, sent: Option<&str>) -> TeamDraft {
        TeamDraft {
            row: StoredResponse {
                id: 7,
                platform: Platform::Twitch,
                channel: "c".into(),
                original_id: Some("m1".into()),
                response_text: "hi".into(),
                response_type: "fallback".into(),
                attention_state: None,
                generation_time_ms: None,
                agent_context: None,
                status,
                created_at: chrono::Utc::now(),
                sent_at: None,
                status_reason: None,
            },
            drafted_by: Some("ana".into()),
            claimed_by: claimed.map(str::to_owned),
            sent_by: sent.map(str::to_owned),
        }
    }

    #[test]
    fn the_note_says_who_drafted_approved_and_sent_a_draft() {
        let d = draft(ResponseStatus::Pending, None, None);
        assert_eq!(team_note(&d, "bo").as_deref(), Some("drafted by ana"));
        let d = draft(ResponseStatus::Sending, Some("bo"), None);
        assert_eq!(
            team_note(&d, "bo").as_deref(),
            Some("drafted by ana · approved by here · waiting for the channel's reader to send it")
        );
        let d = draft(ResponseStatus::Sent, Some("bo"), Some("ana"));
        assert_eq!(
            team_note(&d, "ana").as_deref(),
            Some("drafted by here · approved by bo · sent through here")
        );
        let d = draft(ResponseStatus::Rejected, Some("bo"), None);
        assert_eq!(
            team_note(&d, "cy").as_deref(),
            Some("drafted by ana · rejected by bo")
        );
        let v = view_of(&draft(ResponseStatus::Unconfirmed, None, None), "cy");
        assert_eq!(
            (v.state, v.source, v.message_id.as_deref()),
            (DraftState::Unconfirmed, DraftSource::Fallback, Some("m1"))
        );
    }
}
