//! The YouTube adapter's supervised session: find the live chat (of the
//! configured video, of the logged-in owner's active broadcast, or of a
//! channel's live video; status "waiting for live" until it starts), read it
//! over the `liveChat/messages/stream` connection, or, when streaming is
//! refused, poll `liveChatMessages.list` never faster than the server's
//! `pollingIntervalMillis` and slower when the quota governor says the
//! day's budget would not last, persist the
//! page token so a restart resumes without duplicates or a gap, send
//! replies with `liveChatMessages.insert`, and report every failure as a
//! status or notice, then back off and try again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::api::{Api, ApiError, Lookup};
use super::config::YoutubeConfig;
use super::map::Mapper;
use super::quota::{Governor, Pace, Purpose, pacific_day, until_pacific_midnight};
use crate::adapters::Backoff;
use crate::adapters::{
    AdapterStatus, Inbound, NoticeKind, Outbound, PlatformAdapter, SendRejection, SendVerdict,
};
use crate::auth::CredentialSource;
use crate::model::Platform;
use crate::secret::Secret;
use crate::store::Store;

const P: Platform = Platform::Youtube;

/// What the server's interval is taken to be when a page does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// A refused API key needs the operator; look again this rarely.
const KEY_REFUSED_RETRY: Duration = Duration::from_secs(300);

/// A channel's live video is looked up this rarely without an owner login
/// (`search.list` costs 100 units).
const SEARCH_RETRY: Duration = Duration::from_secs(900);

/// Everything the adapter needs to run.
#[derive(Debug, Clone)]
pub struct YoutubeOptions {
    /// The configured video; with `channel`, the channel as configured. It
    /// names YouTube's one "channel" in the console and routes sends.
    pub video_id: String,
    /// Find the live video of this channel (`UC...` or `@handle`) instead.
    pub channel: Option<String>,
    /// Read by streaming first (fall back to polling when refused).
    pub streaming: bool,
    /// A stream silent this long is opened again (`None`: never; tests on
    /// a paused clock, where a pending timer would fire at once).
    pub stream_idle: Option<Duration>,
    pub search_cost: u32,
    pub api_url: String,
    pub api_key: Option<Secret>,
    pub daily_quota: u32,
    pub list_cost: u32,
    pub insert_cost: u32,
    pub videos_list_cost: u32,
    pub stream_hours: f64,
    pub send_reserve: u32,
    pub waiting_retry: Duration,
    pub max_results: u32,
    /// Longest reply sent, in characters (YouTube's limit is 200).
    pub max_reply_chars: usize,
    pub backoff: Backoff,
    pub request_timeout: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
    /// The wall time when the adapter starts; its "now" moves on with
    /// tokio's clock from there, so paused test time drives the quota day
    /// and projection too. `None`: the real time.
    pub wall_start: Option<DateTime<Utc>>,
}

impl YoutubeOptions {
    /// From the `[youtube]` section; `None` when no video is configured.
    pub fn from_config(c: &YoutubeConfig) -> Option<Self> {
        let (video_id, channel) = match (&c.video_id, &c.channel) {
            (Some(v), _) => (v.clone(), None),
            (None, Some(ch)) => (ch.clone(), Some(ch.clone())),
            (None, None) => return None,
        };
        Some(Self {
            video_id,
            channel,
            streaming: c.streaming,
            stream_idle: Some(Duration::from_secs(300)),
            search_cost: c.search_cost,
            api_url: c.api_url.clone(),
            api_key: c.api_key.clone().filter(|k| !k.expose().trim().is_empty()),
            daily_quota: c.daily_quota,
            list_cost: c.list_cost,
            insert_cost: c.insert_cost,
            videos_list_cost: c.videos_list_cost,
            stream_hours: c.stream_hours,
            send_reserve: c.send_reserve,
            waiting_retry: Duration::from_secs(c.waiting_retry_s),
            max_results: c.max_results,
            max_reply_chars: Platform::Youtube.max_message_chars(),
            backoff: Backoff {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(120),
            },
            request_timeout: Duration::from_secs(30),
            seed: 0,
            wall_start: None,
        })
    }
}

/// The YouTube adapter as a [`PlatformAdapter`].
pub struct YoutubeAdapter {
    pub options: YoutubeOptions,
    pub store: Store,
    /// The logged-in account that sends; `None` reads only.
    pub credentials: Option<Arc<dyn CredentialSource>>,
}

