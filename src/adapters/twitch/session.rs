//! The supervised Twitch connection: connect, log in (or read anonymously),
//! join, read and map, answer PING, send through the [`SendGate`], and on any
//! loss back off (capped, jittered, exponential) and reconnect, reporting each
//! step to the operator as [`Inbound::Status`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use twitch_irc::message::{IRCMessage, IRCTags};

use super::connect::{Endpoint, connect};
use super::map::{fast_privmsg, map_irc_message};
use super::send::{SendGate, SendLimits, clean_outgoing};
use super::wire::{Line, LineReader, LineWriter};
use crate::adapters::backoff::Backoff;
use crate::adapters::{AdapterStatus, Inbound, NoticeKind, Outbound, SendRejection, SendVerdict};
use crate::auth::{CredentialSource, Credentials};
use crate::model::{ChatEvent, Platform};
use crate::secret::Secret;

const P: Platform = Platform::Twitch;

/// Twitch lets an account join 20 channels per 10 s.
const JOIN_CHUNK: usize = 20;
const JOIN_PAUSE: Duration = Duration::from_secs(11);
/// After a read that found chat trickling in (less than [`BUSY_READ`]), the
/// socket is left to gather the next lines this long before it is read
/// again: Twitch may send each message on its own, and a wake per message
/// costs more than the message. (Sends, PINGs and shutdown do not wait.)
///
/// Quiet chat waits for nothing: the pace only delays a read that comes
/// within this time of the last one, so a message is read at once unless
/// chat runs faster than ten a second; then it waits at most this long,
/// far below what a reader notices in scrolling chat. Each read is one
/// burst for every thread behind it (conductor, core, store, console), and
/// on this kind of machine a burst's cost is mostly its cold start: at
/// 1,000 msgs/s the console's whole live path cost 28-34 us/msg read every
/// 100 ms against 35-39 every 20 ms (release binary, loopback, same
/// session). The kill -9 window is not touched: what waits is still in the
/// socket, never read, never acknowledged.
const READ_PACE: Duration = Duration::from_millis(100);

/// A read at least this big means a backlog: read again at once.
const BUSY_READ: usize = 16 * 1024;

/// After a `msg_ratelimit` NOTICE, stop sending for this long.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(30);

/// A PRIVMSG written and waiting for Twitch's USERSTATE or NOTICE.
struct InFlight {
    draft_id: i64,
    at: Instant,
    text: String,
}

/// Everything the adapter needs to run.
#[derive(Debug, Clone)]
pub struct TwitchOptions {
    /// Channel logins without `#`, lower case.
    pub channels: Vec<String>,
    pub endpoint: Endpoint,
    pub limits: SendLimits,
    pub backoff: Backoff,
    /// Send our own PING after this long without any line from the server.
    pub ping_interval: Duration,
    /// Give the connection up when a PING stays unanswered this long.
    pub pong_timeout: Duration,
    /// Time to open the socket and to be welcomed after logging in.
    pub connect_timeout: Duration,
    /// How often the token is checked with `/oauth2/validate`.
    pub validate_every: Duration,
    /// A send with neither USERSTATE nor NOTICE after this long is reported
    /// unconfirmed: it may or may not be in chat.
    pub confirm_timeout: Duration,
    /// Sends waiting for the rate limiter; more are refused at once.
    pub max_pending_sends: usize,
    /// A send still queued after this long (connection down) is given up.
    pub max_send_wait: Duration,
    /// Seeds the backoff jitter and the anonymous nick.
    pub seed: u64,
}

impl TwitchOptions {
    /// From the `[twitch]` keys `channels`, `irc_addr` and `tls`, validated
    /// (plain text only to loopback, see [`super::validate_transport`]).
    pub fn from_config(
        channels: &[String],
        irc_addr: &str,
        tls: bool,
    ) -> Result<Self, crate::validate::ConfigError> {
        let endpoint = Endpoint::from_config(irc_addr, tls)?;
        Ok(Self::new(channels.to_vec(), endpoint))
    }

