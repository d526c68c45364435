//! `!clank` chat commands: moderators tune a channel's [`ChannelConfig`] from
//! chat (`!clank threshold 50`, `!clank delay 120`, `!clank status`, ...).
//! Parsing and applying are pure; replies are plain text that can never be
//! read by a platform as a command of its own (no leading `/` or `.`).

use crate::model::{Author, ChannelConfig, Role};

/// The chat prefix, matched case-insensitively as the first word.
pub const PREFIX: &str = "!clank";

/// Allowed ranges, shared by parsing, applying and the help text.
pub const THRESHOLD_RANGE: (u32, u32) = (1, 10_000);
pub const DELAY_RANGE: (u64, u64) = (0, 86_400);
pub const CONTEXT_RANGE: (u32, u32) = (1, 1000);
pub const MODEL_MAX_CHARS: usize = 100;

/// A parsed `!clank` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClankCommand {
    /// `threshold N`: messages before the bot may speak unprompted.
    Threshold(u32),
    /// `delay SECONDS`: least time between two bot messages.
    Delay(u64),
    /// `context N`: recent messages a draft may see.
    Context(u32),
    /// `model NAME`: the LLM model for this channel.
    Model(String),
    /// `model default`: back to the global model.
    ModelDefault,
    Status,
    Help,
}

/// A `!clank` command that cannot be run; the message is the chat reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command {0:?}; try !clank help")]
    Unknown(String),
    #[error("usage: {0}")]
    MissingArgument(&'static str),
    #[error("too many arguments; usage: {0}")]
    TooManyArguments(&'static str),
    #[error("{name} must be a whole number between {lo} and {hi}, got {got:?}")]
    NotANumber {
        name: &'static str,
        lo: u64,
        hi: u64,
        got: String,
    },
    #[error("{name} must be between {lo} and {hi}, got {got}")]
    OutOfRange {
        name: &'static str,
        lo: u64,
        hi: u64,
        got: String,
    },
    #[error("model name {0}")]
    BadModel(String),
}

/// What to say back in chat, and whether the channel's config changed (so
/// the caller knows to persist it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandReply {
    pub text: String,
    pub changed: bool,
}

const USAGE_THRESHOLD: &str = "!clank threshold N (1 to 10000)";
const USAGE_DELAY: &str = "!clank delay SECONDS (0 to 86400)";
const USAGE_CONTEXT: &str = "!clank context N (1 to 1000)";
const USAGE_MODEL: &str = "!clank model NAME (or: default)";

const HELP: &str = "!clank commands: threshold N (1-10000 messages), delay SECONDS (0-86400), \
context N (1-1000 messages), model NAME or default, status, help";

/// Only the broadcaster and moderators may run commands; everyone else is
/// silently ignored (no reply, so the bot cannot be used to spam).
pub fn may_run(author: &Author) -> bool {
    author.has(Role::Broadcaster) || author.has(Role::Moderator)
}

/// User input echoed in a reply: printable, short.
fn echo(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > 24 {
        let cut: String = clean.chars().take(24).collect();
        format!("{cut}...")
    } else {
        clean
    }
}

/// Twitch reads a message starting with `/` or `.` as a chat command (`/ban`,
/// `.timeout`). Every reply here starts with a fixed word; this is the backstop.
fn safe_reply(text: String) -> String {
    let trimmed = text.trim_start();
    if trimmed.starts_with('/') || trimmed.starts_with('.') {
        format!("clank: {trimmed}")
    } else {
        trimmed.to_string()
    }
}

fn number(
    args: &[&str],
    name: &'static str,
    lo: u64,
    hi: u64,
    usage: &'static str,
) -> Result<u64, CommandError> {
    let raw = match args {
        [] => return Err(CommandError::MissingArgument(usage)),
        [one] => *one,
        _ => return Err(CommandError::TooManyArguments(usage)),
    };
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::NotANumber {
            name,
            lo,
            hi,
            got: echo(raw),
        });
    }
    let out_of_range = || CommandError::OutOfRange {
        name,
        lo,
        hi,
        got: echo(digits),
    };
    if digits.starts_with('-') {
        // "-0" is zero; any other negative is below every range here.
        return if unsigned.bytes().all(|b| b == b'0') && lo == 0 {
            Ok(0)
        } else {
            Err(out_of_range())
        };
    }
    // Too many digits for u64 is out of range, not "not a number".
    let n: u64 = unsigned.parse().map_err(|_| out_of_range())?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(out_of_range())
    }
}

