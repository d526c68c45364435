//! Nothing unsafe leaves clank: a hostile LLM over the real wire, then tens of
//! thousands of seeded random adversarial drafts, all through `make_safe`, checked
//! by rules written here independently of the filter's own code.

mod support;

use std::time::Duration;

use clank::model::Platform;
use clank::reply::format::{Blocked, OutputPolicy, Target, make_safe};
use clank::reply::llm::{ChatRequest, ClientSettings, LlmClient, OllamaClient, PromptMessage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::fake_ollama::{self, HOSTILE, Reply, hostile_long};

fn blocked_words(s: &str) -> Option<String> {
    let lower = s.to_lowercase();
    ["badword", "worseword"]
        .into_iter()
        .find(|w| lower.contains(w))
        .map(str::to_string)
}

const INVISIBLE: &[char] = &[
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{2060}', '\u{2061}', '\u{2062}',
    '\u{2063}', '\u{2064}', '\u{FEFF}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{00AD}', '\u{180E}',
];
const OPENERS: &[char] = &[
    '"', '\'', '`', '*', '_', '~', '|', '>', '“', '”', '‘', '’', '«', '»', '(', '[', '{',
    '\u{2800}',
];
const COMMAND_STARTS: &[char] = &[
    '/', '.', '\\', '\u{FF0F}', '\u{FF0E}', '\u{2215}', '\u{2044}',
];

/// The rules, restated: every text that is allowed out must pass these.
fn assert_safe(out: &str, target: &Target, policy: &OutputPolicy, input: &str) {
    let short = |s: &str| s.chars().take(300).collect::<String>();
    let ctx = || format!("input {:?}\noutput {:?}", short(input), short(out));
    let limit = target.platform.max_message_chars();
    assert!(out.chars().count() <= limit, "over {limit}: {}", ctx());
    assert!(!out.trim().is_empty(), "empty: {}", ctx());
    let first = out
        .chars()
        .find(|c| !c.is_whitespace() && !INVISIBLE.contains(c) && !OPENERS.contains(c));
    assert!(
        !first.is_some_and(|c| COMMAND_STARTS.contains(&c)),
        "starts like a command: {}",
        ctx()
    );
    let skeleton: String = out
        .chars()
        .filter(|c| !INVISIBLE.contains(c))
        .collect::<String>()
        .to_lowercase();
    assert!(
        !skeleton.contains("@everyone") && !skeleton.contains("@here"),
        "mass ping: {}",
        ctx()
    );
    for (i, _) in skeleton.match_indices("<@") {
        let next = skeleton[i + 2..].chars().next();
        assert!(
            !next.is_some_and(|c| c.is_ascii_digit() || c == '!' || c == '&'),
            "discord ping: {}",
            ctx()
        );
    }
    if !policy.allow_urls {
        for bad in ["://", "www.", "discord.gg"] {
            assert!(!skeleton.contains(bad), "link ({bad}): {}", ctx());
        }
        // A known top-level domain glued to something a linkifier takes as a host.
        for tld in [".com", ".gg", ".io"] {
            for (i, _) in skeleton.match_indices(tld) {
                let before = skeleton[..i].chars().next_back();
                let after = skeleton[i + tld.len()..].chars().next();
                let hosty = before.is_some_and(|c| c.is_alphanumeric() || !c.is_ascii());
                let ends = after.is_none_or(|c| !c.is_alphanumeric());
                assert!(
                    !(hosty && ends && !before.is_some_and(char::is_whitespace)),
                    "link ({tld}): {}",
                    ctx()
                );
            }
        }
    }
    assert!(
        blocked_words(&skeleton).is_none(),
        "blocked word: {}",
        ctx()
    );
}

fn targets() -> Vec<Target> {
    let mut v = Vec::new();
    for p in Platform::ALL {
        for asker in [None, Some("Rin"), Some("everyone"), Some("x.com")] {
            v.push(Target {
                platform: p,
                asker: asker.map(str::to_string),
            });
        }
    }
    v
}

#[tokio::test]
async fn a_hostile_llm_gets_nothing_unsafe_through() {
    let fake = fake_ollama::start().await;
    let mut s = ClientSettings::for_url(&fake.url(), "llama3.2");
    s.timeout = Duration::from_secs(10);
    let client = OllamaClient::new(s).expect("client");
    let long = hostile_long();
    let mut drafts: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    drafts.push(long.clone());
    assert!(long.chars().count() >= 5000);
    let policy = OutputPolicy::default();
    for draft in &drafts {
        // Short ones cut mid-line across TCP reads; the long one in one go (1,000 tokens).
        fake.push(if draft.len() < 200 {
            Reply::split(draft)
        } else {
            Reply::text(draft)
        });
        let req = ChatRequest {
            messages: vec![PromptMessage::user("say something")],
            ..ChatRequest::default()
        };
        let mut sink = |_: &str| {};
        let done = client
            .stream_chat(req, &mut sink)
            .await
            .expect("hostile completion");
        assert_eq!(
            &done.text, draft,
            "the wire delivers the hostile text intact"
        );
        for target in targets() {
            match make_safe(&done.text, &target, &policy, &blocked_words) {
                Ok(out) => assert_safe(&out, &target, &policy, draft),
                Err(Blocked::Internal(why)) => {
                    panic!("the filter's own check failed: {why} on {draft:?}")
                }
                Err(_) => {}
            }
        }
    }
    // And the specific verdicts.
    let t = Target {
        platform: Platform::Twitch,
        asker: Some("Rin".into()),
    };
    let safe = |d: &str| make_safe(d, &t, &policy, &blocked_words);
    assert!(matches!(safe("/ban streamer"), Err(Blocked::Command(_))));
    assert!(matches!(safe(".timeout x 600"), Err(Blocked::Command(_))));
    assert!(matches!(
        safe("\u{200B}/ban streamer"),
        Err(Blocked::Command(_))
    ));
    assert!(matches!(
        safe("\u{FF0F}timeout someone 600"),
        Err(Blocked::Command(_))
    ));
    assert!(matches!(
        safe("As an AI language model, /ban streamer"),
        Err(Blocked::Command(_))
    ));
    assert_eq!(
        safe("@everyone free skins!!").unwrap(),
        "@Rin everyone free skins!!"
    );
    assert_eq!(
        safe("visit https://free-skins.example/claim now").unwrap(),
        "@Rin visit now"
    );
    assert!(matches!(
        safe("you are a badword and a worseword"),
        Err(Blocked::BlockedWord(_))
    ));
    // The same sentence over and over is a model in a loop: blocked, not cut.
    assert_eq!(
        safe(&"Chat is amazing today and I love every one of you. ".repeat(100)),
        Err(Blocked::Repetition)
    );
    let out = safe(&long).unwrap();
    assert!(
        out.chars().count() <= 500 && out.ends_with('.'),
        "cut at a sentence: {out}"
    );
}

/// Pieces that combine into nasty drafts.
const PIECES: &[&str] = &[
    "/",
    ".",
    "／",
    "．",
    "…",
    "\\",
    "∕",
    "⁄",
    "\u{200B}",
    "\u{2060}",
    "\u{FEFF}",
    "\u{202E}",
    "\u{00AD}",
    " ",
    "  ",
    "\n",
    "\t",
    "\u{2800}",
    "\"",
    "“",
    "”",
    "'",
    "`",
    "*",
    "**",
    "_",
    "(",
    "[",
    "](",
    ")",
    ">",
    "@",
    "@@",
    "everyone",
    "EveryOne",
    "here",
    "HERE",
    "<@",
    "<@&",
    "<@!",
    "123",
    "<",
    "http",
    "https://",
    "://",
    "www.",
    "evil",
    ".com",
    ".gg",
    "discord.gg/x",
    "x.io/",
    "ban",
    "timeout",
    "me",
    "mods",
    "As an AI",
    "as a language model",
    ",",
    ":",
    "Reply:",
    "Sure! Here's a reply:",
    "👨‍👩‍👧‍👦",
    "e\u{301}",
    "é",
    "日本語",
    "word",
    "hello",
    "badword",
    "bad\u{200B}word",
    "!",
    "?",
    ". ",
    "\u{200D}",
];

fn random_draft(rng: &mut ChaCha8Rng) -> String {
    let n = rng.random_range(0..40);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(PIECES[rng.random_range(0..PIECES.len())]);
    }
    if rng.random_range(0..25) == 0 {
        // Sometimes far too long for any platform (up to ~25 kB).
        let reps = rng.random_range(20..120);
        s = s.repeat(reps.max(1));
    }
    s
}

