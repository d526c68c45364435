//! Team mode on PostgreSQL: who reads which channel, and who is connected.
//!
//! Each platform+channel has a session-level advisory lock. The console
//! holding it reads the channel; the others wait inside
//! `pg_advisory_lock`, on a connection of their own, so when the reader
//! dies (its connection closes, even on `kill -9`) the server hands the lock
//! to one waiter at once: no polling, no home-made election. A lease whose
//! own connection drops is lost, and its holder must stop reading, since
//! the server has already freed the lock for someone else.

use std::str::FromStr;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

use super::{describe, display_config, parse_url};
use crate::model::{ChatEvent, Platform};
use crate::store::StoreError;

/// Registers this console in `team_members` on a connection it keeps, so
/// the row stays live (the `team_live` view) exactly as long as it runs.
pub struct Presence {
    _client: Client,
    task: JoinHandle<()>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The right to read some channels. Dropping it (or losing its connection,
/// see [`ReaderLease::lost`]) gives the channels back.
pub struct ReaderLease {
    client: Client,
    task: JoinHandle<()>,
    lost: CancellationToken,
}

impl ReaderLease {
    /// Cancelled when the lease's connection is gone: stop reading at once.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// The server-side id of the lease's session (for tests and the header).
    pub async fn backend_pid(&self) -> Result<i32, String> {
        self.client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map(|r| r.get(0))
            .map_err(|e| describe(&e))
    }
}

impl Drop for ReaderLease {
    fn drop(&mut self) {
        // Closing the connection releases every session lock it holds.
        self.task.abort();
    }
}

/// The advisory lock key of one channel: a stable 64-bit hash computed by
/// the server, so every console (whatever its build) agrees on it.
const SQL_LOCK: &str =
    "SELECT pg_advisory_lock(hashtextextended('clank-reader:' || $1 || ':' || $2, 0))";

async fn connect(url: &str) -> Result<(Client, JoinHandle<()>, CancellationToken), StoreError> {
    connect_as(url, None).await
}

/// Connects with `member` as the session's application_name, so draft
/// changes made on it count as this console's (see the draft trigger).
async fn connect_as(
    url: &str,
    member: Option<&str>,
) -> Result<(Client, JoinHandle<()>, CancellationToken), StoreError> {
    let mut config = parse_url(url)?;
    if let Some(m) = member {
        config.application_name(m);
    }
    let shown = display_config(&config);
    let (client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Postgres {
            path: shown.into(),
            op: "connect (team)",
            message: describe(&e),
        })?;
    let lost = CancellationToken::new();
    let gone = lost.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %describe(&e), "team connection lost");
        }
        gone.cancel();
    });
    Ok((client, task, lost))
}

fn team_err(url: &str, op: &'static str, e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres {
        path: super::redact_url(url).into(),
        op,
        message: describe(&e),
    }
}

