//! Live wiring: builds the adapters (the configured platforms through the
//! hub's list, or the demo's chat log), starts them behind the hub and
//! starts the runtime on their merged events. Used by the console (`clank`,
//! `clank demo`) and by `clank --auto`.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::chatlog::{ChatLogAdapter, ChatLogOptions, RecordingSink};
use crate::adapters::hub::{self, Hub};
use crate::adapters::{Inbound, NoticeKind, PlatformAdapter};
use crate::config::Config;
use crate::replay::Speed;
use crate::runtime::{self, Runtime, RuntimeOptions};
use crate::session::Update;
use crate::store::Store;

/// Room for a burst of chat between the adapters and the core; past it the
/// adapters wait, which slows their sockets instead of growing memory.
/// It must hold what arrives while the conductor lets a small batch wait for
/// company (`CHAT_LINGER`) when a flood begins: 1,024 capped a flood at 51k
/// msgs/s.
pub const INBOUND_CAPACITY: usize = 2048;

/// Where the chat comes from.
#[derive(Debug, Clone)]
pub enum Sources {
    /// The configured platforms (every entry of the hub's list that is set up).
    Platforms,
    /// A chat log replayed at `speed` (1 = real time), looping, rebased to now.
    Demo { file: PathBuf, speed: f64 },
}

/// Why live wiring could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "no platform is configured: set [twitch] channels (TWITCH_CHANNELS), \
         [youtube] video_id or channel (YOUTUBE_VIDEO_ID, YOUTUBE_CHANNEL), \
         or [discord] channels with a bot token (DISCORD_CHANNELS, DISCORD_BOT_TOKEN); \
         or try `clank demo`"
    )]
    NoPlatforms,
    #[error("{0}")]
    Adapter(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// A started live session: the runtime (read `updates`) and its adapters.
pub struct Live {
    pub runtime: Runtime,
    pub updates: mpsc::Receiver<Update>,
    pub hub: Hub,
    /// This console's place in the team (PostgreSQL store only); dropping
    /// it leaves the team.
    pub team: Option<crate::store::team::Presence>,
}

/// Who watches the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// A console: the runtime sends it snapshots (queue, attention, counts).
    Console,
    /// `--auto`: no console, so no snapshots (four a second, each a copy of
    /// the top 300 of the queue: a fifth of the core thread's work at 1,000
    /// msgs/s) and no "ignored" labels for drafts nobody saw.
    Headless,
}

/// Starts adapters and the runtime on the current tokio runtime.
pub async fn start(
    config: &Config,
    store: Store,
    sources: Sources,
    front: Front,
    auto_send: bool,
    cancel: CancellationToken,
) -> Result<Live, LiveError> {
    let (inbound_tx, inbound_rx) = mpsc::channel::<Inbound>(INBOUND_CAPACITY);
    // Team mode (a PostgreSQL store): this console's presence, and the
    // server URL and member name its adapters' gates lock channels with.
    let mut presence = None;
    let mut team_gates: Option<(String, String)> = None;
    let adapters: Vec<Box<dyn PlatformAdapter>> = match sources {
        Sources::Demo { file, speed } => vec![Box::new(ChatLogAdapter {
            path: file,
            options: ChatLogOptions {
                speed: Speed::Factor(speed),
                passes: 0,
                rebase_to_now: true,
            },
            // The demo has no accounts: replies are recorded, not posted.
            sink: Arc::new(RecordingSink::default()),
        })],
        Sources::Platforms => {
            let built = hub::configured(config, &store)
                .await
                .map_err(LiveError::Adapter)?;
            if built.is_empty() {
                return Err(LiveError::NoPlatforms);
            }
            let mut adapters = Vec::new();
            if let Some(url) = &config.store.url {
                let member = config.store.member_name();
                presence = Some(
                    crate::store::team::join(url.expose(), &member)
                        .await
                        .map_err(|e| LiveError::Adapter(e.to_string()))?,
                );
                team_gates = Some((url.expose().to_owned(), member));
            }
            for b in built {
                if let Some(warning) = b.warning {
                    // Queued before anything else, so it is the first thing seen.
                    for platform in b.adapter.platforms() {
                        let _ = inbound_tx
                            .send(Inbound::Notice {
                                platform,
                                channel: None,
                                kind: NoticeKind::AuthFailed,
                                text: warning.clone(),
                            })
                            .await;
                    }
                }
                match &team_gates {
                    Some((url, member)) => {
                        adapters.push(gate(config, &store, b.adapter, url, member))
                    }
                    None => adapters.push(b.adapter),
                }
            }
            adapters
        }
    };
    let mut team_link = None;
    if let Some((url, member)) = team_gates {
        let (publish_tx, publish_rx) = mpsc::channel(16);
        let notice_on = adapters
            .iter()
            .flat_map(|a| a.platforms())
            .next()
            .unwrap_or(crate::model::Platform::Twitch);
        tokio::spawn(crate::team::run_link(
            url,
            member.clone(),
            inbound_tx.clone(),
            publish_rx,
            notice_on,
            cancel.clone(),
        ));
        team_link = Some((member, publish_tx));
    }
    let hub = Hub::start(adapters, inbound_tx, cancel.clone());
    let mut options = RuntimeOptions::new(config.clone(), store, inbound_rx);
    options.team = team_link;
    options.router = hub.router();
    options.auto_send = auto_send;
    options.snapshots = front == Front::Console;
    options.cancel = cancel;
    let mut runtime = runtime::start(options)?;
    let updates = std::mem::replace(&mut runtime.updates, mpsc::channel(1).1);
    Ok(Live {
        runtime,
        updates,
        hub,
        team: presence,
    })
}

/// Puts a built adapter behind the team's reader lease for its channels.
fn gate(
    config: &Config,
    store: &Store,
    adapter: Box<dyn PlatformAdapter>,
    url: &str,
    member: &str,
) -> Box<dyn PlatformAdapter> {
    let platforms = adapter.platforms();
    let entry = hub::PLATFORMS
        .iter()
        .find(|e| platforms.contains(&e.platform));
    match entry {
        Some(entry) => Box::new(crate::team::TeamGate {
            entry,
            name: adapter.name(),
            first: std::sync::Mutex::new(Some(adapter)),
            platforms,
            config: config.clone(),
            store: store.clone(),
            url: url.to_owned(),
            member: member.to_owned(),
        }),
        None => adapter,
    }
}