    /// From the `[twitch]` config section.
    pub fn from_twitch_config(
        c: &super::TwitchConfig,
    ) -> Result<Self, crate::validate::ConfigError> {
        Self::from_config(&c.channels, &c.irc_addr, c.tls)
    }

    pub fn new(channels: Vec<String>, endpoint: Endpoint) -> Self {
        Self {
            channels: channels
                .into_iter()
                .map(|c| c.trim().trim_start_matches('#').to_ascii_lowercase())
                .filter(|c| {
                    // A name with a comma or space would smuggle extra
                    // channels or commands into the JOIN line.
                    let ok = !c.is_empty()
                        && c.len() <= 25
                        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !ok {
                        tracing::warn!(target: "clank::twitch", channel = %c, "not a Twitch channel name; skipped");
                    }
                    ok
                })
                .collect(),
            endpoint,
            limits: SendLimits::default(),
            backoff: Backoff::default(),
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            validate_every: Duration::from_secs(3600),
            confirm_timeout: Duration::from_secs(10),
            max_pending_sends: 64,
            max_send_wait: Duration::from_secs(120),
            seed: 0,
        }
    }
}

/// The typed handle the core sends drafts through.
#[derive(Debug, Clone)]
pub struct TwitchHandle {
    tx: mpsc::Sender<Outbound>,
}

/// The adapter task has ended (shutdown); the send was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Twitch adapter has stopped")]
pub struct AdapterGone;

impl TwitchHandle {
    /// Queues a draft; its outcome arrives as [`Inbound::SendResult`].
    pub async fn send(
        &self,
        draft_id: i64,
        channel: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<(), AdapterGone> {
        self.tx
            .send(Outbound::Send {
                draft_id,
                platform: P,
                channel: channel.trim_start_matches('#').to_ascii_lowercase(),
                text: text.to_string(),
                reply_to: reply_to.map(str::to_string),
            })
            .await
            .map_err(|_| AdapterGone)
    }

    /// The raw sender, for a runtime that routes [`Outbound`] itself.
    pub fn sender(&self) -> mpsc::Sender<Outbound> {
        self.tx.clone()
    }
}

/// The Twitch adapter as a [`crate::adapters::PlatformAdapter`].
pub struct TwitchAdapter {
    pub options: TwitchOptions,
    pub credentials: Option<Arc<dyn CredentialSource>>,
}

impl crate::adapters::PlatformAdapter for TwitchAdapter {
    fn name(&self) -> &'static str {
        "twitch"
    }

    fn platforms(&self) -> Vec<Platform> {
        vec![P]
    }

    fn run(
        self: Box<Self>,
        inbound: mpsc::Sender<Inbound>,
        outbound: mpsc::Receiver<Outbound>,
        cancel: CancellationToken,
    ) -> crate::adapters::BoxFuture<'static, ()> {
        Box::pin(run(
            self.options,
            self.credentials,
            inbound,
            outbound,
            cancel,
        ))
    }
}

/// Starts the adapter on the current tokio runtime.
pub fn spawn(
    options: TwitchOptions,
    credentials: Option<Arc<dyn CredentialSource>>,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) -> (TwitchHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(options.max_pending_sends.max(1));
    let task = tokio::spawn(run(options, credentials, inbound, rx, cancel));
    (TwitchHandle { tx }, task)
}

/// Runs the adapter until `cancel` fires or the core drops its receiver.
pub async fn run(
    options: TwitchOptions,
    credentials: Option<Arc<dyn CredentialSource>>,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<Outbound>,
    cancel: CancellationToken,
) {
    let rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut adapter = Adapter {
        gate: SendGate::new(options.limits),
        known: options.channels.iter().cloned().collect(),
        opts: options,
        creds: credentials,
        read_only_reason: None,
        tx: inbound,
        rx: outbound,
        rx_open: true,
        cancel,
        pending: VecDeque::new(),
        rng,
        paused_until: None,
    };
    if adapter.creds.is_none() {
        adapter.read_only_reason = Some("no Twitch login; run `clank login twitch` to send".into());
    }
    adapter.supervise().await;
    adapter.fail_unwritten().await;
}

