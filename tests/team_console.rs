//! Team mode with real consoles: two `clank` processes in tmux on one
//! throwaway PostgreSQL database, one loopback fake Twitch IRC (logged in
//! through the fake OAuth) and one fake Ollama. The first console reads
//! the channel and drafts; the second shows the same draft, approved with
//! real key presses on either console (or on both at the same moment), and
//! the fake IRC receives the text exactly once. After `kill -9` of a
//! reader that never sent a draft the other console approved, the new
//! reader sends it, once.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::fake_ollama::{self, Reply};
use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc};
use support::fake_twitch_oauth::{DeviceOutcome, FakeTwitchOAuth};
use support::live::{self, PATIENCE};
use support::tmux::Tmux;

const ANSWER: &str = "the next boss is the twin dragons, stay tuned";

struct Console {
    tmux: Tmux,
    log: PathBuf,
    pid: u32,
}

impl Console {
    /// Starts `clank` (the console) in its own tmux server against `url`.
    async fn start(root: &Path, name: &str, cfg: &Path, url: &str) -> Console {
        let q = |p: &Path| format!("'{}'", p.display());
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("clank.log");
        let pid_file = dir.join("clank.pid");
        let script = format!(
            r#"export HOME={home} XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data XDG_STATE_HOME={home}/state XDG_CACHE_HOME={home}/cache
export DATABASE_URL='{url}' TERM=screen-256color
unset OLLAMA_URL OLLAMA_MODEL TWITCH_CHANNELS TWITCH_CLIENT_ID AUTOLIZA_WEBHOOK_URL VTUBER_ENDPOINT_URL
{bin} --config {cfg} --log-file {log} --log-level debug &
echo $! > {pid}
wait $!
echo "CLANK_EXIT=$?"
exec sleep 600
"#,
            home = q(&dir),
            bin = q(Path::new(env!("CARGO_BIN_EXE_clank"))),
            cfg = q(cfg),
            log = q(&log),
            pid = q(&pid_file),
        );
        let script_path = dir.join("run.sh");
        std::fs::write(&script_path, script).unwrap();
        let socket = format!(
            "clank-team-{}-{name}-{}",
            std::process::id(),
            rand_tag(root)
        );
        let tmux = Tmux::start(socket, &script_path);
        let end = Instant::now() + PATIENCE;
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < end, "{name} never started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Console { tmux, log, pid }
    }

