//! Property tests of the Twitch mapping with seeded random tag values, texts,
//! commands and garbage: no panic, no lost line (every line is an event, an
//! error naming it, or a counted skip), and what a PRIVMSG said survives.

use chrono::{DateTime, Utc};
use clank::adapters::Inbound;
use clank::adapters::twitch::map::{fast_privmsg, map_irc_message};
use clank::adapters::twitch::{map_line, read_irc_capture};
use clank::model::ChatEvent;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ALPHABET: &[char] = &[
    'a', 'Z', '0', '9', ' ', ';', '=', '\\', ':', '@', '#', '!', ',', '/', '.', '-', '_', 'é',
    '猫', '🦀', '\u{1}', '\t', '\u{200b}', 's',
];

fn random_string(rng: &mut ChaCha8Rng, max: usize) -> String {
    let n = rng.random_range(0..=max);
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

/// IRCv3 tag value escaping.
fn escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

const TAG_KEYS: &[&str] = &[
    "badges",
    "badge-info",
    "bits",
    "display-name",
    "first-msg",
    "mod",
    "returning-chatter",
    "reply-parent-msg-id",
    "tmi-sent-ts",
    "room-id",
    "emotes",
    "color",
    "ban-duration",
    "target-user-id",
    "target-msg-id",
    "msg-id",
    "msg-param-viewerCount",
    "login",
    "slow",
    "followers-only",
];

fn tag_value(rng: &mut ChaCha8Rng, key: &str) -> String {
    match rng.random_range(0..4) {
        0 => random_string(rng, 12),
        1 => rng.random::<u32>().to_string(),
        2 => String::new(),
        _ => match key {
            "badges" | "badge-info" => "subscriber/12,moderator/1,vip/1".into(),
            "tmi-sent-ts" => "1704557984095".into(),
            "emotes" => "25:0-4".into(),
            "first-msg" | "mod" => "1".into(),
            _ => random_string(rng, 6),
        },
    }
}

struct Generated {
    line: String,
    /// For a PRIVMSG with an id: (id, text).
    privmsg: Option<(String, String)>,
}

fn generate(rng: &mut ChaCha8Rng) -> Generated {
    let commands = [
        "PRIVMSG",
        "PRIVMSG",
        "PRIVMSG",
        "CLEARMSG",
        "CLEARCHAT",
        "USERNOTICE",
        "NOTICE",
        "ROOMSTATE",
        "USERSTATE",
        "PING",
        "RECONNECT",
        "JOIN",
        "001",
        "GARBAGE",
    ];
    let command = commands[rng.random_range(0..commands.len())];
    let mut tags: Vec<(String, String)> = Vec::new();
    for key in TAG_KEYS {
        if rng.random_bool(0.5) {
            tags.push((key.to_string(), tag_value(rng, key)));
        }
    }
    let id = format!("id-{}", rng.random::<u32>());
    let with_id = rng.random_bool(0.9);
    if with_id {
        tags.push(("id".into(), id.clone()));
    }
    if rng.random_bool(0.9) {
        tags.push(("user-id".into(), rng.random::<u32>().to_string()));
    }
    let text: String = random_string(rng, 40)
        .chars()
        .filter(|c| *c != '\u{1}')
        .collect();
    let tag_part = tags
        .iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect::<Vec<_>>()
        .join(";");
    let channel = if rng.random_bool(0.95) {
        "#mikavt"
    } else {
        "mikavt"
    };
    let line = match command {
        "PRIVMSG" => format!("@{tag_part} :rin!rin@rin.tmi.twitch.tv PRIVMSG {channel} :{text}"),
        "PING" => "PING :tmi.twitch.tv".into(),
        "RECONNECT" => ":tmi.twitch.tv RECONNECT".into(),
        "JOIN" => format!(":rin!rin@rin.tmi.twitch.tv JOIN {channel}"),
        "001" => ":tmi.twitch.tv 001 rin :Welcome".into(),
        "GARBAGE" => random_string(rng, 30).replace(['\r', '\n'], ""),
        other => format!("@{tag_part} :tmi.twitch.tv {other} {channel} :{text}"),
    };
    let privmsg =
        (command == "PRIVMSG" && with_id && channel.starts_with('#')).then_some((id, text));
    Generated { line, privmsg }
}

#[test]
fn random_lines_never_panic_and_privmsg_words_survive() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_7417c);
    let at = DateTime::<Utc>::UNIX_EPOCH;
    let mut delivered = 0;
    for _ in 0..10_000 {
        let g = generate(&mut rng);
        let result = map_line(&g.line, at);
        if let Some((id, text)) = &g.privmsg {
            let events = result.unwrap_or_else(|e| panic!("PRIVMSG with id lost: {e}\n{}", g.line));
            match events.as_slice() {
                [Inbound::Chat(ChatEvent::Message(m))] => {
                    assert_eq!(&m.id, id);
                    assert_eq!(&m.text, text, "{}", g.line);
                    assert_eq!(m.channel, "mikavt");
                    delivered += 1;
                }
                other => panic!("{other:?}\n{}", g.line),
            }
        }
    }
    assert!(delivered > 1_500, "{delivered}");
}

