//! A draft the gate calls broken (prompt echo, a loop, cut off) is written once
//! more with a stricter prompt; broken twice, the fallback stands in and says
//! why. Driven by a scripted LLM, so each attempt's text is known.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use clank::engine::filter::{ContentFilter, FilterConfig};
use clank::model::{Author, ChatMessage, DraftSource, Platform};
use clank::reply::context::Persona;
use clank::reply::format::{Blocked, Fallbacks, OutputPolicy};
use clank::reply::llm::{
    BoxFuture, ChatRequest, Completion, LlmClient, LlmError, ModelStatus, Provider, ServerTimings,
};
use clank::reply::pipeline::{DraftGoal, DraftParams, Drafter};
use clank::reply::slots::LlmSlots;
use clank::store::{Store, StoreConfig};

/// Answers each request with the next scripted (text, done_reason) and keeps the requests.
struct Scripted {
    /// Answer only after this long (a busy server).
    delay: Duration,
    replies: Mutex<VecDeque<(&'static str, &'static str)>>,
    seen: Mutex<Vec<ChatRequest>>,
    /// Calls in progress now, and the most at once.
    inside: Mutex<(usize, usize)>,
}

impl LlmClient for Scripted {
    fn stream_chat<'a>(
        &'a self,
        req: ChatRequest,
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, LlmError>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(req);
            {
                let mut i = self.inside.lock().unwrap();
                i.0 += 1;
                i.1 = i.1.max(i.0);
            }
            tokio::time::sleep(self.delay).await;
            self.inside.lock().unwrap().0 -= 1;
            let (text, reason) = self
                .replies
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(("no more script", "stop"));
            on_token(text);
            Ok(Completion {
                text: text.to_string(),
                model: "scripted".into(),
                done_reason: Some(reason.to_string()),
                time_to_first_token: Some(Duration::from_millis(1)),
                total: Duration::from_millis(2),
                tokens: 1,
                tokens_per_s: None,
                server: ServerTimings::default(),
                attempts: 1,
            })
        })
    }

    fn check_model(&self) -> BoxFuture<'_, Result<ModelStatus, LlmError>> {
        Box::pin(async {
            Ok(ModelStatus {
                wanted: "scripted".into(),
                found: true,
                available: vec!["scripted".into()],
                listing_is_binding: true,
            })
        })
    }

    fn provider(&self) -> Provider {
        Provider::Openai
    }

    fn model(&self) -> &str {
        "scripted"
    }
}

fn drafter(
    script: &[(&'static str, &'static str)],
    dir: &std::path::Path,
) -> (Drafter, Arc<Scripted>) {
    let llm = Arc::new(Scripted {
        delay: Duration::ZERO,
        replies: Mutex::new(script.iter().copied().collect()),
        seen: Mutex::new(Vec::new()),
        inside: Mutex::new((0, 0)),
    });
    let store = Store::open(&dir.join("clank.db"), &StoreConfig::default()).expect("store");
    let d = Drafter {
        llm: Some(llm.clone()),
        store,
        persona: Persona::builtin(),
        fallbacks: Fallbacks::from_text("Thanks for hanging out!"),
        output: OutputPolicy::default(),
        filter: Arc::new(ContentFilter::load(&FilterConfig::default())),
        token_budget: 1536,
        history_lines: 8,
        slots: LlmSlots::new(1, 8),
        timeout: Duration::from_secs(30),
        guidance: Arc::new(RwLock::new(None)),
    };
    (d, llm)
}

fn answer(text: &str) -> DraftGoal {
    DraftGoal::Answer {
        message: ChatMessage {
            platform: Platform::Twitch,
            channel: "mika".into(),
            id: "m1".into(),
            at: chrono::Utc::now(),
            author: Author {
                id: "u1".into(),
                name: "Rin".into(),
                ..Author::default()
            },
            text: text.into(),
            paid: None,
            reply_to: None,
        },
        priority: None,
    }
}

fn params() -> DraftParams {
    DraftParams {
        context_limit: 10,
        model: None,
        topic: None,
        seed: 7,
    }
}

