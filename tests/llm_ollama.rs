//! The Ollama client against a loopback Ollama that speaks the real NDJSON
//! protocol: streaming, timings, errors, retries and deadlines.

mod support;

use std::time::Duration;

use clank::reply::llm::{
    ChatRequest, ClientSettings, LlmClient, LlmError, OllamaClient, PromptMessage,
};
use support::fake_ollama::{self, Reply};

fn client(url: &str) -> OllamaClient {
    let mut s = ClientSettings::for_url(url, "llama3.2");
    s.timeout = Duration::from_secs(10);
    s.backoff = Duration::from_millis(10);
    OllamaClient::new(s).expect("client builds")
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            PromptMessage::system("You are Mika."),
            PromptMessage::user("hi"),
        ],
        model: None,
        seed: Some(42),
        stop: vec!["\n\n".into()],
    }
}

async fn chat(
    c: &OllamaClient,
    req: ChatRequest,
) -> (Result<clank::reply::Completion, LlmError>, Vec<String>) {
    let mut tokens = Vec::new();
    let mut on_token = |t: &str| tokens.push(t.to_string());
    let r = c.stream_chat(req, &mut on_token).await;
    (r, tokens)
}

#[tokio::test]
async fn streams_tokens_and_records_timings() {
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::slow(
        "Parry right after the flash!",
        Duration::from_millis(30),
        Duration::from_millis(5),
    ));
    let c = client(&fake.url());
    let (r, tokens) = chat(&c, request()).await;
    let done = r.expect("completion");
    assert_eq!(tokens.concat(), "Parry right after the flash!");
    assert_eq!(
        tokens.len(),
        5,
        "one callback per streamed chunk: {tokens:?}"
    );
    assert_eq!(done.text, "Parry right after the flash!");
    assert_eq!(done.done_reason.as_deref(), Some("stop"));
    assert_eq!(done.tokens, 5, "eval_count from the server");
    assert_eq!(done.attempts, 1);
    assert_eq!(done.model, "llama3.2");
    let served = fake.served()[0];
    assert_eq!(done.server.eval_count, Some(5));
    assert_eq!(
        done.server.total.map(|d| d.as_nanos() as u64),
        served.reported_total_ns
    );
    assert!(done.tokens_per_s.is_some_and(|r| r > 0.0));
    // clank's window contains the server's: its time to first token cannot be shorter.
    let ttft = done.time_to_first_token.expect("ttft");
    assert!(
        ttft >= served.ttft().expect("fake ttft"),
        "{ttft:?} vs {:?}",
        served.ttft()
    );
    assert!(done.total >= ttft);
}

#[tokio::test]
async fn sends_the_documented_request() {
    let fake = fake_ollama::start().await;
    let c = client(&fake.url());
    chat(&c, request()).await.0.expect("completion");
    let chats = fake.chats();
    assert_eq!(chats.len(), 1);
    let r = &chats[0];
    assert_eq!(r.path, "/api/chat");
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let b = &r.body;
    assert_eq!(b["model"], "llama3.2");
    assert_eq!(b["stream"], true);
    assert_eq!(b["keep_alive"], "30m");
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][0]["content"], "You are Mika.");
    assert_eq!(b["messages"][1]["role"], "user");
    let o = &b["options"];
    assert_eq!(o["temperature"], 0.8);
    assert_eq!(o["top_p"], 0.9);
    assert_eq!(o["num_predict"], 120);
    assert_eq!(o["seed"], 42);
    assert_eq!(o["stop"][0], "\n\n");
    assert!(r.authorization.is_none(), "no key configured, none sent");
}

#[tokio::test]
async fn a_channel_model_overrides_the_configured_one() {
    let fake = fake_ollama::start().await;
    fake.set_models(&["llama3.2:latest", "qwen2.5:7b"]);
    let c = client(&fake.url());
    let req = ChatRequest {
        model: Some("qwen2.5:7b".into()),
        ..request()
    };
    let done = chat(&c, req).await.0.expect("completion");
    assert_eq!(done.model, "qwen2.5:7b");
    assert_eq!(fake.chats()[0].body["model"], "qwen2.5:7b");
}

#[tokio::test]
async fn lines_split_across_tcp_reads_parse() {
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::split("Héllo 👋 wörld, ça va? 日本語"));
    let c = client(&fake.url());
    let (r, tokens) = chat(&c, request()).await;
    assert_eq!(r.expect("completion").text, "Héllo 👋 wörld, ça va? 日本語");
    assert_eq!(tokens.concat(), "Héllo 👋 wörld, ça va? 日本語");
}

#[tokio::test]
async fn slow_first_token_is_measured() {
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::slow(
        "late but fine",
        Duration::from_millis(300),
        Duration::ZERO,
    ));
    let c = client(&fake.url());
    let done = chat(&c, request()).await.0.expect("completion");
    assert_eq!(done.text, "late but fine");
    let fake_ttft = fake.served()[0].ttft().expect("fake ttft");
    assert!(fake_ttft >= Duration::from_millis(300));
    assert!(done.time_to_first_token.expect("ttft") >= fake_ttft);
}

