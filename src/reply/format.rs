//! Output safety and platform formatting (pure): the last gate before any text
//! leaves clank. No chat commands, no mass pings, no links unless allowed, no
//! blocked words, within the platform's length, addressed to the asker; when
//! anything goes wrong the draft is blocked, never sent.

use std::panic::{AssertUnwindSafe, catch_unwind};

use unicode_segmentation::UnicodeSegmentation;

use crate::model::Platform;

/// Where a reply goes and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub platform: Platform,
    /// Display name of the viewer being answered; `None` for unprompted messages.
    pub asker: Option<String>,
}

impl Target {
    /// Replying to `m`: its platform, addressed to its author.
    pub fn reply_to(m: &crate::model::ChatMessage) -> Self {
        Self {
            platform: m.platform,
            asker: Some(m.author.name.clone()),
        }
    }
}

/// What the output filter allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputPolicy {
    /// Let links through (off by default: links from an LLM are spam or worse).
    pub allow_urls: bool,
    /// Start replies with `@asker `.
    pub address_asker: bool,
}

impl Default for OutputPolicy {
    fn default() -> Self {
        Self {
            allow_urls: false,
            address_asker: true,
        }
    }
}

/// Why a draft may not be sent. `Display` never repeats the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("nothing left to say after cleaning")]
    Empty,
    #[error("looks like a chat command ({0})")]
    Command(String),
    /// Holds the word the filter named, for the operator; not shown in `Display`.
    #[error("contains a blocked word")]
    BlockedWord(String),
    #[error("output filter failed: {0}")]
    Internal(String),
    /// The model copied clank's prompt back: a block marker, a role tag, a
    /// chat-log line or an instruction sentence (the kind is named).
    #[error("repeats the prompt ({0})")]
    Echo(&'static str),
    #[error("parrots the viewer's own words")]
    Parrot,
    #[error("one word or emote repeated over and over")]
    Repetition,
    /// Stopped at the token limit with no complete sentence to keep.
    #[error("cut off at the token limit mid-sentence")]
    CutOff,
}

impl Blocked {
    /// The model wrote something unusable (as opposed to something unsafe):
    /// worth one more try with a stricter prompt.
    pub fn is_broken_text(&self) -> bool {
        matches!(
            self,
            Blocked::Empty
                | Blocked::Echo(_)
                | Blocked::Parrot
                | Blocked::Repetition
                | Blocked::CutOff
        )
    }
}

/// A safe text and what was changed to make it so (for the operator and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeText {
    pub text: String,
    pub changes: Vec<&'static str>,
}

/// The one gate for outgoing text. `blocked` names a blocked word in its
/// argument, if any (wired to the content filter). Any failure, a panic included,
/// blocks the draft.
pub fn make_safe(
    draft: &str,
    target: &Target,
    policy: &OutputPolicy,
    blocked: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Blocked> {
    make_safe_report(draft, target, policy, blocked).map(|s| s.text)
}

/// [`make_safe`], also saying what it changed.
pub fn make_safe_report(
    draft: &str,
    target: &Target,
    policy: &OutputPolicy,
    blocked: &dyn Fn(&str) -> Option<String>,
) -> Result<SafeText, Blocked> {
    let run = catch_unwind(AssertUnwindSafe(|| {
        let safe = clean(draft, target, policy, blocked)?;
        verify(&safe.text, target, policy, blocked)
            .map_err(|why| Blocked::Internal(format!("final check failed: {why}")))?;
        Ok(safe)
    }));
    run.unwrap_or_else(|_| Err(Blocked::Internal("the output filter panicked".into())))
}

/// Checks the finished text against every rule; the safety net behind `clean`.
pub fn verify(
    text: &str,
    target: &Target,
    policy: &OutputPolicy,
    blocked: &dyn Fn(&str) -> Option<String>,
) -> Result<(), &'static str> {
    let limit = target.platform.max_message_chars();
    if text.trim().is_empty() {
        return Err("empty");
    }
    if text.chars().count() > limit {
        return Err("too long");
    }
    // One line on IRC-like platforms: a line break could smuggle a second command.
    let multiline = target.platform == Platform::Discord;
    if text
        .chars()
        .any(|c| c.is_control() && !(multiline && c == '\n'))
    {
        return Err("control character or line break");
    }
    let first = text
        .chars()
        .find(|&c| !(c.is_whitespace() || is_invisible(c) || is_wrapper(c)));
    if first.is_some_and(|c| is_slash_like(c) || is_dot_like(c)) {
        return Err("starts like a command");
    }
    let skeleton: String = text
        .chars()
        .filter(|&c| !is_invisible(c))
        .flat_map(char::to_lowercase)
        .collect();
    if skeleton.contains("@everyone") || skeleton.contains("@here") {
        return Err("mass ping");
    }
    if has_discord_ping(&skeleton) {
        return Err("ping");
    }
    if !policy.allow_urls && text.split_whitespace().any(is_url_token) {
        return Err("link");
    }
    if blocked(text).is_some() || blocked(&skeleton).is_some() {
        return Err("blocked word");
    }
    Ok(())
}

fn clean(
    draft: &str,
    target: &Target,
    policy: &OutputPolicy,
    blocked: &dyn Fn(&str) -> Option<String>,
) -> Result<SafeText, Blocked> {
    let mut changes = Vec::new();
    let multiline = target.platform == Platform::Discord;
    let mut s = normalize(draft, multiline);
    if s.len() != draft.trim().len() {
        changes.push("normalized whitespace and invisible characters");
    }

    let asker = target
        .asker
        .as_deref()
        .filter(|_| policy.address_asker)
        .and_then(|a| address_name(a, policy, blocked));

    // Preambles, labels, wrapping quotes and an echoed @asker can nest; peel until stable.
    for _ in 0..8 {
        let before = s.clone();
        s = strip_wrapping_quotes(&s);
        s = strip_label(&s);
        s = strip_ai_preamble(&s);
        if let Some(name) = &asker {
            s = strip_leading_mention(&s, name);
        }
        if s == before {
            break;
        }
        changes.push("removed a preamble, label or wrapping quotes");
    }

    // Each removal can join neighbours into something new ("<" + "@&", "@**everyone"
    // minus markdown), so repeat until nothing changes.
    for _ in 0..8 {
        let before = s.clone();
        let t = remove_discord_pings(&s);
        if t != s {
            changes.push("removed pings");
            s = t;
        }
        let t = remove_mass_pings(&s);
        if t != s {
            changes.push("removed @everyone/@here");
            s = t;
        }
        if !policy.allow_urls {
            let t = remove_urls(&s);
            if t != s {
                changes.push("removed links");
                s = t;
            }
        }
        if !multiline {
            let t = strip_markdown(&s);
            if t != s {
                changes.push("removed markdown");
                s = t;
            }
        }
        s = normalize(&s, multiline);
        if s == before {
            break;
        }
    }
    changes.dedup();

    if let Some(word) = blocked(&s) {
        return Err(Blocked::BlockedWord(word));
    }
    let skeleton: String = s.chars().filter(|&c| !is_invisible(c)).collect();
    if let Some(word) = blocked(&skeleton) {
        return Err(Blocked::BlockedWord(word));
    }

    let t = strip_command_start(&s)?;
    if t != s {
        changes.push("removed leading slashes or dots");
        s = t;
    }
    if !has_content(&s) {
        return Err(Blocked::Empty);
    }

    let prefix = asker.map(|n| format!("@{n} ")).unwrap_or_default();
    let limit = target.platform.max_message_chars();
    let room = limit.saturating_sub(prefix.chars().count());
    let body = fit(&s, room);
    if body.len() != s.len() {
        changes.push("shortened to the platform's limit");
    }
    // A cut that kept only quotes and brackets would say nothing (and start with "…").
    if !has_content(body.trim_end_matches('…')) {
        return Err(Blocked::Empty);
    }
    // On the body as it would go out, so what is checked is what is sent.
    check_broken(&body)?;
    Ok(SafeText {
        text: format!("{prefix}{body}"),
        changes,
    })
}