/// Joins the team as `member` (one row in `team_members`, live while the
/// returned handle is).
pub async fn join(url: &str, member: &str) -> Result<Presence, StoreError> {
    let (client, task, _) = connect(url).await?;
    let taken = client
        .query_opt(
            "SELECT host, os_pid FROM team_live WHERE member = $1",
            &[&member],
        )
        .await
        .map_err(|e| team_err(url, "join team", e))?;
    if let Some(row) = taken {
        let (host, pid): (String, i64) = (row.get(0), row.get(1));
        return Err(StoreError::Postgres {
            path: super::redact_url(url).into(),
            op: "join team",
            message: format!(
                "the member name {member:?} is in use by a running console (pid {pid} on {host}); \
                 give each console its own store.member"
            ),
        });
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    client
        .execute(
            "INSERT INTO team_members (member, backend_pid, host, os_pid, started_at) \
             VALUES ($1, pg_backend_pid(), $2, $3, $4) ON CONFLICT (member) DO UPDATE SET \
             backend_pid = excluded.backend_pid, host = excluded.host, os_pid = excluded.os_pid, \
             started_at = excluded.started_at",
            &[
                &member,
                &host,
                &i64::from(std::process::id()),
                &chrono::Utc::now().timestamp_millis(),
            ],
        )
        .await
        .map_err(|e| team_err(url, "join team", e))?;
    // Held while this console runs: the others wait on it to see it leave.
    client
        .execute(SQL_MEMBER_LOCK, &[&member])
        .await
        .map_err(|e| team_err(url, "join team", e))?;
    client
        .execute(SQL_NOTE_ROSTER, &[])
        .await
        .map_err(|e| team_err(url, "join team", e))?;
    Ok(Presence {
        _client: client,
        task,
    })
}

/// Waits until this console may read every one of `channels` (taken in a
/// fixed order, so two consoles asking for overlapping sets cannot
/// deadlock), then records itself as their reader. Cancel by dropping the
/// future.
pub async fn acquire_reader(
    url: &str,
    member: &str,
    channels: &[(Platform, String)],
) -> Result<ReaderLease, StoreError> {
    let (client, task, lost) = connect_as(url, Some(member)).await?;
    let mut keys: Vec<(&str, &str)> = channels
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    for (p, c) in &keys {
        client
            .execute(SQL_LOCK, &[p, c])
            .await
            .map_err(|e| team_err(url, "take reader lock", e))?;
    }
    for (p, c) in &keys {
        client
            .execute(
                "INSERT INTO team_readers (platform, channel, member, backend_pid, since) \
                 VALUES ($1, $2, $3, pg_backend_pid(), $4) ON CONFLICT (platform, channel) \
                 DO UPDATE SET member = excluded.member, backend_pid = excluded.backend_pid, \
                 since = excluded.since",
                &[p, c, &member, &chrono::Utc::now().timestamp_millis()],
            )
            .await
            .map_err(|e| team_err(url, "record reader", e))?;
    }
    client
        .execute(SQL_NOTE_ROSTER, &[])
        .await
        .map_err(|e| team_err(url, "record reader", e))?;
    Ok(ReaderLease { client, task, lost })
}

/// One live console and the channels it reads, for the console header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub member: String,
    pub reads: Vec<String>,
}

/// The live team: every connected console and what it reads.
pub async fn roster(url: &str) -> Result<Vec<TeamMember>, StoreError> {
    let (client, task, _) = connect(url).await?;
    let rows = client
        .query(
            "SELECT t.member, COALESCE(string_agg(r.platform || ' #' || r.channel, ', ' \
             ORDER BY r.platform, r.channel), '') \
             FROM team_live t LEFT JOIN team_readers r ON r.member = t.member \
             AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.backend_pid) \
             GROUP BY t.member ORDER BY t.member",
            &[],
        )
        .await
        .map_err(|e| team_err(url, "team roster", e));
    drop(client);
    let _ = task.await;
    Ok(rows?
        .iter()
        .map(|r| {
            let reads: String = r.get(1);
            TeamMember {
                member: r.get(0),
                reads: reads
                    .split(", ")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }
        })
        .collect())
}