#[tokio::test]
async fn missing_model_is_named_and_not_retried() {
    let fake = fake_ollama::start().await;
    fake.set_models(&["qwen2.5:7b"]);
    let c = client(&fake.url());
    let (r, tokens) = chat(&c, request()).await;
    match r {
        Err(LlmError::ModelNotFound { model, message }) => {
            assert_eq!(model, "llama3.2");
            assert_eq!(message, "model 'llama3.2' not found");
        }
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
    assert!(tokens.is_empty());
    assert_eq!(fake.chats().len(), 1, "4xx is never retried");
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let fake = fake_ollama::start().await;
    fake.push(Reply::Status {
        status: 400,
        body: r#"{"error":"invalid options"}"#.into(),
    });
    let c = client(&fake.url());
    let r = chat(&c, request()).await.0;
    assert_eq!(
        r.unwrap_err(),
        LlmError::Status {
            status: 400,
            message: "invalid options".into()
        }
    );
    assert_eq!(fake.chats().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let fake = fake_ollama::start().await;
    fake.push(Reply::Status {
        status: 503,
        body: r#"{"error":"server busy"}"#.into(),
    });
    fake.push(Reply::Drop { before: vec![] });
    let c = client(&fake.url());
    let done = chat(&c, request()).await.0.expect("third attempt succeeds");
    assert_eq!(done.attempts, 3);
    assert_eq!(done.text, "Hello chat!");
    assert_eq!(fake.chats().len(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::Status {
        status: 500,
        body: r#"{"error":"boom"}"#.into(),
    });
    let c = client(&fake.url());
    let r = chat(&c, request()).await.0;
    assert!(
        matches!(r, Err(LlmError::Status { status: 500, .. })),
        "{r:?}"
    );
    assert_eq!(fake.chats().len(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn error_line_mid_stream_keeps_status_200_apart() {
    let fake = fake_ollama::start().await;
    fake.push(Reply::MidStreamError {
        before: vec!["Well ".into(), "the ".into()],
        error: "an error was encountered while running the model: unexpected EOF".into(),
    });
    let c = client(&fake.url());
    let (r, tokens) = chat(&c, request()).await;
    assert_eq!(
        r.unwrap_err(),
        LlmError::Server("an error was encountered while running the model: unexpected EOF".into())
    );
    assert_eq!(
        tokens,
        vec!["Well ", "the "],
        "what arrived was delivered once"
    );
    assert_eq!(fake.chats().len(), 1, "never retried after tokens went out");
}

#[tokio::test]
async fn garbage_is_a_clear_protocol_error() {
    let fake = fake_ollama::start().await;
    fake.push(Reply::Garbage {
        before: vec!["ok ".into()],
        line: "<html><body>502 Bad Gateway</body></html>".into(),
    });
    let c = client(&fake.url());
    let err = chat(&c, request()).await.0.unwrap_err();
    assert!(
        matches!(&err, LlmError::Protocol(m) if m.contains("502 Bad Gateway")),
        "{err}"
    );
}

#[tokio::test]
async fn a_dropped_stream_after_tokens_is_interrupted() {
    let fake = fake_ollama::start().await;
    fake.set_default(Reply::Drop {
        before: vec!["half ".into(), "a ".into()],
    });
    let c = client(&fake.url());
    let (r, tokens) = chat(&c, request()).await;
    assert!(matches!(r, Err(LlmError::Interrupted(_))), "{r:?}");
    assert_eq!(tokens.concat(), "half a ");
    assert_eq!(fake.chats().len(), 1);
}

#[tokio::test]
async fn a_hung_server_hits_the_deadline() {
    for reply in [
        Reply::Stall,
        Reply::HangAfter {
            before: vec!["so ".into()],
        },
    ] {
        let fake = fake_ollama::start().await;
        fake.set_default(reply.clone());
        let mut s = ClientSettings::for_url(&fake.url(), "llama3.2");
        s.timeout = Duration::from_millis(300);
        let c = OllamaClient::new(s).expect("client");
        let r = chat(&c, request()).await.0;
        assert_eq!(
            r.unwrap_err(),
            LlmError::Timeout(Duration::from_millis(300)),
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn a_server_that_is_down_then_dies_mid_stream_then_comes_back() {
    let addr = fake_ollama::free_addr();
    let c = client(&format!("http://{addr}"));
    // Down at start: a connect error once the retries are spent.
    let err = chat(&c, request()).await.0.unwrap_err();
    assert!(matches!(err, LlmError::Connect(_)), "{err}");
    assert!(err.is_transient());
    // Up, but it dies mid-stream.
    let fake = fake_ollama::start_at(&addr).await;
    fake.push(Reply::Drop {
        before: vec!["so ".into()],
    });
    let r = chat(&c, request()).await.0;
    assert!(matches!(r, Err(LlmError::Interrupted(_))), "{r:?}");
    drop(fake);
    // Back again: the same client drafts as before.
    let fake = fake_ollama::start_at(&addr).await;
    let done = chat(&c, request()).await.0.expect("drafting resumes");
    assert_eq!(done.text, "Hello chat!");
    assert_eq!(fake.chats().len(), 1);
}

#[tokio::test]
async fn check_model_lists_tags() {
    let fake = fake_ollama::start().await;
    fake.set_models(&["llama3.2:latest", "qwen2.5:7b"]);
    let c = client(&fake.url());
    let st = c.check_model().await.expect("tags");
    assert!(st.found);
    assert_eq!(st.wanted, "llama3.2");
    assert!(st.has("qwen2.5:7b") && !st.has("mistral"));
    assert_eq!(fake.received()[0].path, "/api/tags");
    fake.set_models(&["qwen2.5:7b"]);
    let st = c.check_model().await.expect("tags");
    assert!(!st.found);
    assert_eq!(st.available, vec!["qwen2.5:7b".to_string()]);
}