    /// Polls the screen until `found` says yes; fails with the screen and
    /// the log's last lines.
    async fn wait<T>(&self, what: &str, mut found: impl FnMut(&str) -> Option<T>) -> T {
        let end = Instant::now() + PATIENCE;
        loop {
            let screen = self.tmux.screen();
            if let Some(v) = found(&screen) {
                return v;
            }
            if Instant::now() > end {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "timed out waiting for {what}; screen:\n{screen}\n--- log, newest first ---\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Focuses the drafts pane and selects the oldest waiting draft until
    /// draft `id` is the one shown, pending.
    async fn select_pending(&self, id: i64) {
        self.tmux.keys(&["Tab"]);
        self.wait(&format!("draft #{id} pending and selected"), |s| {
            if shown_draft(s) == Some((id, "PENDING".into())) {
                return Some(());
            }
            self.tmux.keys(&["g"]);
            None
        })
        .await;
    }

    fn member(&self) -> String {
        format!("#{}", self.pid)
    }
}

fn rand_tag(root: &Path) -> String {
    root.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("x")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// `(id, state)` of the drafts pane's detail header (`#12 PENDING → …`).
fn shown_draft(screen: &str) -> Option<(i64, String)> {
    screen.lines().find_map(|line| {
        line.match_indices('#').find_map(|(at, _)| {
            let mut words = line[at + 1..].split(' ');
            let id: i64 = words.next()?.parse().ok()?;
            let state = words.next()?;
            (words.next()? == "→").then(|| (id, state.to_string()))
        })
    })
}

/// The drafts pane's text, its wrapped lines joined with spaces (the pane
/// is the right-hand column at 160 columns).
fn drafts_pane(screen: &str) -> String {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some((top, col)) = lines.iter().enumerate().find_map(|(i, l)| {
        let s: String = l.iter().collect();
        let at = s.find(" drafts (")?;
        let before = s[..at].chars().count();
        let col = l[..before].iter().rposition(|c| matches!(c, '┌' | '┏'))?;
        Some((i, col))
    }) else {
        return String::new();
    };
    let mut out = Vec::new();
    for l in &lines[top + 1..] {
        if l.len() <= col {
            continue;
        }
        let part: String = l[col..].iter().collect();
        let part = part.trim_matches(|c: char| "│┃└┗┘┛─━ ".contains(c));
        if !part.is_empty() {
            out.push(part.to_string());
        }
    }
    out.join(" ")
}

fn privmsgs(irc: &FakeTwitchIrc) -> Vec<String> {
    irc.received()
        .iter()
        .filter_map(|r| {
            let m = twitch_irc::message::IRCMessage::parse(&r.line).ok()?;
            (m.command == "PRIVMSG").then(|| m.params.last().cloned().unwrap_or_default())
        })
        .collect()
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Team {
    _dir: tempfile::TempDir,
    url: String,
    irc: FakeTwitchIrc,
    _oauth: FakeTwitchOAuth,
    _ollama: fake_ollama::FakeServer,
    reader: Console,
    watcher: Console,
}

/// One database, a logged-in bot account, the first console reading the
/// channel and the second watching.
async fn team() -> Team {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is not installed: this end-to-end test needs it (`apt-get install tmux`)");
    }
    let dir = tempfile::tempdir().unwrap();
    let url = support::pg::fresh_database_url();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let oauth = FakeTwitchOAuth::start(DeviceOutcome::ApproveAfter(0)).await;
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text(ANSWER));
    let cfg = dir.path().join("clank.toml");
    let toml = live::config_toml(
        dir.path(),
        &irc.irc_addr(),
        Some(&oauth.base_url()),
        &ollama.url(),
    ) + "[ui]\nmouse = false\n";
    std::fs::write(&cfg, toml).unwrap();
    {
        // `clank login twitch`'s result, sealed in the team's database
        // with the key beside the configured store path.
        let config = live::config(
            dir.path(),
            &irc.irc_addr(),
            Some(&oauth.base_url()),
            &ollama.url(),
        );
        let store_cfg = clank::store::StoreConfig {
            url: Some(clank::secret::Secret::new(url.clone())),
            ..config.store.clone()
        };
        let store = clank::store::Store::open(config.db_path(), &store_cfg).unwrap();
        live::log_in(&oauth, dir.path(), &store).await;
        store.flush_async().await.unwrap();
    }
    let reader = Console::start(dir.path(), "a", &cfg, &url).await;
    irc.wait_for("JOIN", 1, PATIENCE).await;
    let watcher = Console::start(dir.path(), "b", &cfg, &url).await;
    // Both consoles' headers list the team of two; the first one reads.
    for c in [&reader, &watcher] {
        c.wait("the team row", |s| {
            (s.contains(" team 2 ") && s.contains("reads twitch #mikavt")).then_some(())
        })
        .await;
    }
    // The watcher's header shows the reader's attention state, pushed.
    watcher
        .wait("the reader's state on the watcher", |s| {
            s.contains(" reads it)").then_some(())
        })
        .await;
    let reads = support::pg::query_text(
        &url,
        "SELECT member FROM team_readers WHERE channel = 'mikavt'",
    )
    .unwrap();
    assert!(reads.ends_with(&reader.member()), "{reads}");
    Team {
        _dir: dir,
        url,
        irc,
        _oauth: oauth,
        _ollama: ollama,
        reader,
        watcher,
    }
}

impl Team {
    /// A viewer asks the bot; the reader drafts; both consoles show the draft.
    async fn draft(&self, n: u32) -> i64 {
        self.irc.send(&live::privmsg(
            &format!("q-{n}"),
            &format!("viewer{n}"),
            &format!("10{n}"),
            "@clank which boss is next?",
        ));
        let mut id = 0;
        eventually("the reader's draft stored", || {
            id = support::pg::query_i64(
                &self.url,
                &format!(
                    "SELECT COALESCE(MAX(r.id), 0) FROM chat_responses r JOIN chat_messages m \
                     ON m.id = r.original_message_id WHERE m.platform_msg_id = 'q-{n}' \
                     AND r.status = 'pending'"
                ),
            );
            id > 0
        })
        .await;
        assert_eq!(
            support::pg::query_i64(
                &self.url,
                "SELECT count(DISTINCT drafted_by) FROM chat_responses"
            ),
            1,
            "only the reader drafts"
        );
        id
    }

    fn sql_text(&self, sql: &str) -> String {
        support::pg::query_text(&self.url, sql).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_on_either_console_is_sent_once_even_when_both_approve_at_once() {
    let t = team().await;

    // 1. The watcher approves the reader's draft.
    let first = t.draft(1).await;
    t.watcher.select_pending(first).await;
    t.watcher.tmux.keys(&["y"]);
    eventually("the approved reply on the fake IRC", || {
        !privmsgs(&t.irc).is_empty()
    })
    .await;
    // Both consoles show it sent, and who approved it.
    for (c, who) in [
        (&t.reader, "approved by "),
        (&t.watcher, "approved by here"),
    ] {
        c.wait("the draft sent, with who approved it", |s| {
            let pane = drafts_pane(s);
            (pane.contains(&format!("#{first} SENT")) && pane.contains(who)).then_some(())
        })
        .await;
    }
    let claimed = t.sql_text(&format!(
        "SELECT claimed_by FROM chat_responses WHERE id = {first}"
    ));
    assert!(claimed.ends_with(&t.watcher.member()), "{claimed}");
    let sent_by = t.sql_text(&format!(
        "SELECT sent_by FROM chat_responses WHERE id = {first}"
    ));
    assert!(
        sent_by.ends_with(&t.reader.member()),
        "the reader's adapter sent it: {sent_by}"
    );

    // 2. Both approve the next draft at the same moment.
    let second = t.draft(2).await;
    t.reader.select_pending(second).await;
    t.watcher.select_pending(second).await;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let presses: Vec<_> = [t.reader.tmux.socket.clone(), t.watcher.tmux.socket.clone()]
        .into_iter()
        .map(|socket| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                Command::new("tmux")
                    .args(["-L", &socket, "send-keys", "-t", "clank", "y"])
                    .status()
                    .unwrap()
            })
        })
        .collect();
    for p in presses {
        assert!(p.join().unwrap().success());
    }
    eventually("the second reply on the fake IRC", || {
        privmsgs(&t.irc).len() >= 2
    })
    .await;
    for c in [&t.reader, &t.watcher] {
        c.wait("the second draft sent", |s| {
            s.contains(&format!("#{second} SENT")).then_some(())
        })
        .await;
    }
    // Let a second write (if the claim were wrong) reach the fake IRC.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = privmsgs(&t.irc);
    assert_eq!(sent.len(), 2, "each approved draft written once: {sent:?}");
    assert!(sent.iter().all(|m| m.ends_with(ANSWER)), "{sent:?}");
    assert_eq!(
        support::pg::query_i64(
            &t.url,
            "SELECT count(*) FROM chat_responses WHERE status = 'sent'"
        ),
        2
    );

    // 3. A watcher that dies (no goodbye) leaves the reader's team row at
    // once: the reader waits on its presence lock, no polling.
    assert!(
        Command::new("kill")
            .args(["-9", &t.watcher.pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    t.reader
        .wait("the team row without the killed watcher", |s| {
            s.contains(" team 1 ").then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_the_reader_the_new_reader_sends_an_approval_it_never_sent_once() {
    let t = team().await;
    let id = t.draft(1).await;
    t.watcher.select_pending(id).await;
    // The reader hangs (its connections stay open, so it keeps the lease)
    // and the watcher approves: the claim is stored, nobody sends it.
    assert!(
        Command::new("kill")
            .args(["-STOP", &t.reader.pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    t.watcher.tmux.keys(&["y"]);
    eventually("the watcher's claim stored", || {
        support::pg::query_i64(
            &t.url,
            &format!("SELECT count(*) FROM chat_responses WHERE id = {id} AND status = 'sending' AND sent_by IS NULL"),
        ) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(privmsgs(&t.irc).is_empty(), "a hung reader sent nothing");
    t.watcher
        .wait("the approval waiting for the reader", |s| {
            drafts_pane(s)
                .contains("waiting for the channel's reader")
                .then_some(())
        })
        .await;
    // The reader dies: the watcher takes the channel over and sends it.
    assert!(
        Command::new("kill")
            .args(["-9", &t.reader.pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    t.irc.wait_for("JOIN", 2, PATIENCE).await;
    eventually("the approved reply on the fake IRC", || {
        !privmsgs(&t.irc).is_empty()
    })
    .await;
    t.watcher
        .wait("the draft sent", |s| {
            s.contains(&format!("#{id} SENT")).then_some(())
        })
        .await;
    // Its header: the team is this console alone, and it reads now.
    t.watcher
        .wait("the team row after the takeover", |s| {
            (s.contains(" team 1 ") && s.contains("(this console) reads twitch #mikavt"))
                .then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = privmsgs(&t.irc);
    assert_eq!(sent.len(), 1, "sent once: {sent:?}");
    assert!(sent[0].ends_with(ANSWER), "{sent:?}");
    let sent_by = t.sql_text(&format!(
        "SELECT sent_by FROM chat_responses WHERE id = {id}"
    ));
    assert!(sent_by.ends_with(&t.watcher.member()), "{sent_by}");
    assert_eq!(
        t.sql_text(&format!(
            "SELECT status FROM chat_responses WHERE id = {id}"
        )),
        "sent"
    );
}