// --- prompt echo and broken text -------------------------------------------

/// Role tags and chat-template tokens small models copy from their prompt.
const ROLE_TAGS: [&str; 14] = [
    "<|",
    "|>",
    "[inst]",
    "[/inst]",
    "<s>",
    "</s>",
    "### instruction",
    "### response",
    "system:",
    "assistant:",
    "user:",
    "<start_of_turn>",
    "<end_of_turn>",
    "im_start",
];

/// How clank's old prompts tagged a chat line: `Name (moderator, member): "..."`.
const CHAT_LINE_TAGS: [&str; 10] = [
    "(paid ",
    " usd)",
    "(moderator",
    "(broadcaster",
    "(subscriber",
    "(member",
    "(vip",
    "(verified",
    "(staff",
    "(first message",
];

/// Context-free checks for text no streamer would send: clank's own markers,
/// role tags, chat-log lines, one word or emote over and over.
pub fn check_broken(text: &str) -> Result<(), Blocked> {
    let lower = text.to_lowercase();
    // Any run of three angle brackets is one of clank's block markers (or an
    // imitation); viewer text in prompts never has one (see `break_markers`).
    if lower.contains("<<<")
        || lower.contains(">>>")
        || ["<<chat", "chat>>", "<<message", "message>>", "<<<<"]
            .iter()
            .any(|m| lower.contains(m))
    {
        return Err(Blocked::Echo("block marker"));
    }
    if ROLE_TAGS.iter().any(|t| {
        if t.ends_with(':') {
            // "user:" only as a label: at the start or after a line break.
            lower.starts_with(t) || lower.contains(&format!("\n{t}"))
        } else {
            lower.contains(t)
        }
    }) {
        return Err(Blocked::Echo("role tag"));
    }
    if CHAT_LINE_TAGS.iter().any(|t| lower.contains(t))
        || looks_like_chat_line(text)
        || quotes_a_speaker(text)
    {
        return Err(Blocked::Echo("chat-log line"));
    }
    if SELF_TALK.iter().any(|t| lower.contains(t)) {
        return Err(Blocked::Echo("talks about itself as a bot"));
    }
    if is_repetitive(text) {
        return Err(Blocked::Repetition);
    }
    Ok(())
}

/// A persona never talks about being a bot (its rules say so) nor about "this
/// response": SmolLM2 did both, at length.
const SELF_TALK: [&str; 10] = [
    "ai assistant",
    "chatbot",
    "chat bot",
    "chat assistant",
    "language model",
    "as an ai",
    "i'm an ai",
    "this response",
    "this reply",
    "reply to this message",
];

/// `Name: "..."` or `@name: "..."` anywhere, or two `Name:` speaker labels:
/// a transcript of chat, not a reply.
fn quotes_a_speaker(text: &str) -> bool {
    let mut labels = 0;
    for (i, _) in text.match_indices(':') {
        let before = text[..i].rsplit(char::is_whitespace).next().unwrap_or("");
        let name_like = is_username_like(before)
            && before.chars().count() >= 2
            && before
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '@' | '_' | '.' | '-'));
        if !name_like {
            continue;
        }
        let after = text[i + 1..].trim_start();
        if after.starts_with('"') || after.starts_with('“') {
            return true;
        }
        // A handle ("Lemon_ash:", "fab7317:") speaking is a transcript line;
        // a capitalised word ("Note:") is only one with a second label.
        if before.chars().any(|c| c == '_' || c.is_ascii_digit()) && text[i + 1..].starts_with(' ')
        {
            return true;
        }
        labels += 1;
    }
    labels >= 2
}

/// `Name: "quoted text"` at the start or after a line break: a line of the
/// prompt's chat log, not a reply.
fn looks_like_chat_line(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start_matches(|c: char| is_blank(c) || c == '-' || c == '*');
        let Some(colon) = line.find(':') else {
            return false;
        };
        let name = &line[..colon];
        let after = line[colon + 1..].trim_start();
        let name_like = !name.is_empty()
            && name.chars().count() <= 40
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | ' ' | '-' | '(' | ')' | ','));
        name_like && (after.starts_with('"') || after.starts_with('“'))
    })
}

/// One word or grapheme making most of the text, a word four times in a row,
/// or the same sentence twice: a model stuck in a loop.
fn is_repetitive(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| c.is_ascii_punctuation())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut run = 1;
    for pair in words.windows(2) {
        run = if pair[0] == pair[1] { run + 1 } else { 1 };
        if run >= 4 {
            return true;
        }
    }
    if words.len() >= 6 {
        let mut counts: std::collections::HashMap<&str, usize> = Default::default();
        for w in &words {
            *counts.entry(w.as_str()).or_default() += 1;
        }
        if counts.values().any(|&n| n * 2 >= words.len() && n >= 4) {
            return true;
        }
    }
    // A phrase of five words said twice: the loop has begun.
    let mut phrases = std::collections::HashSet::new();
    if words.windows(5).any(|w| !phrases.insert(w)) {
        return true;
    }
    // One grapheme (an emote, a letter) dominating a long text without spaces.
    let graphemes: Vec<&str> = text
        .graphemes(true)
        .filter(|g| !g.chars().all(is_blank))
        .collect();
    if graphemes.len() >= 8 {
        let mut counts: std::collections::HashMap<&str, usize> = Default::default();
        for g in &graphemes {
            *counts.entry(g).or_default() += 1;
        }
        if counts.values().any(|&n| n * 10 >= graphemes.len() * 6) {
            return true;
        }
    }
    // The same sentence (three words or more) twice.
    let mut seen = std::collections::HashSet::new();
    for sentence in text.split(['.', '!', '?', '\n']) {
        let key: Vec<String> = sentence
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect();
        if key.len() >= 3 && !seen.insert(key) {
            return true;
        }
    }
    false
}