/// Listens for what the other consoles' stores did to the chat: each newly
/// stored message (`clank_chat`, its row id), each deletion and ban purge
/// (`clank_mod`), all delivered at commit. Reads each new message and hands
/// the events of `channels` to `out`. Runs until `cancel`, the receiver
/// goes or the connection ends (an error then).
pub async fn listen_chat(
    url: &str,
    channels: &[(Platform, String)],
    cancel: CancellationToken,
    out: tokio::sync::mpsc::Sender<ChatEvent>,
) -> Result<(), StoreError> {
    let config = parse_url(url)?;
    let (client, mut note_rx, _pump) =
        listening(url, &config, "connect (listen)", "clank_chat", "clank_mod").await?;
    let read = client
        .prepare(concat!(
            "SELECT ",
            message_cols!(),
            " FROM chat_messages m WHERE m.id = $1"
        ))
        .await
        .map_err(|e| team_err(url, "listen", e))?;
    let wanted = |p: Platform, c: &str| channels.iter().any(|(wp, wc)| *wp == p && wc == c);
    loop {
        let (chat, payload) = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            note = note_rx.recv() => match note {
                Some(note) => note,
                None => return Err(StoreError::Postgres {
                    path: super::redact_url(url).into(),
                    op: "listen",
                    message: "connection closed".into(),
                }),
            },
        };
        let event = if chat {
            let Ok(id) = i64::from_str(&payload) else {
                continue;
            };
            let row = client
                .query_opt(&read, &[&id])
                .await
                .map_err(|e| team_err(url, "read notified message", e))?;
            // Gone already (deleted, pruned): nothing to show.
            let Some(row) = row else { continue };
            match super::rows::message(&row, 0) {
                Ok(m) => ChatEvent::Message(m),
                Err(e) => {
                    tracing::warn!(id, error = %e.describe(), "unreadable notified message");
                    continue;
                }
            }
        } else {
            match moderation(&payload) {
                Some(e) => e,
                None => {
                    tracing::warn!(payload, "unreadable moderation notification");
                    continue;
                }
            }
        };
        if wanted(event.platform(), event.channel()) && out.send(event).await.is_err() {
            return Ok(());
        }
    }
}

/// A `clank_mod` payload as the chat event the reader's adapter had seen.
fn moderation(payload: &str) -> Option<ChatEvent> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    let platform: Platform = v["platform"].as_str()?.parse().ok()?;
    let channel = v["channel"].as_str()?.to_owned();
    let at = v["at_ms"]
        .as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_else(chrono::Utc::now);
    match v["kind"].as_str()? {
        "delete" => Some(ChatEvent::Delete {
            platform,
            channel,
            id: v["id"].as_str()?.to_owned(),
            at,
        }),
        "ban" => Some(ChatEvent::Ban {
            platform,
            channel,
            author_id: v["author_id"].as_str()?.to_owned(),
            at,
            duration_s: None,
        }),
        _ => None,
    }
}

/// Notifications as (came on the first channel, payload).
type Notes = tokio::sync::mpsc::UnboundedReceiver<(bool, String)>;

/// A connection that LISTENs on `first` and `second`, with a task that
/// forwards its notifications (the client stays free for the reads they
/// trigger). The task ends when the returned guard is dropped.
async fn listening(
    url: &str,
    config: &tokio_postgres::Config,
    op: &'static str,
    first: &'static str,
    second: &'static str,
) -> Result<(Client, Notes, AbortOnDrop), StoreError> {
    use futures_util::StreamExt;
    let (client, mut conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| team_err(url, op, e))?;
    let (note_tx, note_rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if note_tx
                        .send((n.channel() == first, n.payload().to_owned()))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %describe(&e), listen = first, "team listener lost its connection");
                    return;
                }
            }
        }
    });
    let guard = AbortOnDrop(pump);
    client
        .batch_execute(&format!("LISTEN {first}; LISTEN {second}"))
        .await
        .map_err(|e| team_err(url, "listen", e))?;
    Ok((client, note_rx, guard))
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A draft row as the team sees it: the reply, and who drafted, approved
/// (claimed) and sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamDraft {
    pub row: crate::store::StoredResponse,
    pub drafted_by: Option<String>,
    pub claimed_by: Option<String>,
    pub sent_by: Option<String>,
}

/// What the team pushed to this console.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamEvent {
    /// Another console drafted, approved, sent or dropped a draft.
    Draft(TeamDraft),
    /// A draft another console approved (or a dead reader left unsent) is
    /// this console's to send: it reads the channel and won the take.
    SendTaken(TeamDraft),
    /// This console now reads (`on`) or stopped reading these channels.
    Reading {
        channels: Vec<(Platform, String)>,
        on: bool,
    },
    /// Who is connected and what each reads.
    Roster(Vec<TeamMember>),
    /// A reading console's attention state.
    Attention {
        member: String,
        state: crate::model::AttentionState,
    },
}

