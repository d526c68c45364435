//! The reply pipeline end to end against loopback fakes of every service it
//! talks to: `replay --auto` (virtual clock) with a fake Ollama (NDJSON) or
//! OpenAI-compatible server (SSE), a fake agent webhook and a fake avatar; and
//! the runtime driven event by event for outages, withdrawals and restarts.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clank::adapters::BoxFuture;
use clank::adapters::Inbound;
use clank::adapters::chatlog::{RecorderAdapter, RecordingSink, SentReply, Sink};
use clank::adapters::hub::Hub;
use clank::config::Config;
use clank::headless::{self, ReplayAuto};
use clank::model::{Author, ChatEvent, ChatMessage, Platform};
use clank::replay::Speed;
use clank::reply::format::{OutputPolicy, Target, verify};
use clank::runtime::{self, Clock, Runtime, RuntimeOptions};
use clank::store::{ResponseStatus, Store};
use serde_json::{Value, json};
use support::fake_ollama::{self, HOSTILE, Reply, hostile_long};
use support::{fake_agent, fake_avatar, fake_openai};
use tokio::sync::mpsc;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/chat.jsonl");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The first `n` lines of the demo chat log.
    fn demo(&self, n: usize) -> PathBuf {
        let text = std::fs::read_to_string(DEMO).expect("demo log");
        let slice: Vec<&str> = text.lines().take(n).collect();
        let p = self.path("chat.jsonl");
        std::fs::write(&p, slice.join("\n") + "\n").expect("write log");
        p
    }

    /// A config for tests: the LLM at `llm_url`, quick deadlines, permissive
    /// auto policy, two test blocked words; `extra` TOML is appended.
    fn config(&self, llm_url: &str, extra: &str) -> Config {
        let words = self.path("blocked.txt");
        std::fs::write(&words, "badword\nworseword\n").expect("blocked words");
        let text = format!(
            r#"
[llm]
url = "{llm_url}"
timeout_s = 3
retries = 0
[filter]
blocked_words_file = "{}"
[channel_defaults]
time_delay_s = 0
[auto]
max_sends_per_minute = 120
min_priority = "LOW"
{extra}
"#,
            words.display()
        );
        let text = merge_sections(&text);
        Config::from_toml(&text).unwrap_or_else(|e| panic!("test config: {e}\n{text}"))
    }
}

/// Lets `extra` repeat a section header already present (TOML forbids that):
/// keys under a repeated header are moved under the first one.
fn merge_sections(text: &str) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut sections: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut current = String::new();
    order.push(current.clone());
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            current = t.to_string();
            if !order.contains(&current) {
                order.push(current.clone());
            }
            continue;
        }
        sections
            .entry(current.clone())
            .or_default()
            .push(line.to_string());
    }
    let mut out = String::new();
    for s in order {
        if !s.is_empty() {
            out.push_str(&s);
            out.push('\n');
        }
        for l in sections.remove(&s).unwrap_or_default() {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

async fn replay(config: &Config, file: &Path, db: &Path) -> (Vec<Value>, runtime::RunSummary) {
    let store = Store::open(db, &config.store).expect("store");
    let mut out = Vec::new();
    let summary = headless::replay_auto_async(
        config,
        file,
        store.clone(),
        ReplayAuto {
            speed: Speed::Max,
            repeat: 1,
            json: true,
            seed: 7,
            llm: None,
            sink: None,
        },
        &mut out,
    )
    .await
    .expect("replay --auto runs");
    tokio::task::spawn_blocking(move || store.close())
        .await
        .expect("join")
        .expect("store closes");
    let lines = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("JSON line {l}: {e}")))
        .collect();
    (lines, summary)
}

fn events<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == kind).collect()
}

fn platform_of(v: &Value) -> Platform {
    v["platform"]
        .as_str()
        .expect("platform")
        .parse()
        .expect("known platform")
}