fn check_model(name: &str) -> Result<(), CommandError> {
    if name.is_empty() {
        return Err(CommandError::MissingArgument(USAGE_MODEL));
    }
    let len = name.chars().count();
    if len > MODEL_MAX_CHARS {
        return Err(CommandError::BadModel(format!(
            "must be at most {MODEL_MAX_CHARS} characters, got {len}"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-')))
    {
        return Err(CommandError::BadModel(format!(
            "may only use letters, digits and . _ : / -, got {:?}",
            echo(&bad.to_string())
        )));
    }
    Ok(())
}

/// Checks a command's values against the allowed ranges (commands built by
/// code rather than parsed get the same checks in `apply`).
pub fn validate(cmd: &ClankCommand) -> Result<(), CommandError> {
    let range = |name, n: u64, (lo, hi): (u64, u64)| {
        if (lo..=hi).contains(&n) {
            Ok(())
        } else {
            Err(CommandError::OutOfRange {
                name,
                lo,
                hi,
                got: n.to_string(),
            })
        }
    };
    match cmd {
        ClankCommand::Threshold(n) => range(
            "threshold",
            u64::from(*n),
            (u64::from(THRESHOLD_RANGE.0), u64::from(THRESHOLD_RANGE.1)),
        ),
        ClankCommand::Delay(n) => range("delay", *n, DELAY_RANGE),
        ClankCommand::Context(n) => range(
            "context",
            u64::from(*n),
            (u64::from(CONTEXT_RANGE.0), u64::from(CONTEXT_RANGE.1)),
        ),
        ClankCommand::Model(name) => check_model(name),
        ClankCommand::ModelDefault | ClankCommand::Status | ClankCommand::Help => Ok(()),
    }
}

/// `None` if `text` is not a `!clank` command (the prefix must be the first
/// word, any case); otherwise the command or why it cannot run. A bare
/// `!clank` is `help`.
pub fn parse(text: &str) -> Option<Result<ClankCommand, CommandError>> {
    let mut words = text.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let Some(sub) = words.next() else {
        return Some(Ok(ClankCommand::Help));
    };
    let args: Vec<&str> = words.collect();
    let (t_lo, t_hi) = THRESHOLD_RANGE;
    let (c_lo, c_hi) = CONTEXT_RANGE;
    let cmd = match sub.to_ascii_lowercase().as_str() {
        "threshold" => number(
            &args,
            "threshold",
            t_lo.into(),
            t_hi.into(),
            USAGE_THRESHOLD,
        )
        // In range, so it fits.
        .map(|n| ClankCommand::Threshold(u32::try_from(n).unwrap_or(t_hi))),
        "delay" => number(&args, "delay", DELAY_RANGE.0, DELAY_RANGE.1, USAGE_DELAY)
            .map(ClankCommand::Delay),
        "context" => number(&args, "context", c_lo.into(), c_hi.into(), USAGE_CONTEXT)
            .map(|n| ClankCommand::Context(u32::try_from(n).unwrap_or(c_hi))),
        "model" => match args.as_slice() {
            [] => Err(CommandError::MissingArgument(USAGE_MODEL)),
            [name] if name.eq_ignore_ascii_case("default") => Ok(ClankCommand::ModelDefault),
            [name] => check_model(name).map(|()| ClankCommand::Model((*name).to_string())),
            _ => Err(CommandError::TooManyArguments(USAGE_MODEL)),
        },
        // Words after these change nothing, so they are not worth an error.
        "status" => Ok(ClankCommand::Status),
        "help" => Ok(ClankCommand::Help),
        other => Err(CommandError::Unknown(echo(other))),
    };
    Some(cmd)
}

fn status(cfg: &ChannelConfig) -> String {
    format!(
        "threshold {} messages, delay {} s, context {} messages, model {}",
        cfg.message_threshold,
        cfg.time_delay_s,
        cfg.context_limit,
        cfg.model.as_deref().unwrap_or("default")
    )
}

fn reply(text: String, changed: bool) -> CommandReply {
    CommandReply {
        text: safe_reply(text),
        changed,
    }
}

/// Runs `cmd` on the channel's config and says what happened.
pub fn apply(cmd: ClankCommand, cfg: &mut ChannelConfig) -> CommandReply {
    if let Err(e) = validate(&cmd) {
        return reply(e.to_string(), false);
    }
    fn set<T: PartialEq + std::fmt::Display>(
        field: &mut T,
        value: T,
        name: &str,
        unit: &str,
    ) -> CommandReply {
        if *field == value {
            reply(format!("{name} is already {value}{unit}"), false)
        } else {
            *field = value;
            reply(format!("{name} set to {}{unit}", field), true)
        }
    }
    match cmd {
        ClankCommand::Threshold(n) => set(&mut cfg.message_threshold, n, "threshold", ""),
        ClankCommand::Delay(s) => set(&mut cfg.time_delay_s, s, "delay", " s"),
        ClankCommand::Context(n) => set(&mut cfg.context_limit, n, "context", ""),
        ClankCommand::Model(name) => {
            if cfg.model.as_deref() == Some(name.as_str()) {
                reply(format!("model is already {name}"), false)
            } else {
                let text = format!("model set to {name}");
                cfg.model = Some(name);
                reply(text, true)
            }
        }
        ClankCommand::ModelDefault => {
            if cfg.model.take().is_some() {
                reply("model reset to the default".to_string(), true)
            } else {
                reply("model is already the default".to_string(), false)
            }
        }
        ClankCommand::Status => reply(status(cfg), false),
        ClankCommand::Help => reply(HELP.to_string(), false),
    }
}

/// The whole path for one chat message: `None` if it is not a `!clank`
/// command or the author may not run commands (ignored silently); otherwise
/// the reply, the error text for a bad command included.
pub fn handle(text: &str, author: &Author, cfg: &mut ChannelConfig) -> Option<CommandReply> {
    let parsed = parse(text)?;
    if !may_run(author) {
        return None;
    }
    Some(match parsed {
        Ok(cmd) => apply(cmd, cfg),
        Err(e) => reply(e.to_string(), false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> ClankCommand {
        parse(text).expect("a command").expect("valid")
    }

    fn err(text: &str) -> String {
        parse(text)
            .expect("a command")
            .expect_err("invalid")
            .to_string()
    }

    fn author(roles: &[Role]) -> Author {
        Author {
            id: "1".into(),
            name: "someone".into(),
            roles: roles.to_vec(),
            ..Author::default()
        }
    }

    #[test]
    fn only_a_leading_clank_word_is_a_command() {
        for not in [
            "",
            "   ",
            "hello !clank status",
            "!clanky status",
            "!clan",
            "clank status",
            "! clank",
        ] {
            assert!(parse(not).is_none(), "{not:?}");
        }
        assert_eq!(ok("!clank"), ClankCommand::Help);
        assert_eq!(ok("  !CLANK   STATUS  "), ClankCommand::Status);
        assert_eq!(ok("!Clank Help me please"), ClankCommand::Help);
        assert_eq!(ok("!clank status now"), ClankCommand::Status);
    }

    #[test]
    fn threshold_range_and_errors() {
        assert_eq!(ok("!clank threshold 50"), ClankCommand::Threshold(50));
        assert_eq!(ok("!clank THRESHOLD 1"), ClankCommand::Threshold(1));
        assert_eq!(
            ok("!clank threshold 10000"),
            ClankCommand::Threshold(10_000)
        );
        assert_eq!(ok("!clank threshold +7"), ClankCommand::Threshold(7));
        assert_eq!(
            err("!clank threshold 0"),
            "threshold must be between 1 and 10000, got 0"
        );
        assert_eq!(
            err("!clank threshold 10001"),
            "threshold must be between 1 and 10000, got 10001"
        );
        assert_eq!(
            err("!clank threshold -5"),
            "threshold must be between 1 and 10000, got -5"
        );
        assert_eq!(
            err("!clank threshold 99999999999999999999999"),
            "threshold must be between 1 and 10000, got 99999999999999999999999"
        );
        assert_eq!(
            err("!clank threshold ten"),
            "threshold must be a whole number between 1 and 10000, got \"ten\""
        );
        assert_eq!(
            err("!clank threshold 1.5"),
            "threshold must be a whole number between 1 and 10000, got \"1.5\""
        );
        assert_eq!(
            err("!clank threshold"),
            "usage: !clank threshold N (1 to 10000)"
        );
        assert_eq!(
            err("!clank threshold 5 6"),
            "too many arguments; usage: !clank threshold N (1 to 10000)"
        );
    }

    #[test]
    fn delay_range_and_errors() {
        assert_eq!(ok("!clank delay 0"), ClankCommand::Delay(0));
        assert_eq!(ok("!clank delay -0"), ClankCommand::Delay(0));
        assert_eq!(ok("!clank delay 86400"), ClankCommand::Delay(86_400));
        assert_eq!(
            err("!clank delay 86401"),
            "delay must be between 0 and 86400, got 86401"
        );
        assert_eq!(
            err("!clank delay -1"),
            "delay must be between 0 and 86400, got -1"
        );
        assert_eq!(
            err("!clank delay 30s"),
            "delay must be a whole number between 0 and 86400, got \"30s\""
        );
        assert_eq!(
            err("!clank delay"),
            "usage: !clank delay SECONDS (0 to 86400)"
        );
    }

    #[test]
    fn context_range_and_errors() {
        assert_eq!(ok("!clank context 1"), ClankCommand::Context(1));
        assert_eq!(ok("!clank context 1000"), ClankCommand::Context(1000));
        assert_eq!(
            err("!clank context 0"),
            "context must be between 1 and 1000, got 0"
        );
        assert_eq!(
            err("!clank context 1001"),
            "context must be between 1 and 1000, got 1001"
        );
        assert_eq!(
            err("!clank context -"),
            "context must be a whole number between 1 and 1000, got \"-\""
        );
    }

    #[test]
    fn model_names() {
        assert_eq!(
            ok("!clank model llama3.1:8b"),
            ClankCommand::Model("llama3.1:8b".into())
        );
        assert_eq!(
            ok("!clank model hf.co/org/Model-Q4_K_M:latest"),
            ClankCommand::Model("hf.co/org/Model-Q4_K_M:latest".into())
        );
        assert_eq!(ok("!clank model DEFAULT"), ClankCommand::ModelDefault);
        assert_eq!(
            ok(&format!("!clank model {}", "a".repeat(100))),
            ClankCommand::Model("a".repeat(100))
        );
        assert_eq!(
            err(&format!("!clank model {}", "a".repeat(101))),
            "model name must be at most 100 characters, got 101"
        );
        assert_eq!(
            err("!clank model llama;rm"),
            "model name may only use letters, digits and . _ : / -, got \";\""
        );
        assert_eq!(
            err("!clank model lläma"),
            "model name may only use letters, digits and . _ : / -, got \"ä\""
        );
        assert_eq!(
            err("!clank model"),
            "usage: !clank model NAME (or: default)"
        );
        assert_eq!(
            err("!clank model a b"),
            "too many arguments; usage: !clank model NAME (or: default)"
        );
    }

    #[test]
    fn unknown_commands_echo_a_short_clean_name() {
        assert_eq!(
            err("!clank dance"),
            "unknown command \"dance\"; try !clank help"
        );
        let long = err(&format!("!clank {}", "x".repeat(60)));
        assert!(
            long.contains(&format!("{}...", "x".repeat(24))) && !long.contains(&"x".repeat(25)),
            "{long}"
        );
    }

    #[test]
    fn apply_changes_the_config_and_says_so() {
        let mut cfg = ChannelConfig::default();
        let r = apply(ClankCommand::Threshold(50), &mut cfg);
        assert_eq!(
            r,
            CommandReply {
                text: "threshold set to 50".into(),
                changed: true
            }
        );
        assert_eq!(cfg.message_threshold, 50);
        let r = apply(ClankCommand::Threshold(50), &mut cfg);
        assert_eq!(
            r,
            CommandReply {
                text: "threshold is already 50".into(),
                changed: false
            }
        );

        assert_eq!(
            apply(ClankCommand::Delay(120), &mut cfg).text,
            "delay set to 120 s"
        );
        assert_eq!(cfg.time_delay_s, 120);
        assert_eq!(
            apply(ClankCommand::Context(40), &mut cfg).text,
            "context set to 40"
        );
        assert_eq!(cfg.context_limit, 40);

        let r = apply(ClankCommand::Model("qwen2.5:7b".into()), &mut cfg);
        assert_eq!(
            (r.text.as_str(), r.changed),
            ("model set to qwen2.5:7b", true)
        );
        assert_eq!(cfg.model.as_deref(), Some("qwen2.5:7b"));
        assert!(!apply(ClankCommand::Model("qwen2.5:7b".into()), &mut cfg).changed);
        let r = apply(ClankCommand::ModelDefault, &mut cfg);
        assert_eq!(
            (r.text.as_str(), r.changed),
            ("model reset to the default", true)
        );
        assert_eq!(cfg.model, None);
        assert!(!apply(ClankCommand::ModelDefault, &mut cfg).changed);

        let before = cfg.clone();
        let r = apply(ClankCommand::Status, &mut cfg);
        assert_eq!(
            r.text,
            "threshold 50 messages, delay 120 s, context 40 messages, model default"
        );
        assert!(!r.changed);
        let r = apply(ClankCommand::Help, &mut cfg);
        for word in ["threshold", "delay", "context", "model", "status", "help"] {
            assert!(r.text.contains(word), "help lacks {word}");
        }
        // YouTube's 200-character limit is the tightest.
        assert!(r.text.chars().count() <= 200);
        assert_eq!(cfg, before);
    }

    #[test]
    fn apply_rechecks_commands_built_by_code() {
        let mut cfg = ChannelConfig::default();
        let before = cfg.clone();
        let r = apply(ClankCommand::Threshold(0), &mut cfg);
        assert_eq!(
            (r.text.as_str(), r.changed),
            ("threshold must be between 1 and 10000, got 0", false)
        );
        assert!(!apply(ClankCommand::Context(5000), &mut cfg).changed);
        assert!(!apply(ClankCommand::Delay(100_000), &mut cfg).changed);
        assert!(!apply(ClankCommand::Model("bad name".into()), &mut cfg).changed);
        assert_eq!(cfg, before);
    }

    #[test]
    fn only_moderators_and_the_broadcaster_may_run_commands() {
        assert!(may_run(&author(&[Role::Moderator])));
        assert!(may_run(&author(&[Role::Subscriber, Role::Broadcaster])));
        for roles in [
            &[][..],
            &[Role::Vip],
            &[Role::Subscriber, Role::Member],
            &[Role::Verified],
            &[Role::Other],
        ] {
            assert!(!may_run(&author(roles)), "{roles:?}");
        }
        let mut cfg = ChannelConfig::default();
        let before = cfg.clone();
        // Non-mods are ignored silently, even for valid commands.
        assert_eq!(
            handle("!clank threshold 5", &author(&[Role::Vip]), &mut cfg),
            None
        );
        assert_eq!(handle("!clank nonsense", &author(&[]), &mut cfg), None);
        assert_eq!(cfg, before);
        // Not a command: nothing, whoever says it.
        assert_eq!(
            handle("great stream", &author(&[Role::Moderator]), &mut cfg),
            None
        );
        let mod_ = author(&[Role::Moderator]);
        let r = handle("!clank threshold 5", &mod_, &mut cfg).unwrap();
        assert!(r.changed && cfg.message_threshold == 5);
        let r = handle("!clank threshold 0", &mod_, &mut cfg).unwrap();
        assert_eq!(
            (r.text.as_str(), r.changed),
            ("threshold must be between 1 and 10000, got 0", false)
        );
    }

    #[test]
    fn replies_never_start_with_a_platform_command_character() {
        let mut cfg = ChannelConfig::default();
        let mod_ = author(&[Role::Broadcaster]);
        let inputs = [
            "!clank /ban someone",
            "!clank .timeout x 600",
            "!clank model /abs",
            "!clank model ./x",
            "!clank model .hidden",
            "!clank threshold /5",
            "!clank delay .5",
            "!clank",
            "!clank status",
        ];
        for text in inputs {
            let r = handle(text, &mod_, &mut cfg).unwrap();
            assert!(
                !r.text.starts_with('/') && !r.text.starts_with('.'),
                "{text:?} -> {:?}",
                r.text
            );
            assert!(!r.text.is_empty());
        }
        assert_eq!(safe_reply("/ban x".into()), "clank: /ban x");
        assert_eq!(safe_reply("  .me x".into()), "clank: .me x");
        assert_eq!(safe_reply("fine".into()), "fine");
    }
}
