//! Team mode wiring: with a PostgreSQL store, each platform's adapter runs
//! behind a gate that reads its channels only while this console holds
//! their reader lease (`store::team`). Until then the gate shows the chat
//! the reading console stores, deletes and purges (pushed by LISTEN/NOTIFY)
//! and waits; when
//! the reader dies the server hands the lease over and the gate starts the
//! adapter (Twitch joins, YouTube resumes from its stored page token).
//! Sends go out through the reading console only: a draft approved on a
//! watching console is claimed there and taken and sent here (see
//! `store::team::link`); the reading gate checks each send with one
//! conditional UPDATE so no draft is written by two adapters.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::{
    AdapterContext, AdapterStatus, Inbound, NoticeKind, Outbound, PlatformAdapter, PlatformEntry,
    SendVerdict,
};
use crate::config::Config;
use crate::model::Platform;
use crate::store::team::TeamEvent;
use crate::store::{Store, team};

/// Pause before trying again when the server cannot be reached.
const RETRY: Duration = Duration::from_secs(3);

/// The channels a platform's adapter reads, as the team locks them.
pub fn channels_of(config: &Config, platform: Platform) -> Vec<(Platform, String)> {
    let names: Vec<String> = match platform {
        Platform::Twitch => config.twitch.channels.clone(),
        Platform::Youtube => vec![
            config
                .youtube
                .video_id
                .clone()
                .unwrap_or_else(|| "live".into()),
        ],
        Platform::Discord => vec!["discord".into()],
    };
    names.into_iter().map(|c| (platform, c)).collect()
}

/// One platform's adapter behind the team's reader lease.
pub struct TeamGate {
    pub entry: &'static PlatformEntry,
    /// The adapter built at start, used for the first lease (in a mutex
    /// only so the gate is `Sync`; later leases build a fresh one).
    pub first: std::sync::Mutex<Option<Box<dyn PlatformAdapter>>>,
    pub name: &'static str,
    pub platforms: Vec<Platform>,
    pub config: Config,
    pub store: Store,
    pub url: String,
    pub member: String,
}

impl TeamGate {
    fn channels(&self) -> Vec<(Platform, String)> {
        self.platforms
            .iter()
            .flat_map(|p| channels_of(&self.config, *p))
            .collect()
    }

    fn shown(&self) -> String {
        self.channels()
            .iter()
            .map(|(p, c)| format!("{p} #{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn notice(&self, inbound: &mpsc::Sender<Inbound>, text: String) {
        for platform in &self.platforms {
            let _ = inbound
                .send(Inbound::Notice {
                    platform: *platform,
                    channel: None,
                    kind: NoticeKind::Other,
                    text: text.clone(),
                })
                .await;
        }
    }

    async fn status(&self, inbound: &mpsc::Sender<Inbound>, status: AdapterStatus) {
        for platform in &self.platforms {
            let _ = inbound
                .send(Inbound::Status {
                    platform: *platform,
                    channel: None,
                    status: status.clone(),
                })
                .await;
        }
    }

    async fn build(&mut self) -> Result<Box<dyn PlatformAdapter>, String> {
        let first = self.first.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = first.take() {
            return Ok(a);
        }
        let cx = AdapterContext {
            config: &self.config,
            store: &self.store,
        };
        match (self.entry.build)(&cx).await {
            Ok(Some(b)) => Ok(b.adapter),
            Ok(None) => Err("the platform is no longer configured".into()),
            Err(e) => Err(e),
        }
    }

    /// Tells the conductor which channels this console reads now.
    async fn reading(&self, inbound: &mpsc::Sender<Inbound>, on: bool) {
        let ev = TeamEvent::Reading {
            channels: self.channels(),
            on,
        };
        let _ = inbound.send(Inbound::Team(ev)).await;
    }

    /// Just took the channels over: approvals nobody sent yet are this
    /// console's to send, once (see `ReaderLease::pick_up`).
    async fn pick_up(&self, lease: &team::ReaderLease, inbound: &mpsc::Sender<Inbound>) {
        let ttl = chrono::Duration::seconds(self.config.auto.draft_ttl_s as i64);
        let fresh_since = (chrono::Utc::now() - ttl).timestamp_millis();
        match lease
            .pick_up(&self.member, &self.channels(), fresh_since)
            .await
        {
            Ok(taken) => {
                for d in taken {
                    tracing::info!(
                        id = d.row.id,
                        "sending a draft the team approved before the takeover"
                    );
                    let _ = inbound.send(Inbound::Team(TeamEvent::SendTaken(d))).await;
                }
            }
            Err(e) => {
                self.notice(
                    inbound,
                    format!("could not pick up the team's approved drafts: {e}"),
                )
                .await
            }
        }
    }

    /// A send from this console's conductor while it reads: written only
    /// if no other console's adapter took the draft (one conditional
    /// UPDATE on the lease's own connection).
    async fn forward(
        &self,
        lease: &team::ReaderLease,
        out: Outbound,
        inner: &mpsc::Sender<Outbound>,
        inbound: &mpsc::Sender<Inbound>,
    ) {
        let Outbound::Send { draft_id, .. } = &out;
        let draft_id = *draft_id;
        match lease.take_send(draft_id, &self.member).await {
            Ok(true) => {
                let _ = inner.send(out).await;
            }
            // Another console settled it; the team link reports how.
            Ok(false) => tracing::warn!(draft_id, "draft already sent or settled by the team"),
            Err(e) => {
                let verdict = SendVerdict::Failed(format!(
                    "the team database could not confirm this console may send it: {e}"
                ));
                let _ = inbound
                    .send(Inbound::SendResult { draft_id, verdict })
                    .await;
            }
        }
    }

    /// Not reading: shows the reader's chat, leaves sends to the reader,
    /// waits for the lease. `None` when cancelled or the runtime went away.
    async fn wait_for_lease(
        &self,
        inbound: &mpsc::Sender<Inbound>,
        outbound: &mut mpsc::Receiver<Outbound>,
        cancel: &CancellationToken,
    ) -> Option<Result<team::ReaderLease, String>> {
        let channels = self.channels();
        let listen_cancel = cancel.child_token();
        let (chat_tx, mut chat_rx) = mpsc::channel(256);
        let listener = {
            let (url, channels, c) = (self.url.clone(), channels.clone(), listen_cancel.clone());
            tokio::spawn(async move { team::listen_chat(&url, &channels, c, chat_tx).await })
        };
        let _stop_listening = listen_cancel.clone().drop_guard();
        let acquire = team::acquire_reader(&self.url, &self.member, &channels);
        tokio::pin!(acquire);
        let mut shown_waiting = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return None,
                r = &mut acquire => return Some(r.map_err(|e| e.to_string())),
                m = chat_rx.recv(), if !listener.is_finished() || !chat_rx.is_empty() => {
                    if let Some(event) = m
                        && inbound.send(Inbound::Chat(event)).await.is_err()
                    {
                        return None;
                    }
                }
                out = outbound.recv() => match out {
                    // Claimed here, so the reading console's team link
                    // takes it and sends it; the verdict comes from there.
                    Some(Outbound::Send { draft_id, .. }) => {
                        tracing::debug!(draft_id, "the team's reader sends this draft");
                    }
                    None => return None,
                },
                _ = tokio::time::sleep(Duration::from_millis(300)), if !shown_waiting => {
                    // Still waiting after a moment: someone else reads.
                    shown_waiting = true;
                    self.status(inbound, AdapterStatus::ReadOnly {
                        reason: format!("another console of the team reads {}; showing its chat, taking over if it stops", self.shown()),
                    }).await;
                }
            }
        }
    }
}

