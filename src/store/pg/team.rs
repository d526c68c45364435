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
    let config = parse_url(url)?;
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
    let (client, task, lost) = connect(url).await?;
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
    use futures_util::StreamExt;
    let config = parse_url(url)?;
    let (client, mut conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| team_err(url, "connect (listen)", e))?;
    // The connection task forwards notifications; the client stays free
    // for the reads they trigger.
    let (note_tx, mut note_rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    let chat = n.channel() == "clank_chat";
                    if note_tx.send((chat, n.payload().to_owned())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %describe(&e), "team chat listener lost its connection");
                    return;
                }
            }
        }
    });
    let _abort = AbortOnDrop(pump);
    client
        .batch_execute("LISTEN clank_chat; LISTEN clank_mod")
        .await
        .map_err(|e| team_err(url, "listen", e))?;
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

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