/// Why a send queued at shutdown never went out.
pub const STOPPED_BEFORE_WRITTEN: &str =
    "clank stopped before it was written to Twitch (never written, so not in chat)";

struct PendingSend {
    draft_id: i64,
    channel: String,
    text: String,
    reply_to: Option<String>,
    queued_at: Instant,
}

enum SessionEnd {
    /// Shutdown or the core went away.
    Stop,
    /// Socket loss, PING timeout, connect failure.
    Lost(String),
    /// The server asked us to reconnect.
    ReconnectRequested,
    /// The server refused the login.
    AuthFailed(String),
    /// Hourly validation says the token is gone and refresh failed.
    TokenRevoked(String),
}

struct Adapter {
    opts: TwitchOptions,
    creds: Option<Arc<dyn CredentialSource>>,
    /// Set when running without a usable login.
    read_only_reason: Option<String>,
    tx: mpsc::Sender<Inbound>,
    rx: mpsc::Receiver<Outbound>,
    rx_open: bool,
    cancel: CancellationToken,
    gate: SendGate,
    known: std::collections::HashSet<String>,
    pending: VecDeque<PendingSend>,
    rng: ChaCha8Rng,
    paused_until: Option<Instant>,
}

fn cmd(command: &str, params: &[&str]) -> IRCMessage {
    IRCMessage::new_simple(
        command.to_string(),
        params.iter().map(|p| p.to_string()).collect(),
    )
}

/// Logged in, or reading anonymously.
struct Login {
    nick: String,
    pass: Option<Secret>,
}

impl Adapter {
    async fn emit(&self, ev: Inbound) -> bool {
        self.tx.send(ev).await.is_ok()
    }

    async fn status(&self, channel: Option<String>, status: AdapterStatus) -> bool {
        tracing::info!(target: "clank::twitch", channel = channel.as_deref().unwrap_or("*"), %status, "twitch status");
        self.emit(Inbound::Status {
            platform: P,
            channel,
            status,
        })
        .await
    }

    async fn result(&self, draft_id: i64, verdict: SendVerdict) -> bool {
        if verdict != SendVerdict::Sent {
            tracing::info!(target: "clank::twitch", draft_id, %verdict, "send not confirmed");
        }
        self.emit(Inbound::SendResult { draft_id, verdict }).await
    }

    async fn supervise(&mut self) {
        let mut attempt: u32 = 0;
        let mut auth_failures: u32 = 0;
        loop {
            let started = Instant::now();
            let (end, welcomed) = self.session().await;
            if welcomed {
                // The server accepted the login: a later refusal is a new streak.
                auth_failures = 0;
                if started.elapsed() >= Duration::from_secs(60) {
                    attempt = 0;
                }
            }
            let (reason, jittered) = match end {
                SessionEnd::Stop => return,
                SessionEnd::ReconnectRequested => (
                    "the server asked to reconnect".to_string(),
                    self.opts.backoff.delay(0, &mut self.rng),
                ),
                SessionEnd::Lost(reason) => {
                    let d = self.opts.backoff.delay(attempt, &mut self.rng);
                    attempt = attempt.saturating_add(1);
                    (reason, d)
                }
                SessionEnd::AuthFailed(text) => {
                    auth_failures += 1;
                    // One refresh per failure streak; a token Twitch still
                    // refuses after that drops us to read-only, never to a loop.
                    let failed = match (&self.creds, auth_failures) {
                        (Some(src), 1) => src.refresh_after_failure().await.err(),
                        (Some(_), _) => Some(crate::auth::AuthError::Revoked),
                        (None, _) => None,
                    };
                    if let Some(err) = failed {
                        self.drop_to_read_only(format!(
                            "Twitch refused the login ({text}): {}",
                            err.for_platform(P)
                        ))
                        .await;
                    }
                    (
                        format!("login refused: {text}"),
                        self.opts.backoff.delay(0, &mut self.rng),
                    )
                }
                SessionEnd::TokenRevoked(reason) => {
                    self.drop_to_read_only(reason.clone()).await;
                    (reason, self.opts.backoff.delay(0, &mut self.rng))
                }
            };
            let in_s = jittered.as_secs_f64().ceil() as u64;
            if !self
                .status(None, AdapterStatus::Reconnecting { in_s, reason })
                .await
            {
                return;
            }
            if !self.wait(Instant::now() + jittered).await {
                return;
            }
        }
    }

