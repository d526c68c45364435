//! The one door for platforms: builds every configured adapter from one list,
//! starts each as a task that feeds the runtime's one bounded inbound channel,
//! routes each send to the adapter of its platform, and reports an adapter
//! that stops on its own as that platform being down.
//!
//! Adding a platform touches its own folder under `adapters/` (adapter and
//! config section) with its `pub mod` line in `adapters/mod.rs`, one entry
//! in [`PLATFORMS`] and one field in `Config` (with its `validate()` call and
//! its environment variables chained in `config::env_keys`).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use super::{
    AdapterContext, AdapterStatus, Built, Inbound, Outbound, PlatformAdapter, PlatformEntry,
};
use crate::config::Config;
use crate::model::Platform;
use crate::store::Store;

/// Sends an adapter may have queued before it takes more; past that a send
/// fails at once instead of blocking the runtime (an adapter blocked on a
/// full inbound channel must never wait on a runtime blocked on it).
const OUTBOUND_CAPACITY: usize = 64;

/// Every platform clank can read: one entry each.
pub const PLATFORMS: &[PlatformEntry] = &[
    super::twitch::ENTRY,
    super::youtube::ENTRY,
    super::discord::ENTRY,
];

/// Builds the adapters of every configured platform, in [`PLATFORMS`] order.
/// A platform whose adapter cannot be built is an error naming it.
pub async fn configured(config: &Config, store: &Store) -> Result<Vec<Built>, String> {
    let cx = AdapterContext { config, store };
    let mut out = Vec::new();
    for entry in PLATFORMS {
        match (entry.build)(&cx).await {
            Ok(Some(b)) => out.push(b),
            Ok(None) => {}
            Err(e) => return Err(format!("{}: {e}", entry.platform)),
        }
    }
    Ok(out)
}

/// Where each platform's sends go. Cheap to clone.
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<HashMap<Platform, (&'static str, mpsc::Sender<Outbound>)>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self
            .routes
            .iter()
            .map(|(p, (n, _))| format!("{p}->{n}"))
            .collect();
        names.sort();
        f.debug_struct("Router").field("routes", &names).finish()
    }
}

impl Router {
    /// Hands a send to its platform's adapter, whose verdict comes back as
    /// [`Inbound::SendResult`]. `Err` says why it could not be handed over
    /// (then no verdict will come).
    pub fn send(&self, platform: Platform, out: Outbound) -> Result<(), String> {
        let Some((name, tx)) = self.routes.get(&platform) else {
            return Err(format!("{platform} is not connected (no adapter reads it)"));
        };
        tx.try_send(out).map_err(|e| match e {
            TrySendError::Full(_) => {
                format!("the {name} adapter has {OUTBOUND_CAPACITY} sends waiting; try again")
            }
            TrySendError::Closed(_) => format!("the {name} adapter has stopped"),
        })
    }

    /// The platforms that have an adapter.
    pub fn platforms(&self) -> Vec<Platform> {
        let mut p: Vec<Platform> = self.routes.keys().copied().collect();
        p.sort_by_key(|p| p.index());
        p
    }
}

/// The running adapters.
pub struct Hub {
    router: Router,
    finite: usize,
    tasks: tokio::task::JoinSet<()>,
}

impl Hub {
    /// Starts every adapter on the current tokio runtime. Each gets a clone of
    /// `inbound`, so all platforms share the runtime's one bounded channel
    /// (a flood on one slows its own socket, not memory).
    pub fn start(
        adapters: Vec<Box<dyn PlatformAdapter>>,
        inbound: mpsc::Sender<Inbound>,
        cancel: CancellationToken,
    ) -> Hub {
        let mut routes = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut finite = 0;
        for adapter in adapters {
            let name = adapter.name();
            let platforms = adapter.platforms();
            if adapter.finite() {
                finite += 1;
            }
            let (tx, rx) = mpsc::channel(OUTBOUND_CAPACITY);
            for p in &platforms {
                if routes.insert(*p, (name, tx.clone())).is_some() {
                    tracing::warn!(platform = %p, adapter = name, "two adapters serve one platform; the later one sends");
                }
            }
            let run = tokio::spawn(adapter.run(inbound.clone(), rx, cancel.clone()));
            let inbound = inbound.clone();
            let cancel = cancel.clone();
            // The watcher turns an adapter that stops (a panic, or a return
            // before shutdown) into a status the operator sees; the other
            // adapters go on.
            tasks.spawn(async move {
                let why = match run.await {
                    Ok(()) if cancel.is_cancelled() => return,
                    Ok(()) => format!("the {name} adapter stopped"),
                    Err(e) if e.is_panic() => {
                        format!("the {name} adapter crashed: {}", panic_text(e))
                    }
                    Err(_) => return,
                };
                tracing::error!(adapter = name, "{why}");
                for platform in platforms {
                    let _ = inbound
                        .send(Inbound::Status {
                            platform,
                            channel: None,
                            status: AdapterStatus::Down {
                                reason: why.clone(),
                            },
                        })
                        .await;
                }
            });
        }
        Hub {
            router: Router {
                routes: Arc::new(routes),
            },
            finite,
            tasks,
        }
    }

    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// How many adapters end on their own (each sends one [`Inbound::Ended`]).
    pub fn finite_sources(&self) -> usize {
        self.finite
    }

    /// Waits for every adapter (and its watcher) to finish after cancel.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into()),
        Err(_) => "cancelled".into(),
    }
}