/// What the gate knows about the prompt a draft was written from, to catch
/// the model copying it back (see [`screen_llm_text`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoGuard {
    /// Text clank itself wrote into the prompt: persona, rules, the task.
    pub instructions: Vec<String>,
    /// The viewer message being answered, if any.
    pub viewer_text: Option<String>,
    /// Recent chat shown to the model.
    pub history: Vec<String>,
    /// The server stopped at the token limit (`done_reason` "length").
    pub cut_at_limit: bool,
    /// The persona's name: a reply that opens by addressing it ("Mika, ...",
    /// "Dear Mika") is the model talking to itself.
    pub persona: String,
}

/// Words as the echo checks compare them: lowercase letters and digits only.
fn plain_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `hay` holds the word sequence `needle` (both from [`plain_words`]).
fn contains_run(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs of this many words shared with clank's own instructions mean the
/// model is reciting its prompt, not replying.
const ECHO_RUN: usize = 6;

/// The checks that need the prompt: instruction sentences recited, the
/// viewer's words parroted back, chat lines copied, a reply cut at the token
/// limit (kept up to its last full sentence, else blocked), plus
/// [`check_broken`]. Returns the raw text to pass on to [`make_safe`].
pub fn screen_llm_text(raw: &str, guard: &EchoGuard) -> Result<String, Blocked> {
    let mut text = raw.trim().to_string();
    if guard.cut_at_limit {
        text = last_full_sentences(&text).ok_or(Blocked::CutOff)?;
    }
    if !has_content(&text) {
        return Err(Blocked::Empty);
    }
    // Loops first, on the whole text: they show however far in they start.
    check_broken(&text)?;
    // Chat replies are a sentence or two; small models ramble on and the
    // later sentences are where they drift. Keep the first few.
    text = first_sentences(&text, MAX_SENTENCES);
    // Over the length the prompt asked for: keep the full sentences within
    // it, or drop the draft (a reply cut mid-thought says nothing).
    if text.chars().count() > MAX_REPLY_CHARS {
        let head: String = text.chars().take(MAX_REPLY_CHARS).collect();
        text = last_full_sentences(&head).ok_or(Blocked::CutOff)?;
    }
    if quotes_then_comments(&text) {
        return Err(Blocked::Echo("quoted draft with commentary"));
    }
    if starts_with_speaker_label(&text) {
        return Err(Blocked::Echo("speaker label"));
    }
    let persona = guard.persona.trim().to_lowercase();
    if !persona.is_empty() {
        let lower = text.to_lowercase();
        let lower = lower.trim_start_matches(|c: char| !c.is_alphanumeric());
        let addressed = ["", "dear ", "hi ", "hey ", "hello ", "greetings, "]
            .iter()
            .any(|greet| {
                lower
                    .strip_prefix(greet)
                    .and_then(|rest| rest.strip_prefix(persona.as_str()))
                    .is_some_and(|rest| rest.starts_with([',', ':', '!', '.']))
            });
        if addressed {
            return Err(Blocked::Echo("talks to itself"));
        }
    }
    let words = plain_words(&text);
    for instruction in &guard.instructions {
        let iw = plain_words(instruction);
        if iw.len() >= ECHO_RUN && iw.windows(ECHO_RUN).any(|run| contains_run(&words, run)) {
            return Err(Blocked::Echo("instruction"));
        }
    }
    if let Some(v) = &guard.viewer_text {
        let vw = plain_words(v);
        // A short "gg" back to "gg" is chat; three words or more copied is a parrot.
        if vw.len() >= 3 && contains_run(&words, &vw) {
            return Err(Blocked::Parrot);
        }
        // Five words in a row of the viewer's: "how to get to the drowned
        // cloister" back to "how do I get to the drowned cloister?".
        if vw.len() >= PARROT_RUN && vw.windows(PARROT_RUN).any(|run| contains_run(&words, run)) {
            return Err(Blocked::Parrot);
        }
    }
    if let Some(v) = &guard.viewer_text {
        // Mostly the viewer's own words rearranged ("mika is your model
        // live2d?" -> "Mika is your model in live2d.").
        // Counted on content words: "the run is going great" to "how is the
        // run going?" adds "great", and that is a reply.
        let content = |w: &String| !FUNCTION_WORDS.contains(&w.as_str());
        let vw: std::collections::HashSet<String> =
            plain_words(v).into_iter().filter(content).collect();
        let mine: Vec<&String> = words.iter().filter(|w| content(w)).collect();
        let shared = mine.iter().filter(|w| vw.contains(**w)).count();
        if vw.len() >= 3 && mine.len() >= 3 && shared * 5 >= mine.len() * 4 {
            return Err(Blocked::Parrot);
        }
    }
    for line in &guard.history {
        let hw = plain_words(line);
        if hw.len() >= 4 && contains_run(&words, &hw) {
            return Err(Blocked::Echo("chat-log line"));
        }
    }
    Ok(text)
}

/// Looks like a chat name: capitalised, `@`-prefixed, or a handle with an
/// underscore or a digit ("lumen_ash", "fab7317"), as Twitch names are.
fn is_username_like(w: &str) -> bool {
    w.chars()
        .next()
        .is_some_and(|c| c == '@' || c.is_uppercase())
        || (w.chars().any(|c| c == '_' || c.is_ascii_digit()) && w.chars().any(char::is_alphabetic))
}

/// `Name:` or `First Last:` opening a reply: the model writing a chat
/// transcript (one speaker after another), not a reply of its own.
fn starts_with_speaker_label(text: &str) -> bool {
    let Some(colon) = text.find(':') else {
        return false;
    };
    let head = &text[..colon];
    let words: Vec<&str> = head.split_whitespace().collect();
    // "Tip:" / "Note:" style openings are one common word; a label is a name.
    let name_like = |w: &str| {
        is_username_like(w)
            && w.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    let after_is_text = text[colon + 1..].starts_with(' ');
    (1..=3).contains(&words.len())
        && words.iter().all(|w| name_like(w))
        && !matches!(
            head.trim(),
            "Tip" | "Note" | "Update" | "PS" | "P.S." | "Fun fact" | "Pro tip"
        )
        && after_is_text
}

/// Words in a row shared with the viewer's message that make a parrot.
const PARROT_RUN: usize = 5;

/// A reply that opens with a quotation and then talks about it ("\"hi, I am
/// Mika\" You could add a short intro like this"): a draft with commentary.
fn quotes_then_comments(text: &str) -> bool {
    let mut it = text.char_indices();
    let Some((_, open)) = it.next() else {
        return false;
    };
    let close = match open {
        '"' => '"',
        '“' => '”',
        _ => return false,
    };
    it.find(|&(_, c)| c == close)
        .is_some_and(|(i, c)| has_content(&text[i + c.len_utf8()..]))
}

/// Words that carry no content of their own, left out when comparing a
/// reply's words with the viewer's.
const FUNCTION_WORDS: [&str; 36] = [
    "the", "a", "an", "is", "are", "am", "was", "be", "to", "of", "in", "on", "at", "for", "and",
    "or", "it", "its", "it's", "this", "that", "i", "i'm", "you", "your", "you're", "my", "me",
    "we", "so", "do", "does", "did", "how", "what", "with",
];

/// Characters a reply keeps at most (the prompt asks for under 300).
const MAX_REPLY_CHARS: usize = 300;

/// Sentences a reply keeps at most.
const MAX_SENTENCES: usize = 3;

/// The first `n` sentences of `s` (all of it when it has no more).
fn first_sentences(s: &str, n: usize) -> String {
    let mut count = 0;
    for (i, c) in s.char_indices() {
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？') {
            let after = i + c.len_utf8();
            if s[after..].chars().next().is_some_and(is_blank) {
                count += 1;
                if count == n {
                    return s[..after].trim().to_string();
                }
            }
        }
    }
    s.to_string()
}

/// The text up to its last sentence terminator, or `None` when no sentence
/// was finished (a reply cut at the token limit says half a thought).
fn last_full_sentences(s: &str) -> Option<String> {
    let mut end = None;
    for (i, c) in s.char_indices() {
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…') {
            let after = i + c.len_utf8();
            // "3.5" is no sentence end; a terminator before a blank, a closing
            // quote or an emoji is.
            let next = s[after..].chars().next();
            if next.is_none_or(|n| is_blank(n) || is_wrapper(n) || !n.is_alphanumeric()) {
                end = Some(after);
            }
        }
    }
    let kept = s[..end?].trim();
    has_content(kept).then(|| kept.to_string())
}