#[tokio::test]
async fn an_echo_is_drafted_again_with_a_stricter_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let (d, llm) = drafter(
        &[
            ("<<<MESSAGE Rin: \"hi\" MESSAGE>>>", "stop"),
            ("Hey Rin, welcome in!", "stop"),
        ],
        dir.path(),
    );
    let out = d.draft(&answer("hi"), &params(), &mut |_| {}).await;
    assert_eq!(out.text.as_deref(), Ok("@Rin Hey Rin, welcome in!"));
    assert_eq!(out.source, DraftSource::Llm);
    assert_eq!(out.attempts, 2);
    assert!(out.error.is_none(), "the LLM is fine: {:?}", out.error);
    assert!(
        out.gate
            .as_deref()
            .is_some_and(|g| g.contains("block marker")),
        "{:?}",
        out.gate
    );
    let seen = llm.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let last = |r: &ChatRequest| {
        r.messages
            .iter()
            .map(|m| m.content.clone())
            .collect::<String>()
    };
    assert!(!last(&seen[0]).contains("own words"));
    assert!(
        last(&seen[1]).contains("own words"),
        "the retry is stricter"
    );
    assert_ne!(seen[0].seed, seen[1].seed, "and not the same sample again");
}

#[tokio::test]
async fn broken_twice_falls_back_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (d, llm) = drafter(
        &[("LUL LUL LUL LUL LUL", "stop"), ("It's a great", "length")],
        dir.path(),
    );
    let out = d
        .draft(&answer("what game is this?"), &params(), &mut |_| {})
        .await;
    assert_eq!(out.source, DraftSource::Fallback);
    assert_eq!(out.text.as_deref(), Ok("@Rin Thanks for hanging out!"));
    assert!(out.error.is_none());
    let gate = out.gate.unwrap_or_default();
    assert!(
        gate.contains("cut off") && gate.contains("fallback"),
        "{gate}"
    );
    assert_eq!(llm.seen.lock().unwrap().len(), 2, "one retry, no more");
}

#[tokio::test]
async fn unsafe_text_is_blocked_without_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (d, llm) = drafter(&[("/ban streamer", "stop"), ("fine", "stop")], dir.path());
    let out = d.draft(&answer("hi"), &params(), &mut |_| {}).await;
    assert!(
        matches!(out.text, Err(Blocked::Command(_))),
        "{:?}",
        out.text
    );
    assert_eq!(llm.seen.lock().unwrap().len(), 1);
}

/// A server that answers after the draft's deadline is slow, not down: the
/// outcome says so, so the header can tell the two apart.
#[tokio::test(start_paused = true)]
async fn a_late_answer_is_slow_not_down() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = drafter(&[("Hey Rin!", "stop")], dir.path());
    d.llm = Some(Arc::new(Scripted {
        delay: Duration::from_secs(90),
        replies: Mutex::new([("Hey Rin!", "stop")].into_iter().collect()),
        seen: Mutex::new(Vec::new()),
        inside: Mutex::new((0, 0)),
    }));
    let out = d.draft(&answer("hi"), &params(), &mut |_| {}).await;
    assert_eq!(out.source, DraftSource::Fallback);
    assert!(out.timed_out, "{:?}", out.error);
    let (d, _) = drafter(&[("Hey Rin!", "stop")], dir.path());
    let out = d.draft(&answer("hi"), &params(), &mut |_| {}).await;
    assert!(!out.timed_out && out.source == DraftSource::Llm);
}

/// Ten drafts at once against a server with two slots: never more than two
/// at the LLM, all ten answered in turn.
#[tokio::test(start_paused = true)]
async fn drafts_in_flight_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = drafter(&[], dir.path());
    let llm = Arc::new(Scripted {
        delay: Duration::from_secs(2),
        replies: Mutex::new(VecDeque::new()),
        seen: Mutex::new(Vec::new()),
        inside: Mutex::new((0, 0)),
    });
    d.llm = Some(llm.clone());
    d.slots = LlmSlots::new(2, 16);
    let d = Arc::new(d);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let mut p = params();
            p.seed = i;
            d.draft(&answer("what game is this?"), &p, &mut |_| {})
                .await
        }));
    }
    for t in tasks {
        let out = t.await.unwrap();
        assert_eq!(out.source, DraftSource::Llm, "{:?}", out.error);
    }
    assert_eq!(llm.seen.lock().unwrap().len(), 10);
    assert_eq!(llm.inside.lock().unwrap().1, 2, "at most two at once");
}
