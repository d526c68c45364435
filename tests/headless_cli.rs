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