// --- character classes ------------------------------------------------------

/// Characters that show nothing but can hide a command or a ping from a naive check.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}')
        || (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Counts as a blank even though `char::is_whitespace` says otherwise.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{2800}'
}

fn is_slash_like(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | '\u{FF0F}'
            | '\u{FF3C}'
            | '\u{2215}'
            | '\u{2044}'
            | '\u{29F8}'
            | '\u{29F9}'
            | '\u{2571}'
            | '\u{1F67C}'
            | '\u{FE68}'
            | '\u{2E4A}'
            | '\u{3033}'
    )
}

fn is_dot_like(c: char) -> bool {
    matches!(
        c,
        '.' | '\u{FF0E}'
            | '\u{2024}'
            | '\u{2025}'
            | '\u{2026}'
            | '\u{FE52}'
            | '\u{3002}'
            | '\u{FF61}'
            | '\u{00B7}'
            | '\u{06D4}'
            | '\u{0701}'
            | '\u{0702}'
            | '\u{2E33}'
            | '\u{2027}'
            | '\u{22C5}'
            | '\u{2219}'
    )
}

/// Quotes and markdown marks that can stand before a command without hiding it.
fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '*'
            | '_'
            | '~'
            | '|'
            | '>'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '„'
            | '‚'
            | '「'
            | '」'
            | '『'
            | '』'
            | '＂'
            | '＇'
            | '('
            | '['
            | '{'
    )
}

/// Something worth saying: a letter, digit, emoji or symbol, not just marks.
fn has_content(s: &str) -> bool {
    s.chars().any(|c| {
        !(is_blank(c)
            || is_invisible(c)
            || is_wrapper(c)
            || c.is_ascii_punctuation()
            || is_slash_like(c)
            || is_dot_like(c))
    })
}

// --- steps ----------------------------------------------------------------

/// Drops invisible characters (keeping a zero-width joiner inside emoji) and
/// collapses whitespace: to single spaces on one-line platforms, keeping at
/// most one blank line on Discord.
fn normalize(s: &str, multiline: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut visible = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '\u{200D}' {
            let emoji = |o: Option<&char>| {
                o.is_some_and(|&x| {
                    x as u32 >= 0x2000 && !x.is_alphanumeric() && !is_blank(x) && !is_invisible(x)
                })
            };
            if i > 0 && emoji(chars.get(i - 1)) && emoji(chars.get(i + 1)) {
                visible.push(c);
            }
            continue;
        }
        if !is_invisible(c) {
            visible.push(c);
        }
    }
    if !multiline {
        return visible
            .split(is_blank)
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    let mut out = String::with_capacity(visible.len());
    let mut blank_lines = 0;
    for line in visible.lines() {
        let line = line
            .split(|c: char| is_blank(c) && c != '\n')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if line.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        blank_lines = 0;
        out.push_str(&line);
    }
    out
}

const QUOTE_PAIRS: [(char, char); 9] = [
    ('"', '"'),
    ('\'', '\''),
    ('`', '`'),
    ('“', '”'),
    ('‘', '’'),
    ('«', '»'),
    ('「', '」'),
    ('『', '』'),
    ('＂', '＂'),
];

fn strip_wrapping_quotes(s: &str) -> String {
    let mut it = s.chars();
    let (Some(first), Some(last)) = (it.next(), it.next_back()) else {
        return s.to_string();
    };
    for (open, close) in QUOTE_PAIRS {
        if first == open && last == close {
            let inner = &s[first.len_utf8()..s.len() - last.len_utf8()];
            // "A" and "B" is not a wrapped quote: the inside must not close and reopen.
            if !inner.contains(close) {
                return inner.trim().to_string();
            }
        }
    }
    s.to_string()
}

/// "Reply: ..." / "Response: ..." labels some models put before the text.
fn strip_label(s: &str) -> String {
    const LABELS: [&str; 6] = [
        "reply:",
        "response:",
        "answer:",
        "message:",
        "chat message:",
        "chat:",
    ];
    let lower = s.to_lowercase();
    for l in LABELS {
        if lower.starts_with(l) && s.is_char_boundary(l.len()) {
            return s[l.len()..].trim().to_string();
        }
    }
    // "Sure! Here's a reply:" / "Here is my response:" on its own.
    if let Some(colon) = s.find(':') {
        let head = lower.get(..colon).unwrap_or("");
        if colon < 60
            && (head.contains("here's") || head.contains("here is"))
            && ["reply", "response", "answer", "message"]
                .iter()
                .any(|w| head.contains(w))
        {
            return s[colon + 1..].trim().to_string();
        }
    }
    s.to_string()
}

const AI_PREAMBLES: [&str; 9] = [
    "as an ai",
    "as a language model",
    "as a large language model",
    "as an artificial intelligence",
    "as a chatbot",
    "as a bot",
    "as an assistant",
    "i'm an ai",
    "i am an ai",
];

