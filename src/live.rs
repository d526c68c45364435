//! Live wiring: starts the platform adapters (or the demo's chat log), bridges
//! their events into the runtime, routes sent replies back to the right
//! adapter, and merges adapter health into the front end's update stream.
//! Used by the console (`clank`, `clank demo`) and by `clank --auto`.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::twitch::{TwitchHandle, TwitchOptions};
use crate::adapters::{AdapterStatus, Inbound};
use crate::config::Config;
use crate::model::{ChatEvent, Platform};
use crate::replay::Speed;
use crate::runtime::{
    self, BoxFuture, ChatLogOptions, Outbound, RecordingSink, Runtime, RuntimeOptions, Sink,
    SinkError,
};
use crate::session::{Component, Health, Update};
use crate::store::Store;

/// Where the chat comes from.
#[derive(Debug, Clone)]
pub enum Sources {
    /// The configured platforms (Twitch channels from `[twitch] channels`).
    Platforms,
    /// A chat log replayed at `speed` (1 = real time), looping, rebased to now.
    Demo { file: PathBuf, speed: f64 },
}

/// Why live wiring could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "no platform is configured: set [twitch] channels (or TWITCH_CHANNELS), or try `clank demo`"
    )]
    NoPlatforms,
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// Sends each reply through the adapter of its platform.
struct AdapterSink {
    twitch: Option<TwitchHandle>,
}

impl Sink for AdapterSink {
    fn send<'a>(&'a self, m: &'a Outbound) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            match (m.platform, &self.twitch) {
                (Platform::Twitch, Some(h)) => h
                    .send(m.draft, &m.channel, &m.text, m.reply_to.as_deref())
                    .await
                    .map_err(|e| SinkError(e.to_string())),
                (p, _) => Err(SinkError(format!("{p} is not connected"))),
            }
        })
    }
}

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

/// A started live session: the runtime plus the merged update stream.
pub struct Live {
    pub runtime: Runtime,
    /// The runtime's updates with adapter health merged in; read this, not
    /// `runtime.updates` (which the merger owns).
    pub updates: mpsc::Receiver<Update>,
    /// Held so the runtime's event channel stays open while sources come and go.
    _events: mpsc::Sender<ChatEvent>,
}

/// Starts sources, adapters and the runtime on the current tokio runtime.
pub async fn start(
    config: &Config,
    store: Store,
    sources: Sources,
    auto_send: bool,
    cancel: CancellationToken,
) -> Result<Live, LiveError> {
    let (events_tx, events_rx) = mpsc::channel::<ChatEvent>(1024);
    let (ui_tx, ui_rx) = mpsc::channel::<Update>(4096);
    let mut sink: Arc<dyn Sink> = Arc::new(RecordingSink::default());
    match sources {
        Sources::Demo { file, speed } => {
            let options = ChatLogOptions {
                speed: Speed::Factor(speed),
                passes: 0,
                rebase_to_now: true,
            };
            runtime::spawn_chatlog_source(file, options, events_tx.clone(), cancel.clone());
            for p in Platform::ALL {
                // The demo has no accounts: every platform is read-only.
                let _ = ui_tx
                    .send(Update::Health {
                        component: Component::Platform(p),
                        health: Health::ReadOnly,
                    })
                    .await;
            }
        }
        Sources::Platforms => {
            if config.twitch.channels.is_empty() {
                return Err(LiveError::NoPlatforms);
            }
            let options = TwitchOptions::from_twitch_config(&config.twitch)?;
            let credentials = twitch_credentials(config, &store).await;
            if let Err(why) = &credentials {
                let _ = ui_tx
                    .send(Update::Error {
                        at: Utc::now(),
                        what: format!("twitch login: {why}; reading anonymously"),
                    })
                    .await;
            }
            let (inbound_tx, mut inbound_rx) = mpsc::channel::<Inbound>(1024);
            let (handle, _task) = crate::adapters::twitch::spawn(
                options,
                credentials.ok().flatten(),
                inbound_tx,
                cancel.clone(),
            );
            sink = Arc::new(AdapterSink {
                twitch: Some(handle),
            });
            let events = events_tx.clone();
            let health = ui_tx.clone();
            tokio::spawn(async move {
                while let Some(inbound) = inbound_rx.recv().await {
                    let inbound = match inbound {
                        Inbound::Chat(ev) => {
                            if events.send(ev).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        other => other,
                    };
                    match inbound {
                        Inbound::Status {
                            platform, status, ..
                        } => {
                            let _ = health
                                .send(Update::Health {
                                    component: Component::Platform(platform),
                                    health: health_of(&status),
                                })
                                .await;
                        }
                        Inbound::Notice { channel, text, .. } => {
                            let _ = health
                                .send(Update::Error {
                                    at: Utc::now(),
                                    what: format!("twitch {}: {text}", channel.unwrap_or_default()),
                                })
                                .await;
                        }
                        Inbound::SendResult { draft_id, verdict }
                            if verdict != crate::adapters::SendVerdict::Sent =>
                        {
                            let why = verdict;
                            let _ = health
                                .send(Update::Error {
                                    at: Utc::now(),
                                    what: format!("draft {draft_id} was refused by twitch: {why}"),
                                })
                                .await;
                        }
                        _ => {}
                    }
                }
            });
        }
    }
    let mut options = RuntimeOptions::new(config.clone(), store, events_rx);
    options.auto_send = auto_send;
    options.sink = sink;
    options.cancel = cancel;
    let mut runtime = runtime::start(options)?;
    // Merge the runtime's updates into the stream the front end reads.
    let mut from_runtime = std::mem::replace(&mut runtime.updates, mpsc::channel(1).1);
    tokio::spawn(async move {
        while let Some(u) = from_runtime.recv().await {
            if ui_tx.send(u).await.is_err() {
                break;
            }
        }
    });
    Ok(Live {
        runtime,
        updates: ui_rx,
        _events: events_tx,
    })
}

async fn twitch_credentials(
    config: &Config,
    store: &Store,
) -> Result<Option<Arc<dyn crate::auth::CredentialSource>>, String> {
    let Some(client_id) = config.twitch.client_id.clone() else {
        return Ok(None);
    };
    let dir = config
        .db_path()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let vault = crate::auth::TokenVault::open_or_create(&crate::auth::key_path(&dir))
        .map_err(|e| e.to_string())?;
    crate::auth::twitch_credentials(
        &config.twitch.oauth_url,
        &client_id,
        config.twitch.client_secret.clone(),
        Arc::new(vault),
        store.clone(),
    )
    .await
    .map_err(|e| e.to_string())
}