#[test]
fn random_adversarial_drafts_never_get_out_unsafe() {
    // CLANK_FUZZ_SEED / CLANK_FUZZ_N let a developer fuzz longer; CI uses the fixed seed.
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut rng = ChaCha8Rng::seed_from_u64(env("CLANK_FUZZ_SEED").unwrap_or(0x00C1_A4C0));
    let targets = targets();
    let policies = [
        OutputPolicy::default(),
        OutputPolicy {
            allow_urls: true,
            address_asker: true,
        },
        OutputPolicy {
            allow_urls: false,
            address_asker: false,
        },
    ];
    let (mut passed, mut blocked) = (0u32, 0u32);
    let n = env("CLANK_FUZZ_N").unwrap_or(8_000) as u32;
    for _ in 0..n {
        let draft = random_draft(&mut rng);
        let target = &targets[rng.random_range(0..targets.len())];
        let policy = &policies[rng.random_range(0..policies.len())];
        match make_safe(&draft, target, policy, &blocked_words) {
            Ok(out) => {
                assert_safe(&out, target, policy, &draft);
                passed += 1;
            }
            Err(Blocked::Internal(why)) => panic!(
                "internal failure {why} on {:?} for {target:?} {policy:?}",
                draft.chars().take(300).collect::<String>()
            ),
            Err(_) => blocked += 1,
        }
    }
    // The generator must exercise both outcomes, or this test proves little.
    assert!(
        passed > n / 10 && blocked > n / 10,
        "passed {passed}, blocked {blocked}"
    );
}