/// Removes an "As an AI..." opening: the whole first sentence when something
/// follows it, else just the opening clause.
fn strip_ai_preamble(s: &str) -> String {
    let lower = s.to_lowercase();
    let lower = lower.replace('’', "'");
    if !AI_PREAMBLES.iter().any(|p| lower.starts_with(p)) {
        return s.to_string();
    }
    if let Some(end) = sentence_end(s) {
        let rest = s[end..].trim();
        if !rest.is_empty() {
            return rest.to_string();
        }
    }
    match s.find(',') {
        Some(i) => capitalize(s[i + 1..].trim()),
        None => String::new(),
    }
}

/// Byte index just after the first sentence terminator followed by a blank or the end.
fn sentence_end(s: &str) -> Option<usize> {
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？') {
            let next = it.peek().map(|&(_, n)| n);
            if next.is_none_or(is_blank) {
                return Some(i + c.len_utf8());
            }
        }
    }
    None
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An echoed "@Rin," at the start: clank adds its own address.
fn strip_leading_mention(s: &str, name: &str) -> String {
    let Some(rest) = s.strip_prefix('@') else {
        return s.to_string();
    };
    let n = name.len();
    if rest.len() >= n && rest.is_char_boundary(n) && rest[..n].eq_ignore_ascii_case(name) {
        let after = &rest[n..];
        if after.is_empty() || after.starts_with(|c: char| !c.is_alphanumeric() && c != '_') {
            return after
                .trim_start_matches([',', ':', '!', '-'])
                .trim()
                .to_string();
        }
    }
    s.to_string()
}

/// Discord user and role pings: `<@123>`, `<@!123>`, `<@&123>` go, and half
/// pings lose their `<`, until none is left.
fn remove_discord_pings(s: &str) -> String {
    let mut cur = s.to_string();
    loop {
        let next = remove_discord_pings_once(&cur);
        if next == cur {
            return next;
        }
        cur = next;
    }
}

