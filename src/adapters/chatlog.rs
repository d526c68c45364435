//! The chat log as an adapter: plays a recorded stream (the demo, `replay
//! --auto`) into the runtime through the same door as a live platform, and
//! stands in for the platforms on the way out: each send is handed to a
//! [`Sink`] (a recorder) and confirmed, since no platform is there to refuse.
//! [`open_source`] opens such a file (a chat log or a raw Twitch IRC
//! capture) for this adapter and for `clank replay` / `clank score`.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{AdapterStatus, BoxFuture, Inbound, Outbound, PlatformAdapter, SendVerdict};
use crate::chatlog::{ChatLogError, ChatLogReader, LineError};
use crate::model::Platform;
use crate::replay::{Speed, shifted};

/// One item of a chat source: an adapter event (chat, raid, sub, ...), or a
/// line that could not be used.
pub type SourceItem = Result<Result<Inbound, LineError>, ChatLogError>;

/// Opens a chat log or a raw Twitch IRC capture (one IRC line per message, as
/// `tests/fixtures/twitch-nymn.irc`), told apart by the first non-blank line.
pub fn open_source(
    path: &std::path::Path,
) -> Result<Box<dyn Iterator<Item = SourceItem>>, ChatLogError> {
    use std::io::BufRead;
    let open = || {
        std::fs::File::open(path).map_err(|source| ChatLogError::Open {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut first = String::new();
    let mut sniff = io::BufReader::new(open()?);
    while first.trim().is_empty() {
        first.clear();
        // A read error or invalid UTF-8 here is reported by the real reader below.
        if sniff.read_line(&mut first).unwrap_or(0) == 0 {
            break;
        }
    }
    if crate::adapters::twitch::is_irc_line(&first) {
        let reader = io::BufReader::with_capacity(256 * 1024, open()?);
        return Ok(Box::new(crate::adapters::twitch::read_irc_capture(reader)));
    }
    let mut reader = ChatLogReader::open(path)?;
    Ok(Box::new(std::iter::from_fn(move || reader.next_record())))
}

/// One reply that left clank for a sink.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentReply {
    pub draft: i64,
    pub platform: Platform,
    pub channel: String,
    /// Exactly what went on the wire (already through the output gate).
    pub text: String,
    /// The platform id of the message answered.
    pub reply_to: Option<String>,
}

/// Where the chat log adapter's sends go.
pub trait Sink: Send + Sync {
    fn send<'a>(&'a self, m: &'a SentReply) -> BoxFuture<'a, Result<(), String>>;
}

/// Keeps every reply instead of sending it (the demo, replay, tests).
#[derive(Debug, Default)]
pub struct RecordingSink {
    sent: Mutex<Vec<SentReply>>,
}

impl RecordingSink {
    pub fn sent(&self) -> Vec<SentReply> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Sink for RecordingSink {
    fn send<'a>(&'a self, m: &'a SentReply) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.sent
                .lock()
                .map_err(|_| "recorder poisoned".to_string())?
                .push(m.clone());
            Ok(())
        })
    }
}

/// How a chat log is played.
#[derive(Debug, Clone)]
pub struct ChatLogOptions {
    pub speed: Speed,
    /// Passes over the log (ids and times shifted per pass); 0 = forever.
    pub passes: u32,
    /// Shift every time so the first event happens now (the live demo).
    pub rebase_to_now: bool,
}

/// Plays a chat log; answers sends for every platform through its sink.
pub struct ChatLogAdapter {
    pub path: PathBuf,
    pub options: ChatLogOptions,
    pub sink: Arc<dyn Sink>,
}

impl PlatformAdapter for ChatLogAdapter {
    fn name(&self) -> &'static str {
        "chat log"
    }

    fn platforms(&self) -> Vec<Platform> {
        Platform::ALL.to_vec()
    }

    fn finite(&self) -> bool {
        self.options.passes != 0
    }

    fn run(
        self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(run(*self, inbound, outbound, cancel))
    }
}

/// Only answers sends, through a sink: a stand-in for platforms in tests and
/// benchmarks that push chat into the runtime themselves.
pub struct RecorderAdapter {
    pub sink: Arc<dyn Sink>,
}

impl PlatformAdapter for RecorderAdapter {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn platforms(&self) -> Vec<Platform> {
        Platform::ALL.to_vec()
    }

    fn run(
        self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        mut outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let answering = Answering {
                sink: self.sink,
                inbound,
            };
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    cmd = outbound.recv() => match cmd {
                        Some(cmd) => if !answering.answer(cmd).await { return },
                        None => return,
                    },
                }
            }
        })
    }
}

/// Hands sends to a sink and reports each one's verdict.
struct Answering {
    sink: Arc<dyn Sink>,
    inbound: mpsc::Sender<Inbound>,
}

