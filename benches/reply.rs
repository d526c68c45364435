//! Reply overheads: the output gate and prompt assembly per draft, and the LLM
//! client against an instant loopback Ollama (time to first token as clank sees
//! it vs as the fake reports it).

#[path = "../tests/support/fake_ollama.rs"]
mod fake_ollama;

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use clank::model::{Author, ChatMessage, Platform, Role};
use clank::reply::context::{Goal, Persona, PromptInput, build_prompt};
use clank::reply::format::{OutputPolicy, Target, make_safe};
use clank::reply::llm::{ChatRequest, ClientSettings, LlmClient, OllamaClient, PromptMessage};
use criterion::Criterion;
use fake_ollama::Reply;

fn blocked(s: &str) -> Option<String> {
    let lower = s.to_lowercase();
    ["badword", "worseword"]
        .into_iter()
        .find(|w| lower.contains(w))
        .map(str::to_string)
}

fn msg(i: usize) -> ChatMessage {
    ChatMessage {
        platform: Platform::Twitch,
        channel: "mikavt".into(),
        id: format!("m{i}"),
        at: Utc
            .with_ymd_and_hms(2026, 11, 21, 20, 0, 0)
            .single()
            .unwrap_or_default()
            + chrono::Duration::seconds(i as i64),
        author: Author {
            id: format!("u{}", i % 37),
            name: format!("viewer_{}", i % 37),
            roles: if i % 5 == 0 {
                vec![Role::Subscriber]
            } else {
                vec![]
            },
            ..Author::default()
        },
        text: format!("message {i}: how did you beat that boss, was it the parry timing? PogChamp"),
        paid: None,
        reply_to: None,
    }
}

fn bench_format(c: &mut Criterion) {
    let policy = OutputPolicy::default();
    let twitch = Target {
        platform: Platform::Twitch,
        asker: Some("Rin".into()),
    };
    let discord = Target {
        platform: Platform::Discord,
        asker: Some("Rin".into()),
    };
    let typical = "Parry right after the flash, then dodge left! It took me like 20 tries too 😅";
    let long = fake_ollama::hostile_long();
    let mut g = c.benchmark_group("make_safe");
    g.bench_function("typical_twitch", |b| {
        b.iter(|| make_safe(black_box(typical), &twitch, &policy, &blocked))
    });
    g.bench_function("hostile_5000_chars_twitch", |b| {
        b.iter(|| make_safe(black_box(&long), &twitch, &policy, &blocked))
    });
    g.bench_function("hostile_5000_chars_discord", |b| {
        b.iter(|| make_safe(black_box(&long), &discord, &policy, &blocked))
    });
    g.bench_function("hostile_set_x3_platforms", |b| {
        b.iter(|| {
            for d in fake_ollama::HOSTILE {
                for p in Platform::ALL {
                    let t = Target {
                        platform: p,
                        asker: Some("Rin".into()),
                    };
                    let _ = black_box(make_safe(d, &t, &policy, &blocked));
                }
            }
        })
    });
    g.finish();
}

fn bench_context(c: &mut Criterion) {
    let persona = Persona::builtin();
    let history: Vec<ChatMessage> = (0..200).map(msg).collect();
    let answering = msg(1000);
    let mut g = c.benchmark_group("build_prompt");
    for budget in [1536usize, 8192] {
        g.bench_function(format!("200_history_budget_{budget}"), |b| {
            b.iter(|| {
                build_prompt(black_box(&PromptInput {
                    persona: &persona,
                    topic: Some("boss fights"),
                    guidance: None,
                    history: &history,
                    goal: Goal::Answer(&answering),
                    token_budget: budget,
                    strict: false,
                    history_lines: usize::MAX,
                }))
            })
        });
    }
    g.finish();
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            PromptMessage::system("You are Mika."),
            PromptMessage::user("how did you beat that boss?"),
        ],
        ..ChatRequest::default()
    }
}

const ANSWER: &str = "Parry right after the flash, then dodge left, it took me twenty tries too!";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_client(c: &mut Criterion) {
    let rt = runtime();
    let fake = rt.block_on(fake_ollama::start());
    fake.set_default(Reply::text(ANSWER));
    let mut s = ClientSettings::for_url(&fake.url(), "llama3.2");
    s.timeout = Duration::from_secs(10);
    let client = OllamaClient::new(s).expect("client");
    c.bench_function("ollama_client_instant_fake_14_tokens", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut n = 0usize;
                let mut on = |_: &str| n += 1;
                let done = client
                    .stream_chat(request(), &mut on)
                    .await
                    .expect("completion");
                black_box((done, n))
            })
        })
    });
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Client-seen vs fake-reported time to first token over many calls.
fn ttft_report() {
    runtime().block_on(async {
        let fake = fake_ollama::start().await;
        fake.set_default(Reply::text(ANSWER));
        let mut s = ClientSettings::for_url(&fake.url(), "llama3.2");
        s.timeout = Duration::from_secs(10);
        let client = OllamaClient::new(s).expect("client");
        let mut seen = Vec::new();
        let mut total = Vec::new();
        for _ in 0..500 {
            let mut on = |_: &str| {};
            let done = client
                .stream_chat(request(), &mut on)
                .await
                .expect("completion");
            seen.push(done.time_to_first_token.unwrap_or_default());
            total.push(done.total);
        }
        let mut reported: Vec<Duration> = fake.served().iter().filter_map(|s| s.ttft()).collect();
        let mut gap: Vec<Duration> = seen
            .iter()
            .zip(&reported)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        println!("time to first token, 500 calls to an instant fake Ollama (14 tokens):");
        for (name, v) in [
            ("clank-seen ttft", &mut seen),
            ("fake-reported ttft", &mut reported),
            ("client overhead", &mut gap),
            ("whole call", &mut total),
        ] {
            println!(
                "  {name:<20} p50 {:>10.3?}  p99 {:>10.3?}",
                pct(v, 0.5),
                pct(v, 0.99)
            );
        }
    });
}

fn main() {
    ttft_report();
    let mut c = Criterion::default().configure_from_args();
    bench_format(&mut c);
    bench_context(&mut c);
    bench_client(&mut c);
    c.final_summary();
}
