//! Opt-in: drafts against a real local LLM server (not run by default; CI has
//! none). Start one (see the README, "Trying a real local model"), then
//! `CLANK_LLM_URL=http://127.0.0.1:18080 cargo test --test real_llm -- --ignored --nocapture`.
//! Prints one JSON line per message: the raw first answer, what the gate said
//! about it, and the draft that would go out. Fails if anything broken would.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use clank::engine::filter::{ContentFilter, FilterConfig};
use clank::model::ChatEvent;
use clank::reply::context::{DEFAULT_HISTORY_LINES, Goal, Persona, PromptInput, build_prompt};
use clank::reply::format::{Fallbacks, OutputPolicy, check_broken, screen_llm_text, verify};
use clank::reply::llm::{LlmConfig, Provider, connect};
use clank::reply::pipeline::{DraftGoal, DraftParams, Drafter};
use clank::reply::slots::LlmSlots;
use clank::store::{Store, StoreConfig, StoredMessage};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/chat.jsonl");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real local LLM server: see the README"]
async fn drafts_against_a_real_local_server() {
    let url = std::env::var("CLANK_LLM_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let n: usize = std::env::var("CLANK_LLM_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let cfg = LlmConfig {
        provider: Provider::Openai,
        url,
        model: "local".into(),
        timeout_s: 60,
        retries: 0,
        ..LlmConfig::default()
    };
    let llm = connect(&cfg, &|_| None).expect("client");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("real.db"), &StoreConfig::default()).expect("store");
    let file = std::fs::File::open(DEMO).expect("demo log");
    let (events, _) = clank::chatlog::read_all(file).expect("demo parses");
    let persona = Persona::builtin();
    let drafter = Drafter {
        llm: Some(llm.clone()),
        store: store.clone(),
        persona: persona.clone(),
        fallbacks: Fallbacks::builtin(),
        output: OutputPolicy::default(),
        filter: Arc::new(ContentFilter::load(&FilterConfig::default())),
        token_budget: 1536,
        history_lines: DEFAULT_HISTORY_LINES,
        slots: LlmSlots::new(1, 8),
        timeout: Duration::from_secs(65),
        guidance: Arc::new(RwLock::new(None)),
    };
    let mut history = Vec::new();
    let mut done = 0;
    for ev in events {
        let ChatEvent::Message(m) = ev else { continue };
        // The store's sync calls block: not on the async worker itself.
        tokio::task::block_in_place(|| {
            store.insert_message(StoredMessage {
                message: m.clone().into(),
                salience: None,
                attention_state: None,
                metadata: None,
                processed_at: None,
                queued_until: None,
            })
        })
        .expect("store");
        history.push(m.clone());
        // Questions on Twitch, each with the chat before it.
        if m.platform != clank::model::Platform::Twitch
            || !m.text.contains('?')
            || history.len() < 20
        {
            continue;
        }
        tokio::task::block_in_place(|| store.flush()).expect("flush");
        let recent: Vec<_> = history
            .iter()
            .filter(|h| h.platform == m.platform && h.channel == m.channel)
            .cloned()
            .collect();
        let prompt = build_prompt(&PromptInput {
            persona: &persona,
            topic: None,
            guidance: None,
            history: &recent[recent.len().saturating_sub(200)..],
            goal: Goal::Answer(&m),
            token_budget: 1536,
            strict: false,
            history_lines: DEFAULT_HISTORY_LINES,
        });
        let mut guard = prompt.guard.clone();
        let est = prompt.estimated_tokens;
        let raw = llm
            .stream_chat(prompt.into_request(None, Some(done as u64)), &mut |_| {})
            .await
            .expect("the server answers");
        guard.cut_at_limit = raw.done_reason.as_deref() == Some("length");
        let gate = screen_llm_text(&raw.text, &guard).and_then(|t| {
            check_broken(&t)?;
            Ok(t)
        });
        let goal = DraftGoal::Answer {
            message: m.clone(),
            priority: None,
        };
        let params = DraftParams {
            context_limit: 200,
            model: None,
            topic: None,
            seed: done as u64,
        };
        let out = drafter.draft(&goal, &params, &mut |_| {}).await;
        println!(
            "{}",
            serde_json::json!({
                "message": m.text,
                "raw": raw.text,
                "done_reason": raw.done_reason,
                "ttft_ms": raw.time_to_first_token.map(|t| t.as_millis() as u64),
                "prompt_tokens_est": est,
                "first_gate": gate.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|b| b.to_string()),
                "draft": out.text.as_ref().ok(),
                "source": format!("{:?}", out.source),
                "note": out.gate.or(out.error),
            })
        );
        if let Ok(text) = &out.text {
            let target = goal.target();
            assert!(
                verify(text, &target, &OutputPolicy::default(), &|_| None).is_ok()
                    && check_broken(text).is_ok(),
                "{text:?}"
            );
        }
        done += 1;
        if done >= n {
            break;
        }
    }
    assert_eq!(done, n, "enough questions in the demo");
}
