//! Throughput of salience scoring and of the input content filter over a
//! realistic mix of chat (emote walls, banter, questions, paid messages, spam).

use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use clank::engine::filter::{ContentFilter, FilterConfig};
use clank::engine::lexicon::{BotList, Lexicon};
use clank::engine::salience::{SalienceConfig, SalienceEngine};
use clank::model::{Author, ChatMessage, Paid, PaidKind, Platform, Role};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Lines in the proportions of a busy Twitch chat: mostly emotes and banter
/// (several from tests/fixtures/twitch-nymn.irc), some questions, a little money.
const TEXTS: &[&str] = &[
    "forsenParty EDM forsenParty EDM forsenParty EDM forsenParty EDM forsenParty EDM forsenParty EDM forsenParty EDM forsenParty EDM",
    "AlienTechno RaveTime EDM AlienTechno RaveTime EDM AlienTechno RaveTime EDM AlienTechno RaveTime EDM \u{e0000}",
    "forsenParty",
    "nice",
    "ZULUL",
    "LETS GOOOOO",
    "KEKW",
    "lol",
    "W",
    "this is a good game",
    "nymn what is this game about DOCING",
    "steam page says there is Twitch Integration for this Nymn but it doesnt work atm",
    "@Mika how did you beat Malenia?",
    "Mika what build are you running for this fight?",
    "anyone know where the rune is for this boss?",
    "you should try the bleed build, it shreds Malenia",
    "honestly having a really rough day, these streams help me a lot",
    "hi everyone! first time here, love the vibe",
    "the stream is lagging for me",
    "Mika your mic is muted!",
    "@Rin lol yeah same",
    "is this the DLC?",
    "monkaOMEGA BEHIND THE GREEN CURTAIN",
    "i think its just going to get weirder and weirder with each tunnel",
    "aaaaaaaaaaaaaaaaaa",
    "Wanna become famous? Buy followers at bigfollows.com",
    "!discord",
    "damn rats are having raves in the sewers? forsenParty",
    "WAYTOODANK HOLY FUCK",
    "this boss is hard as hell",
    "Cheer500 love the stream!",
    "what's up chat",
];

fn messages(n: usize) -> Vec<ChatMessage> {
    let t0: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 21, 20, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let text = TEXTS[(i * 7 + i / TEXTS.len()) % TEXTS.len()];
            let user = i % 700;
            let roles = match user % 10 {
                0 => vec![Role::Subscriber],
                1 => vec![Role::Subscriber, Role::Vip],
                2 if user % 70 == 2 => vec![Role::Moderator],
                3 | 4 => vec![Role::Subscriber],
                _ => vec![],
            };
            let paid = (i % 97 == 0).then(|| Paid {
                amount: 5.0,
                currency: "USD".into(),
                kind: PaidKind::Superchat,
            });
            ChatMessage {
                platform: Platform::ALL[i % 3],
                channel: ["mikavt", "mikavt-live", "general"][i % 3].into(),
                id: format!("m{i}"),
                at: t0 + chrono::Duration::milliseconds(i as i64 * 150),
                author: Author {
                    id: format!("u{user}"),
                    name: if user == 699 {
                        "Nightbot".into()
                    } else {
                        format!("Viewer{user}")
                    },
                    roles,
                    months: Some((user % 40) as u32),
                    first_message: i % 211 == 0,
                    returning_chatter: false,
                },
                text: text.to_string(),
                paid,
                reply_to: (i % 53 == 0).then(|| format!("m{}", i.saturating_sub(3))),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let msgs = messages(10_000);
    let cfg = SalienceConfig {
        streamer_names: vec!["Mika".into(), "nymn".into()],
        topic: "elden ring malenia boss".into(),
        ..SalienceConfig::default()
    };
    let mut engine = SalienceEngine::new(cfg, Lexicon::embedded(), BotList::embedded());

    let mut g = c.benchmark_group("salience");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    // The texts repeat, as chat does: most are scored from the engine's
    // memory of recent texts.
    g.bench_function("score_mixed_10k", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(engine.score(black_box(m), m.at));
            }
        })
    });
    // Every text unique (a number added to each): every message is analysed
    // from scratch, the worst case for a chat that never repeats itself.
    let unique: Vec<ChatMessage> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| ChatMessage {
            text: format!("{} {i}", m.text),
            ..m.clone()
        })
        .collect();
    g.bench_function("score_unique_10k", |b| {
        b.iter(|| {
            for m in &unique {
                black_box(engine.score(black_box(m), m.at));
            }
        })
    });
    g.finish();

    let filter = ContentFilter::load(&FilterConfig::default());
    let words_only = ContentFilter::load(&FilterConfig {
        profanity: false,
        ..FilterConfig::default()
    });
    let mut g = c.benchmark_group("filter");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("check_mixed_10k", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(filter.check(black_box(&m.text)));
            }
        })
    });
    g.bench_function("check_blocked_words_only_10k", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(words_only.check(black_box(&m.text)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