#[test]
fn a_capture_of_random_lines_accounts_for_every_line() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let lines: Vec<String> = (0..5_000)
        .map(|_| generate(&mut rng).line)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let data = lines.join("\n");
    let mut reader = read_irc_capture(data.as_bytes());
    let mut events = 0u64;
    let mut errors = Vec::new();
    for item in reader.by_ref() {
        match item.expect("in-memory reads cannot fail") {
            Ok(_) => events += 1,
            Err(e) => errors.push(e.line()),
        }
    }
    // The mapping yields at most one event per line, so the three counts add up.
    assert_eq!(
        events + errors.len() as u64 + reader.skipped(),
        lines.len() as u64
    );
    assert_eq!(reader.line(), lines.len() as u64);
    assert!(
        errors.windows(2).all(|w| w[0] < w[1]),
        "errors name increasing lines"
    );
}

/// What twitch-irc's own parse and the full mapping make of a line.
fn full_parse(line: &str, at: DateTime<Utc>) -> Result<Vec<Inbound>, String> {
    let irc = twitch_irc::message::IRCMessage::parse(line).map_err(|e| e.to_string())?;
    map_irc_message(irc, at)
}

/// A generated line bent the ways a server or a proxy could bend it: tags
/// repeated (the last one wins), double spaces, a lower-case command, a
/// prefix without a host, a text without its colon, escapes, an ACTION.
fn mutate(rng: &mut ChaCha8Rng, line: &str) -> String {
    match rng.random_range(0..10) {
        0 => line.replacen(";", ";id=dup-1;user-id=;", 1),
        1 => line.replacen(" PRIVMSG ", "  PRIVMSG ", 1),
        2 => line.replacen(" PRIVMSG ", " privmsg ", 1),
        3 => line.replacen(":rin!rin@rin.tmi.twitch.tv", ":rin", 1),
        4 => line.replacen("PRIVMSG #mikavt :", "PRIVMSG #mikavt ", 1),
        5 => line.replacen("PRIVMSG #mikavt :", "PRIVMSG #mikavt  :", 1),
        6 => line.replacen("display-name=", "display-name=\\sRin\\s", 1),
        7 => line.replacen("PRIVMSG #mikavt :", "PRIVMSG #mikavt :\u{1}ACTION ", 1) + "\u{1}",
        8 => line.replacen("@", "@display-name=Rin\\:\\\\x;", 1),
        _ => line.to_string(),
    }
}

#[test]
fn the_fast_privmsg_reading_agrees_with_the_full_parse() {
    let at = DateTime::<Utc>::UNIX_EPOCH;
    let same = |line: &str| -> bool {
        let Some(fast) = fast_privmsg(line, at) else {
            return false;
        };
        let full = full_parse(line, at);
        assert_eq!(
            full,
            Ok(vec![Inbound::Chat(ChatEvent::Message(fast))]),
            "{line}"
        );
        true
    };
    // Every chat message of the real capture takes the fast reading.
    let capture = include_str!("fixtures/twitch-nymn.irc");
    let privmsgs = capture.lines().filter(|l| l.contains(" PRIVMSG #")).count();
    let fast = capture.lines().filter(|l| same(l)).count();
    assert_eq!((fast, privmsgs), (798, 798));
    // Random and bent lines: whenever the fast reading answers, it answers
    // what the full parse does; it declines the rest.
    let mut rng = ChaCha8Rng::seed_from_u64(0xfa57);
    let (mut answered, mut declined) = (0, 0);
    for _ in 0..40_000 {
        let line = generate(&mut rng).line;
        let line = mutate(&mut rng, &line);
        if same(&line) {
            answered += 1;
        } else {
            declined += 1;
        }
    }
    assert!(
        answered > 1_000 && declined > 10_000,
        "{answered} {declined}"
    );
}