impl Answering {
    /// `false` = the runtime is gone.
    async fn answer(&self, cmd: Outbound) -> bool {
        let Outbound::Send {
            draft_id,
            platform,
            channel,
            text,
            reply_to,
        } = cmd;
        let reply = SentReply {
            draft: draft_id,
            platform,
            channel,
            text,
            reply_to,
        };
        let verdict = match self.sink.send(&reply).await {
            Ok(()) => SendVerdict::Sent,
            Err(e) => SendVerdict::Failed(e),
        };
        self.inbound
            .send(Inbound::SendResult { draft_id, verdict })
            .await
            .is_ok()
    }
}

/// Reads the whole log once (blocking file I/O off the async threads).
async fn read_log(path: PathBuf) -> Result<(Vec<Inbound>, u64), ChatLogError> {
    let read = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut bad = 0u64;
        // A chat log or a raw Twitch IRC capture.
        for item in open_source(&path)? {
            match item? {
                Ok(ev) => out.push(ev),
                Err(e) => {
                    bad += 1;
                    tracing::warn!(line = e.line(), "{e}");
                }
            }
        }
        Ok::<_, ChatLogError>((out, bad))
    })
    .await;
    match read {
        Ok(r) => r,
        Err(_) => Ok((Vec::new(), 0)),
    }
}

/// Ids shifted per pass, times shifted by the pass and the rebase.
fn replayed(ev: &Inbound, pass: u32, offset: ChronoDuration, base: ChronoDuration) -> Inbound {
    let mut ev = match ev {
        Inbound::Chat(c) => Inbound::Chat(shifted(c, pass, offset)),
        other => {
            let mut o = other.clone();
            o.shift_time(offset);
            o
        }
    };
    if !base.is_zero() {
        ev.shift_time(base);
    }
    ev
}

async fn run(
    adapter: ChatLogAdapter,
    inbound: mpsc::Sender<Inbound>,
    mut outbound: mpsc::Receiver<Outbound>,
    cancel: CancellationToken,
) {
    let ChatLogAdapter {
        path,
        options: opts,
        sink,
    } = adapter;
    let answering = Answering {
        sink,
        inbound: inbound.clone(),
    };
    // No account behind a chat log: replies are recorded, never posted.
    for platform in Platform::ALL {
        let status = AdapterStatus::ReadOnly {
            reason: "a chat log: replies are recorded, not posted".into(),
        };
        let ev = Inbound::Status {
            platform,
            channel: None,
            status,
        };
        if inbound.send(ev).await.is_err() {
            return;
        }
    }
    let shown = path.display().to_string();
    let (events, bad_lines) = match read_log(path).await {
        Ok(r) => r,
        Err(e) => {
            for platform in Platform::ALL {
                let _ = inbound
                    .send(Inbound::Status {
                        platform,
                        channel: None,
                        status: AdapterStatus::Down {
                            reason: e.to_string(),
                        },
                    })
                    .await;
            }
            (Vec::new(), 0)
        }
    };
    let mut played = 0u64;
    let times: Vec<_> = events.iter().filter_map(Inbound::at).collect();
    if let (Some(first), Some(last)) = (times.iter().min().copied(), times.iter().max().copied()) {
        let span = last - first + ChronoDuration::seconds(1);
        let base = if opts.rebase_to_now {
            Utc::now() - first
        } else {
            ChronoDuration::zero()
        };
        let started = tokio::time::Instant::now();
        let mut pass = 0u32;
        'passes: loop {
            for ev in &events {
                let ev = replayed(ev, pass, span * pass as i32, base);
                if let (Speed::Factor(f), Some(at)) = (opts.speed, ev.at()) {
                    let since_start = (at - (first + base)).to_std().unwrap_or_default();
                    let due = started + since_start.div_f64(f);
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(due) => break,
                            _ = cancel.cancelled() => return,
                            Some(cmd) = outbound.recv() => if !answering.answer(cmd).await { return },
                        }
                    }
                }
                // While the runtime is busy, sends are still answered, so a
                // runtime waiting for a verdict never waits on this send.
                let mut pending = Some(ev);
                while let Some(ev) = pending.take() {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        Some(cmd) = outbound.recv() => {
                            if !answering.answer(cmd).await { return }
                            pending = Some(ev);
                        }
                        permit = inbound.reserve() => match permit {
                            Ok(p) => p.send(ev),
                            Err(_) => return,
                        },
                    }
                }
                played += 1;
            }
            pass += 1;
            if opts.passes != 0 && pass >= opts.passes {
                break 'passes;
            }
        }
    }
    let detail = format!("{shown}: {played} events played, {bad_lines} bad lines skipped");
    tracing::info!("{detail}");
    if inbound
        .send(Inbound::Ended {
            adapter: "chat log".into(),
            detail,
        })
        .await
        .is_err()
    {
        return;
    }
    // The log is over; replies to its last messages may still come.
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            cmd = outbound.recv() => match cmd {
                Some(cmd) => if !answering.answer(cmd).await { return },
                None => return,
            },
        }
    }
}