/// Every sent line: safe by the output gate's own final check, within the
/// platform's limit, and free of each thing a hostile model tries.
fn assert_safe(sent: &[&Value]) {
    let blocked = |s: &str| {
        let l = s.to_lowercase();
        ["badword", "worseword"]
            .iter()
            .find(|w| l.contains(*w))
            .map(|w| w.to_string())
    };
    for s in sent {
        let text = s["text"].as_str().expect("text");
        let platform = platform_of(s);
        let target = Target {
            platform,
            asker: None,
        };
        verify(text, &target, &OutputPolicy::default(), &blocked)
            .unwrap_or_else(|why| panic!("unsafe text sent ({why}): {text:?}"));
        let lower = text.to_lowercase();
        assert!(
            text.chars().count() <= platform.max_message_chars(),
            "{text}"
        );
        for bad in [
            "@everyone",
            "@here",
            "http",
            "badword",
            "worseword",
            "<@&",
            "\n",
        ] {
            assert!(!lower.contains(bad), "{bad:?} in sent text {text:?}");
        }
        let first = text.trim_start().chars().next().expect("not empty");
        assert!(!matches!(first, '/' | '.' | '\u{FF0F}'), "{text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_auto_with_ollama_drafts_sends_and_records_every_reply() {
    let env = Env::new();
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text("Great question, the boss has two phases."));
    let config = env.config(&ollama.url(), "");
    let file = env.demo(500);
    let db = env.path("replay.db");
    let (lines, summary) = replay(&config, &file, &db).await;

    let drafts = events(&lines, "draft");
    let sent = events(&lines, "sent");
    assert!(drafts.len() >= 3, "drafts: {}", drafts.len());
    assert!(!sent.is_empty());
    assert_eq!(summary.sent as usize, sent.len());
    assert_eq!(summary.drafts as usize, drafts.len());
    // One LLM call per draft, each a streamed chat with the configured model.
    let chats = ollama.chats();
    assert_eq!(chats.len(), drafts.len());
    for c in &chats {
        assert_eq!(c.path, "/api/chat");
        assert_eq!(c.body["stream"], true);
        assert_eq!(c.body["model"], "llama3.2");
        let system = c.body["messages"][0]["content"]
            .as_str()
            .expect("system prompt");
        let user = c.body["messages"][1]["content"]
            .as_str()
            .expect("user prompt");
        // Plain chat turns: no block markers a small model would copy, the
        // user turn one line (the viewer's message or a one-line request).
        assert!(
            !system.contains("<<<") && !user.contains("<<<"),
            "{system} / {user}"
        );
        assert!(!user.is_empty() && user.lines().count() == 1, "{user}");
    }
    for d in &drafts {
        assert_eq!(d["source"], "llm", "{d}");
        let text = d["text"].as_str().unwrap();
        assert!(
            text.ends_with("Great question, the boss has two phases."),
            "{text}"
        );
        // Answers are addressed to the asker; unprompted lines to nobody.
        assert_eq!(text.starts_with('@'), d["message_id"].is_string(), "{d}");
    }
    // Every send is a draft of the same id with the same text, sent once, and
    // the store says so.
    let store = Store::open(&db, &config.store).expect("reopen");
    let mut ids = std::collections::HashSet::new();
    for s in &sent {
        let id = s["id"].as_i64().expect("id");
        assert!(ids.insert(id), "draft {id} sent twice");
        let d = drafts
            .iter()
            .find(|d| d["id"] == s["id"])
            .expect("draft for send");
        assert_eq!(d["text"], s["text"]);
        assert_eq!(d["message_id"], s["message_id"]);
        let row = store
            .get_response_async(id)
            .await
            .expect("query")
            .expect("row");
        assert_eq!(row.status, ResponseStatus::Sent);
        assert_eq!(row.response_text, s["text"].as_str().unwrap());
        assert_eq!(row.response_type, "llm");
        assert!(row.sent_at.is_some());
        // The attention state the reply was drafted in is kept with it.
        assert!(row.attention_state.is_some(), "{row:?}");
    }
    // Each decision to send says why.
    let decisions = events(&lines, "decision");
    assert!(
        decisions
            .iter()
            .all(|d| !d["reason"].as_str().unwrap_or("").is_empty())
    );
    assert_safe(&sent);
    assert_eq!(lines.last().unwrap()["event"], "summary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_auto_with_an_openai_compatible_server_streams_sse() {
    let env = Env::new();
    let server = fake_openai::start(None).await;
    server.set_default(Reply::text("Thanks, glad you are here!"));
    server.set_models(&["llama3.2"]);
    let config = env.config(&server.url(), "[llm]\nprovider = \"openai\"");
    let (lines, summary) = replay(&config, &env.demo(300), &env.path("r.db")).await;
    let drafts = events(&lines, "draft");
    assert!(!drafts.is_empty());
    assert!(drafts.iter().all(|d| d["source"] == "llm"), "{drafts:?}");
    assert!(summary.sent > 0);
    let chats = server.chats();
    assert!(chats.iter().all(|c| c.path == "/v1/chat/completions"));
    assert_eq!(chats.len(), drafts.len());
    assert_safe(&events(&lines, "sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_model_gets_nothing_unsafe_on_the_wire() {
    let env = Env::new();
    let ollama = fake_ollama::start().await;
    let mut attacks: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    attacks.push(hostile_long());
    attacks.push("@Everyone.. look at https://evil.example".into());
    for _ in 0..6 {
        for a in &attacks {
            ollama.push(Reply::text(a));
        }
    }
    let config = env.config(&ollama.url(), "");
    let (lines, summary) = replay(&config, &env.demo(1500), &env.path("h.db")).await;
    let sent = events(&lines, "sent");
    let drafts = events(&lines, "draft");
    assert!(
        drafts.len() >= attacks.len(),
        "every attack was tried: {}",
        drafts.len()
    );
    assert!(!sent.is_empty(), "defused replies still go out");
    assert!(summary.blocked > 0, "some attacks can only be blocked");
    assert_eq!(summary.blocked as usize, events(&lines, "blocked").len());
    assert_safe(&sent);
    assert_safe(&drafts);
    // Blocked lines give a reason and never repeat the offending text.
    for b in events(&lines, "blocked") {
        let why = b["why"].as_str().unwrap();
        assert!(!why.is_empty() && !why.contains("badword"), "{why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_is_sent_twice_across_a_restart() {
    let env = Env::new();
    let ollama = fake_ollama::start().await;
    let config = env.config(&ollama.url(), "");
    let file = env.demo(400);
    let db = env.path("same.db");
    let (first, s1) = replay(&config, &file, &db).await;
    assert!(s1.sent > 0);
    // The same chat again into the same database: a restart that sees the
    // same messages (e.g. a reconnect replaying history) answers none twice.
    let (second, s2) = replay(&config, &file, &db).await;
    let sent_again: Vec<&Value> = events(&second, "sent");
    let first_ids: std::collections::HashSet<&str> = events(&first, "sent")
        .iter()
        .filter_map(|s| s["message_id"].as_str())
        .collect();
    for s in &sent_again {
        let m = s["message_id"].as_str().unwrap_or("");
        assert!(!first_ids.contains(m), "message {m} answered twice");
    }
    assert!(s2.skipped_answered > 0, "{s2:?}");
    let skips = events(&second, "decision")
        .into_iter()
        .filter(|d| d["action"] == "skip")
        .count();
    assert!(skips as u64 >= s2.skipped_answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_gets_context_and_its_guidance_reaches_the_prompt_and_avatar_speaks() {
    let env = Env::new();
    let ollama = fake_ollama::start().await;
    let guidance = json!({
        "topics": ["speedrun route"],
        "persona": "extra hype, a raid just arrived",
        "starters": ["who has tried the new DLC?"]
    });
    let agent = fake_agent::start(vec![], (200, guidance.to_string())).await;
    // The second call finds the avatar idle (403): shown, not fatal.
    let avatar = fake_avatar::start(&[1]).await;
    let extra = format!(
        "[agent]\nwebhook_url = \"{}\"\ninterval_s = 60\n[avatar]\nendpoint_url = \"{}\"",
        agent.url("/clank"),
        avatar.url("/process_text")
    );
    let config = env.config(&ollama.url(), &extra);
    let (lines, summary) = replay(&config, &env.demo(600), &env.path("a.db")).await;

    // Context updates: at the start, every 60 virtual seconds, on state changes.
    let hits = agent.hits();
    assert!(hits.len() >= 3, "agent calls: {}", hits.len());
    assert_eq!(summary.agent_updates as usize, hits.len());
    for h in &hits {
        assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/clank"));
        let b = &h.body;
        let top: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(top, vec!["globalContext", "platforms"], "{b}");
        let g = b["globalContext"].as_object().unwrap();
        let mut gk: Vec<&String> = g.keys().collect();
        gk.sort();
        assert_eq!(
            gk,
            vec![
                "engagementTrend",
                "recommendedAction",
                "responseRate",
                "totalMessages"
            ]
        );
        assert!(
            ["increasing", "stable", "decreasing"]
                .contains(&g["engagementTrend"].as_str().unwrap())
        );
        assert!(g["totalMessages"].as_u64().is_some() && g["responseRate"].as_f64().is_some());
        for (name, p) in b["platforms"].as_object().unwrap() {
            name.parse::<Platform>().expect("platform name");
            let mut pk: Vec<&String> = p.as_object().unwrap().keys().collect();
            pk.sort();
            assert_eq!(
                pk,
                vec![
                    "activeUsers",
                    "averageSalience",
                    "lastInteraction",
                    "sentiment",
                    "topTopics"
                ]
            );
            assert!(
                ["positive", "neutral", "negative"].contains(&p["sentiment"].as_str().unwrap())
            );
            DateTime::parse_from_rfc3339(p["lastInteraction"].as_str().unwrap()).expect("RFC 3339");
            assert!(p["topTopics"].is_array() && p["activeUsers"].is_u64());
        }
    }
    let last = &hits.last().unwrap().body;
    assert!(last["globalContext"]["totalMessages"].as_u64().unwrap() > 100);
    assert!(last["platforms"].as_object().unwrap().len() == 3, "{last}");
    // The guidance came back and is in every later prompt.
    let updates = events(&lines, "agent_update");
    assert_eq!(updates[0]["guidance"]["topics"][0], "speedrun route");
    let chats = ollama.chats();
    assert!(!chats.is_empty());
    for c in &chats {
        let sys = c.body["messages"][0]["content"].as_str().unwrap();
        assert!(
            sys.contains("speedrun route") && sys.contains("extra hype"),
            "{sys}"
        );
    }
    // The avatar heard every sent reply, exactly as sent.
    let sent = events(&lines, "sent");
    let calls = avatar.hits();
    assert_eq!(calls.len(), sent.len());
    for (c, s) in calls.iter().zip(&sent) {
        assert_eq!(c.body["text"], s["text"]);
        assert!(c.body["autonomous_context"].is_object());
        assert_eq!(c.body["autonomous_context"]["platform"], s["platform"]);
    }
    let av = events(&lines, "avatar");
    assert_eq!(av.len(), calls.len());
    assert_eq!(av[0]["status"], "processing");
    assert!(
        av.len() >= 3,
        "enough sends to see the idle answer: {}",
        av.len()
    );
    assert!(
        av[1]["status"].as_str().unwrap().contains("idle"),
        "{}",
        av[1]
    );
    assert_eq!(
        av[2]["status"], "processing",
        "the avatar goes on after a 403"
    );
    assert!(
        events(&lines, "error")
            .iter()
            .any(|e| e["what"].as_str().unwrap().contains("idle"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_agent_is_shown_and_chat_goes_on() {
    let env = Env::new();
    let ollama = fake_ollama::start().await;
    let extra = format!(
        "[agent]\nwebhook_url = \"http://{}/hook\"\ntimeout_s = 1",
        fake_ollama::free_addr()
    );
    let config = env.config(&ollama.url(), &extra);
    let (lines, summary) = replay(&config, &env.demo(300), &env.path("u.db")).await;
    let health: Vec<&Value> = events(&lines, "health")
        .into_iter()
        .filter(|h| h["component"] == "agent")
        .collect();
    assert!(health.iter().any(|h| h["status"] == "down"), "{health:?}");
    assert!(
        events(&lines, "agent_update")
            .iter()
            .all(|u| u["error"].is_string())
    );
    assert!(summary.sent > 0, "replies still go out");
}

// ---------------------------------------------------------------------------
// The runtime driven event by event (virtual clock).

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn mention(i: i64, author: &str) -> ChatEvent {
    ChatEvent::Message(ChatMessage {
        platform: Platform::Twitch,
        channel: "mika".into(),
        id: format!("m{i}"),
        at: t0() + TimeDelta::seconds(i * 5),
        author: Author {
            id: format!("u-{author}"),
            name: author.into(),
            ..Author::default()
        },
        text: format!("@clank how is the run going, question number {i}?"),
        paid: None,
        reply_to: None,
    })
}

struct Driven {
    rt: Runtime,
    tx: mpsc::Sender<Inbound>,
    _hub: Hub,
    sink: Arc<RecordingSink>,
    seen: Vec<Value>,
}

impl Driven {
    fn start(config: Config, db: &Path) -> Self {
        let sink = Arc::new(RecordingSink::default());
        Self::start_with(config, db, sink.clone(), sink)
    }

    fn start_with(
        config: Config,
        db: &Path,
        sink: Arc<RecordingSink>,
        wire: Arc<dyn Sink>,
    ) -> Self {
        let store = Store::open(db, &config.store).expect("store");
        let (tx, rx) = mpsc::channel(64);
        // Chat comes straight from the test; sends go to a recorder that
        // confirms each one, as a platform would.
        let hub = Hub::start(
            vec![Box::new(RecorderAdapter { sink: wire.clone() })],
            tx.clone(),
            tokio_util::sync::CancellationToken::new(),
        );
        let mut o = RuntimeOptions::new(config, store, rx);
        o.clock = Clock::Virtual;
        o.auto_send = true;
        o.snapshots = false;
        o.router = hub.router();
        let rt = runtime::start(o).expect("runtime starts");
        Self {
            rt,
            tx,
            _hub: hub,
            sink,
            seen: Vec::new(),
        }
    }

    /// Feeds one event and returns the log lines up to the first that `done` accepts.
    async fn feed_until(&mut self, ev: ChatEvent, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.tx
            .send(Inbound::Chat(ev))
            .await
            .expect("runtime takes events");
        let mut got = Vec::new();
        loop {
            let u = tokio::time::timeout(Duration::from_secs(20), self.rt.updates.recv())
                .await
                .expect("an update within 20 s")
                .expect("runtime alive");
            if let Some(v) = headless::update_json(&u) {
                self.seen.push(v.clone());
                got.push(v.clone());
                if done(&v) {
                    return got;
                }
            }
        }
    }

    async fn draft_for(&mut self, ev: ChatEvent) -> (Value, Vec<Value>) {
        let got = self
            .feed_until(ev, |v| v["event"] == "draft" || v["event"] == "blocked")
            .await;
        (got.last().cloned().unwrap(), got)
    }
}

fn mention_config(env: &Env, url: &str) -> Config {
    env.config(url, "[salience]\nstreamer_names = [\"clank\"]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_down_then_dying_mid_stream_then_back_fallbacks_marked_and_drafting_resumes() {
    let env = Env::new();
    let addr = fake_ollama::free_addr();
    let config = mention_config(&env, &format!("http://{addr}"));
    let mut d = Driven::start(config, &env.path("o.db"));

    // Down at start: a fallback, marked, never auto-sent; monitoring goes on.
    let (draft, got) = d.draft_for(mention(1, "ana")).await;
    assert_eq!(draft["source"], "fallback", "{draft}");
    assert!(
        draft["error"].as_str().unwrap().contains("reach"),
        "{draft}"
    );
    assert!(
        got.iter().any(|v| v["event"] == "trigger"),
        "the core still runs: {got:?}"
    );
    assert!(
        got.iter()
            .any(|v| v["component"] == "llm" && v["status"] == "down")
    );
    let hold = d
        .feed_until(mention(2, "bo"), |v| v["event"] == "draft")
        .await;
    assert!(
        d.seen.iter().any(|v| v["event"] == "decision"
            && v["action"] == "hold"
            && v["reason"].as_str().unwrap().contains("fallback")),
        "{hold:?}"
    );

    // It comes up, then dies mid-stream: tokens already streamed are not
    // retried, the draft falls back.
    let ollama = fake_ollama::start_at(&addr).await;
    ollama.push(Reply::Drop {
        before: vec!["Half a ".into(), "sentence".into()],
    });
    let (draft, _) = d.draft_for(mention(3, "cy")).await;
    assert_eq!(draft["source"], "fallback", "{draft}");

    // And now it answers: drafting resumes and the reply is sent.
    ollama.set_default(Reply::text("The run is going great!"));
    let got = d
        .feed_until(mention(4, "di"), |v| v["event"] == "sent")
        .await;
    let draft = got.iter().find(|v| v["event"] == "draft").unwrap();
    assert_eq!(draft["source"], "llm");
    assert_eq!(draft["text"], "@di The run is going great!");
    assert!(
        got.iter()
            .any(|v| v["component"] == "llm" && v["status"] == "connected")
    );
    let sent = d.sink.sent();
    assert_eq!(sent.len(), 1, "only the LLM reply went out: {sent:?}");
    assert_eq!(sent[0].text, "@di The run is going great!");
    assert_eq!(sent[0].reply_to.as_deref(), Some("m4"));
    d.rt.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_withdrawn_when_their_message_is_deleted_or_author_banned() {
    let env = Env::new();
    // A dead LLM: fallbacks wait for the operator, so they can be withdrawn.
    let config = mention_config(&env, &format!("http://{}", fake_ollama::free_addr()));
    let db = env.path("w.db");
    let mut d = Driven::start(config.clone(), &db);
    let (a, _) = d.draft_for(mention(1, "ana")).await;
    let (b, _) = d.draft_for(mention(2, "bo")).await;
    let got = d
        .feed_until(
            ChatEvent::Delete {
                platform: Platform::Twitch,
                channel: "mika".into(),
                id: "m1".into(),
                at: t0() + TimeDelta::seconds(20),
            },
            |v| v["event"] == "withdrawn",
        )
        .await;
    let w = got.last().unwrap();
    assert_eq!(w["id"], a["id"]);
    assert!(w["why"].as_str().unwrap().contains("deleted"));
    let got = d
        .feed_until(
            ChatEvent::Ban {
                platform: Platform::Twitch,
                channel: "mika".into(),
                author_id: "u-bo".into(),
                at: t0() + TimeDelta::seconds(25),
                duration_s: Some(600),
            },
            |v| v["event"] == "withdrawn",
        )
        .await;
    assert_eq!(got.last().unwrap()["id"], b["id"]);
    // Approving a withdrawn draft sends nothing.
    let id = a["id"].as_i64().unwrap();
    d.rt.requests
        .send(clank::session::Request::Approve(id))
        .await
        .unwrap();
    d.rt.cancel.cancel();
    let _ = d.rt.join.await;
    assert!(d.sink.sent().is_empty());
    let store = Store::open(&db, &config.store).unwrap();
    for v in [&a, &b] {
        let row = store
            .get_response_async(v["id"].as_i64().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, ResponseStatus::Withdrawn);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_requests_approve_edit_reject_go_through_the_gate_once() {
    let env = Env::new();
    let config = mention_config(&env, &format!("http://{}", fake_ollama::free_addr()));
    let db = env.path("op.db");
    let mut d = Driven::start(config.clone(), &db);
    let (a, _) = d.draft_for(mention(1, "ana")).await;
    let (b, _) = d.draft_for(mention(2, "bo")).await;
    let (c, _) = d.draft_for(mention(3, "cy")).await;
    let id = |v: &Value| v["id"].as_i64().unwrap();
    use clank::session::Request;
    d.rt.requests
        .send(Request::Edit(
            id(&b),
            "/ban everyone, see https://x.example".into(),
        ))
        .await
        .unwrap();
    d.rt.requests
        .send(Request::Edit(id(&c), "thanks for asking!".into()))
        .await
        .unwrap();
    d.rt.requests.send(Request::Approve(id(&a))).await.unwrap();
    d.rt.requests.send(Request::Approve(id(&a))).await.unwrap();
    d.rt.requests.send(Request::Approve(id(&c))).await.unwrap();
    d.rt.requests.send(Request::Reject(id(&b))).await.unwrap();
    d.rt.requests.send(Request::Approve(id(&b))).await.unwrap();
    let _ = d
        .feed_until(mention(4, "di"), |v| v["event"] == "draft")
        .await;
    d.rt.cancel.cancel();
    let _ = d.rt.join.await;
    let sent = d.sink.sent();
    let texts: Vec<&str> = sent.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(sent.len(), 2, "{texts:?}");
    // An accepted edit is the operator's approval: c goes out at once, before
    // a's approve; approving c again sends nothing more.
    assert_eq!(sent[0].draft, id(&c));
    assert_eq!(texts[0], "@cy thanks for asking!");
    assert_eq!(sent[1].draft, id(&a));
    let store = Store::open(&db, &config.store).unwrap();
    assert_eq!(
        store
            .get_response_async(id(&b))
            .await
            .unwrap()
            .unwrap()
            .status,
        ResponseStatus::Rejected
    );
    let cr = store.get_response_async(id(&c)).await.unwrap().unwrap();
    assert_eq!(
        (cr.status, cr.response_type.as_str()),
        (ResponseStatus::Sent, "operator")
    );
}

/// A wire that is down: every send fails before reaching the platform.
struct DeadWire;

impl Sink for DeadWire {
    fn send<'a>(&'a self, _m: &'a SentReply) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("the wire is down".to_string()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_replies_wait_for_the_operator_and_outlive_a_restart() {
    let env = Env::new();
    // A dead LLM: fallbacks wait for the operator's approval.
    let config = mention_config(&env, &format!("http://{}", fake_ollama::free_addr()));
    let db = env.path("nd.db");
    let mut d = Driven::start_with(
        config.clone(),
        &db,
        Arc::new(RecordingSink::default()),
        Arc::new(DeadWire),
    );
    let (a, _) = d.draft_for(mention(1, "ana")).await;
    let (b, _) = d.draft_for(mention(2, "bo")).await;
    let id = |v: &Value| v["id"].as_i64().unwrap();
    use clank::session::Request;
    d.rt.requests.send(Request::Approve(id(&a))).await.unwrap();
    d.rt.requests.send(Request::Approve(id(&b))).await.unwrap();
    // Each approval is settled by the wire's verdict: failed, with its reason.
    let got = d
        .feed_until(mention(3, "cy"), |v| {
            v["event"] == "not_delivered" && v["id"] == b["id"]
        })
        .await;
    let nd: Vec<&Value> = got
        .iter()
        .filter(|v| v["event"] == "not_delivered")
        .collect();
    assert_eq!(nd.len(), 2, "{got:#?}");
    assert!(
        nd.iter()
            .all(|v| v["status"] == "failed" && v["why"] == "the wire is down")
    );
    assert!(
        !got.iter().any(|v| v["event"] == "sent"),
        "nothing counts as sent: {got:#?}"
    );
    // A retry goes through the wire again (and fails again); a discard drops b.
    d.rt.requests.send(Request::Retry(id(&a))).await.unwrap();
    d.rt.requests.send(Request::Discard(id(&b))).await.unwrap();
    let _ = d
        .feed_until(mention(4, "di"), |v| {
            v["event"] == "not_delivered" && v["id"] == a["id"]
        })
        .await;
    d.rt.cancel.cancel();
    let summary = d.rt.join.await.unwrap().unwrap();
    assert_eq!((summary.sent, summary.failed), (0, 3), "{summary:?}");
    let store = Store::open(&db, &config.store).unwrap();
    let ra = store.get_response_async(id(&a)).await.unwrap().unwrap();
    assert_eq!(
        (ra.status, ra.status_reason.as_deref(), ra.sent_at),
        (ResponseStatus::Failed, Some("the wire is down"), None)
    );
    let rb = store.get_response_async(id(&b)).await.unwrap().unwrap();
    assert_eq!(rb.status, ResponseStatus::Rejected);
    tokio::task::spawn_blocking(move || store.close())
        .await
        .unwrap()
        .unwrap();

    // After a restart the failed reply is back in the list, and a retry on a
    // working wire delivers it once.
    let sink = Arc::new(RecordingSink::default());
    let mut d = Driven::start_with(config.clone(), &db, sink.clone(), sink.clone());
    let restored = loop {
        let u = tokio::time::timeout(Duration::from_secs(20), d.rt.updates.recv())
            .await
            .expect("an update")
            .expect("runtime alive");
        if let clank::session::Update::Draft(v) = u {
            break v;
        }
    };
    assert_eq!(
        (restored.id, restored.state, restored.why.as_deref()),
        (
            id(&a),
            clank::model::DraftState::Failed,
            Some("the wire is down")
        )
    );
    d.rt.requests.send(Request::Retry(id(&a))).await.unwrap();
    d.rt.requests.send(Request::Retry(id(&a))).await.unwrap();
    let _ = d
        .feed_until(mention(5, "ed"), |v| v["event"] == "sent")
        .await;
    d.rt.cancel.cancel();
    let _ = d.rt.join.await;
    let sent = sink.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].draft, sent[0].reply_to.as_deref()),
        (id(&a), Some("m1"))
    );
}

fn time_of(v: &Value) -> DateTime<Utc> {
    v["at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("no time in {v}"))
}

/// The demo's message ids whose author is the broadcaster.
fn broadcaster_ids() -> std::collections::HashSet<String> {
    std::fs::read_to_string(DEMO)
        .expect("demo log")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["author"]["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == "broadcaster"))
        })
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

/// An hour of demo chat on the virtual clock with a dead LLM: every draft is a
/// held fallback, nothing is sent, and the unprompted trigger still fires at
/// most once per channel delay (it used to fire every 30 messages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_trigger_storm_with_a_dead_llm_and_held_fallbacks() {
    let env = Env::new();
    let dead = format!("http://{}", fake_ollama::free_addr());
    let mut config = env.config(&dead, "");
    config.channel_defaults.message_threshold = 30;
    config.channel_defaults.time_delay_s = 300;
    let file = env.demo(usize::MAX);
    let (lines, summary) = replay(&config, &file, &env.path("storm.db")).await;
    assert_eq!(summary.sent, 0, "fallbacks are held: {summary:?}");
    let triggers: Vec<&Value> = events(&lines, "trigger")
        .into_iter()
        .filter(|t| t["kind"] == "unprompted")
        .collect();
    assert!(!triggers.is_empty(), "the bot still speaks up");
    let mut by_channel: std::collections::HashMap<String, Vec<&Value>> = Default::default();
    for t in &triggers {
        let key = format!("{}/{}", t["platform"], t["channel"]);
        by_channel.entry(key).or_default().push(t);
    }
    for (chan, ts) in &by_channel {
        // The demo's moderators change the delay (`!clank delay 120`, `30`):
        // each trigger names the delay it waited for, and did wait for it.
        for w in ts.windows(2) {
            let reason = w[1]["reason"].as_str().unwrap_or("");
            let delay: i64 = reason
                .rsplit("(delay ")
                .next()
                .and_then(|r| r.strip_suffix("s)"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{chan}: no delay in {reason:?}"));
            assert!(delay >= 30, "{chan}: {reason}");
            assert!(
                time_of(w[1]) - time_of(w[0]) >= TimeDelta::seconds(delay),
                "{chan}: {} then {}",
                w[0],
                w[1]
            );
        }
    }
    // Before, the trigger fired every `message_threshold` messages: with 3,464
    // messages and thresholds of 25 to 40, well over 60 drafts in the hour.
    assert!(
        triggers.len() <= 50,
        "{} unprompted triggers",
        triggers.len()
    );
    // The broadcaster's own messages are never answered.
    let own = broadcaster_ids();
    assert!(!own.is_empty(), "the demo has broadcaster lines");
    for d in events(&lines, "draft") {
        if let Some(id) = d["message_id"].as_str() {
            assert!(!own.contains(id), "drafted a reply to the broadcaster: {d}");
        }
    }
}

/// With auto-send on, no draft starts in a channel while its delay since the
/// bot last spoke would outlast the draft's life: that LLM time was wasted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_draft_starts_while_the_channel_delay_outlasts_it() {
    let env = Env::new();
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text("Love that, the second phase is wild."));
    let mut config = env.config(&ollama.url(), "[auto]\ndraft_ttl_s = 60\n");
    config.channel_defaults.time_delay_s = 300;
    let file = env.demo(1500);
    let (lines, summary) = replay(&config, &file, &env.path("delay.db")).await;
    assert!(summary.sent > 0 && summary.skipped_delay > 0, "{summary:?}");
    let mut last_sent: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
    let mut checked = 0;
    for l in &lines {
        let key = format!("{}/{}", l["platform"], l["channel"]);
        match l["event"].as_str() {
            Some("sent") => {
                last_sent.insert(key, time_of(l));
            }
            Some("draft") => {
                if let Some(s) = last_sent.get(&key) {
                    // 300 s delay, 60 s life: nothing starts before 240 s.
                    assert!(time_of(l) - *s >= TimeDelta::seconds(240), "{l}");
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert!(
        checked > 0,
        "some drafts came after a send in their channel"
    );
    let skips = lines
        .iter()
        .filter(|l| {
            l["event"] == "decision"
                && l["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("ends after a draft started now would expire"))
        })
        .count();
    assert_eq!(skips as u64, summary.skipped_delay);
}

fn plain_message(i: i64, secs: i64) -> ChatEvent {
    ChatEvent::Message(ChatMessage {
        platform: Platform::Twitch,
        channel: "mika".into(),
        id: format!("p{i}"),
        at: t0() + TimeDelta::seconds(secs),
        author: Author {
            id: format!("u-p{i}"),
            name: format!("viewer{i}"),
            ..Author::default()
        },
        text: "nice run so far".into(),
        paid: None,
        reply_to: None,
    })
}

/// A down LLM is probed again with backoff: once its server is back the
/// header says "connected" without waiting for a draft to succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_llm_is_probed_and_comes_back_up_without_a_draft() {
    let env = Env::new();
    let addr = fake_ollama::free_addr();
    let config = mention_config(&env, &format!("http://{addr}"));
    let mut d = Driven::start(config, &env.path("probe.db"));
    d.feed_until(plain_message(1, 1), |v| {
        v["component"] == "llm" && v["status"] == "down"
    })
    .await;
    let ollama = fake_ollama::start_at(&addr).await;
    ollama.set_models(&["llama3.2"]);
    // Virtual time moves past the first probe's wait (5 s); no mention, so no draft.
    let got = d
        .feed_until(plain_message(2, 30), |v| {
            v["component"] == "llm" && v["status"] == "connected"
        })
        .await;
    assert!(!got.iter().any(|v| v["event"] == "draft"), "{got:?}");
    assert!(
        ollama.chats().is_empty(),
        "a probe lists models, it does not chat"
    );
    d.rt.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_nobody_approves_expires_after_its_ttl_and_only_then() {
    let env = Env::new();
    // A dead LLM: the fallback waits for an approval that never comes.
    let url = format!("http://{}", fake_ollama::free_addr());
    let config = env.config(
        &url,
        "[salience]\nstreamer_names = [\"clank\"]\n[auto]\ndraft_ttl_s = 60",
    );
    let db = env.path("ttl.db");
    let mut d = Driven::start(config.clone(), &db);
    let (a, _) = d.draft_for(mention(1, "ana")).await; // at t0 + 5 s
    // 50 s later: not yet.
    let got = d
        .feed_until(mention(11, "bo"), |v| v["event"] == "draft")
        .await;
    assert!(!got.iter().any(|v| v["event"] == "expired"), "{got:#?}");
    // 70 s after it was made: it expires, once.
    let got = d
        .feed_until(mention(15, "cy"), |v| v["event"] == "expired")
        .await;
    let expired: Vec<&Value> = got.iter().filter(|v| v["event"] == "expired").collect();
    assert_eq!(expired.len(), 1, "{got:#?}");
    assert_eq!(expired[0]["id"], a["id"]);
    d.rt.cancel.cancel();
    let summary = d.rt.join.await.unwrap().unwrap();
    assert_eq!(summary.expired, 1, "{summary:?}");
    let store = Store::open(&db, &config.store).unwrap();
    let row = store
        .get_response_async(a["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ResponseStatus::Expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_shown_and_the_run_goes_on() {
    let env = Env::new();
    let url = format!("http://{}", fake_ollama::free_addr());
    let config = env.config(
        &url,
        "[salience]\nstreamer_names = [\"clank\"]\n[store]\nbusy_timeout_ms = 200",
    );
    let db = env.path("locked.db");
    let mut d = Driven::start(config.clone(), &db);
    let _ = d.draft_for(mention(1, "ana")).await;
    // Another program takes the write lock and keeps it.
    let other = rusqlite::Connection::open(&db).expect("second connection");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let got = d
        .feed_until(mention(2, "bo"), |v| {
            v["component"] == "store" && v["status"] == "down"
        })
        .await;
    let down = got.last().unwrap();
    assert!(
        down["reason"].as_str().unwrap().contains("locked"),
        "{down}"
    );
    // More chat while it is locked: the run goes on, the error said once.
    let _ = d
        .feed_until(mention(3, "cy"), |v| v["event"] == "trigger")
        .await;
    other.execute_batch("COMMIT").expect("unlock");
    drop(other);
    let got = d
        .feed_until(mention(4, "di"), |v| {
            v["component"] == "store" && v["status"] == "connected"
        })
        .await;
    assert!(!got.is_empty());
    let errors = d
        .seen
        .iter()
        .filter(|v| v["event"] == "error" && v["what"].as_str().unwrap_or("").starts_with("store:"))
        .count();
    assert_eq!(errors, 1, "one error per outage: {:#?}", d.seen);
    d.rt.cancel.cancel();
    let summary = d.rt.join.await.unwrap();
    assert!(summary.is_ok(), "the run ended with {summary:?}");
    // Every message reached the store once the lock was gone.
    let store = Store::open(&db, &config.store).unwrap();
    let stored = store
        .last_messages_async(Platform::Twitch, "mika", 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 4, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_behind_still_stores_what_was_read() {
    let env = Env::new();
    let url = format!("http://{}", fake_ollama::free_addr());
    let config = env.config(&url, "");
    let db = env.path("drain.db");
    let d = Driven::start(config.clone(), &db);
    // 60 messages read by the adapters, then the stop, before the runtime
    // could have handled them all.
    for i in 0..60 {
        d.tx.try_send(Inbound::Chat(mention(100 + i, "ana")))
            .expect("room in the channel");
    }
    d.rt.cancel.cancel();
    let summary = d.rt.join.await.unwrap().unwrap();
    assert_eq!(summary.events, 60, "{summary:?}");
    let store = Store::open(&db, &config.store).unwrap();
    let stored = store
        .last_messages_async(Platform::Twitch, "mika", 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 60);
}

/// A wire that never answers: the send waits for its verdict.
struct SilentWire;

impl Sink for SilentWire {
    fn send<'a>(&'a self, _m: &'a SentReply) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_still_waiting_at_shutdown_is_left_unconfirmed_not_sending() {
    let env = Env::new();
    let config = mention_config(&env, &format!("http://{}", fake_ollama::free_addr()));
    let db = env.path("stop.db");
    let mut d = Driven::start_with(
        config.clone(),
        &db,
        Arc::new(RecordingSink::default()),
        Arc::new(SilentWire),
    );
    let (a, _) = d.draft_for(mention(1, "ana")).await;
    let id = a["id"].as_i64().unwrap();
    d.rt.requests
        .send(clank::session::Request::Approve(id))
        .await
        .unwrap();
    // Let the approval reach the runtime, then stop while it waits.
    let _ = d
        .feed_until(mention(2, "bo"), |v| {
            v["event"] == "decision" && v["action"] == "send"
        })
        .await;
    d.rt.cancel.cancel();
    let summary = d.rt.join.await.unwrap().unwrap();
    assert_eq!((summary.sent, summary.unconfirmed), (0, 1), "{summary:?}");
    let store = Store::open(&db, &config.store).unwrap();
    let row = store.get_response_async(id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.status_reason.as_deref(), row.sent_at),
        (
            ResponseStatus::Unconfirmed,
            Some(clank::store::STOPPED_BEFORE_VERDICT),
            None
        )
    );
}

/// A full disk mid-run: the summary counts as stored only the rows the
/// file holds, and the store's health says it is down once an outage (with
/// its counts refreshed now and then), not once per failed batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_said_once_and_the_summary_counts_only_committed_rows() {
    let env = Env::new();
    let url = format!("http://{}", fake_ollama::free_addr());
    // A 1 MiB cap stands in for a full disk: SQLite answers SQLITE_FULL alike.
    let config = env.config(&url, "[store]\nmax_size_mb = 1\nbatch_size = 16");
    let db = env.path("full.db");
    let mut d = Driven::start(config.clone(), &db);
    const N: i64 = 400;
    let started = std::time::Instant::now();
    let tx = d.tx.clone();
    let feeder = tokio::spawn(async move {
        for i in 0..N {
            let ChatEvent::Message(mut m) = plain_message(i, i) else {
                unreachable!()
            };
            m.text = format!("{i} a long message to fill the disk quickly ").repeat(100);
            if tx.send(Inbound::Chat(ChatEvent::Message(m))).await.is_err() {
                return;
            }
        }
    });
    let mut feeder = feeder;
    loop {
        tokio::select! {
            done = &mut feeder => {
                done.unwrap();
                break;
            }
            Some(u) = d.rt.updates.recv() => {
                if let Some(v) = headless::update_json(&u) {
                    d.seen.push(v);
                }
            }
        }
    }
    // What was fed and not yet handled is drained by the stop.
    d.rt.cancel.cancel();
    while let Ok(Some(u)) = tokio::time::timeout(Duration::from_secs(30), d.rt.updates.recv()).await
    {
        if let Some(v) = headless::update_json(&u) {
            d.seen.push(v);
        }
    }
    let summary = d.rt.join.await.unwrap().unwrap();
    assert!(summary.store_lost > 0, "the cap was never hit: {summary:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: u64 = conn
        .query_row("SELECT COUNT(*) FROM chat_messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(summary.stored, rows, "{summary:?}");
    assert!(rows < N as u64, "{rows}");
    let downs: Vec<&Value> = d
        .seen
        .iter()
        .filter(|v| v["component"] == "store" && v["status"] == "down")
        .collect();
    assert!(!downs.is_empty(), "the outage was never shown");
    assert!(
        downs[0]["reason"].as_str().unwrap_or("").contains("full"),
        "{:?}",
        downs[0]
    );
    // Said once an outage, then again at most every 5 s with fresh counts;
    // a batch that commits in between ends the outage (the store is up),
    // and the next failure is a new one. Before: a line per failed batch.
    let ups = d
        .seen
        .iter()
        .filter(|v| v["component"] == "store" && v["status"] == "connected")
        .count();
    let refreshes = started.elapsed().as_secs() as usize / 5;
    assert!(
        downs.len() <= 1 + ups + refreshes,
        "{} store health lines, {ups} recoveries, {refreshes} refreshes due: {downs:#?}",
        downs.len()
    );
    assert!(
        (downs.len() as u64) < summary.store_lost / 4,
        "{} lines for {} lost writes",
        downs.len(),
        summary.store_lost
    );
}