impl PlatformAdapter for YoutubeAdapter {
    fn name(&self) -> &'static str {
        "youtube"
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
            self.store,
            self.credentials,
            inbound,
            outbound,
            cancel,
        ))
    }
}

/// The store key of the last page token of one chat.
pub fn page_token_key(chat_id: &str) -> String {
    format!("page_token:{chat_id}")
}

/// The store key of the units used on one Pacific day.
pub fn quota_key(day: &str) -> String {
    format!("quota_used:{day}")
}

/// Runs the adapter until `cancel` fires or the core drops its receiver.
pub async fn run(
    opts: YoutubeOptions,
    store: Store,
    creds: Option<Arc<dyn CredentialSource>>,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<Outbound>,
    cancel: CancellationToken,
) {
    let wall_base = opts.wall_start.unwrap_or_else(Utc::now);
    let day = pacific_day(wall_base);
    let used = match store.adapter_state_async(P, &quota_key(&day)).await {
        Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(e) => {
            tracing::warn!(target: "clank::youtube", error = %e, "cannot read the day's quota usage; counting from 0");
            0
        }
    };
    let gov = Governor::new(day, used, opts.daily_quota, opts.send_reserve);
    let mut s = Session {
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        api: None,
        gov,
        opts,
        store,
        creds,
        tx: inbound,
        rx: outbound,
        rx_open: true,
        cancel,
        mapper: Mapper::default(),
        chat_id: None,
        channel_id: None,
        stream_refused: false,
        page_token: None,
        wall_base,
        inst_base: Instant::now(),
        stream_start: None,
        slowed: false,
        last_server: DEFAULT_INTERVAL,
        streams_closed: 0,
        closed_life: Duration::ZERO,
    };
    s.supervise().await;
}

struct Session {
    opts: YoutubeOptions,
    store: Store,
    creds: Option<Arc<dyn CredentialSource>>,
    api: Option<Api>,
    tx: mpsc::Sender<Inbound>,
    rx: mpsc::Receiver<Outbound>,
    rx_open: bool,
    cancel: CancellationToken,
    gov: Governor,
    mapper: Mapper,
    rng: ChaCha8Rng,
    chat_id: Option<String>,
    /// The configured channel's id, once a handle was looked up.
    channel_id: Option<String>,
    /// Google refused the stream: poll for the rest of the run.
    stream_refused: bool,
    page_token: Option<String>,
    wall_base: DateTime<Utc>,
    inst_base: Instant,
    stream_start: Option<Instant>,
    /// Whether the last pace was slower than the server asked (warn once).
    slowed: bool,
    /// The server's latest `pollingIntervalMillis`.
    last_server: Duration,
    /// Stream connections that ended, and how long they lived in all: a
    /// stream's cost per hour is its reconnect rate, not the polling interval.
    streams_closed: u32,
    closed_life: Duration,
}

/// How reading one chat ended.
enum ReadEnd {
    /// Shutdown, or the core went away.
    Stop,
    /// `offlineAt`, `chatEndedEvent` or `liveChatEnded`: nothing more comes.
    Ended,
    /// Look the video's chat up again after `delay`, saying `status`.
    Relookup(Duration, AdapterStatus),
    /// A transient failure: back off, then resume from the stored token.
    Lost(String),
}

/// How one streaming connection ended.
enum Streamed {
    End(ReadEnd),
    /// Go round the read loop again (the stream was refused: poll; or an
    /// error the loop top handles).
    Again,
    /// Google closed it after a page; the server's interval.
    Closed(Duration),
}

/// Google does not serve the stream to us (not found, not implemented, or
/// not allowed for this key): polling is the way.
fn refuses_streaming(e: &ApiError) -> bool {
    match (e.status(), e.reason()) {
        (
            Some(403),
            "quotaExceeded" | "dailyLimitExceeded" | "liveChatEnded" | "liveChatDisabled",
        ) => false,
        (Some(404), "liveChatNotFound") => false,
        // A bad key is the operator's to fix; polling would be refused too.
        (Some(400), "keyInvalid") => false,
        (Some(400 | 403 | 404 | 405 | 501), _) => true,
        _ => false,
    }
}

/// What looking for the chat found.
enum Found {
    Stop,
    Chat(String),
    Ended(String),
    Retry(Duration, AdapterStatus),
}

