//! `--auto` without a terminal UI: the runtime's updates as one JSON line per
//! event (the core's decisions plus draft, sent, blocked, withdrawn, decision,
//! agent_update, avatar, health and error lines), then a `summary` line.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::Inbound;
use crate::adapters::chatlog::{ChatLogAdapter, ChatLogOptions, RecordingSink, Sink};
use crate::adapters::hub::Hub;
use crate::chatlog::format_time;
use crate::config::Config;
use crate::replay::Speed;
use crate::reply::llm::LlmClient;
use crate::runtime::{self, Clock, RunSummary, RuntimeError, RuntimeOptions};
use crate::session::{Component, Update};
use crate::store::Store;

/// Why a headless run failed.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error("{0}")]
    Live(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    ChatLog(#[from] crate::chatlog::ChatLogError),
    #[error("writing output failed: {0}")]
    Output(#[from] io::Error),
    #[error("cannot start the async runtime: {0}")]
    Tokio(io::Error),
    #[error("a task failed: {0}")]
    Join(String),
}

/// The JSON line for one update, or `None` for updates the log leaves out
/// (chat lines, streamed tokens, snapshots).
pub fn update_json(u: &Update) -> Option<Value> {
    match u {
        Update::Core(ev) => serde_json::to_value(ev).ok(),
        Update::Pipeline(ev) => serde_json::to_value(ev).ok(),
        Update::Error { at, what } => {
            Some(json!({"event": "error", "at": format_time(*at), "what": what}))
        }
        Update::Health { component, health } => {
            let component = match component {
                Component::Platform(p) => p.as_str().to_string(),
                Component::Llm => "llm".into(),
                Component::Agent => "agent".into(),
                Component::Avatar => "avatar".into(),
                Component::Store => "store".into(),
            };
            let mut v = json!({"event": "health", "component": component});
            if let (Some(obj), Ok(Value::Object(h))) =
                (v.as_object_mut(), serde_json::to_value(health))
            {
                obj.extend(h);
            }
            Some(v)
        }
        Update::Team(t) => Some(json!({
            "event": "team",
            "me": t.me,
            "members": t.members.iter().map(|m| json!({"member": m.member, "reads": m.reads})).collect::<Vec<_>>(),
            "reader_attention": t.reader_attention.as_ref().map(|(m, s)| json!({"member": m, "state": s.as_str()})),
        })),
        Update::System(line) => {
            let mut v = json!({"event": "system"});
            if let (Some(obj), Ok(Value::Object(l))) =
                (v.as_object_mut(), serde_json::to_value(line))
            {
                obj.extend(l);
                obj.insert("at".into(), json!(format_time(line.at)));
            }
            Some(v)
        }
        Update::Chat { .. }
        | Update::ChatRemoved { .. }
        | Update::AuthorRemoved { .. }
        | Update::Draft(_)
        | Update::Snapshot(_)
        // Every poll refreshes it: the log would be mostly quota.
        | Update::Quota { .. } => None,
    }
}

/// Prints updates until the channel closes; returns how many lines were written.
pub async fn print_updates(
    mut rx: mpsc::Receiver<Update>,
    json: bool,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let mut n = 0;
    while let Some(u) = rx.recv().await {
        if !json {
            continue;
        }
        if let Some(v) = update_json(&u) {
            serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

/// Options of `clank replay FILE --auto`.
pub struct ReplayAuto {
    pub speed: Speed,
    pub repeat: u32,
    pub json: bool,
    pub seed: u64,
    /// The LLM; `None` = as the config says.
    pub llm: Option<Arc<dyn LlmClient>>,
    /// Where sends go; `None` = a recording sink.
    pub sink: Option<Arc<dyn Sink>>,
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, HeadlessError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(HeadlessError::Tokio)
}

/// `clank replay FILE --auto`: the whole pipeline on a virtual clock, sends to
/// a recording sink through the same policy and filters. Blocks until done.
pub fn replay_auto(
    config: &Config,
    file: &Path,
    store: Store,
    opts: ReplayAuto,
    out: &mut dyn Write,
) -> Result<RunSummary, HeadlessError> {
    tokio_runtime()?.block_on(replay_auto_async(config, file, store, opts, out))
}

/// [`replay_auto`] inside an existing tokio runtime.
pub async fn replay_auto_async(
    config: &Config,
    file: &Path,
    store: Store,
    opts: ReplayAuto,
    out: &mut dyn Write,
) -> Result<RunSummary, HeadlessError> {
    // A log that cannot be opened is an error of the command, not a status.
    crate::chatlog::ChatLogReader::open(file)?;
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel::<Inbound>(256);
    let adapter = ChatLogAdapter {
        path: file.to_path_buf(),
        options: ChatLogOptions {
            speed: opts.speed,
            passes: opts.repeat.max(1),
            rebase_to_now: false,
        },
        sink: opts
            .sink
            .unwrap_or_else(|| Arc::new(RecordingSink::default())),
    };
    let hub = Hub::start(vec![Box::new(adapter)], tx, cancel.clone());
    let mut ro = RuntimeOptions::new(config.clone(), store, rx);
    ro.router = hub.router();
    ro.finite_sources = hub.finite_sources();
    ro.clock = Clock::Virtual;
    ro.auto_send = true;
    ro.seed = opts.seed;
    ro.exit_when_sources_end = true;
    ro.snapshots = false;
    ro.llm = opts.llm;
    ro.cancel = cancel.clone();
    let rt = runtime::start(ro)?;
    crate::signals::cancel_on_signals(cancel.clone());
    let _requests = rt.requests;
    let printed = print_updates(rt.updates, opts.json, out).await;
    let summary = rt
        .join
        .await
        .map_err(|e| HeadlessError::Join(e.to_string()));
    // The run is over: the adapters stop with it.
    cancel.cancel();
    hub.join().await;
    let summary = summary??;
    printed?;
    write_summary(out, &summary)?;
    Ok(summary)
}

fn write_summary(out: &mut dyn Write, summary: &RunSummary) -> io::Result<()> {
    let mut line = serde_json::to_value(summary).map_err(io::Error::from)?;
    if let Some(obj) = line.as_object_mut() {
        obj.insert("event".into(), json!("summary"));
    }
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `clank --auto`: live, wall clock, auto-send on, until Ctrl-C. Chat comes
/// from the configured platforms (or the demo log), replies go back through
/// their adapters, and every event is one JSON line on `out`.
pub fn live_auto(
    config: &Config,
    store: Store,
    sources: crate::live::Sources,
    out: &mut dyn Write,
) -> Result<RunSummary, HeadlessError> {
    tokio_runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        let live = crate::live::start(
            config,
            store,
            sources,
            crate::live::Front::Headless,
            true,
            cancel.clone(),
        )
        .await
        .map_err(|e| HeadlessError::Live(e.to_string()))?;
        crate::signals::cancel_on_signals(cancel.clone());
        let _requests = live.runtime.requests;
        let printed = print_updates(live.updates, true, &mut LineFlushed(&mut *out)).await;
        let summary = live
            .runtime
            .join
            .await
            .map_err(|e| HeadlessError::Join(e.to_string()));
        cancel.cancel();
        live.hub.join().await;
        let summary = summary??;
        printed?;
        write_summary(out, &summary)?;
        Ok(summary)
    })
}

/// A live log is read while it is written (`clank --auto | jq`, a supervisor
/// tailing it): each line goes out as soon as it is complete, not when a
/// 64 KiB stdout buffer fills, which on a quiet stream could take hours.
struct LineFlushed<'a>(&'a mut dyn Write);

impl Write for LineFlushed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        if buf[..n].contains(&b'\n') {
            self.0.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