const SQL_DRAFT: &str = "SELECT r.id, r.platform, r.channel, m.platform_msg_id, r.response_text, \
     r.response_type, r.attention_state, r.generation_time_ms, r.agent_context, r.status, \
     r.created_at, r.sent_at, r.status_reason, r.drafted_by, r.claimed_by, r.sent_by \
     FROM chat_responses r LEFT JOIN chat_messages m ON m.id = r.original_message_id \
     WHERE r.id = $1";

/// The drafts of the other running consoles (or approved by one) still
/// waiting or on their way; a gone console's are expired as a console
/// starts, so not shown.
const SQL_LIVE_DRAFTS: &str = "SELECT id FROM chat_responses \
     WHERE status IN ('pending', 'approved', 'edited', 'sending') \
     AND drafted_by IS DISTINCT FROM $1 \
     AND (drafted_by IN (SELECT member FROM team_live) \
     OR claimed_by IN (SELECT member FROM team_live)) ORDER BY id";

/// A claimed draft becomes this console's to send only if it is the live
/// reader of the draft's channel, and only once (`sent_by` was empty).
const SQL_TAKE_NOTIFIED: &str = "UPDATE chat_responses c SET sent_by = $2 \
     WHERE c.id = $1 AND c.status = 'sending' AND c.sent_by IS NULL AND EXISTS ( \
     SELECT 1 FROM team_readers t WHERE t.platform = c.platform AND t.channel = c.channel \
     AND t.member = $2 AND t.backend_pid IN (SELECT pid FROM pg_stat_activity)) RETURNING c.id";

/// The reading gate's check before its adapter writes a claimed draft:
/// nobody else handed it to an adapter.
const SQL_TAKE_OWN: &str = "UPDATE chat_responses SET sent_by = $2 \
     WHERE id = $1 AND status = 'sending' AND (sent_by IS NULL OR sent_by = $2) RETURNING id";

/// On taking a channel over: sends a dead console had handed to its
/// adapter may be in chat (unconfirmed, never resent) ...
const SQL_PICKUP_ORPHANED: &str = "UPDATE chat_responses SET status = 'unconfirmed', \
     status_reason = $4 WHERE status = 'sending' AND platform = $1 AND channel = $2 \
     AND sent_by IS NOT NULL AND sent_by <> $3 \
     AND sent_by NOT IN (SELECT member FROM team_live)";
/// ... approvals nobody sent yet go out once, through this console ...
const SQL_PICKUP_CLAIMED: &str = "UPDATE chat_responses SET sent_by = $3 \
     WHERE status = 'sending' AND platform = $1 AND channel = $2 AND sent_by IS NULL \
     AND claimed_by IS NOT NULL AND created_at >= $4 RETURNING id";
/// ... unless they went stale waiting.
const SQL_PICKUP_STALE: &str = "UPDATE chat_responses SET status = 'failed', status_reason = $4 \
     WHERE status = 'sending' AND platform = $1 AND channel = $2 AND sent_by IS NULL \
     AND claimed_by IS NOT NULL AND created_at < $3";

const ORPHANED: &str = "the console sending it stopped before the platform answered";
const STALE: &str = "approved, but no console of the team read the channel to send it in time";

async fn read_draft(client: &Client, id: i64) -> Result<Option<TeamDraft>, String> {
    let Some(r) = client
        .query_opt(SQL_DRAFT, &[&id])
        .await
        .map_err(|e| describe(&e))?
    else {
        return Ok(None);
    };
    let row = super::rows::response(&r).map_err(|e| e.describe())?;
    let get = |i: usize| r.try_get::<_, Option<String>>(i).map_err(|e| describe(&e));
    Ok(Some(TeamDraft {
        row,
        drafted_by: get(13)?,
        claimed_by: get(14)?,
        sent_by: get(15)?,
    }))
}