    async fn drop_to_read_only(&mut self, reason: String) {
        tracing::warn!(target: "clank::twitch", %reason, "dropping to read-only");
        self.creds = None;
        self.read_only_reason = Some(reason);
        let pending: Vec<_> = self.pending.drain(..).collect();
        for p in pending {
            self.result(p.draft_id, SendVerdict::Refused(SendRejection::ReadOnly))
                .await;
        }
    }

    /// At shutdown: sends still waiting in the rate-limit queue, or not yet
    /// taken from the runtime, were never written, so they cannot be in
    /// chat. Each is reported failed while the runtime still listens (it
    /// drains verdicts on shutdown), instead of becoming "unconfirmed".
    async fn fail_unwritten(&mut self) {
        let mut ids: Vec<i64> = self.pending.drain(..).map(|p| p.draft_id).collect();
        self.rx.close();
        while let Ok(Outbound::Send { draft_id, .. }) = self.rx.try_recv() {
            ids.push(draft_id);
        }
        for id in ids {
            let verdict = SendVerdict::Failed(STOPPED_BEFORE_WRITTEN.into());
            if !self.result(id, verdict).await {
                return;
            }
        }
    }

    /// Gives up queued sends that waited longer than `max_send_wait`.
    /// `false` = stop.
    async fn expire_pending(&mut self) -> bool {
        let now = Instant::now();
        while let Some(p) = self.pending.front() {
            if now.saturating_duration_since(p.queued_at) < self.opts.max_send_wait {
                break;
            }
            let draft_id = p.draft_id;
            self.pending.pop_front();
            // Never written: it cannot be in chat.
            let why = format!(
                "not sent within {} s (connection down or rate limited); not retried",
                self.opts.max_send_wait.as_secs()
            );
            if !self.result(draft_id, SendVerdict::Failed(why)).await {
                return false;
            }
        }
        true
    }