#[test]
fn random_asker_names_cannot_smuggle_pings() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..2_000 {
        let name = random_draft(&mut rng).chars().take(50).collect::<String>();
        for p in Platform::ALL {
            let target = Target {
                platform: p,
                asker: Some(name.clone()),
            };
            if let Ok(out) = make_safe(
                "thanks for watching",
                &target,
                &OutputPolicy::default(),
                &blocked_words,
            ) {
                assert_safe(&out, &target, &OutputPolicy::default(), &name);
            }
        }
    }
}

/// One recorded raw LLM output (see tests/fixtures/README.md).
#[derive(serde::Deserialize)]
struct Recorded {
    goal: String,
    /// The gate's verdict when recorded (kept for the reader; not compared).
    #[serde(default)]
    #[allow(dead_code)]
    gate: Option<String>,
    author: Option<String>,
    message: Option<String>,
    done_reason: Option<String>,
    output: String,
}

fn recorded(file: &str) -> Vec<Recorded> {
    let path = format!("{}/tests/fixtures/llm/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: {e}: {l}")))
        .collect()
}

/// Rebuilds the prompt the output was drafted from and runs the gate as the
/// pipeline does: screen against the prompt, then `make_safe`.
fn gate_recorded(r: &Recorded) -> Result<String, Blocked> {
    use clank::model::{Author, ChatMessage};
    use clank::reply::context::{Goal, Persona, PromptInput, build_prompt};
    use clank::reply::format::screen_llm_text;
    let persona = Persona::builtin();
    let message = r.message.as_ref().map(|text| ChatMessage {
        platform: Platform::Twitch,
        channel: "mika".into(),
        id: "m1".into(),
        at: chrono::Utc::now(),
        author: Author {
            id: "u1".into(),
            name: r.author.clone().unwrap_or_else(|| "viewer".into()),
            ..Author::default()
        },
        text: text.clone(),
        paid: None,
        reply_to: None,
    });
    let goal = match (r.goal.as_str(), &message) {
        ("answer", Some(m)) => Goal::Answer(m),
        _ => Goal::Unprompted {
            platform: Platform::Twitch,
            channel: "mika",
            starter: None,
            busy: false,
        },
    };
    let prompt = build_prompt(&PromptInput {
        persona: &persona,
        topic: None,
        guidance: None,
        history: &[],
        goal,
        token_budget: 1536,
        strict: false,
        history_lines: 8,
    });
    let mut guard = prompt.guard;
    guard.cut_at_limit = r.done_reason.as_deref() == Some("length");
    let target = match &message {
        Some(m) => Target::reply_to(m),
        None => Target {
            platform: Platform::Twitch,
            asker: None,
        },
    };
    screen_llm_text(&r.output, &guard)
        .and_then(|raw| make_safe(&raw, &target, &OutputPolicy::default(), &blocked_words))
}

#[test]
fn recorded_echoes_cut_offs_and_loops_of_small_models_never_pass() {
    let mut n = 0;
    let mut passed = Vec::new();
    for file in [
        "issue14-reported.jsonl",
        "smollm2-old-prompt.jsonl",
        "smollm2-compact-prompt.jsonl",
    ] {
        for r in recorded(file) {
            n += 1;
            let out = gate_recorded(&r);
            if out.is_ok() {
                passed.push(format!("{file}: {:?}", r.output));
            }
        }
    }
    assert!(passed.is_empty(), "passed the gate:\n{}", passed.join("\n"));
    assert!(n >= 10, "the fixtures were read: {n}");
    // Real rambles that are weak but not broken go out cut to three sentences.
    for r in recorded("smollm2-weak.jsonl") {
        let out = gate_recorded(&r).expect("weak, not broken");
        let ends =
            out.matches(". ").count() + out.matches("! ").count() + out.matches("? ").count();
        assert!(ends <= 2 && out.len() < r.output.len(), "{out}");
    }
    // The same path lets ordinary replies through, so the blocks above mean something.
    for (message, output) in [
        (
            "how did you beat that boss?",
            "Parried the third swing, then went all in!",
        ),
        ("what game is this?", "It's Hollow Knight, my third run!"),
        ("gg wp", "gg, that fight was wild"),
    ] {
        let r = Recorded {
            goal: "answer".into(),
            gate: None,
            author: Some("Rin".into()),
            message: Some(message.into()),
            done_reason: Some("stop".into()),
            output: output.into(),
        };
        assert!(gate_recorded(&r).is_ok(), "{output:?} was blocked");
    }
}