impl Session {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.inst_base);
        self.wall_base + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    async fn emit(&self, ev: Inbound) -> bool {
        self.tx.send(ev).await.is_ok()
    }

    async fn status(&self, status: AdapterStatus) -> bool {
        tracing::info!(target: "clank::youtube", %status, "youtube status");
        // The adapter is one connection for one chat: its state is the
        // platform's (the header shows it).
        self.emit(Inbound::Status {
            platform: P,
            channel: None,
            status,
        })
        .await
    }

    async fn notice(&self, kind: NoticeKind, text: String) -> bool {
        self.emit(Inbound::Notice {
            platform: P,
            channel: Some(self.opts.video_id.clone()),
            kind,
            text,
        })
        .await
    }

    async fn supervise(&mut self) {
        if !self.status(AdapterStatus::Connecting).await {
            return;
        }
        let Some(key) = self.opts.api_key.clone() else {
            let why = "no YouTube API key: the official API has no anonymous access; \
                       set YOUTUBE_API_KEY (see the README's YouTube section)";
            if self
                .status(AdapterStatus::Down { reason: why.into() })
                .await
            {
                self.idle().await;
            }
            return;
        };
        match Api::with_stream_idle(
            &self.opts.api_url,
            Some(key),
            self.opts.request_timeout,
            self.opts.stream_idle,
        ) {
            Ok(api) => self.api = Some(api),
            Err(e) => {
                let reason = format!("cannot build the HTTP client: {e}");
                if self.status(AdapterStatus::Down { reason }).await {
                    self.idle().await;
                }
                return;
            }
        }
        let mut attempt: u32 = 0;
        loop {
            let chat = match self.find_chat().await {
                Found::Stop => return,
                Found::Ended(reason) => {
                    if self.status(AdapterStatus::Down { reason }).await {
                        self.idle().await;
                    }
                    return;
                }
                Found::Retry(delay, status) => {
                    if !self.status(status).await || !self.wait(delay).await {
                        return;
                    }
                    continue;
                }
                Found::Chat(c) => c,
            };
            if self.chat_id.as_deref() != Some(chat.as_str()) {
                self.page_token = match self
                    .store
                    .adapter_state_async(P, &page_token_key(&chat))
                    .await
                {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(target: "clank::youtube", error = %e, "cannot read the stored page token; starting from the chat's recent history");
                        None
                    }
                };
                self.chat_id = Some(chat.clone());
            }
            match self.read(&chat, &mut attempt).await {
                ReadEnd::Stop => return,
                ReadEnd::Ended => {
                    self.chat_id = None;
                    let reason = "stream ended".to_string();
                    if self.status(AdapterStatus::Down { reason }).await {
                        self.idle().await;
                    }
                    return;
                }
                ReadEnd::Relookup(delay, status) => {
                    if !self.status(status).await || !self.wait(delay).await {
                        return;
                    }
                }
                ReadEnd::Lost(reason) => {
                    let delay = self.opts.backoff.delay(attempt, &mut self.rng);
                    attempt = attempt.saturating_add(1);
                    let status = AdapterStatus::Reconnecting {
                        in_s: delay.as_secs().max(1),
                        reason,
                    };
                    if !self.status(status).await || !self.wait(delay).await {
                        return;
                    }
                }
            }
        }
    }

    /// Answers sends (they fail: nothing to send to) until shutdown.
    async fn idle(&mut self) {
        while self.wait(Duration::from_secs(3600)).await {}
    }

    /// Keeps the day's count and rolls it over at midnight Pacific.
    fn roll_day(&mut self) {
        let day = pacific_day(self.now());
        if self.gov.roll_to(&day) {
            tracing::info!(target: "clank::youtube", %day, "a new quota day");
        }
    }

    /// Counts a call before it is made (Google charges failed calls too)
    /// and persists the day's usage, so a restart does not start from 0.
    async fn spend(&mut self, cost: u32) {
        self.gov.spend(cost);
        self.persist_usage().await;
        // The header's figures move with every call (a closed channel is
        // noticed by the caller's next emit).
        let _ = self.quota_notice().await;
    }

    async fn persist_usage(&self) {
        let key = quota_key(&self.gov.day);
        if let Err(e) = self
            .store
            .set_adapter_state_async(P, &key, &self.gov.used.to_string())
            .await
        {
            tracing::warn!(target: "clank::youtube", error = %e, "cannot persist the quota usage");
        }
    }

    fn until_reset(&self) -> Duration {
        until_pacific_midnight(self.now())
    }

    fn reset_status(&self, what: &str) -> (Duration, AdapterStatus) {
        let until = self.until_reset();
        let status = AdapterStatus::Reconnecting {
            in_s: until.as_secs().max(1),
            reason: format!(
                "{what}: the daily quota is spent ({}); it resets at midnight Pacific time",
                self.gov.summary(None)
            ),
        };
        (until, status)
    }

    async fn find_chat(&mut self) -> Found {
        self.roll_day();
        if let Some(channel) = self.opts.channel.clone() {
            return match self.creds.clone() {
                Some(creds) => self.find_owner_chat(creds).await,
                None => self.find_channel_chat(&channel).await,
            };
        }
        let video = self.opts.video_id.clone();
        self.find_video_chat(&video).await
    }

    /// The chat of the logged-in owner's active broadcast (1 unit a look).
    async fn find_owner_chat(&mut self, creds: Arc<dyn CredentialSource>) -> Found {
        let cost = self.opts.videos_list_cost;
        if !self.gov.can_spend(cost, Purpose::Read) {
            let (d, s) = self.reset_status("cannot look for the live chat");
            return Found::Retry(d, s);
        }
        let token = match creds.credentials().await {
            Ok(c) => c.token,
            Err(e) => return self.login_trouble(e),
        };
        self.spend(cost).await;
        let Some(api) = self.api.clone() else {
            return Found::Stop;
        };
        let r = tokio::select! {
            _ = self.cancel.cancelled() => return Found::Stop,
            r = api.my_active_broadcast(&token) => r,
        };
        let r = match r {
            Err(e) if e.status() == Some(401) => match creds.refresh_after_failure().await {
                Ok(c) => {
                    self.spend(cost).await;
                    api.my_active_broadcast(&c.token).await
                }
                Err(a) => return self.login_trouble(a),
            },
            r => r,
        };
        let retry = self.opts.waiting_retry;
        match r {
            Ok(Some(b)) => {
                tracing::info!(target: "clank::youtube", video = %b.video_id, "found the owner's live broadcast");
                Found::Chat(b.chat_id)
            }
            Ok(None) => Found::Retry(
                retry,
                AdapterStatus::Reconnecting {
                    in_s: retry.as_secs(),
                    reason: "waiting for live: the logged-in channel has no active broadcast"
                        .into(),
                },
            ),
            Err(e) => self.classify(e, "looking for the owner's live broadcast"),
        }
    }

    fn login_trouble(&self, e: crate::auth::AuthError) -> Found {
        Found::Retry(
            KEY_REFUSED_RETRY,
            AdapterStatus::Down {
                reason: format!("YouTube login: {}", e.for_platform(P)),
            },
        )
    }

    /// A channel's live video without an owner login: the handle's id
    /// (`channels.list`, once), then `search.list` (100 units) on a slow
    /// cadence, then `videos.list` for its chat.
    async fn find_channel_chat(&mut self, channel: &str) -> Found {
        let Some(api) = self.api.clone() else {
            return Found::Stop;
        };
        let id = match (&self.channel_id, channel.strip_prefix('@')) {
            (Some(id), _) => id.clone(),
            (None, None) => channel.to_string(),
            (None, Some(_)) => {
                let cost = self.opts.videos_list_cost;
                if !self.gov.can_spend(cost, Purpose::Read) {
                    let (d, s) = self.reset_status("cannot look the channel up");
                    return Found::Retry(d, s);
                }
                self.spend(cost).await;
                let r = tokio::select! {
                    _ = self.cancel.cancelled() => return Found::Stop,
                    r = api.channel_for_handle(channel) => r,
                };
                match r {
                    Ok(Some(id)) => id,
                    Ok(None) => {
                        return Found::Retry(
                            KEY_REFUSED_RETRY,
                            AdapterStatus::Down {
                                reason: format!(
                                    "no YouTube channel has the handle {channel:?} (youtube.channel)"
                                ),
                            },
                        );
                    }
                    Err(e) => return self.classify(e, "looking the channel's handle up"),
                }
            }
        };
        self.channel_id = Some(id.clone());
        let cost = self.opts.search_cost;
        if !self.gov.can_spend(cost, Purpose::Read) {
            let (d, s) = self.reset_status("cannot search for the live video");
            return Found::Retry(d, s);
        }
        self.spend(cost).await;
        let r = tokio::select! {
            _ = self.cancel.cancelled() => return Found::Stop,
            r = api.search_live(&id) => r,
        };
        let retry = self.opts.waiting_retry.max(SEARCH_RETRY);
        match r {
            Ok(Some(video)) => self.find_video_chat(&video).await,
            Ok(None) => Found::Retry(
                retry,
                AdapterStatus::Reconnecting {
                    in_s: retry.as_secs(),
                    reason: format!(
                        "waiting for live: channel {channel} is not live (each look costs {cost} \
                         units; `clank login youtube` as the owner makes it 1)"
                    ),
                },
            ),
            Err(e) => self.classify(e, "searching for the channel's live video"),
        }
    }

    async fn find_video_chat(&mut self, video: &str) -> Found {
        let cost = self.opts.videos_list_cost;
        if !self.gov.can_spend(cost, Purpose::Read) {
            let (d, s) = self.reset_status("cannot look for the live chat");
            return Found::Retry(d, s);
        }
        self.spend(cost).await;
        let Some(api) = self.api.clone() else {
            return Found::Stop;
        };
        let r = tokio::select! {
            _ = self.cancel.cancelled() => return Found::Stop,
            r = api.lookup(video) => r,
        };
        let retry = self.opts.waiting_retry;
        match r {
            Ok(Lookup::Live(chat)) => Found::Chat(chat),
            Ok(Lookup::NotLive) => Found::Retry(
                retry,
                AdapterStatus::Reconnecting {
                    in_s: retry.as_secs(),
                    reason: "waiting for live: the video is not live yet".into(),
                },
            ),
            Ok(Lookup::Ended) => Found::Ended("stream ended".into()),
            Ok(Lookup::NotFound) => Found::Retry(
                retry.max(KEY_REFUSED_RETRY),
                AdapterStatus::Down {
                    reason: format!(
                        "video {video:?} not found (private, deleted or a typo in youtube.video_id)"
                    ),
                },
            ),
            Err(e) => self.classify(e, "looking for the live chat"),
        }
    }

    /// What a failed call means for the session.
    fn classify(&mut self, e: ApiError, doing: &str) -> Found {
        match (e.status(), e.reason()) {
            (Some(403), "quotaExceeded" | "dailyLimitExceeded") => {
                self.gov.exhausted();
                let (d, s) = self.reset_status(doing);
                Found::Retry(d, s)
            }
            (Some(400 | 401 | 403), _) => Found::Retry(
                KEY_REFUSED_RETRY,
                AdapterStatus::Down {
                    reason: format!(
                        "{doing}: Google refused the request ({e}); check YOUTUBE_API_KEY and that \
                         the YouTube Data API v3 is enabled for its project"
                    ),
                },
            ),
            _ => {
                let delay = self.opts.backoff.delay(0, &mut self.rng);
                Found::Retry(
                    delay,
                    AdapterStatus::Reconnecting {
                        in_s: delay.as_secs().max(1),
                        reason: format!("{doing}: {e}"),
                    },
                )
            }
        }
    }

    async fn read(&mut self, chat: &str, attempt: &mut u32) -> ReadEnd {
        let mut announced = false;
        loop {
            if self.cancel.is_cancelled() {
                return ReadEnd::Stop;
            }
            self.roll_day();
            // A stream connection costs what a list call does.
            let cost = self.opts.list_cost;
            if !self.gov.can_spend(cost, Purpose::Read) {
                let (d, s) = self.reset_status("reading paused");
                if self.gov.used >= self.gov.budget.saturating_sub(self.gov.reserve) {
                    self.persist_usage().await;
                }
                if !self.status(s).await || !self.wait(d).await {
                    return ReadEnd::Stop;
                }
                announced = false;
                continue;
            }
            self.spend(cost).await;
            let Some(api) = self.api.clone() else {
                return ReadEnd::Stop;
            };
            let server = if self.opts.streaming && !self.stream_refused {
                match self.stream_once(&api, chat, attempt, &mut announced).await {
                    Streamed::End(end) => return end,
                    Streamed::Again => continue,
                    Streamed::Closed(server) => server,
                }
            } else {
                let token = self.page_token.clone();
                let r = tokio::select! {
                    _ = self.cancel.cancelled() => return ReadEnd::Stop,
                    r = api.list(chat, token.as_deref(), self.opts.max_results) => r,
                };
                let page = match r {
                    Ok(p) => p,
                    Err(e) => match self.read_error(e, chat).await {
                        Some(end) => return end,
                        None => continue,
                    },
                };
                *attempt = 0;
                match self.take_page(page, chat, &mut announced).await {
                    Ok(server) => server,
                    Err(end) => return end,
                }
            };
            // Polling, or a stream Google closed: the next call waits as a
            // poll would, so a stream that answers once and closes can
            // never spend faster than polling.
            let Some(delay) = self.pace(server).await else {
                return ReadEnd::Stop;
            };
            if let Some(delay) = delay
                && !self.wait(delay).await
            {
                return ReadEnd::Stop;
            }
        }
    }

    /// One streaming connection, from the stored page token.
    async fn stream_once(
        &mut self,
        api: &Api,
        chat: &str,
        attempt: &mut u32,
        announced: &mut bool,
    ) -> Streamed {
        let token = self.page_token.clone();
        let r = tokio::select! {
            _ = self.cancel.cancelled() => return Streamed::End(ReadEnd::Stop),
            r = api.stream(chat, token.as_deref(), self.opts.max_results, None) => r,
        };
        let opened = Instant::now();
        let mut stream = match r {
            Ok(s) => s,
            Err(e) if refuses_streaming(&e) => {
                self.stream_refused = true;
                let text = format!(
                    "YouTube chat streaming is not available ({e}); polling liveChatMessages.list instead"
                );
                tracing::warn!(target: "clank::youtube", "{text}");
                if !self.notice(NoticeKind::Other, text).await {
                    return Streamed::End(ReadEnd::Stop);
                }
                return Streamed::Again;
            }
            Err(e) => {
                return match self.read_error(e, chat).await {
                    Some(end) => Streamed::End(end),
                    None => Streamed::Again,
                };
            }
        };
        let mut server = None;
        let end = loop {
            let next = tokio::select! {
                _ = self.cancel.cancelled() => return Streamed::End(ReadEnd::Stop),
                p = stream.next_page() => p,
                out = self.rx.recv(), if self.rx_open => {
                    match out {
                        Some(out) => {
                            if !self.handle_send(out).await {
                                return Streamed::End(ReadEnd::Stop);
                            }
                        }
                        None => self.rx_open = false,
                    }
                    continue;
                }
            };
            match next {
                Ok(Some(page)) => {
                    *attempt = 0;
                    match self.take_page(page, chat, announced).await {
                        Ok(s) => server = Some(s),
                        Err(end) => return Streamed::End(end),
                    }
                }
                // Closed after giving something: open the next one from
                // the last token, paced like a poll.
                Ok(None) => {
                    break match server {
                        Some(s) => Streamed::Closed(s),
                        None => Streamed::End(ReadEnd::Lost(
                            "the chat stream closed before its first message".into(),
                        )),
                    };
                }
                Err(e) => break Streamed::End(ReadEnd::Lost(format!("chat stream: {e}"))),
            }
        };
        self.streams_closed += 1;
        self.closed_life += Instant::now().saturating_duration_since(opened);
        end
    }

    /// Hands one page over: announces the connection on the first, emits
    /// the events, stores the page token. `Ok(server interval)`, or how
    /// reading ends.
    async fn take_page(
        &mut self,
        page: super::api::Page,
        chat: &str,
        announced: &mut bool,
    ) -> Result<Duration, ReadEnd> {
        let server = page.polling_interval.unwrap_or(DEFAULT_INTERVAL);
        if !*announced {
            *announced = true;
            let status = if self.creds.is_some() {
                AdapterStatus::Connected
            } else {
                AdapterStatus::ReadOnly {
                    reason: "no YouTube login; run `clank login youtube` to send".into(),
                }
            };
            if !self.status(status).await {
                return Err(ReadEnd::Stop);
            }
            let mode = if self.opts.streaming && !self.stream_refused {
                "streaming"
            } else {
                "polling"
            };
            tracing::info!(target: "clank::youtube", mode, chat, "reading the live chat");
        }
        self.last_server = server;
        let now = self.now();
        self.stream_start.get_or_insert_with(Instant::now);
        let mapped = self.mapper.map_items(&page.items, &self.opts.video_id, now);
        if mapped.skipped > 0 {
            tracing::debug!(target: "clank::youtube", skipped = mapped.skipped, "chat items without an id");
        }
        for ev in mapped.events {
            if !self.emit(ev).await {
                return Err(ReadEnd::Stop);
            }
        }
        // Persisted after the page's events are handed over: a crash in
        // between replays the page (the store drops the duplicates), it
        // never skips one.
        if let Some(t) = page.next_page_token {
            if let Err(e) = self
                .store
                .set_adapter_state_async(P, &page_token_key(chat), &t)
                .await
            {
                tracing::warn!(target: "clank::youtube", error = %e, "cannot persist the page token");
            }
            self.page_token = Some(t);
        }
        if mapped.ended || page.offline_at.is_some() {
            return Err(ReadEnd::Ended);
        }
        Ok(server)
    }

    /// How often reading spends `list_cost`: every poll, or, streaming,
    /// every reconnect (the average life of the connections that ended;
    /// until one has, the stream is taken to last to the reset).
    fn read_interval(&self) -> Duration {
        if !self.opts.streaming || self.stream_refused {
            return self.last_server;
        }
        match self.streams_closed {
            0 => self.until_reset(),
            n => (self.closed_life / n).max(self.last_server),
        }
    }

    /// The day's quota as the console header shows it.
    async fn quota_notice(&self) -> bool {
        let end = self.gov.projected_end(
            self.now(),
            self.opts.list_cost,
            self.read_interval(),
            self.until_reset(),
        );
        self.notice(NoticeKind::Quota, self.gov.header(end)).await
    }

    /// How long to wait before the next read: `None` on shutdown,
    /// `Some(None)` when reading's share is spent (the loop top waits for
    /// the reset).
    async fn pace(&mut self, server: Duration) -> Option<Option<Duration>> {
        let cost = self.opts.list_cost;
        let now = self.now();
        let stream_start = *self.stream_start.get_or_insert_with(Instant::now);
        let elapsed = Instant::now().saturating_duration_since(stream_start);
        let must_last =
            Duration::from_secs_f64(self.opts.stream_hours * 3600.0).saturating_sub(elapsed);
        let until_reset = self.until_reset();
        match self.gov.pace(cost, server, must_last, until_reset) {
            Pace::Wait { delay, slowed } => {
                if slowed && !self.slowed {
                    let end = self.gov.projected_end(now, cost, server, until_reset);
                    let text = format!(
                        "polling slowed to every {:.0} s (the server allows {:.1} s) so the \
                         quota lasts {:.1} h: {}",
                        delay.as_secs_f64(),
                        server.as_secs_f64(),
                        must_last.as_secs_f64() / 3600.0,
                        self.gov.summary(end)
                    );
                    tracing::warn!(target: "clank::youtube", "{text}");
                    if !self.notice(NoticeKind::RateLimited, text).await {
                        return None;
                    }
                }
                self.slowed = slowed;
                Some(Some(delay))
            }
            Pace::Exhausted { .. } => Some(None),
        }
    }

    /// `None`: try again at once (the loop top decides); else how it ends.
    async fn read_error(&mut self, e: ApiError, chat: &str) -> Option<ReadEnd> {
        let retry = self.opts.waiting_retry;
        match (e.status(), e.reason()) {
            (Some(403), "quotaExceeded" | "dailyLimitExceeded") => {
                self.gov.exhausted();
                self.persist_usage().await;
                None
            }
            (Some(403), "liveChatEnded") => Some(ReadEnd::Ended),
            (Some(403), "liveChatDisabled") => Some(ReadEnd::Relookup(
                retry,
                AdapterStatus::Down {
                    reason: "the channel owner disabled the live chat; looking again later".into(),
                },
            )),
            (Some(404), _) => {
                self.chat_id = None;
                Some(ReadEnd::Relookup(
                    retry,
                    AdapterStatus::Reconnecting {
                        in_s: retry.as_secs(),
                        reason: format!("live chat {chat} not found; looking for it again"),
                    },
                ))
            }
            // Google's reason for a stale token is not documented for this
            // method, so any 400 but a refused key counts as one.
            (Some(400), reason) if self.page_token.is_some() && reason != "keyInvalid" => {
                // A stale token: start over from the chat's recent history
                // (the store drops what we already have).
                self.page_token = None;
                let _ = self
                    .notice(
                        NoticeKind::Other,
                        format!("the saved YouTube page token was refused ({e}); reading from the recent history"),
                    )
                    .await;
                None
            }
            (Some(400 | 401 | 403), _) => Some(ReadEnd::Relookup(
                KEY_REFUSED_RETRY,
                AdapterStatus::Down {
                    reason: format!(
                        "Google refused the request ({e}); check YOUTUBE_API_KEY and that the \
                         YouTube Data API v3 is enabled for its project"
                    ),
                },
            )),
            _ => Some(ReadEnd::Lost(e.to_string())),
        }
    }

    /// Sleeps `delay` while answering sends; `false` on shutdown or when
    /// the core is gone.
    async fn wait(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return false,
                _ = tokio::time::sleep_until(deadline) => return !self.tx.is_closed(),
                out = self.rx.recv(), if self.rx_open => match out {
                    Some(out) => {
                        if !self.handle_send(out).await {
                            return false;
                        }
                    }
                    None => self.rx_open = false,
                },
            }
        }
    }

    async fn handle_send(&mut self, out: Outbound) -> bool {
        let Outbound::Send {
            draft_id,
            platform,
            channel,
            text,
            ..
        } = out;
        let verdict = self.send_verdict(platform, &channel, &text).await;
        tracing::info!(target: "clank::youtube", draft_id, %verdict, "send verdict");
        self.emit(Inbound::SendResult { draft_id, verdict }).await
    }

    async fn send_verdict(&mut self, platform: Platform, channel: &str, text: &str) -> SendVerdict {
        use SendRejection as R;
        let refused = SendVerdict::Refused;
        if platform != P || channel != self.opts.video_id {
            return refused(R::UnknownChannel(channel.to_string()));
        }
        let Some(creds) = self.creds.clone() else {
            return refused(R::ReadOnly);
        };
        let text = match clean_outgoing(text, self.opts.max_reply_chars) {
            Ok(t) => t,
            Err(r) => return refused(r),
        };
        let (Some(chat), Some(api)) = (self.chat_id.clone(), self.api.clone()) else {
            return SendVerdict::Failed("not in a live chat yet (waiting for live?)".into());
        };
        self.roll_day();
        let cost = self.opts.insert_cost;
        let mut refreshed = false;
        let mut token = match creds.credentials().await {
            Ok(c) => c.token,
            Err(e) if e.needs_login() => {
                return refused(R::Platform(format!("YouTube login: {}", e.for_platform(P))));
            }
            Err(e) => return SendVerdict::Failed(format!("YouTube login: {e}")),
        };
        loop {
            if !self.gov.can_spend(cost, Purpose::Send) {
                return refused(R::Platform(format!(
                    "not sent: the daily YouTube quota is spent ({})",
                    self.gov.summary(None)
                )));
            }
            self.spend(cost).await;
            let e = match api.insert(&chat, &text, &token).await {
                Ok(()) => return SendVerdict::Sent,
                Err(e) => e,
            };
            return match (e.status(), e.reason()) {
                (Some(401), _) if !refreshed => {
                    refreshed = true;
                    match creds.refresh_after_failure().await {
                        Ok(c) => {
                            token = c.token;
                            continue;
                        }
                        Err(a) => {
                            refused(R::Platform(format!("YouTube login: {}", a.for_platform(P))))
                        }
                    }
                }
                (_, "rateLimitExceeded") | (Some(429), _) => refused(R::RateLimited(e.to_string())),
                (_, "quotaExceeded" | "dailyLimitExceeded") => {
                    self.gov.exhausted();
                    self.persist_usage().await;
                    refused(R::Platform(format!("quota exceeded: {e}")))
                }
                (_, "messageTextInvalid") => refused(R::Refused(format!("YouTube: {e}"))),
                (Some(403), "forbidden") => refused(R::Banned(e.to_string())),
                (Some(400..=499), _) => refused(R::Platform(e.to_string())),
                (Some(_), _) => SendVerdict::Failed(e.to_string()),
                (None, _) => match e {
                    ApiError::Network {
                        maybe_sent: true, ..
                    } => SendVerdict::Unconfirmed(e.to_string()),
                    _ => SendVerdict::Failed(e.to_string()),
                },
            };
        }
    }
}

/// The text as it will be sent, or why it will not be.
pub fn clean_outgoing(text: &str, max_chars: usize) -> Result<String, SendRejection> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(SendRejection::Refused("empty message".into()));
    }
    let len = cleaned.chars().count();
    if len > max_chars {
        return Err(SendRejection::Refused(format!(
            "{len} characters is longer than the {max_chars} allowed on YouTube"
        )));
    }
    Ok(cleaned.to_string())
}
