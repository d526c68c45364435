//! End-to-end tests of the `clank` binary's scripting commands on real files:
//! `score`, `replay`, `export`, `db prune`, `config`, and their bad-input paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn clank(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clank"))
        .args(args)
        // A private HOME keeps the user's real config and database out of the test.
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("DATABASE_URL")
        .env_remove("MAX_QUEUE_SIZE")
        .env_remove("CONTENT_FILTER_ENABLED")
        .env_remove("BLOCKED_WORDS_FILE")
        .output()
        .expect("clank binary runs")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is JSON: {l}: {e}"))
        })
        .collect()
}

fn demo_log() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/chat.jsonl")
}

const SMALL_LOG: &str = r#"{"platform":"twitch","channel":"mikavt","id":"a1","at":"2026-11-21T20:00:01Z","author":{"id":"11","name":"Rin","roles":["subscriber"],"months":14},"text":"@Mika how did you beat that boss?"}
{"platform":"youtube","channel":"mikavt-live","id":"y7","at":"2026-11-21T20:00:02Z","author":{"id":"UCx","name":"Kaz","roles":["member"]},"text":"love this run, what build are you using?","paid":{"amount":20.0,"currency":"USD","kind":"superchat"}}
{"platform":"twitch","channel":"mikavt","id":"a2","at":"2026-11-21T20:00:03Z","author":{"id":"12","name":"spammer"},"text":"LUL LUL LUL LUL LUL LUL LUL LUL LUL LUL LUL LUL"}
{"platform":"discord","channel":"stream-chat","id":"d1","at":"2026-11-21T20:00:04Z","author":{"id":"900","name":"Ame","roles":["moderator"]},"text":"reminder: be nice in chat"}
{"kind":"delete","platform":"twitch","channel":"mikavt","id":"a2","at":"2026-11-21T20:00:05Z"}
"#;

