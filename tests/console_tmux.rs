//! The console end to end in a real terminal: `clank demo` runs inside a
//! detached tmux session against the loopback fake Ollama; the test reads the
//! screen with `capture-pane`, approves one draft and edits another with real
//! key presses, quits, then checks the store holds exactly those two sends and
//! that the shell got its terminal back (exit code 0, canonical mode, echo).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::fake_ollama::{self, Reply};
use support::tmux::Tmux;

/// What the fake model says to every draft request: an ordinary friendly reply.
const ANSWER: &str = "Thanks for hanging out with us tonight, great question!";
/// What the operator types over the second draft.
const EDITED: &str = "edited by the e2e test, thanks for watching";
/// How long any one wait may take before the test gives up.
const DEADLINE: Duration = Duration::from_secs(90);

/// Polls the screen until `found` returns `Some`, pressing `nudge` keys before
/// each look; fails with the last screen and the log if the deadline passes.
async fn wait_for<T>(
    tmux: &Tmux,
    log: &Path,
    what: &str,
    nudge: &[&str],
    mut found: impl FnMut(&str) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if !nudge.is_empty() {
            tmux.keys(nudge);
            // Let the console take the key and draw a frame (max 30 fps).
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let screen = tmux.screen();
        if let Some(v) = found(&screen) {
            return v;
        }
        if start.elapsed() > DEADLINE {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "timed out waiting for {what}; last screen:\n{screen}\n--- clank.log (last lines, newest first) ---\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `(id, state)` of the draft detail header, `#12 PENDING → …`, unless it is
/// marked as already sent to the core.
fn shown_draft(screen: &str) -> Option<(i64, String)> {
    // Panes sit side by side, so a line may hold chat text with '#' too: try each.
    screen.lines().find_map(|line| {
        line.match_indices('#').find_map(|(at, _)| {
            let mut words = line[at + 1..].split(' ');
            let id: i64 = words.next()?.parse().ok()?;
            let state = words.next()?;
            let arrow = words.next()? == "→";
            (arrow && !line.contains("(sent to core)")).then(|| (id, state.to_string()))
        })
    })
}

/// The metrics pane's count of sent drafts (`sent 2  rejected 0`); the drafts
/// list cannot say, as waiting drafts push handled ones out of sight.
fn sent_count(screen: &str) -> Option<u64> {
    screen.lines().find_map(|line| {
        let (_, rest) = line.split_once(" sent ")?;
        let (n, rest) = rest.trim_start().split_once(' ')?;
        rest.trim_start()
            .starts_with("rejected")
            .then(|| n.parse().ok())?
    })
}

fn write_config(dir: &Path, llm_url: &str) -> PathBuf {
    let path = dir.join("config.toml");
    // The fake lists llama3.2:latest, so the LLM health is "ok", not "model missing".
    let text = format!(
        r#"
[llm]
url = "{llm_url}"
model = "llama3.2"
timeout_s = 10

[channel_defaults]
message_threshold = 1
time_delay_s = 0

[attention]
seed = 7

[auto]
draft_ttl_s = 600

[ui]
mouse = false
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Quotes for `sh`: single quotes, with embedded ones closed and escaped.
/// Starts `clank demo` in a fresh tmux server against the fake LLM at `url`;
/// returns the server, the demo's database and its log file.
fn start_console(root: &Path, url: &str) -> (Tmux, PathBuf, PathBuf) {
    let db = root.join("demo.db");
    let log = root.join("clank.log");
    let config = write_config(root, url);
    for d in ["home", "config", "data", "state", "cache"] {
        std::fs::create_dir_all(root.join(d)).expect("xdg dir");
    }
    let q = |p: &Path| sh_quote(p.to_str().expect("utf-8 path"));
    // After clank exits the shell prints its exit code and the terminal modes,
    // then stays so the pane can still be read. `CLANK_PID` lets a test signal it.
    let script = format!(
        r#"export HOME={home} XDG_CONFIG_HOME={cfg} XDG_DATA_HOME={data} XDG_STATE_HOME={state} XDG_CACHE_HOME={cache}
export OLLAMA_URL={url} TERM=screen-256color
unset DATABASE_URL OLLAMA_MODEL TWITCH_CHANNELS
{bin} demo --speed 30 --db {db} --config {config} --log-file {log} --log-level debug &
echo $! > {pid}
wait $!
echo "CLANK_EXIT=$?"
echo "CLANK_TTY=$(stty -a | tr ' ;' '\n\n' | grep -E -x -- '-?(icanon|echo)' | tr '\n' ' ')END"
exec sleep 600
"#,
        home = q(&root.join("home")),
        cfg = q(&root.join("config")),
        data = q(&root.join("data")),
        state = q(&root.join("state")),
        cache = q(&root.join("cache")),
        url = sh_quote(url),
        bin = q(Path::new(env!("CARGO_BIN_EXE_clank"))),
        db = q(&db),
        config = q(&config),
        log = q(&log),
        pid = q(&root.join("clank.pid")),
    );
    let script_path = root.join("run.sh");
    std::fs::write(&script_path, script).expect("write script");
    let socket = format!(
        "clank-e2e-{}-{}",
        std::process::id(),
        root.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    );
    (Tmux::start(socket, &script_path), db, log)
}

/// Exit code 0, the terminal back in canonical mode with echo, the
/// alternate screen left.
fn assert_exited_cleanly(after: &str) {
    assert!(after.contains("CLANK_EXIT=0"), "clank failed:\n{after}");
    let tty = after
        .lines()
        .find_map(|l| l.strip_prefix("CLANK_TTY="))
        .expect("terminal modes line");
    let modes: Vec<&str> = tty.trim_end_matches("END").split_whitespace().collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "the terminal was left in raw mode: {tty:?}\n{after}"
    );
    // The alternate screen was left: the console's panes are gone.
    assert!(
        !after.contains(" drafts ("),
        "console still on screen:\n{after}"
    );
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_tmux_approves_one_draft_edits_another_and_quits_cleanly() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!(
            "tmux is not installed: this end-to-end test needs it (`apt-get install tmux`; .ci/run installs it)"
        );
    }
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::slow(
        ANSWER,
        Duration::from_millis(50),
        Duration::from_millis(20),
    ));

    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let (tmux, db, log) = start_console(root, &fake.url());

    // The console is up when its drafts pane is drawn; Tab moves focus from
    // the queue to the drafts pane, so draft keys act on the drafts list.
    wait_for(&tmux, &log, "the console", &[], |s| {
        s.contains(" drafts (").then_some(())
    })
    .await;
    tmux.keys(&["Tab"]);

    // First draft: approve it. `g` selects the oldest waiting draft.
    let first = wait_for(&tmux, &log, "a pending draft", &["g"], |s| {
        shown_draft(s).and_then(|(id, st)| (st == "PENDING").then_some(id))
    })
    .await;
    tmux.keys(&["y"]);
    wait_for(&tmux, &log, "the approved draft to be sent", &[], |s| {
        (sent_count(s) == Some(1)).then_some(())
    })
    .await;

    // Second draft: edit it, replacing the whole text, and send with Enter.
    let second = wait_for(&tmux, &log, "a second pending draft", &["g"], |s| {
        shown_draft(s).and_then(|(id, st)| (st == "PENDING" && id != first).then_some(id))
    })
    .await;
    tmux.keys(&["e"]);
    let edit_title = format!(" edit #{second} ");
    wait_for(&tmux, &log, "the editor", &[], |s| {
        s.contains(&edit_title).then_some(())
    })
    .await;
    // Home then Ctrl-K clears the draft's single line in the editor.
    tmux.keys(&["Home", "C-k"]);
    tmux.type_text(EDITED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    tmux.keys(&["Enter"]);
    wait_for(&tmux, &log, "the edited draft to be sent", &[], |s| {
        (sent_count(s) == Some(2)).then_some(())
    })
    .await;

    // Quit; more drafts may be waiting by now, then the console asks first.
    tmux.keys(&["q"]);
    let after = wait_for(&tmux, &log, "clank to exit", &[], |s| {
        if s.contains("Quit anyway?") {
            tmux.keys(&["y"]);
            return None;
        }
        (s.contains("CLANK_EXIT=") && s.contains("END")).then(|| s.to_string())
    })
    .await;
    assert_exited_cleanly(&after);
    drop(tmux);

    // The store: exactly the two drafts the keys sent, nothing else.
    let conn = rusqlite::Connection::open(&db).expect("open the demo database");
    let mut stmt = conn
        .prepare(
            "SELECT id, response_text, response_type FROM chat_responses \
             WHERE status = 'sent' ORDER BY id",
        )
        .expect("query");
    let sent: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("row");
    assert_eq!(
        sent.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![first, second],
        "sent rows: {sent:?}"
    );
    // Each text as it went on the wire: maybe addressed with "@name " by the
    // output gate, otherwise exactly what the model or the operator wrote.
    let body = |text: &str| -> String {
        match text.strip_prefix('@').and_then(|t| t.split_once(' ')) {
            Some((name, rest)) if !name.is_empty() => rest.to_string(),
            _ => text.to_string(),
        }
    };
    assert_eq!(body(&sent[0].1), ANSWER, "approved row: {:?}", sent[0]);
    assert_eq!(sent[0].2, "llm", "{:?}", sent[0]);
    assert_eq!(body(&sent[1].1), EDITED, "edited row: {:?}", sent[1]);
    assert_eq!(sent[1].2, "operator", "{:?}", sent[1]);
    let others: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM chat_responses WHERE sent_at IS NOT NULL AND status != 'sent'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(others, 0, "rows with a send time but another status");
    // The fake model was asked: the drafts are the LLM's, not fallbacks.
    assert!(!fake.chats().is_empty(), "the fake LLM was never asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_the_console_restores_the_terminal_and_closes_the_store() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is not installed: this end-to-end test needs it (`apt-get install tmux`)");
    }
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::slow(
        ANSWER,
        Duration::from_millis(50),
        Duration::from_millis(20),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let (tmux, db, log) = start_console(root, &fake.url());
    wait_for(&tmux, &log, "the console", &[], |s| {
        s.contains(" drafts (").then_some(())
    })
    .await;
    // A service manager stops it: SIGTERM, not a key.
    let pid = std::fs::read_to_string(root.join("clank.pid")).expect("pid file");
    let out = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .output()
        .expect("kill");
    assert!(out.status.success(), "kill failed");
    let after = wait_for(&tmux, &log, "clank to exit", &[], |s| {
        (s.contains("CLANK_EXIT=") && s.contains("END")).then(|| s.to_string())
    })
    .await;
    assert_exited_cleanly(&after);
    drop(tmux);
    // The store was closed, not abandoned: it opens with its chat in it.
    let conn = rusqlite::Connection::open(&db).expect("open the demo database");
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM chat_messages", [], |r| r.get(0))
        .expect("count");
    assert!(stored > 0, "no chat stored before the signal");
}