impl ReaderLease {
    /// The reading console's last check before its adapter writes draft
    /// `id`: true if this console may send it (nobody else has). Fails
    /// when the lease's connection is gone (then it must not send).
    pub async fn take_send(&self, id: i64, member: &str) -> Result<bool, String> {
        self.client
            .query_opt(SQL_TAKE_OWN, &[&id, &member])
            .await
            .map(|r| r.is_some())
            .map_err(|e| describe(&e))
    }

    /// Right after taking `channels` over: marks what a dead console had
    /// handed to its adapter unconfirmed, fails approvals older than
    /// `fresh_since_ms`, and takes the others to send them once here.
    pub async fn pick_up(
        &self,
        member: &str,
        channels: &[(Platform, String)],
        fresh_since_ms: i64,
    ) -> Result<Vec<TeamDraft>, String> {
        let mut taken = Vec::new();
        for (p, c) in channels {
            let p = p.as_str();
            let e = |e: tokio_postgres::Error| describe(&e);
            self.client
                .execute(SQL_PICKUP_ORPHANED, &[&p, c, &member, &ORPHANED])
                .await
                .map_err(e)?;
            self.client
                .execute(SQL_PICKUP_STALE, &[&p, c, &fresh_since_ms, &STALE])
                .await
                .map_err(e)?;
            for r in self
                .client
                .query(SQL_PICKUP_CLAIMED, &[&p, c, &member, &fresh_since_ms])
                .await
                .map_err(e)?
            {
                if let Some(d) = read_draft(&self.client, r.get(0)).await? {
                    taken.push(d);
                }
            }
        }
        Ok(taken)
    }
}

/// The advisory lock a console holds on its presence connection while it
/// runs: the others wait on it to learn at once when it is gone.
const SQL_MEMBER_LOCK: &str = "SELECT pg_advisory_lock(hashtextextended('clank-member:' || $1, 0))";

/// Tells the team that who is connected or who reads changed.
const SQL_NOTE_ROSTER: &str = "SELECT pg_notify('clank_team', '{\"kind\":\"roster\"}')";

/// The member name as the server keeps it in `application_name` (printable
/// ASCII, at most 63 bytes), to recognise this console's own changes.
fn as_application_name(member: &str) -> String {
    let mut s: String = member
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    s.truncate(63);
    s
}

/// Waits until `member`'s console is gone (its presence lock is free),
/// then says so on `gone`.
async fn watch_member(url: String, member: String, gone: tokio::sync::mpsc::Sender<String>) {
    let Ok((client, task, _)) = connect(&url).await else {
        return;
    };
    if client.execute(SQL_MEMBER_LOCK, &[&member]).await.is_ok() {
        let _ = gone.send(member).await;
    }
    drop(client);
    let _ = task.await;
}

