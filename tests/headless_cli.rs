//! `clank replay FILE --auto --json` as a user runs it: the binary against a
//! loopback fake Ollama, one JSON line per event, a final summary.

mod support;

use std::process::Command;

use serde_json::Value;
use support::fake_ollama::{self, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_auto_json_prints_drafts_and_sends_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let ollama = fake_ollama::start().await;
    ollama.set_default(Reply::text("Good luck on the run!"));
    let cfg = dir.path().join("clank.toml");
    std::fs::write(
        &cfg,
        format!(
            "[llm]\nurl = \"{}\"\ntimeout_s = 3\nretries = 0\n[channel_defaults]\ntime_delay_s = 0\n[auto]\nmin_priority = \"LOW\"\nmax_sends_per_minute = 120\n",
            ollama.url()
        ),
    )
    .unwrap();
    let log = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/chat.jsonl");
    let home = dir.path().to_path_buf();
    let cfg_s = cfg.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_clank"))
            .args(["--config", &cfg_s, "replay", log, "--auto", "--json"])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env_remove("OLLAMA_URL")
            .env_remove("AUTOLIZA_WEBHOOK_URL")
            .env_remove("VTUBER_ENDPOINT_URL")
            .output()
            .expect("clank runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds = |k: &str| lines.iter().filter(|l| l["event"] == k).count();
    assert!(
        kinds("selected") > 0 && kinds("attention") > 0,
        "core events are there"
    );
    assert!(kinds("draft") > 0 && kinds("sent") > 0);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["sent"].as_u64().unwrap() as usize, kinds("sent"));
    for l in lines
        .iter()
        .filter(|l| l["event"] == "sent" || l["event"] == "draft")
    {
        for key in ["at", "id", "platform", "channel", "text"] {
            assert!(!l[key].is_null(), "{key} in {l}");
        }
        assert!(
            l["text"]
                .as_str()
                .unwrap()
                .contains("Good luck on the run!")
        );
    }
    assert_eq!(ollama.chats().len(), kinds("draft"));
}

/// `clank --auto` live against the fake IRC: a raid Twitch announces with a
/// USERNOTICE moves the attention state (an `attention` line with cause
/// `raid`) and shows as a `system` raid line, while the run goes on; the log
/// streams as it happens and Ctrl-C ends it with a summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raid_in_a_live_auto_run_moves_attention_and_is_logged() {
    use std::time::Duration;
    use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc};
    use support::live::{self, PATIENCE};
    use tokio::io::{AsyncBufReadExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let ollama = fake_ollama::start().await;
    let cfg = dir.path().join("clank.toml");
    std::fs::write(
        &cfg,
        live::config_toml(dir.path(), &irc.irc_addr(), None, &ollama.url()),
    )
    .unwrap();
    let home = dir.path();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clank"))
        .arg("--config")
        .arg(&cfg)
        .arg("--auto")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("OLLAMA_URL")
        .env_remove("AUTOLIZA_WEBHOOK_URL")
        .env_remove("VTUBER_ENDPOINT_URL")
        .env_remove("TWITCH_CHANNELS")
        .env_remove("TWITCH_CLIENT_ID")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("clank starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines: Vec<Value> = Vec::new();
    // Reads log lines until one satisfies `pred`; the log must stream.
    async fn read_until(
        stdout: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
        lines: &mut Vec<Value>,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        loop {
            let line = match tokio::time::timeout(PATIENCE, stdout.next_line()).await {
                Ok(Ok(Some(l))) => l,
                Ok(Ok(None)) => panic!("clank exited before {what}; printed {lines:#?}"),
                Ok(Err(e)) => panic!("reading stdout: {e}"),
                Err(_) => panic!("no {what} on stdout; printed {lines:#?}"),
            };
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            lines.push(v.clone());
            if pred(&v) {
                return v;
            }
        }
    }

    irc.wait_for("JOIN", 1, PATIENCE).await;
    // Anonymous: reading works, the log says so while the run is going.
    read_until(&mut stdout, &mut lines, "twitch health", |v| {
        v["event"] == "health" && v["component"] == "twitch"
    })
    .await;

    irc.send(&live::raid("bigstreamer", "BigStreamer", "99", 120));
    let attention = read_until(&mut stdout, &mut lines, "the raid's attention line", |v| {
        v["event"] == "attention" && v["cause"] == "raid"
    })
    .await;
    assert_eq!(attention["from"], "casual_monitoring", "{attention}");
    assert_eq!(attention["state"], "focused_interaction", "{attention}");
    assert!(
        attention["reason"]
            .as_str()
            .unwrap()
            .contains("raid from BigStreamer with 120 viewers"),
        "{attention}"
    );
    let system = lines
        .iter()
        .find(|v| v["event"] == "system")
        .cloned()
        .expect("the system line comes before the core's");
    assert_eq!(system["kind"], "raid", "{system}");
    assert_eq!(system["platform"], "twitch");
    assert_eq!(system["channel"], live::CHANNEL);
    assert_eq!(system["text"], "raid from BigStreamer with 120 viewers");

    // Ctrl-C: a clean exit with the summary as the last line.
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let summary = read_until(&mut stdout, &mut lines, "the summary", |v| {
        v["event"] == "summary"
    })
    .await;
    assert!(
        summary["platform_events"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    let exit = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("clank exits after Ctrl-C")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