    /// Sleeps until `until` while still taking (or refusing) sends.
    /// `false` = stop.
    async fn wait(&mut self, until: Instant) -> bool {
        loop {
            let expiry = self
                .pending
                .front()
                .map(|p| p.queued_at + self.opts.max_send_wait);
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return false,
                _ = sleep_until(until) => return self.expire_pending().await,
                _ = sleep_until(expiry.unwrap_or(until)), if expiry.is_some() => {
                    if !self.expire_pending().await { return false }
                }
                cmd = self.rx.recv(), if self.rx_open && self.pending.len() < self.opts.max_pending_sends => {
                    match cmd {
                        Some(cmd) => if !self.accept(cmd).await { return false },
                        None => self.rx_open = false,
                    }
                }
            }
        }
    }

    /// Takes one outbound command: refuses what can never be sent, queues the rest.
    async fn accept(&mut self, cmd: Outbound) -> bool {
        let Outbound::Send {
            draft_id,
            channel,
            text,
            reply_to,
            ..
        } = cmd;
        let checked = if self.read_only_reason.is_some() {
            Err(SendRejection::ReadOnly)
        } else if !self.known.contains(&channel) {
            Err(SendRejection::UnknownChannel(channel.clone()))
        } else {
            clean_outgoing(&text).and_then(|t| {
                self.gate
                    .check_duplicate(&channel, &t, Instant::now())
                    .map(|()| t)
            })
        };
        match checked {
            Ok(text) => {
                self.pending.push_back(PendingSend {
                    draft_id,
                    channel,
                    text,
                    reply_to,
                    queued_at: Instant::now(),
                });
                true
            }
            Err(why) => self.result(draft_id, SendVerdict::Refused(why)).await,
        }
    }

    async fn login(&mut self) -> Result<Login, SessionEnd> {
        if let Some(src) = self.creds.clone() {
            match src.credentials().await {
                Ok(Credentials { login, token }) => {
                    let raw = token.expose();
                    let pass = if raw.starts_with("oauth:") {
                        token.clone()
                    } else {
                        Secret::new(format!("oauth:{raw}"))
                    };
                    return Ok(Login {
                        nick: login.to_ascii_lowercase(),
                        pass: Some(pass),
                    });
                }
                Err(e) if e.needs_login() => {
                    self.drop_to_read_only(e.for_platform(P)).await;
                }
                Err(e) => return Err(SessionEnd::Lost(e.to_string())),
            }
        }
        let n: u32 = self.rng.random_range(10_000..100_000);
        Ok(Login {
            nick: format!("justinfan{n}"),
            pass: None,
        })
    }

    /// One connection, from connect to loss. Returns why it ended and
    /// whether the server welcomed us.
    async fn session(&mut self) -> (SessionEnd, bool) {
        if !self.status(None, AdapterStatus::Connecting).await {
            return (SessionEnd::Stop, false);
        }
        let login = match self.login().await {
            Ok(l) => l,
            Err(end) => return (end, false),
        };
        let timeout = self.opts.connect_timeout;
        let transport = tokio::select! {
            _ = self.cancel.cancelled() => return (SessionEnd::Stop, false),
            r = tokio::time::timeout(timeout, connect(&self.opts.endpoint)) => match r {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return (SessionEnd::Lost(format!("cannot connect to {}:{}: {e}", self.opts.endpoint.host, self.opts.endpoint.port)), false),
                Err(_) => return (SessionEnd::Lost(format!("connecting to {}:{} timed out", self.opts.endpoint.host, self.opts.endpoint.port)), false),
            }
        };
        let (read_half, write_half) = tokio::io::split(transport);
        let mut incoming = LineReader::new(read_half);
        let mut outgoing = LineWriter::new(write_half);

        let mut hello = vec![cmd("CAP", &["REQ", "twitch.tv/tags twitch.tv/commands"])];
        if let Some(pass) = &login.pass {
            hello.push(cmd("PASS", &[pass.expose()]));
        }
        hello.push(cmd("NICK", &[&login.nick]));
        for m in hello {
            if let Err(e) = outgoing.send(m).await {
                return (SessionEnd::Lost(format!("write failed: {e}")), false);
            }
        }
        let authed = login.pass.is_some();

        let mut welcomed = false;
        let mut welcome_deadline = Some(Instant::now() + timeout);
        let mut join_queue: VecDeque<String> = VecDeque::new();
        let mut next_join = Instant::now();
        let mut last_rx = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        let mut next_validate = Instant::now() + self.opts.validate_every;
        let mut in_flight: HashMap<String, VecDeque<InFlight>> = HashMap::new();
        let mut joined_status: std::collections::HashSet<String> = Default::default();
        let mut read_not_before = Instant::now();

        let end = 'session: loop {
            let now = Instant::now();
            // The next moment something is due without any input.
            let ping_due = match ping_sent {
                None => last_rx + self.opts.ping_interval,
                Some(at) => at + self.opts.pong_timeout,
            };
            let confirm_due = in_flight
                .values()
                .filter_map(|q| q.front().map(|f| f.at + self.opts.confirm_timeout))
                .min();
            let can_send = welcomed && authed && !self.pending.is_empty();
            let send_due = if can_send {
                self.next_send_at(now)
            } else {
                None
            };
            let far = now + Duration::from_secs(86_400);

            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break SessionEnd::Stop,
                cmd = self.rx.recv(), if self.rx_open && self.pending.len() < self.opts.max_pending_sends => {
                    match cmd {
                        Some(cmd) => if !self.accept(cmd).await { break SessionEnd::Stop },
                        None => self.rx_open = false,
                    }
                }
                _ = sleep_until(send_due.unwrap_or(far)), if send_due.is_some() => {
                    match self.send_next(&mut outgoing, &mut in_flight).await {
                        Ok(true) => {}
                        Ok(false) => break SessionEnd::Stop,
                        Err(e) => break SessionEnd::Lost(e),
                    }
                }
                _ = sleep_until(next_join), if welcomed && !join_queue.is_empty() => {
                    let n = join_queue.len().min(JOIN_CHUNK);
                    let list: Vec<String> = join_queue.drain(..n).map(|c| format!("#{c}")).collect();
                    if let Err(e) = outgoing.send(cmd("JOIN", &[&list.join(",")])).await {
                        break SessionEnd::Lost(format!("write failed: {e}"));
                    }
                    next_join = Instant::now() + JOIN_PAUSE;
                }
                _ = sleep_until(ping_due) => {
                    if ping_sent.is_some() {
                        break SessionEnd::Lost(format!("no answer to PING within {} s", self.opts.pong_timeout.as_secs()));
                    }
                    if let Err(e) = outgoing.send(cmd("PING", &["tmi.twitch.tv"])).await {
                        break SessionEnd::Lost(format!("write failed: {e}"));
                    }
                    ping_sent = Some(Instant::now());
                }
                _ = sleep_until(welcome_deadline.unwrap_or(far)), if welcome_deadline.is_some() => {
                    break SessionEnd::Lost("the server did not welcome the login in time".into());
                }
                _ = sleep_until(confirm_due.unwrap_or(far)), if confirm_due.is_some() => {
                    let now = Instant::now();
                    let mut done = Vec::new();
                    for q in in_flight.values_mut() {
                        while q.front().is_some_and(|f| f.at + self.opts.confirm_timeout <= now) {
                            if let Some(f) = q.pop_front() { done.push(f.draft_id); }
                        }
                    }
                    let why = format!("Twitch answered neither USERSTATE nor NOTICE within {} s", self.opts.confirm_timeout.as_secs());
                    for id in done {
                        if !self.result(id, SendVerdict::Unconfirmed(why.clone())).await { return (SessionEnd::Stop, welcomed); }
                    }
                }
                _ = sleep_until(next_validate), if welcomed && authed => {
                    next_validate = Instant::now() + self.opts.validate_every;
                    if let Some(src) = self.creds.clone() {
                        match src.validate().await {
                            Ok(()) => {}
                            Err(e) if e.needs_login() => break SessionEnd::TokenRevoked(e.to_string()),
                            Err(e) => tracing::warn!(target: "clank::twitch", error = %e, "token validation failed; will retry"),
                        }
                    }
                }
                // Reading comes last: a backlog that is always ready must not
                // starve sends, PINGs, joins and the timers above.
                read = incoming.fill(), if now >= read_not_before => {
                    match read {
                        Ok(0) => break SessionEnd::Lost("the server closed the connection".into()),
                        Ok(n) if n < BUSY_READ => read_not_before = Instant::now() + READ_PACE,
                        Ok(_) => {}
                        Err(e) => break SessionEnd::Lost(format!("read failed: {e}")),
                    }
                    last_rx = Instant::now();
                    ping_sent = None;
                    // One clock read for the lines of one read: they arrived together.
                    let received_at = Utc::now();
                    // Every complete line of this read, in order, before the
                    // next wait: one wake for a burst, not one per line.
                    while let Some(line) = incoming.next_line() {
                        let line = match line {
                            Line::Text(line) => line,
                            Line::TooLong { len } => {
                                tracing::warn!(target: "clank::twitch", len, max = super::map::MAX_IRC_LINE_BYTES, "over-long IRC line skipped");
                                continue;
                            }
                        };
                        // The hot path: an ordinary chat message, read in place.
                        if let Some(m) = fast_privmsg(&line, received_at) {
                            if !self.emit(Inbound::Chat(ChatEvent::Message(m))).await {
                                break 'session SessionEnd::Stop;
                            }
                            continue;
                        }
                        let irc = match IRCMessage::parse(&line) {
                            Ok(irc) => irc,
                            Err(e) => {
                                tracing::warn!(target: "clank::twitch", error = %e, "unparsable IRC line skipped");
                                continue;
                            }
                        };
                        match irc.command.as_str() {
                            "PING" => {
                                let pong = IRCMessage::new_simple("PONG".into(), irc.params.clone());
                                if let Err(e) = outgoing.send(pong).await {
                                    break 'session SessionEnd::Lost(format!("write failed: {e}"));
                                }
                                continue;
                            }
                            "PONG" => continue,
                            "RECONNECT" => break 'session SessionEnd::ReconnectRequested,
                            "001" => {
                                welcomed = true;
                                welcome_deadline = None;
                                if !self.status(None, self.login_status(authed)).await {
                                    break 'session SessionEnd::Stop;
                                }
                                join_queue = self.opts.channels.iter().cloned().collect();
                                next_join = Instant::now();
                                next_validate = Instant::now() + self.opts.validate_every;
                                continue;
                            }
                            _ => {}
                        }
                        let events = match map_irc_message(irc, received_at) {
                            Ok(ev) => ev,
                            Err(why) => {
                                tracing::warn!(target: "clank::twitch", %why, "IRC line not mapped");
                                continue;
                            }
                        };
                        if let Some(end) = self.on_events(events, &mut in_flight, &mut joined_status, authed).await {
                            break 'session end;
                        }
                    }
                }
                _ = sleep_until(read_not_before), if now < read_not_before => {}
            }
        };
        // Sends written but not confirmed may or may not have arrived; the
        // operator decides, we never resend on our own.
        let why = match end {
            SessionEnd::Stop => crate::store::STOPPED_BEFORE_VERDICT.to_string(),
            _ => SendRejection::ConnectionLost.to_string(),
        };
        for q in in_flight.into_values() {
            for f in q {
                if !self
                    .result(f.draft_id, SendVerdict::Unconfirmed(why.clone()))
                    .await
                {
                    return (SessionEnd::Stop, welcomed);
                }
            }
        }
        (end, welcomed)
    }

    /// What the login allows: sending, or reading only (and why).
    fn login_status(&self, authed: bool) -> AdapterStatus {
        if authed {
            AdapterStatus::Connected
        } else {
            AdapterStatus::ReadOnly {
                reason: self
                    .read_only_reason
                    .clone()
                    .unwrap_or_else(|| "anonymous".into()),
            }
        }
    }

    /// Acts on the events of one mapped line (a refused or confirmed send,
    /// a join that worked, a lost login) and passes each on. Returns how the
    /// session ends when one of them ends it.
    async fn on_events(
        &mut self,
        events: Vec<Inbound>,
        in_flight: &mut HashMap<String, VecDeque<InFlight>>,
        joined_status: &mut std::collections::HashSet<String>,
        authed: bool,
    ) -> Option<SessionEnd> {
        let mut stop = None;
        for ev in events {
            match &ev {
                Inbound::Notice {
                    kind: NoticeKind::AuthFailed,
                    text,
                    channel: None,
                    ..
                } => {
                    stop = Some(SessionEnd::AuthFailed(text.clone()));
                }
                Inbound::Notice {
                    kind,
                    text,
                    channel: Some(ch),
                    ..
                } => {
                    let ch = ch.clone();
                    let rejection = match kind {
                        NoticeKind::Duplicate => Some(SendRejection::Duplicate),
                        NoticeKind::RateLimited | NoticeKind::SlowMode => {
                            Some(SendRejection::RateLimited(text.clone()))
                        }
                        NoticeKind::Banned => Some(SendRejection::Banned(text.clone())),
                        _ => None,
                    };
                    if *kind == NoticeKind::RateLimited {
                        self.paused_until = Some(Instant::now() + RATE_LIMIT_PAUSE);
                    }
                    let rejection = rejection.or_else(|| {
                        // Other msg_* notices right after a send are its refusal
                        // (followers-only, emote-only, ...).
                        in_flight
                            .get(&ch)
                            .is_some_and(|q| !q.is_empty())
                            .then(|| SendRejection::Platform(text.clone()))
                    });
                    if let Some(r) = rejection
                        && let Some(f) = in_flight.get_mut(&ch).and_then(VecDeque::pop_front)
                    {
                        // Refused, so not in chat: the same text may go
                        // again (an operator's retry is no duplicate).
                        self.gate.forget_sent(&ch, &f.text);
                        if !self.result(f.draft_id, SendVerdict::Refused(r)).await {
                            stop = Some(SessionEnd::Stop);
                        }
                    }
                    let channel_status = match kind {
                        NoticeKind::ChannelUnavailable => Some(AdapterStatus::Down {
                            reason: text.clone(),
                        }),
                        NoticeKind::Banned => Some(AdapterStatus::ReadOnly {
                            reason: text.clone(),
                        }),
                        _ => None,
                    };
                    if let Some(st) = channel_status
                        && !self.status(Some(ch.clone()), st).await
                    {
                        stop = Some(SessionEnd::Stop);
                    }
                }
                Inbound::SelfState {
                    channel,
                    privileged,
                    ..
                } => {
                    self.gate.set_privileged(channel, *privileged);
                    if let Some(f) = in_flight.get_mut(channel).and_then(VecDeque::pop_front)
                        && !self.result(f.draft_id, SendVerdict::Sent).await
                    {
                        stop = Some(SessionEnd::Stop);
                    }
                }
                Inbound::RoomState {
                    channel,
                    slow_mode_s,
                    ..
                } => {
                    if let Some(s) = slow_mode_s {
                        self.gate.set_slow_mode(channel, *s);
                    }
                    // The first ROOMSTATE after JOIN means the join worked.
                    if joined_status.insert(channel.clone())
                        && !self
                            .status(Some(channel.clone()), self.login_status(authed))
                            .await
                    {
                        stop = Some(SessionEnd::Stop);
                    }
                }
                _ => {}
            }
            if !self.emit(ev).await {
                stop = Some(SessionEnd::Stop);
            }
        }
        stop
    }

    /// When the front of the queue may go out, or `None` when nothing waits.
    fn next_send_at(&self, now: Instant) -> Option<Instant> {
        self.pending.front()?;
        Some(match self.paused_until {
            Some(t) if t > now => t,
            _ => now,
        })
    }

    /// Writes the next queued send if the gate allows; else leaves it queued
    /// (the gate's answer sets the next attempt). `Ok(false)` = stop.
    async fn send_next(
        &mut self,
        outgoing: &mut LineWriter<tokio::io::WriteHalf<Box<dyn super::connect::IrcSocket>>>,
        in_flight: &mut HashMap<String, VecDeque<InFlight>>,
    ) -> Result<bool, String> {
        let now = Instant::now();
        // Drop sends that waited too long while disconnected or throttled.
        if !self.expire_pending().await {
            return Ok(false);
        }
        let Some(front) = self.pending.front() else {
            return Ok(true);
        };
        if let Err(why) = self.gate.check_duplicate(&front.channel, &front.text, now) {
            let id = front.draft_id;
            self.pending.pop_front();
            return Ok(self.result(id, SendVerdict::Refused(why)).await);
        }
        if let Err(ready) = self.gate.try_acquire(&front.channel, now) {
            self.paused_until = Some(ready);
            return Ok(true);
        }
        let Some(p) = self.pending.pop_front() else {
            return Ok(true);
        };
        let mut tags = IRCTags::new();
        if let Some(parent) = p.reply_to.as_ref().filter(|r| !r.is_empty()) {
            tags.0.insert("reply-parent-msg-id".into(), parent.clone());
        }
        let msg = IRCMessage::new(
            tags,
            None,
            "PRIVMSG".into(),
            vec![format!("#{}", p.channel), p.text.clone()],
        );
        outgoing
            .send(msg)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        self.gate.record_sent(&p.channel, &p.text, now);
        in_flight
            .entry(p.channel.clone())
            .or_default()
            .push_back(InFlight {
                draft_id: p.draft_id,
                at: now,
                text: p.text.clone(),
            });
        tracing::debug!(target: "clank::twitch", draft_id = p.draft_id, channel = %p.channel, "sent");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_normalised_and_odd_ones_dropped() {
        let ep = Endpoint::from_config("127.0.0.1:6667", false).unwrap();
        let o = TwitchOptions::new(
            vec![
                "#MikaVT".into(),
                "a,b".into(),
                "x y".into(),
                "".into(),
                "ok_1".into(),
            ],
            ep,
        );
        assert_eq!(o.channels, vec!["mikavt", "ok_1"]);
    }
}
