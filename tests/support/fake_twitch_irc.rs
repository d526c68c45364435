//! A loopback fake of Twitch's IRC server (plain TCP on 127.0.0.1) that
//! speaks the real protocol: it checks the `CAP REQ`, `PASS`, `NICK`, `JOIN`
//! handshake, welcomes with 001, answers JOIN with ROOMSTATE and USERSTATE,
//! answers PING, confirms each PRIVMSG with USERSTATE (as Twitch does) or
//! refuses it with a NOTICE, and lets a test inject any raw line or drop the
//! socket. Every line a client sends is recorded with its (tokio) time.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// One line a client sent.
#[derive(Debug, Clone)]
pub struct Received {
    /// 1-based connection number.
    pub conn: usize,
    pub line: String,
    pub at: Instant,
}

/// How the fake behaves; change it at any time through [`FakeTwitchIrc::config`].
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Tokens (without `oauth:`) refused with "Login authentication failed".
    pub rejected_tokens: HashSet<String>,
    /// USERSTATE badges for the bot (e.g. "moderator/1" makes it privileged).
    pub bot_badges: String,
    /// ROOMSTATE `slow` value sent on JOIN.
    pub slow_s: u64,
    /// Answer PING with PONG.
    pub answer_ping: bool,
    /// NOTICE msg-ids to answer the next PRIVMSGs with, in order, instead of USERSTATE.
    pub refuse_next: VecDeque<(String, String)>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            rejected_tokens: HashSet::new(),
            bot_badges: String::new(),
            slow_s: 0,
            answer_ping: true,
            refuse_next: VecDeque::new(),
        }
    }
}

enum ConnCmd {
    Line(String),
    Drop,
}

struct Shared {
    received: Mutex<Vec<Received>>,
    notify: Notify,
    conns: Mutex<Vec<mpsc::UnboundedSender<ConnCmd>>>,
    config: Mutex<FakeConfig>,
    accepted: Mutex<usize>,
}

pub struct FakeTwitchIrc {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTwitchIrc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeTwitchIrc {
    pub async fn start(config: FakeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            notify: Notify::new(),
            conns: Mutex::new(Vec::new()),
            config: Mutex::new(config),
            accepted: Mutex::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let conn = {
                    let mut n = s.accepted.lock().unwrap();
                    *n += 1;
                    *n
                };
                let (tx, rx) = mpsc::unbounded_channel();
                s.conns.lock().unwrap().push(tx);
                tokio::spawn(serve(s.clone(), conn, sock, rx));
            }
        });
        Self { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for `twitch.irc_addr`.
    pub fn irc_addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn config(&self, f: impl FnOnce(&mut FakeConfig)) {
        f(&mut self.shared.config.lock().unwrap());
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.shared.accepted.lock().unwrap()
    }

    /// Sends a raw line to every open connection.
    pub fn send(&self, line: &str) {
        for c in self.shared.conns.lock().unwrap().iter() {
            let _ = c.send(ConnCmd::Line(line.to_string()));
        }
    }

    /// Closes every open socket, like a network failure.
    pub fn drop_connections(&self) {
        for c in self.shared.conns.lock().unwrap().drain(..) {
            let _ = c.send(ConnCmd::Drop);
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Lines received that start with `prefix`.
    pub fn received_starting(&self, prefix: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.line.starts_with(prefix))
            .collect()
    }

    /// Waits until `n` received lines start with `prefix` (virtual time under
    /// `tokio::time::pause()`); panics after `limit`.
    pub async fn wait_for(&self, prefix: &str, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.shared.notify.notified();
            let got = self.received_starting(prefix);
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "fake IRC: wanted {n} lines starting with {prefix:?}, got {}: {:#?}",
                    got.len(),
                    self.received()
                );
            }
        }
    }
}