#[test]
fn score_prints_one_line_per_message_with_breakdown() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("small.jsonl");
    std::fs::write(&log, SMALL_LOG).unwrap();
    let out = clank(
        &["score", log.to_str().unwrap(), "--streamer", "Mika"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "one line per message, none for the delete");
    for l in &lines {
        assert!(l["id"].is_string());
        let score = l["score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&score));
        for f in ["content", "authority", "relevance", "temporal"] {
            let v = l["breakdown"][f].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{f} in [0,1]: {l}");
        }
        assert!(["CRITICAL", "HIGH", "MEDIUM", "LOW"].contains(&l["priority"].as_str().unwrap()));
    }
    let by_id = |id: &str| {
        lines.iter().find(|l| l["id"] == id).unwrap()["score"]
            .as_f64()
            .unwrap()
    };
    assert!(
        by_id("y7") > by_id("a2"),
        "a paid question outranks emote spam"
    );
    assert!(
        by_id("a1") > by_id("a2"),
        "a question to the streamer outranks emote spam"
    );
}

#[test]
fn replay_json_reports_decisions_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = clank(
        &[
            "replay",
            demo_log().to_str().unwrap(),
            "--speed",
            "max",
            "--json",
            "--streamer",
            "Mika",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let first = &lines[0];
    assert_eq!(first["event"], "attention");
    assert!(
        first["at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-21T20:00")
    );
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert!(last["counts"]["messages"].as_u64().unwrap() > 2500);
    assert!(last["counts"]["deletions"].as_u64().unwrap() >= 15);
    assert!(last["counts"]["bans"].as_u64().unwrap() >= 3);
    let selected = lines.iter().filter(|l| l["event"] == "selected").count();
    let skipped = lines.iter().filter(|l| l["event"] == "skipped").count();
    assert!(selected > 10, "some messages are selected: {selected}");
    assert!(skipped > 0);
    assert!(lines.iter().any(|l| l["event"] == "trigger"));
    for l in lines.iter().filter(|l| l["event"] == "selected") {
        for key in ["at", "id", "state", "score"] {
            assert!(!l[key].is_null(), "selected has {key}: {l}");
        }
    }
    let states: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "attention")
        .map(|l| l["state"].as_str().unwrap())
        .collect();
    assert!(
        states.len() > 3,
        "an hour of chat sees several transitions: {states:?}"
    );
    let secs = &last["seconds_per_state"];
    let total: f64 = [
        "focused_interaction",
        "casual_monitoring",
        "deep_focus",
        "break_transition",
    ]
    .iter()
    .map(|s| secs[s].as_f64().unwrap())
    .sum();
    assert!(total > 3000.0, "about an hour of virtual time: {total}");
}

#[test]
fn replay_repeat_shifts_ids_so_nothing_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("small.jsonl");
    std::fs::write(&log, SMALL_LOG).unwrap();
    let db = dir.path().join("r.db");
    let out = clank(
        &[
            "replay",
            log.to_str().unwrap(),
            "--repeat",
            "3",
            "--db",
            db.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "without --json only the summary");
    let s = &lines[0];
    assert_eq!(s["counts"]["messages"], 12);
    assert_eq!(s["counts"]["duplicates"], 0);
    assert_eq!(s["counts"]["deletions"], 3);
    // Export reads the same store back as a chat log.
    let out = clank(
        &[
            "export",
            "--channel",
            "mikavt",
            "--db",
            db.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = json_lines(&out);
    // Three passes of a1 survive; the spam a2 was deleted each pass.
    let ids: Vec<&str> = exported.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["a1", "a1~1", "a1~2"]);
}

#[test]
fn bad_input_is_reported_by_line_and_the_rest_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad.jsonl");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"this is not json\n");
    bytes.extend_from_slice(&vec![b'{'; 1024 * 1024]);
    bytes.push(b'\n');
    bytes.extend_from_slice(b"{\"platform\":\"twitch\",\"text\":\"\xc3\x28\"}\n");
    bytes.extend_from_slice(br#"{"platform":"myspace","channel":"c","id":"m1","at":"2026-11-21T20:00:01Z","author":{"id":"1","name":"a"},"text":"hi"}"#);
    bytes.push(b'\n');
    bytes.extend_from_slice(SMALL_LOG.as_bytes());
    // The same id twice: reported, stored once.
    bytes.extend_from_slice(SMALL_LOG.lines().next().unwrap().as_bytes());
    bytes.push(b'\n');
    std::fs::write(&log, &bytes).unwrap();
    let out = clank(&["replay", log.to_str().unwrap(), "--json"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "line 1",
        "line 2",
        "line 3",
        "line 4",
        "myspace",
        "UTF-8",
        "1048576 bytes",
    ] {
        assert!(stderr.contains(needle), "stderr names {needle}: {stderr}");
    }
    let lines = json_lines(&out);
    let summary = lines.last().unwrap();
    assert_eq!(summary["bad_lines"], 4);
    assert_eq!(summary["counts"]["messages"], 5);
    assert_eq!(summary["counts"]["duplicates"], 1);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "warning" && l["what"].as_str().unwrap().contains("duplicate"))
    );
}

#[test]
fn missing_file_and_unwritable_db_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = clank(&["score", "/nonexistent/chat.jsonl"], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/chat.jsonl"), "{stderr}");

    // A database "inside" a regular file can never be created, even as root.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let db = blocker.join("clank.db");
    let log = dir.path().join("small.jsonl");
    std::fs::write(&log, SMALL_LOG).unwrap();
    let out = clank(
        &[
            "replay",
            log.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("clank.db"), "names the path: {stderr}");
}

#[test]
fn bad_config_names_key_and_range_and_secrets_stay_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[salience.weights]\ncontent = 2.5\n").unwrap();
    let out = clank(&["config", "--config", cfg.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("salience.weights.content"), "{stderr}");

    std::fs::write(&cfg, "[discord]\nbot_token = \"MTIz.very-secret\"\n").unwrap();
    let out = clank(&["config", "--config", cfg.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("***"));
    assert!(!stdout.contains("very-secret"));
}

#[test]
fn replay_and_score_read_raw_twitch_irc_captures() {
    let dir = tempfile::tempdir().unwrap();
    let irc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/twitch-nymn.irc");
    let out = clank(&["replay", irc.to_str().unwrap(), "--json"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["counts"]["messages"], 798, "{summary}");
    assert_eq!(summary["counts"]["bans"], 2, "{summary}");
    assert_eq!(summary["bad_lines"], 0);
    assert!(lines.iter().any(|l| l["event"] == "selected"));

    let out = clank(&["score", irc.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scored = json_lines(&out);
    assert_eq!(scored.len(), 798, "one line per PRIVMSG");
    assert!(
        scored
            .iter()
            .all(|l| l["platform"] == "twitch" || l["filtered"] == true)
    );
}

const RAID_LOG: &str = r#"{"platform":"twitch","channel":"mikavt","id":"a1","at":"2026-11-21T20:00:01Z","author":{"id":"11","name":"Rin"},"text":"hello chat"}
{"kind":"raid","platform":"twitch","channel":"mikavt","from":"Hoshi","from_id":"77","viewers":120,"at":"2026-11-21T20:00:02Z"}
{"kind":"sub","platform":"twitch","channel":"mikavt","sub_kind":"gift","author":{"id":"5","name":"Kaz"},"recipient":"Rin","at":"2026-11-21T20:00:03Z"}
{"platform":"twitch","channel":"mikavt","id":"a2","at":"2026-11-21T20:00:04Z","author":{"id":"12","name":"Ume"},"text":"raid hype!"}
"#;

#[test]
fn a_recorded_raid_replays_as_an_attention_event_and_a_system_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("raid.jsonl");
    std::fs::write(&log, RAID_LOG).unwrap();
    // The core alone: the raid reaches the attention machine.
    let out = clank(
        &[
            "replay",
            log.to_str().unwrap(),
            "--json",
            "--db",
            dir.path().join("a.db").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let raid = lines
        .iter()
        .find(|l| l["event"] == "attention" && l["cause"] == "raid")
        .unwrap_or_else(|| panic!("no raid attention event: {lines:#?}"));
    assert!(raid["reason"].as_str().unwrap().contains("Hoshi"), "{raid}");
    assert_eq!(raid["state"], "focused_interaction", "{raid}");
    // The whole pipeline: the raid and the gift show as system lines too.
    let out = clank(
        &[
            "replay",
            log.to_str().unwrap(),
            "--auto",
            "--json",
            "--db",
            dir.path().join("b.db").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "attention" && l["cause"] == "raid"),
        "{lines:#?}"
    );
    let system: Vec<&Value> = lines.iter().filter(|l| l["event"] == "system").collect();
    assert_eq!(system.len(), 2, "{system:#?}");
    assert_eq!(system[0]["kind"], "raid");
    assert!(
        system[1]["text"].as_str().unwrap().contains("Kaz"),
        "{system:#?}"
    );
    let summary = lines.iter().find(|l| l["event"] == "summary").unwrap();
    assert_eq!(summary["platform_events"], 2, "{summary}");
    // A gifter is thanked once the raid pulled attention to chat.
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "draft" && l["text"].as_str().unwrap_or("").contains("Kaz")),
        "a thank-you draft for Kaz: {lines:#?}"
    );
}