fn remove_discord_pings_once(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<@") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let body = after.strip_prefix(['!', '&']).unwrap_or(after);
        let digits = body.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && body[digits..].starts_with('>') {
            rest = &body[digits + 1..];
        } else if body.len() < after.len() || digits > 0 {
            // Half a ping ("<@&", "<@12"): drop the "<" so no edit completes it.
            rest = &rest[i + 1..];
        } else {
            out.push('<');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// `<@` followed by a digit, `!` or `&`: a ping or the start of one.
fn has_discord_ping(lower: &str) -> bool {
    lower.match_indices("<@").any(|(i, _)| {
        lower[i + 2..].starts_with(|c: char| c.is_ascii_digit() || c == '!' || c == '&')
    })
}

/// Drops the `@` of every `@everyone` / `@here`, whatever the case, until none is left
/// (`@@everyone` needs two rounds).
fn remove_mass_pings(s: &str) -> String {
    let mut cur = s.to_string();
    loop {
        let mut out = String::with_capacity(cur.len());
        let mut changed = false;
        for (i, c) in cur.char_indices() {
            if c == '@' {
                let after = &cur[i + 1..];
                let lower: String = after.chars().take(8).flat_map(char::to_lowercase).collect();
                if lower.starts_with("everyone") || lower.starts_with("here") {
                    changed = true;
                    continue;
                }
            }
            out.push(c);
        }
        if !changed {
            return out;
        }
        cur = out;
    }
}

const TLDS: [&str; 30] = [
    "com", "net", "org", "io", "gg", "ly", "tv", "co", "me", "xyz", "ru", "info", "biz", "app",
    "dev", "link", "click", "live", "shop", "site", "online", "top", "us", "uk", "de", "cn", "tk",
    "to", "sh", "gl",
];

/// A word that a chat client would turn into a link: a scheme, `www.`, or a
/// `.tld` of a common top-level domain right after a letter, digit or symbol
/// (linkifiers find `b.com` inside `a*b.com` too).
fn is_url_token(token: &str) -> bool {
    let t: String = token
        .chars()
        .filter(|&c| !is_invisible(c))
        .flat_map(char::to_lowercase)
        .collect();
    if t.contains("://") || t.contains("www.") || t.contains("discord.gg") {
        return true;
    }
    t.match_indices('.').any(|(i, _)| {
        let before = t[..i].chars().next_back();
        if !before.is_some_and(|c| !is_blank(c) && !c.is_ascii_punctuation()) {
            return false;
        }
        let after = &t[i + 1..];
        let label_len = after
            .char_indices()
            .find(|&(_, c)| !c.is_ascii_alphanumeric())
            .map_or(after.len(), |(j, _)| j);
        let label = &after[..label_len];
        TLDS.contains(&label)
            && after[label_len..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// Removes link words (markdown links keep their text), line by line.
fn remove_urls(s: &str) -> String {
    let s = unwrap_markdown_links(s);
    s.split('\n')
        .map(|line| {
            line.split(' ')
                .filter(|w| !is_url_token(w))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `[text](target)` becomes `text target`, so the target is judged on its own.
fn unwrap_markdown_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(mid) = rest.find("](") {
        let Some(open) = rest[..mid].rfind('[') else {
            out.push_str(&rest[..mid + 2]);
            rest = &rest[mid + 2..];
            continue;
        };
        let Some(close) = rest[mid + 2..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..mid]);
        out.push(' ');
        out.push_str(&rest[mid + 2..mid + 2 + close]);
        rest = &rest[mid + 2 + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Twitch and YouTube show markdown marks literally.
fn strip_markdown(s: &str) -> String {
    s.replace("**", "").replace("__", "").replace('`', "")
}

/// A text opening with slashes or dots: a command shape (`/ban`, `.timeout`,
/// `./me`) is blocked; anything else (`...well`) loses the leading marks.
fn strip_command_start(s: &str) -> Result<String, Blocked> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut end = 0;
    let mut saw_mark = false;
    for (k, &(i, c)) in chars.iter().enumerate() {
        let mark = is_slash_like(c) || is_dot_like(c);
        if !(mark || is_blank(c) || is_invisible(c) || is_wrapper(c)) {
            end = i;
            break;
        }
        if mark {
            saw_mark = true;
            // "...well" and "…well" are ellipses; "/ban", ".timeout", "./ban" are commands.
            let prev_dot = k > 0 && is_dot_like(chars[k - 1].1);
            let ellipsis = matches!(c, '\u{2025}' | '\u{2026}') || (is_dot_like(c) && prev_dot);
            if let Some(&(_, next)) = chars.get(k + 1) {
                if next.is_ascii_alphabetic() && !ellipsis {
                    let word: String = s[i..]
                        .chars()
                        .take_while(|c| !is_blank(*c))
                        .take(20)
                        .collect();
                    return Err(Blocked::Command(word));
                }
            }
        }
        end = i + c.len_utf8();
    }
    if saw_mark {
        Ok(s[end..].to_string())
    } else {
        Ok(s.to_string())
    }
}

/// The asker's name as it may follow `@`, or `None` when addressing them would
/// itself be unsafe (a mass ping, a link, a blocked word) or too long.
fn address_name(
    name: &str,
    policy: &OutputPolicy,
    blocked: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let n: String = name
        .chars()
        .filter(|&c| !is_invisible(c) && !is_blank(c))
        .collect();
    let n = n.trim_start_matches('@');
    let lower = n.to_lowercase();
    let ok = !n.is_empty()
        && n.chars().count() <= 40
        && !lower.starts_with("everyone")
        && !lower.starts_with("here")
        && !n.contains(['<', '>', '@'])
        && (policy.allow_urls || !is_url_token(n))
        && blocked(n).is_none();
    ok.then(|| n.to_string())
}

/// Cuts `s` to at most `max` chars: at a sentence end if that keeps at least
/// half, else at a word boundary with "…", else at a grapheme boundary with "…".
/// Never splits a grapheme (emoji sequences, combining marks).
pub fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    // Byte ends of the longest grapheme-aligned prefixes with <= max and <= max-1 chars.
    let mut chars = 0;
    let mut cut_full = 0;
    let mut cut_ell = 0;
    for (i, g) in s.grapheme_indices(true) {
        let n = g.chars().count();
        if chars + n > max {
            break;
        }
        chars += n;
        cut_full = i + g.len();
        if chars < max {
            cut_ell = cut_full;
        }
    }
    let head = &s[..cut_full];
    // Sentence boundary: a terminator followed by a blank in the full text.
    let mut best_sentence = None;
    for (i, c) in head.char_indices() {
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…') {
            let after = i + c.len_utf8();
            if s[after..].chars().next().is_none_or(is_blank) {
                best_sentence = Some(after);
            }
        }
    }
    if let Some(end) = best_sentence {
        if s[..end].chars().count() * 2 >= max {
            return s[..end].trim_end().to_string();
        }
    }
    let head = &s[..cut_ell];
    let word_end = head
        .char_indices()
        .filter(|&(i, c)| is_blank(c) && s[..i].chars().count() * 3 >= max)
        .map(|(i, _)| i)
        .next_back();
    let base = match word_end {
        Some(i) => {
            s[..i].trim_end_matches(|c: char| is_blank(c) || matches!(c, ',' | ';' | ':' | '-'))
        }
        None => head,
    };
    format!("{base}…")
}

// --- fallbacks ----------------------------------------------------------------

/// The built-in fallback replies, `assets/fallbacks.txt`.
pub const BUILTIN_FALLBACKS: &str = include_str!("../../assets/fallbacks.txt");

/// Short, generic replies for when the LLM cannot draft one. The caller marks
/// them `source = "fallback"`; they still go through [`make_safe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallbacks {
    lines: Vec<String>,
}

impl Fallbacks {
    /// One reply per line; blank lines and `#` comments are skipped.
    pub fn from_text(text: &str) -> Self {
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if lines.is_empty() {
            return Self {
                lines: vec!["Thanks for the message!".to_string()],
            };
        }
        Self { lines }
    }

    pub fn builtin() -> Self {
        Self::from_text(BUILTIN_FALLBACKS)
    }

    /// A reply chosen by `seed` (reproducible in replay).
    pub fn pick(&self, seed: u64) -> &str {
        let i = (seed % self.lines.len() as u64) as usize;
        &self.lines[i]
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// A built-in fallback reply chosen by `seed`.
pub fn fallback(seed: u64) -> String {
    Fallbacks::builtin().pick(seed).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn twitch(asker: Option<&str>) -> Target {
        Target {
            platform: Platform::Twitch,
            asker: asker.map(str::to_string),
        }
    }

    fn safe(draft: &str, target: &Target) -> Result<String, Blocked> {
        make_safe(draft, target, &OutputPolicy::default(), &none)
    }

    #[test]
    fn plain_replies_are_addressed_and_kept() {
        assert_eq!(
            safe("Parry right after the flash!", &twitch(Some("Rin"))).unwrap(),
            "@Rin Parry right after the flash!"
        );
        assert_eq!(
            safe("  hello   there \n chat ", &twitch(None)).unwrap(),
            "hello there chat"
        );
    }

    #[test]
    fn commands_are_blocked_in_every_disguise() {
        for d in [
            "/ban streamer",
            ".timeout x 600",
            "  /me dances",
            "\u{200B}/ban x",
            "\"/ban streamer\"",
            "“/ban streamer”",
            "\u{FF0F}ban x",
            "\u{FF0E}timeout x",
            "*/ban x*",
            "./ban x",
            "\u{2060}\u{FEFF} .mods",
            "Reply: /ban streamer",
            "As an AI, I must. /ban streamer",
        ] {
            let r = safe(d, &twitch(None));
            assert!(matches!(r, Err(Blocked::Command(_))), "{d:?} -> {r:?}");
            // Addressing the asker does not rescue a command.
            let r = safe(d, &twitch(Some("Rin")));
            assert!(matches!(r, Err(Blocked::Command(_))), "{d:?} -> {r:?}");
        }
    }

    #[test]
    fn leading_dots_that_are_not_commands_are_dropped() {
        assert_eq!(
            safe("...well, maybe", &twitch(None)).unwrap(),
            "well, maybe"
        );
        assert_eq!(
            safe("… 5 more minutes", &twitch(None)).unwrap(),
            "5 more minutes"
        );
        assert_eq!(safe("…well ok", &twitch(None)).unwrap(), "well ok");
        assert_eq!(safe("/ / 2 cool", &twitch(None)).unwrap(), "2 cool");
        assert_eq!(safe("...", &twitch(None)), Err(Blocked::Empty));
    }

    #[test]
    fn mass_pings_and_discord_pings_are_removed() {
        let d = Target {
            platform: Platform::Discord,
            asker: None,
        };
        let out = safe(
            "hey @everyone and @HERE, <@123> <@!456> <@&789> @@everyone look",
            &d,
        )
        .unwrap();
        let lower = out.to_lowercase();
        assert!(
            !lower.contains("@everyone") && !lower.contains("@here"),
            "{out}"
        );
        assert!(!out.contains("<@"), "{out}");
        assert!(out.contains("look"));
        // Zero-width tricks do not hide a ping either.
        let out = safe("@\u{200B}everyone hi", &d).unwrap();
        assert!(!out.to_lowercase().contains("@everyone"), "{out:?}");
    }

    #[test]
    fn links_are_removed_unless_allowed() {
        let t = twitch(None);
        for (d, want) in [
            (
                "free skins at https://evil.example/x now",
                "free skins at now",
            ),
            ("see www.evil.com", "see"),
            ("go to evil.gg/abc ok", "go to ok"),
            ("[click](https://x.io) here", "click here"),
            ("join discord.gg/abc", "join"),
        ] {
            assert_eq!(safe(d, &t).unwrap(), want, "{d}");
        }
        assert_eq!(
            safe("I like Node.js and e.g. Rust", &t).unwrap(),
            "I like Node.js and e.g. Rust"
        );
        let allow = OutputPolicy {
            allow_urls: true,
            ..OutputPolicy::default()
        };
        assert_eq!(
            make_safe("docs at https://ollama.com", &t, &allow, &none).unwrap(),
            "docs at https://ollama.com"
        );
        assert_eq!(safe("https://evil.com", &t), Err(Blocked::Empty));
    }

    #[test]
    fn blocked_words_block_the_draft_even_when_hidden() {
        let filter = |s: &str| {
            s.to_lowercase()
                .contains("badword")
                .then(|| "badword".to_string())
        };
        let t = twitch(Some("Rin"));
        let p = OutputPolicy::default();
        assert_eq!(
            make_safe("you BADWORD", &t, &p, &filter),
            Err(Blocked::BlockedWord("badword".into()))
        );
        assert_eq!(
            make_safe("bad\u{200B}word", &t, &p, &filter),
            Err(Blocked::BlockedWord("badword".into()))
        );
        assert!(
            !Blocked::BlockedWord("badword".into())
                .to_string()
                .contains("badword")
        );
        // A blocked word in the asker's name drops the address, not the reply.
        let t2 = twitch(Some("xBadWordx"));
        assert_eq!(make_safe("hi there", &t2, &p, &filter).unwrap(), "hi there");
    }

    #[test]
    fn ai_preambles_labels_and_quotes_are_trimmed() {
        let t = twitch(Some("Rin"));
        assert_eq!(
            safe(
                "As an AI language model, I don't play games. But parry early!",
                &t
            )
            .unwrap(),
            "@Rin But parry early!"
        );
        assert_eq!(
            safe("As an AI, parry early!", &t).unwrap(),
            "@Rin Parry early!"
        );
        assert_eq!(safe("\"Parry early!\"", &t).unwrap(), "@Rin Parry early!");
        assert_eq!(safe("Sure! Here's a reply: \"gg\"", &t).unwrap(), "@Rin gg");
        assert_eq!(safe("Reply: @rin, gg", &t).unwrap(), "@Rin gg");
        assert_eq!(safe("\"A\" and \"B\"", &t).unwrap(), "@Rin \"A\" and \"B\"");
        assert_eq!(safe("As an AI language model.", &t), Err(Blocked::Empty));
    }

    #[test]
    fn unsafe_asker_names_are_not_echoed() {
        for name in ["everyone", "@here", "evil.com", "a<@1>", "\u{200B}"] {
            let out = safe(
                "hi",
                &Target {
                    platform: Platform::Discord,
                    asker: Some(name.into()),
                },
            )
            .unwrap();
            assert_eq!(out, "hi", "{name:?}");
        }
        let long = "x".repeat(60);
        assert_eq!(safe("hi", &twitch(Some(&long))).unwrap(), "hi");
    }

    #[test]
    fn limits_are_per_platform_and_count_the_address() {
        // Distinct words: one word over and over is blocked as a loop.
        let long: String = (0..1000).map(|i| format!("word{i} ")).collect();
        for p in Platform::ALL {
            let out = safe(
                &long,
                &Target {
                    platform: p,
                    asker: Some("Rin".into()),
                },
            )
            .unwrap();
            assert!(
                out.chars().count() <= p.max_message_chars(),
                "{p}: {}",
                out.chars().count()
            );
            assert!(
                out.chars().count() >= p.max_message_chars() - 10,
                "{p}: used the room"
            );
            assert!(out.starts_with("@Rin word0 word1"));
            let last = out.rsplit(' ').next().unwrap_or("");
            assert!(
                last.starts_with("word")
                    && last.ends_with('…')
                    && long.contains(&format!(" {} ", last.trim_end_matches('…'))),
                "{p}: cut at a word: {out:?}"
            );
        }
    }

    #[test]
    fn fit_prefers_sentences_then_words_and_never_splits_graphemes() {
        let s = "First sentence here. Second one is long and keeps going on";
        assert_eq!(fit(s, 30), "First sentence here.");
        assert_eq!(fit("aaaa bbbb cccc dddd", 12), "aaaa bbbb…");
        assert_eq!(fit("abcdefghij", 5), "abcd…");
        // Family emoji (7 chars with joiners) and a combining accent stay whole.
        let fam = "👨‍👩‍👧‍👦";
        let s = format!("ab{fam}{fam}");
        for max in 1..s.chars().count() {
            let out = fit(&s, max);
            assert!(out.chars().count() <= max, "{max}: {out}");
            let body = out.trim_end_matches('…');
            assert!(
                body.graphemes(true)
                    .all(|g| g == "a" || g == "b" || g == fam),
                "{max}: {out:?}"
            );
        }
        let e = "e\u{301}".repeat(10);
        let out = fit(&e, 6);
        assert_eq!(out, format!("{}…", "e\u{301}".repeat(2)));
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("3.5 is the version and more text", 5), "3.5…");
    }

    #[test]
    fn discord_keeps_lines_but_twitch_joins_them() {
        let d = Target {
            platform: Platform::Discord,
            asker: None,
        };
        assert_eq!(
            safe("line one\n\n\n\nline two\n/notacommand", &d).unwrap(),
            "line one\n\nline two\n/notacommand"
        );
        assert_eq!(
            safe("line one\nline two", &twitch(None)).unwrap(),
            "line one line two"
        );
        assert_eq!(safe("**bold** `code`", &twitch(None)).unwrap(), "bold code");
        assert_eq!(safe("**bold**", &d).unwrap(), "**bold**");
    }

    #[test]
    fn a_panicking_filter_blocks_instead_of_sending() {
        let boom = |_: &str| -> Option<String> { panic!("filter exploded") };
        let r = make_safe("hello", &twitch(None), &OutputPolicy::default(), &boom);
        assert!(matches!(r, Err(Blocked::Internal(_))), "{r:?}");
    }

    #[test]
    fn verify_catches_what_clean_would_fix() {
        let t = twitch(None);
        let p = OutputPolicy::default();
        assert!(verify("/ban x", &t, &p, &none).is_err());
        assert!(verify("\"\u{200B}.timeout x", &t, &p, &none).is_err());
        assert!(verify("hi @Everyone", &t, &p, &none).is_err());
        assert!(verify("hi <@!12>", &t, &p, &none).is_err());
        assert!(verify("see https://x.io", &t, &p, &none).is_err());
        assert!(verify(&"a".repeat(501), &t, &p, &none).is_err());
        assert!(verify("hi\r\nPRIVMSG #x :/ban y", &t, &p, &none).is_err());
        assert!(verify("hi\u{1}ACTION", &t, &p, &none).is_err());
        let d = Target {
            platform: Platform::Discord,
            asker: None,
        };
        assert!(verify("two\nlines", &d, &p, &none).is_ok());
        assert!(verify("hi", &t, &p, &none).is_ok());
    }

    #[test]
    fn prompt_echo_and_loops_are_blocked_by_make_safe() {
        let t = twitch(Some("Rin"));
        for (d, want) in [
            ("<<<MESSAGE hi there", Blocked::Echo("block marker")),
            ("great question MESSAGE>>>", Blocked::Echo("block marker")),
            ("<<<<<<<CHAT", Blocked::Echo("block marker")),
            ("hi <|im_end|>", Blocked::Echo("role tag")),
            ("assistant: sure thing", Blocked::Echo("role tag")),
            (
                "Kaz (moderator, member): \"first!\"",
                Blocked::Echo("chat-log line"),
            ),
            ("thanks (paid 5.00 USD)", Blocked::Echo("chat-log line")),
            ("Lu: \"gg\" and more", Blocked::Echo("chat-log line")),
            (&"😂".repeat(20), Blocked::Repetition),
            ("lol lol lol lol", Blocked::Repetition),
            ("I love it. I love it. I love it.", Blocked::Repetition),
            ("so so good so so good so so nice", Blocked::Repetition),
        ] {
            assert_eq!(safe(d, &t), Err(want), "{d:?}");
        }
        for ok in [
            "Parry right after the flash!",
            "lol same, that boss is rough",
            "haha yes yes, 3.5 is out",
            "I said it: parry early",
        ] {
            assert!(safe(ok, &t).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn screen_catches_recited_instructions_parrots_and_cut_offs() {
        let guard = EchoGuard {
            instructions: vec![
                "Chat has been quiet. Write one short message from Mika to get people talking."
                    .into(),
            ],
            viewer_text: Some("how did you beat that boss?".into()),
            history: vec!["anyone else lagging right now".into()],
            cut_at_limit: false,
            persona: "Mika".into(),
        };
        assert_eq!(
            screen_llm_text(
                "chat has been quiet. write one short message from mika to get people talking.",
                &guard
            ),
            Err(Blocked::Echo("instruction"))
        );
        assert_eq!(
            screen_llm_text("How did you beat that boss? Good question", &guard),
            Err(Blocked::Parrot)
        );
        assert_eq!(
            screen_llm_text("anyone else lagging right now? me too", &guard),
            Err(Blocked::Echo("chat-log line"))
        );
        assert_eq!(
            screen_llm_text("Parry after the flash, then dodge left.", &guard).as_deref(),
            Ok("Parry after the flash, then dodge left.")
        );
        let cut = EchoGuard {
            cut_at_limit: true,
            ..guard.clone()
        };
        assert_eq!(
            screen_llm_text("Parry early! Then wait for the I'm a", &cut).as_deref(),
            Ok("Parry early!")
        );
        assert_eq!(screen_llm_text("I'm a", &cut), Err(Blocked::CutOff));
        assert_eq!(
            screen_llm_text("version 3.5 is", &cut),
            Err(Blocked::CutOff)
        );
        assert_eq!(screen_llm_text("   ", &guard), Err(Blocked::Empty));
        // Recorded from SmolLM2: transcripts and the model addressing itself.
        for (t, why) in [
            (
                "Cher Franz: you want to try a new thing, huh?",
                "speaker label",
            ),
            ("Ines: I am not sure what to say", "speaker label"),
            (
                "Dear Mika, I hope this message finds you well.",
                "talks to itself",
            ),
            (
                "Mika, join in on this chat, just like your stream.",
                "talks to itself",
            ),
        ] {
            assert_eq!(screen_llm_text(t, &guard), Err(Blocked::Echo(why)), "{t}");
        }
        for ok in [
            "Tip: parry early!",
            "Mika here, hi!",
            "Fun fact: it has two phases.",
        ] {
            assert!(screen_llm_text(ok, &guard).is_ok(), "{ok}");
        }
        assert_eq!(
            screen_llm_text("One. Two! Three? Four. Five.", &guard).as_deref(),
            Ok("One. Two! Three?")
        );
        for t in [
            "I'm glad you're here. @grumpy_pixel: \"so glad\" ok",
            "MikaVT: hi there Grumpy: yo",
            "I'm not a chat bot. I'm a chat assistant.",
            "\"hi, I am Mika\" You could add a short intro like this.",
            "Greetings, mika. What a day.",
            "lumi_ash: @saltyscribe I don't have one",
            "Yes, she did. Lemon_ash: i have a challenge right now",
            "@Mika The model is your AI assistant.",
        ] {
            assert!(
                matches!(screen_llm_text(t, &guard), Err(Blocked::Echo(_))),
                "{t}"
            );
        }
        assert_eq!(
            screen_llm_text("Wait, did you beat that boss already?", &guard),
            Err(Blocked::Parrot),
            "five of the viewer's words in a row"
        );
        let live2d = EchoGuard {
            viewer_text: Some("mika is your model live2d?".into()),
            ..guard.clone()
        };
        assert_eq!(
            screen_llm_text("Mika is your model in live2d.", &live2d),
            Err(Blocked::Parrot)
        );
        let run = EchoGuard {
            viewer_text: Some("@clank how is the run going?".into()),
            ..guard.clone()
        };
        assert!(screen_llm_text("The run is going great!", &run).is_ok());
        assert_eq!(
            screen_llm_text(
                "you have a favorite snack, you love it, you have a favorite snack, ok",
                &guard
            ),
            Err(Blocked::Repetition)
        );
        let long: String = (0..60).map(|i| format!("move{i}, ")).collect();
        assert_eq!(screen_llm_text(&long, &guard), Err(Blocked::CutOff));
        let ok_long = "Parry right after the flash, then roll towards its left side. \
            The second phase speeds up, so keep your stamina for the dash attacks. \
            Summon the spirit at half health and use the time to heal, then go all in. \
            Good luck!";
        let kept = screen_llm_text(ok_long, &guard).unwrap_or_default();
        assert!(
            kept.ends_with("go all in.") && kept.chars().count() <= 300,
            "{kept}"
        );
        for ok in [
            "Tip: parry early!",
            "Mika here, hi!",
            "Fun fact: it has two phases.",
        ] {
            assert!(screen_llm_text(ok, &guard).is_ok(), "{ok}");
        }
        assert!(
            Blocked::Echo("x").is_broken_text() && !Blocked::Command("/".into()).is_broken_text()
        );
    }

    #[test]
    fn fallbacks_are_short_generic_and_seeded() {
        let f = Fallbacks::builtin();
        assert!(f.len() >= 3);
        for seed in 0..f.len() as u64 {
            let text = fallback(seed);
            assert!(!text.starts_with('#') && !text.is_empty());
            let out = make_safe(
                &text,
                &Target {
                    platform: Platform::Youtube,
                    asker: Some("Kaz".into()),
                },
                &OutputPolicy::default(),
                &none,
            )
            .unwrap();
            assert!(
                out.ends_with(&text),
                "a fallback passes the filter unchanged: {out}"
            );
        }
        assert_eq!(fallback(1), fallback(1 + f.len() as u64));
        assert_ne!(fallback(0), fallback(1));
        assert_eq!(Fallbacks::from_text("# only\n\n").len(), 1);
    }
}