impl PlatformAdapter for TeamGate {
    fn name(&self) -> &'static str {
        self.name
    }

    fn platforms(&self) -> Vec<Platform> {
        self.platforms.clone()
    }

    fn run(
        mut self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        mut outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> crate::adapters::BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                let lease = match self.wait_for_lease(&inbound, &mut outbound, &cancel).await {
                    None => return,
                    Some(Ok(lease)) => lease,
                    Some(Err(e)) => {
                        self.status(
                            &inbound,
                            AdapterStatus::Reconnecting {
                                in_s: RETRY.as_secs(),
                                reason: format!("team database: {e}"),
                            },
                        )
                        .await;
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(RETRY) => continue,
                        }
                    }
                };
                tracing::info!(member = %self.member, channels = %self.shown(), "this console now reads");
                self.notice(
                    &inbound,
                    format!("this console ({}) now reads {}", self.member, self.shown()),
                )
                .await;
                let adapter = match self.build().await {
                    Ok(a) => a,
                    Err(e) => {
                        self.status(&inbound, AdapterStatus::Down { reason: e })
                            .await;
                        return;
                    }
                };
                let (inner_tx, inner_rx) = mpsc::channel(64);
                let run_cancel = cancel.child_token();
                let mut run =
                    tokio::spawn(adapter.run(inbound.clone(), inner_rx, run_cancel.clone()));
                let lost = lease.lost();
                self.reading(&inbound, true).await;
                self.pick_up(&lease, &inbound).await;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            run_cancel.cancel();
                            let _ = (&mut run).await;
                            return;
                        }
                        _ = lost.cancelled() => {
                            // The server freed our channels: another console
                            // may read them now, so stop before reading twice.
                            run_cancel.cancel();
                            let _ = (&mut run).await;
                            self.notice(&inbound, "lost the team database connection; stopped reading until the lease is back".into()).await;
                            break;
                        }
                        r = &mut run => {
                            if let Err(e) = r {
                                tracing::error!(error = %e, "adapter behind the team gate crashed");
                            }
                            return;
                        }
                        out = outbound.recv() => match out {
                            Some(out) => self.forward(&lease, out, &inner_tx, &inbound).await,
                            None => { run_cancel.cancel(); let _ = (&mut run).await; return; }
                        },
                    }
                }
                self.reading(&inbound, false).await;
                drop(lease);
            }
        })
    }
}

/// Runs the team link for the whole session (reconnecting after a lost
/// connection): the other consoles' drafts, approvals, roster and reader
/// state reach the conductor as `Inbound::Team`; what the conductor
/// publishes goes out as NOTIFY.
pub async fn run_link(
    url: String,
    member: String,
    inbound: mpsc::Sender<Inbound>,
    mut publish: mpsc::Receiver<serde_json::Value>,
    notice_on: Platform,
    cancel: CancellationToken,
) {
    loop {
        let (tx, mut rx) = mpsc::channel(256);
        let forward = async {
            while let Some(ev) = rx.recv().await {
                if inbound.send(Inbound::Team(ev)).await.is_err() {
                    return;
                }
            }
        };
        let (r, ()) = tokio::join!(
            team::link(&url, &member, cancel.clone(), tx, &mut publish),
            forward
        );
        if cancel.is_cancelled() || inbound.is_closed() {
            return;
        }
        let why = match r {
            Ok(()) => "closed".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %why, "team link down");
        let _ = inbound
            .send(Inbound::Notice {
                platform: notice_on,
                channel: None,
                kind: NoticeKind::Other,
                text: format!(
                    "team link down ({why}); the others' drafts show again when it is back"
                ),
            })
            .await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}