/// Under `tokio::time::pause()` the runtime advances the clock to the next
/// timer whenever it parks, even when the park only waited for loopback I/O
/// that was already on its way (tokio's auto-advance does not count I/O
/// readiness as activity). A ticker keeps the next timer at most `step` away
/// and, before each step, blocks the runtime thread for a few real
/// microseconds so the kernel can deliver loopback packets even on a loaded
/// machine: socket I/O, instant in reality, stays instant relative to
/// protocol timeouts measured in seconds.
pub fn spawn_time_ticker(step: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            std::thread::sleep(Duration::from_micros(50));
            tokio::time::sleep(step).await;
        }
    })
}

fn privmsg_channel(line: &str) -> Option<String> {
    let rest = line.split_once("PRIVMSG #")?.1;
    Some(rest.split(' ').next()?.to_string())
}

async fn serve(
    shared: Arc<Shared>,
    conn: usize,
    sock: TcpStream,
    mut rx: mpsc::UnboundedReceiver<ConnCmd>,
) {
    let (read, mut write) = sock.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut nick = String::new();
    let mut pass: Option<String> = None;
    let mut cap_ok = false;
    loop {
        let out: Vec<String> = tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { return };
                shared.received.lock().unwrap().push(Received { conn, line: line.clone(), at: Instant::now() });
                shared.notify.notify_waiters();
                let cfg = shared.config.lock().unwrap().clone();
                let (cmd, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                match cmd {
                    "CAP" => {
                        cap_ok = rest == "REQ :twitch.tv/tags twitch.tv/commands";
                        vec![format!(":tmi.twitch.tv CAP * ACK :{}", rest.trim_start_matches("REQ :"))]
                    }
                    "PASS" => { pass = Some(rest.trim_start_matches("oauth:").to_string()); vec![] }
                    "NICK" => {
                        nick = rest.to_string();
                        if !cap_ok {
                            vec![":tmi.twitch.tv NOTICE * :CAP REQ missing or wrong".into()]
                        } else if pass.as_ref().is_some_and(|p| cfg.rejected_tokens.contains(p)) {
                            let _ = write.write_all(b":tmi.twitch.tv NOTICE * :Login authentication failed\r\n").await;
                            return;
                        } else if pass.is_none() && !nick.starts_with("justinfan") {
                            let _ = write.write_all(b":tmi.twitch.tv NOTICE * :Improperly formatted auth\r\n").await;
                            return;
                        } else {
                            vec![
                                format!(":tmi.twitch.tv 001 {nick} :Welcome, GLHF!"),
                                format!(":tmi.twitch.tv 376 {nick} :>"),
                                format!("@badge-info=;badges=;color=;display-name={nick};emote-sets=0;user-id=1;user-type= :tmi.twitch.tv GLOBALUSERSTATE"),
                            ]
                        }
                    }
                    "JOIN" => rest
                        .split(',')
                        .map(|c| c.trim().trim_start_matches('#').to_string())
                        .flat_map(|c| vec![
                            format!(":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{c}"),
                            format!("@emote-only=0;followers-only=-1;r9k=0;room-id=1;slow={};subs-only=0 :tmi.twitch.tv ROOMSTATE #{c}", cfg.slow_s),
                            format!("@badge-info=;badges={};color=;display-name={nick};emote-sets=0;mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE #{c}", cfg.bot_badges),
                        ])
                        .collect(),
                    "PING" if cfg.answer_ping => vec![format!(":tmi.twitch.tv PONG tmi.twitch.tv {rest}")],
                    _ if line.contains("PRIVMSG #") => {
                        let ch = privmsg_channel(&line).unwrap_or_default();
                        let refusal = shared.config.lock().unwrap().refuse_next.pop_front();
                        match refusal {
                            Some((id, text)) => vec![format!("@msg-id={id} :tmi.twitch.tv NOTICE #{ch} :{text}")],
                            None => vec![format!("@badge-info=;badges={};color=;display-name={nick};emote-sets=0;mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE #{ch}", cfg.bot_badges)],
                        }
                    }
                    _ => vec![],
                }
            }
            cmd = rx.recv() => match cmd {
                Some(ConnCmd::Line(l)) => vec![l],
                Some(ConnCmd::Drop) | None => return,
            }
        };
        for l in out {
            if write
                .write_all(format!("{l}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    }
}