/// The team link: LISTENs for the team's draft changes (`clank_draft`,
/// from the trigger on `chat_responses`) and roster and attention news
/// (`clank_team`), hands them to `out` as [`TeamEvent`]s, takes claimed
/// drafts to send when this console is their channel's reader, and
/// publishes what `publish` gives it (this console's attention state).
/// Runs until `cancel`, `out` goes, or the connection ends (an error).
pub async fn link(
    url: &str,
    member: &str,
    cancel: CancellationToken,
    out: tokio::sync::mpsc::Sender<TeamEvent>,
    publish: &mut tokio::sync::mpsc::Receiver<serde_json::Value>,
) -> Result<(), StoreError> {
    let mut config = parse_url(url)?;
    config.application_name(member);
    let (client, mut note_rx, _pump) = listening(
        url,
        &config,
        "connect (team link)",
        "clank_draft",
        "clank_team",
    )
    .await?;
    // Listening now: the readers say their state again, for this console.
    client
        .execute(SQL_NOTE_ROSTER, &[])
        .await
        .map_err(|e| team_err(url, "listen", e))?;
    let me = as_application_name(member);
    // Drafts the team made before this console listened: shown at once
    // (listening first, so none falls between the two).
    let waiting = client
        .query(SQL_LIVE_DRAFTS, &[&member])
        .await
        .map_err(|e| team_err(url, "read the team's drafts", e))?;
    for r in waiting {
        let draft =
            read_draft(&client, r.get(0))
                .await
                .map_err(|message| StoreError::Postgres {
                    path: super::redact_url(url).into(),
                    op: "read the team's drafts",
                    message,
                })?;
        if let Some(d) = draft
            && out.send(TeamEvent::Draft(d)).await.is_err()
        {
            return Ok(());
        }
    }
    let (gone_tx, mut gone_rx) = tokio::sync::mpsc::channel::<String>(16);
    let mut watched: std::collections::HashMap<String, AbortOnDrop> = Default::default();
    let mut last_attention: Option<serde_json::Value> = None;
    let mut refresh = true;
    loop {
        if refresh {
            refresh = false;
            let members = roster(url).await?;
            watched.retain(|m, _| members.iter().any(|x| &x.member == m));
            for m in &members {
                if m.member != member && !watched.contains_key(&m.member) {
                    let task = tokio::spawn(watch_member(
                        url.to_owned(),
                        m.member.clone(),
                        gone_tx.clone(),
                    ));
                    watched.insert(m.member.clone(), AbortOnDrop(task));
                }
            }
            if out.send(TeamEvent::Roster(members)).await.is_err() {
                return Ok(());
            }
        }
        let (draft, payload) = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            Some(m) = gone_rx.recv() => {
                watched.remove(&m);
                refresh = true;
                continue;
            }
            Some(p) = publish.recv() => {
                if p["kind"] == "attention" {
                    last_attention = Some(p.clone());
                }
                client
                    .execute("SELECT pg_notify('clank_team', $1)", &[&p.to_string()])
                    .await
                    .map_err(|e| team_err(url, "publish", e))?;
                continue;
            }
            note = note_rx.recv() => match note {
                Some(note) => note,
                None => return Err(StoreError::Postgres {
                    path: super::redact_url(url).into(),
                    op: "team link",
                    message: "connection closed".into(),
                }),
            },
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&payload) else {
            tracing::warn!(payload, "unreadable team notification");
            continue;
        };
        if !draft {
            match v["kind"].as_str() {
                Some("roster") => {
                    refresh = true;
                    // Someone new: tell them the state this console reads in.
                    if let Some(p) = &last_attention {
                        client
                            .execute("SELECT pg_notify('clank_team', $1)", &[&p.to_string()])
                            .await
                            .map_err(|e| team_err(url, "publish", e))?;
                    }
                }
                Some("attention") if v["member"].as_str() != Some(member) => {
                    let state = v["state"].as_str().and_then(|s| s.parse().ok());
                    if let (Some(m), Some(state)) = (v["member"].as_str(), state) {
                        let ev = TeamEvent::Attention {
                            member: m.to_owned(),
                            state,
                        };
                        if out.send(ev).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        // This console's own changes are already in its view.
        if v["by"].as_str() == Some(me.as_str()) {
            continue;
        }
        let Some(id) = v["id"].as_i64() else { continue };
        let Some(mut d) =
            read_draft(&client, id)
                .await
                .map_err(|message| StoreError::Postgres {
                    path: super::redact_url(url).into(),
                    op: "read notified draft",
                    message,
                })?
        else {
            continue;
        };
        let mut taken = false;
        if d.row.status == crate::store::ResponseStatus::Sending && d.sent_by.is_none() {
            taken = client
                .query_opt(SQL_TAKE_NOTIFIED, &[&id, &member])
                .await
                .map_err(|e| team_err(url, "take a claimed draft", e))?
                .is_some();
            if taken {
                d.sent_by = Some(member.to_owned());
            }
        }
        let ev = if taken {
            TeamEvent::SendTaken(d)
        } else {
            TeamEvent::Draft(d)
        };
        if out.send(ev).await.is_err() {
            return Ok(());
        }
    }
}
