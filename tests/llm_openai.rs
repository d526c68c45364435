//! The OpenAI-compatible client against a loopback server that streams
//! server-sent events, with and without a bearer key.

mod support;

use std::time::Duration;

use clank::reply::llm::{
    ChatRequest, ClientSettings, LlmClient, LlmConfig, LlmError, OpenAiClient, PromptMessage,
    Provider, connect,
};
use clank::secret::Secret;
use support::fake_ollama::Reply;
use support::fake_openai;

fn settings(url: &str, key: Option<&str>) -> ClientSettings {
    let mut s = ClientSettings::for_url(url, "llama3.2:latest");
    s.timeout = Duration::from_secs(10);
    s.backoff = Duration::from_millis(10);
    s.api_key = key.map(Secret::new);
    s
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            PromptMessage::system("You are Mika."),
            PromptMessage::user("hi"),
        ],
        ..ChatRequest::default()
    }
}

async fn chat(c: &dyn LlmClient) -> (Result<clank::reply::Completion, LlmError>, String) {
    let mut text = String::new();
    let mut on_token = |t: &str| text.push_str(t);
    let r = c.stream_chat(request(), &mut on_token).await;
    (r, text)
}

#[tokio::test]
async fn streams_sse_with_a_bearer_key_from_env() {
    let fake = fake_openai::start(Some("sk-local-123")).await;
    fake.set_default(Reply::split("Parry right after the flash! 🗡️"));
    let cfg = LlmConfig {
        provider: Provider::Openai,
        url: format!("{}/v1", fake.url()),
        model: "llama3.2:latest".into(),
        api_key_env: Some("CLANK_TEST_LLM_KEY".into()),
        ..LlmConfig::default()
    };
    let c = connect(&cfg, &|k| {
        (k == "CLANK_TEST_LLM_KEY").then(|| "sk-local-123".to_string())
    })
    .expect("client");
    assert_eq!(c.provider(), Provider::Openai);
    let (r, text) = chat(c.as_ref()).await;
    let done = r.expect("completion");
    assert_eq!(text, "Parry right after the flash! 🗡️");
    assert_eq!(done.text, text);
    assert_eq!(done.done_reason.as_deref(), Some("stop"));
    assert_eq!(done.tokens, 6, "usage.completion_tokens");
    assert!(done.time_to_first_token.is_some());
    let req = &fake.chats()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.authorization.as_deref(), Some("Bearer sk-local-123"));
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["max_tokens"], 120);
    assert_eq!(req.body["stream_options"]["include_usage"], true);
    assert_eq!(req.body["messages"][1]["content"], "hi");
    assert!(req.body.get("keep_alive").is_none(), "an Ollama-only field");
}

#[tokio::test]
async fn a_wrong_key_is_refused_without_retry() {
    let fake = fake_openai::start(Some("right")).await;
    let c = OpenAiClient::new(settings(&fake.url(), Some("wrong"))).expect("client");
    let err = chat(&c).await.0.unwrap_err();
    assert_eq!(
        err,
        LlmError::Status {
            status: 401,
            message: "Incorrect API key provided.".into()
        }
    );
    assert_eq!(fake.chats().len(), 1);
}

#[tokio::test]
async fn unknown_model_is_named() {
    let fake = fake_openai::start(None).await;
    fake.set_models(&["qwen2.5"]);
    let c = OpenAiClient::new(settings(&fake.url(), None)).expect("client");
    let err = chat(&c).await.0.unwrap_err();
    assert!(
        matches!(&err, LlmError::ModelNotFound { model, .. } if model == "llama3.2:latest"),
        "{err}"
    );
    let st = c.check_model().await.expect("models");
    assert!(!st.found && st.has("qwen2.5"));
    assert_eq!(
        fake.received().last().map(|r| r.path.clone()).as_deref(),
        Some("/v1/models")
    );
}

#[tokio::test]
async fn errors_mid_stream_and_garbage_are_reported() {
    let fake = fake_openai::start(None).await;
    fake.push(Reply::MidStreamError {
        before: vec!["Hi ".into()],
        error: "context length exceeded".into(),
    });
    fake.push(Reply::Garbage {
        before: vec![],
        line: "{\"not\":\"sse\"}".into(),
    });
    let c = OpenAiClient::new(settings(&fake.url(), None)).expect("client");
    let (r, text) = chat(&c).await;
    assert_eq!(
        r.unwrap_err(),
        LlmError::Server("context length exceeded".into())
    );
    assert_eq!(text, "Hi ");
    let err = chat(&c).await.0.unwrap_err();
    assert!(matches!(err, LlmError::Protocol(_)), "{err}");
}

#[tokio::test]
async fn transient_failures_are_retried_and_hangs_time_out() {
    let fake = fake_openai::start(None).await;
    fake.push(Reply::Status {
        status: 502,
        body: "bad gateway".into(),
    });
    let c = OpenAiClient::new(settings(&fake.url(), None)).expect("client");
    let done = chat(&c).await.0.expect("second attempt");
    assert_eq!(done.attempts, 2);

    fake.set_default(Reply::HangAfter {
        before: vec!["so ".into()],
    });
    let mut s = settings(&fake.url(), None);
    s.timeout = Duration::from_millis(300);
    let c = OpenAiClient::new(s).expect("client");
    assert_eq!(
        chat(&c).await.0.unwrap_err(),
        LlmError::Timeout(Duration::from_millis(300))
    );
}

#[tokio::test]
async fn the_server_says_how_many_drafts_it_serves_at_once() {
    let fake = fake_openai::start(None).await;
    let c = OpenAiClient::new(settings(&format!("{}/v1", fake.url()), None)).expect("client");
    assert_eq!(c.parallel_slots().await, Some(3));
    // A server without /props (404) says nothing: the configured default stands.
    let ollama = support::fake_ollama::start().await;
    let o = OpenAiClient::new(settings(&ollama.url(), None)).expect("client");
    assert_eq!(o.parallel_slots().await, None);
}