/// A PRIVMSG that twitch-irc's strict reading accepts, as Twitch sends one
/// (a reply, bits, a sub badge, an emote at the start of the text).
fn strict_template(id: u32) -> Vec<(String, String)> {
    [
        ("badge-info", "subscriber/14"),
        ("badges", "moderator/1,subscriber/12"),
        ("bits", "100"),
        ("color", "#1E90FF"),
        ("display-name", "Rin"),
        ("emotes", "25:0-4"),
        ("first-msg", "0"),
        ("flags", ""),
        ("mod", "1"),
        ("reply-parent-display-name", "Mika"),
        ("reply-parent-msg-body", "hi\\sthere"),
        ("reply-parent-msg-id", "p-1"),
        ("reply-parent-user-id", "5"),
        ("reply-parent-user-login", "mika"),
        ("returning-chatter", "1"),
        ("room-id", "1"),
        ("subscriber", "1"),
        ("tmi-sent-ts", "1704557984095"),
        ("turbo", "0"),
        ("user-id", "11"),
        ("user-type", "mod"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("id".to_string(), format!("m-{id}"))])
    .collect()
}

/// Values one tag may take instead of the template's, valid or not.
const BENT_VALUES: &[(&str, &[&str])] = &[
    ("bits", &["0", "", "-1", "abc", "18446744073709551616", "7"]),
    (
        "tmi-sent-ts",
        &["", "-5", "+5", "99999999999999999", "x", "0"],
    ),
    (
        "display-name",
        &["Rin\\s", "\\sRin", "", "R\\:in", "Rin\\", "Ri\\an", "猫🦀"],
    ),
    (
        "badges",
        &[
            "",
            "broadcaster/1",
            "/1",
            "founder/0",
            "x",
            "vip/1,partner/1",
        ],
    ),
    (
        "badge-info",
        &["founder/3", "subscriber/x", "", "subscriber/"],
    ),
    ("user-id", &["", "\\s7"]),
    ("id", &["", "a\\sb", "x;"]),
    ("returning-chatter", &["0", "", "1"]),
    ("first-msg", &["1", ""]),
    ("mod", &["0", "", "1"]),
    ("reply-parent-msg-id", &["", "p\\:2"]),
    ("reply-parent-user-id", &[""]),
    ("color", &["", "red", "#12345"]),
];

const BENT_TEXTS: &[&str] = &[
    "Kappa hello",
    "Kappa",
    "\u{1}ACTION waves\u{1}",
    "\u{1}ACTION \u{1}",
    "",
    "Kappa 猫🦀 é",
    "Kappa  two  spaces ",
];

#[test]
fn the_fast_reading_agrees_with_twitch_irc_strict_reading() {
    use twitch_irc::message::{IRCMessage, ServerMessage};
    let at = DateTime::<Utc>::UNIX_EPOCH;
    let mut rng = ChaCha8Rng::seed_from_u64(0x57_1c7);
    let (mut fast_and_strict, mut fast_only, mut declined) = (0, 0, 0);
    for n in 0..20_000u32 {
        let mut tags = strict_template(n);
        for _ in 0..rng.random_range(0..3) {
            let (key, values) = BENT_VALUES[rng.random_range(0..BENT_VALUES.len())];
            let value = values[rng.random_range(0..values.len())].to_string();
            match rng.random_range(0..6) {
                // Dropped, or given twice (the last one counts).
                0 => tags.retain(|(k, _)| k != key),
                1 => tags.push((key.to_string(), value)),
                _ => {
                    for (k, v) in tags.iter_mut() {
                        if k == key {
                            *v = value.clone();
                        }
                    }
                }
            }
        }
        let text = BENT_TEXTS[rng.random_range(0..BENT_TEXTS.len())];
        let raw_tags = tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let line = format!("@{raw_tags} :rin!rin@rin.tmi.twitch.tv PRIVMSG #mikavt :{text}");
        let Some(fast) = fast_privmsg(&line, at) else {
            declined += 1;
            continue;
        };
        assert_eq!(
            full_parse(&line, at),
            Ok(vec![Inbound::Chat(ChatEvent::Message(fast))]),
            "{line}"
        );
        let strict = IRCMessage::parse(&line)
            .ok()
            .is_some_and(|irc| ServerMessage::try_from(irc).is_ok());
        if strict {
            fast_and_strict += 1;
        } else {
            fast_only += 1;
        }
    }
    eprintln!("fast and strict {fast_and_strict}, fast only {fast_only}, declined {declined}");
    // Both of the full parse's ways are compared, and the fast reading
    // declines what it must.
    assert!(
        fast_and_strict > 5_000 && fast_only > 1_000 && declined > 1_000,
        "{fast_and_strict} {fast_only} {declined}"
    );
}
