//! Reads and writes the JSON Lines chat log (see README "Chat log format"):
//! one message, deletion, ban, raid, sub, announcement or chat clear per line. A bad line is an error naming its
//! line number; the reader keeps going with the next line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::{Inbound, SubKind};
use crate::model::{Author, ChatEvent, ChatMessage, Paid, Platform};

/// Lines longer than this are rejected without being held in memory whole.
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// Why one line of a chat log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line {line}: {len} bytes is longer than the {max}-byte limit; line skipped")]
    TooLong { line: u64, len: usize, max: usize },
    #[error("line {line}: not valid UTF-8 (byte {offset}); line skipped")]
    InvalidUtf8 { line: u64, offset: usize },
    #[error("line {line}: {message}; line skipped")]
    Invalid { line: u64, message: String },
}

impl LineError {
    pub fn line(&self) -> u64 {
        match self {
            LineError::TooLong { line, .. }
            | LineError::InvalidUtf8 { line, .. }
            | LineError::Invalid { line, .. } => *line,
        }
    }
}

/// Errors that stop reading a whole file.
#[derive(Debug, thiserror::Error)]
pub enum ChatLogError {
    #[error("cannot open chat log {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("reading chat log failed after line {line}: {source}")]
    Read { line: u64, source: io::Error },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Message,
    Delete,
    Ban,
    Raid,
    Sub,
    Announcement,
    Clear,
}

/// `sub_kind` of a "sub" line.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum RawSubKind {
    Sub,
    Resub,
    Gift,
    MysteryGift,
    GiftUpgrade,
}

impl From<RawSubKind> for SubKind {
    fn from(k: RawSubKind) -> Self {
        match k {
            RawSubKind::Sub => SubKind::Sub,
            RawSubKind::Resub => SubKind::Resub,
            RawSubKind::Gift => SubKind::Gift,
            RawSubKind::MysteryGift => SubKind::MysteryGift,
            RawSubKind::GiftUpgrade => SubKind::GiftUpgrade,
        }
    }
}

impl From<SubKind> for RawSubKind {
    fn from(k: SubKind) -> Self {
        match k {
            SubKind::Sub => RawSubKind::Sub,
            SubKind::Resub => RawSubKind::Resub,
            SubKind::Gift => RawSubKind::Gift,
            SubKind::MysteryGift => RawSubKind::MysteryGift,
            SubKind::GiftUpgrade => RawSubKind::GiftUpgrade,
        }
    }
}

/// The union of all line shapes; `kind` picks which fields must be present.
#[derive(Debug, Deserialize)]
struct RawLine {
    kind: Option<Kind>,
    platform: Option<String>,
    channel: Option<String>,
    id: Option<String>,
    at: Option<String>,
    author: Option<Author>,
    text: Option<String>,
    paid: Option<Paid>,
    reply_to: Option<String>,
    author_id: Option<String>,
    duration_s: Option<u64>,
    from: Option<String>,
    from_id: Option<String>,
    viewers: Option<u32>,
    sub_kind: Option<RawSubKind>,
    months: Option<u32>,
    recipient: Option<String>,
    count: Option<u32>,
}

fn required<T>(value: Option<T>, key: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("missing required key {key:?}"))
}

/// Parses one chat log line (without its newline) that must be chat: a
/// message, deletion or ban.
pub fn parse_line(text: &str, line: u64) -> Result<ChatEvent, LineError> {
    match parse_record(text, line)? {
        Inbound::Chat(ev) => Ok(ev),
        _ => Err(LineError::Invalid {
            line,
            message: "a platform event (raid, sub, announcement, clear), not chat".into(),
        }),
    }
}

/// Parses one chat log line (without its newline) of any kind, as the
/// adapter event it records.
pub fn parse_record(text: &str, line: u64) -> Result<Inbound, LineError> {
    let invalid = |message: String| LineError::Invalid { line, message };
    let raw: RawLine = serde_json::from_str(text).map_err(|e| invalid(format!("bad JSON: {e}")))?;
    let platform: Platform = required(raw.platform, "platform")
        .map_err(invalid)?
        .parse()
        .map_err(|e: crate::model::UnknownPlatform| invalid(e.to_string()))?;
    let channel = required(raw.channel, "channel").map_err(invalid)?;
    if channel.is_empty() {
        return Err(invalid("\"channel\" is empty".into()));
    }
    let at_text = required(raw.at, "at").map_err(invalid)?;
    let at = DateTime::parse_from_rfc3339(&at_text)
        .map_err(|e| invalid(format!("\"at\" {at_text:?} is not an RFC 3339 time: {e}")))?
        .with_timezone(&Utc);
    match raw.kind.unwrap_or(Kind::Message) {
        Kind::Message => {
            let id = required(raw.id, "id").map_err(invalid)?;
            if id.is_empty() {
                return Err(invalid("\"id\" is empty".into()));
            }
            let author = required(raw.author, "author").map_err(invalid)?;
            let text = required(raw.text, "text").map_err(invalid)?;
            if let Some(paid) = &raw.paid
                && !(paid.amount.is_finite() && paid.amount >= 0.0)
            {
                return Err(invalid(format!(
                    "\"paid.amount\" {} must be a finite number >= 0",
                    paid.amount
                )));
            }
            Ok(Inbound::Chat(ChatEvent::Message(ChatMessage {
                platform,
                channel,
                id,
                at,
                author,
                text,
                paid: raw.paid,
                reply_to: raw.reply_to,
            })))
        }
        Kind::Delete => Ok(Inbound::Chat(ChatEvent::Delete {
            platform,
            channel,
            id: required(raw.id, "id").map_err(invalid)?,
            at,
        })),
        Kind::Ban => Ok(Inbound::Chat(ChatEvent::Ban {
            platform,
            channel,
            author_id: required(raw.author_id, "author_id").map_err(invalid)?,
            at,
            duration_s: raw.duration_s,
        })),
        Kind::Raid => {
            let from = required(raw.from, "from").map_err(invalid)?;
            Ok(Inbound::Raid {
                platform,
                channel,
                from_id: raw.from_id.unwrap_or_else(|| from.clone()),
                from,
                viewers: required(raw.viewers, "viewers").map_err(invalid)?,
                at,
            })
        }
        Kind::Sub => Ok(Inbound::Sub {
            platform,
            channel,
            kind: raw.sub_kind.unwrap_or(RawSubKind::Sub).into(),
            author: required(raw.author, "author").map_err(invalid)?,
            months: raw.months,
            recipient: raw.recipient,
            count: raw.count,
            text: raw.text,
            at,
        }),
        Kind::Announcement => Ok(Inbound::Announcement {
            platform,
            channel,
            author: required(raw.author, "author").map_err(invalid)?,
            text: required(raw.text, "text").map_err(invalid)?,
            at,
        }),
        Kind::Clear => Ok(Inbound::ChatCleared {
            platform,
            channel,
            at,
        }),
    }
}

/// Streams events out of any reader, line by line, with bounded memory.
pub struct ChatLogReader<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl ChatLogReader<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self, ChatLogError> {
        let file = File::open(path).map_err(|source| ChatLogError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::new(BufReader::with_capacity(256 * 1024, file)))
    }
}

impl<R: BufRead> ChatLogReader<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buf: Vec::with_capacity(1024),
        }
    }

    /// The number of the last line read (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next raw line into `self.buf`; `Ok(None)` at end of input,
    /// `Ok(Some(len))` with the full length (which may exceed what was kept).
    fn next_raw(&mut self) -> io::Result<Option<usize>> {
        self.buf.clear();
        let mut total = 0usize;
        let mut saw_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(if saw_any { Some(total) } else { None });
            }
            saw_any = true;
            let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            total += chunk.len();
            if self.buf.len() <= MAX_LINE_BYTES {
                let room = MAX_LINE_BYTES + 1 - self.buf.len();
                self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            let consumed = chunk.len() + usize::from(found_newline);
            self.reader.consume(consumed);
            if found_newline {
                return Ok(Some(total));
            }
        }
    }

    /// Next chat event (message, deletion, ban) or line error; `None` at the
    /// end. Blank lines and platform events (raids, subs, ...) are skipped:
    /// use [`ChatLogReader::next_record`] to get those too.
    pub fn next_event(&mut self) -> Option<Result<Result<ChatEvent, LineError>, ChatLogError>> {
        loop {
            match self.next_record()? {
                Ok(Ok(Inbound::Chat(ev))) => return Some(Ok(Ok(ev))),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Some(Ok(Err(e))),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Next record of any kind or line error; `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<Result<Inbound, LineError>, ChatLogError>> {
        loop {
            let len = match self.next_raw() {
                Ok(Some(len)) => len,
                Ok(None) => return None,
                Err(source) => {
                    return Some(Err(ChatLogError::Read {
                        line: self.line,
                        source,
                    }));
                }
            };
            self.line += 1;
            let line = self.line;
            if len > MAX_LINE_BYTES {
                return Some(Ok(Err(LineError::TooLong {
                    line,
                    len,
                    max: MAX_LINE_BYTES,
                })));
            }
            let bytes = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Ok(Err(LineError::InvalidUtf8 {
                        line,
                        offset: e.valid_up_to(),
                    })));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(Ok(parse_record(text, line)));
        }
    }
}

impl<R: BufRead> Iterator for ChatLogReader<R> {
    type Item = Result<Result<ChatEvent, LineError>, ChatLogError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_event()
    }
}

/// Reads a whole log from any reader: events in order plus the line errors.
pub fn read_all(reader: impl Read) -> Result<(Vec<ChatEvent>, Vec<LineError>), ChatLogError> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for item in ChatLogReader::new(BufReader::new(reader)) {
        match item? {
            Ok(ev) => events.push(ev),
            Err(e) => errors.push(e),
        }
    }
    Ok((events, errors))
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum OutLine<'a> {
    Message {
        #[serde(flatten)]
        message: &'a ChatMessage,
    },
    Delete {
        platform: Platform,
        channel: &'a str,
        id: &'a str,
        at: String,
    },
    Ban {
        platform: Platform,
        channel: &'a str,
        author_id: &'a str,
        at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        duration_s: Option<u64>,
    },
    Raid {
        platform: Platform,
        channel: &'a str,
        from: &'a str,
        from_id: &'a str,
        viewers: u32,
        at: String,
    },
    Sub {
        platform: Platform,
        channel: &'a str,
        sub_kind: RawSubKind,
        author: &'a Author,
        #[serde(skip_serializing_if = "Option::is_none")]
        months: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recipient: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<&'a str>,
        at: String,
    },
    Announcement {
        platform: Platform,
        channel: &'a str,
        author: &'a Author,
        text: &'a str,
        at: String,
    },
    Clear {
        platform: Platform,
        channel: &'a str,
        at: String,
    },
}

/// Serializes an adapter event as a chat log line; `None` for events the
/// log does not record (statuses, notices, send verdicts, room state).
pub fn record_line(record: &Inbound) -> Option<String> {
    let out = match record {
        Inbound::Chat(ev) => return Some(to_line(ev)),
        Inbound::Raid {
            platform,
            channel,
            from,
            from_id,
            viewers,
            at,
        } => OutLine::Raid {
            platform: *platform,
            channel,
            from,
            from_id,
            viewers: *viewers,
            at: format_time(*at),
        },
        Inbound::Sub {
            platform,
            channel,
            kind,
            author,
            months,
            recipient,
            count,
            text,
            at,
        } => OutLine::Sub {
            platform: *platform,
            channel,
            sub_kind: (*kind).into(),
            author,
            months: *months,
            recipient: recipient.as_deref(),
            count: *count,
            text: text.as_deref(),
            at: format_time(*at),
        },
        Inbound::Announcement {
            platform,
            channel,
            author,
            text,
            at,
        } => OutLine::Announcement {
            platform: *platform,
            channel,
            author,
            text,
            at: format_time(*at),
        },
        Inbound::ChatCleared {
            platform,
            channel,
            at,
        } => OutLine::Clear {
            platform: *platform,
            channel,
            at: format_time(*at),
        },
        _ => return None,
    };
    serde_json::to_string(&out).ok()
}

/// RFC 3339 with millisecond precision and a `Z`, as the log format uses.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serde `serialize_with` for times in JSON output: [`format_time`].
pub fn ser_time<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*at))
}

/// Three decimals: scores and rolls in JSON output stay readable and stable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Serializes one event as a chat log line (no trailing newline).
pub fn to_line(event: &ChatEvent) -> String {
    let out = match event {
        ChatEvent::Message(message) => OutLine::Message { message },
        ChatEvent::Delete {
            platform,
            channel,
            id,
            at,
        } => OutLine::Delete {
            platform: *platform,
            channel,
            id,
            at: format_time(*at),
        },
        ChatEvent::Ban {
            platform,
            channel,
            author_id,
            at,
            duration_s,
        } => OutLine::Ban {
            platform: *platform,
            channel,
            author_id,
            at: format_time(*at),
            duration_s: *duration_s,
        },
    };
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string(&out).unwrap_or_default()
}

/// Writes events as chat log lines.
pub fn write_events<'a>(
    mut out: impl Write,
    events: impl IntoIterator<Item = &'a ChatEvent>,
) -> io::Result<()> {
    for ev in events {
        out.write_all(to_line(ev).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PaidKind, Role};

    const EXAMPLE: &str = r#"{"platform":"twitch","channel":"mikavt","id":"a1","at":"2026-11-21T20:00:01Z","author":{"id":"11","name":"Rin","roles":["subscriber"],"months":14},"text":"@Mika how did you beat that boss?"}
{"platform":"youtube","channel":"mikavt-live","id":"y7","at":"2026-11-21T20:00:02Z","author":{"id":"UCx","name":"Kaz","roles":["member"]},"text":"love this run","paid":{"amount":5.0,"currency":"USD","kind":"superchat"}}
{"kind":"delete","platform":"twitch","channel":"mikavt","id":"a1","at":"2026-11-21T20:00:05Z"}
{"kind":"ban","platform":"twitch","channel":"mikavt","author_id":"123","at":"2026-11-21T20:00:06Z","duration_s":600}
"#;

    const PLATFORM_EVENTS: &str = r#"{"kind":"raid","platform":"twitch","channel":"mikavt","from":"Hoshi","from_id":"77","viewers":120,"at":"2026-11-21T20:01:00Z"}
{"kind":"sub","platform":"twitch","channel":"mikavt","sub_kind":"mystery_gift","author":{"id":"5","name":"Kaz"},"count":5,"at":"2026-11-21T20:01:05Z"}
{"kind":"sub","platform":"youtube","channel":"mikavt-live","sub_kind":"resub","author":{"id":"UCz","name":"Lia"},"months":12,"text":"a year already!","at":"2026-11-21T20:01:06Z"}
{"kind":"announcement","platform":"twitch","channel":"mikavt","author":{"id":"9","name":"ModAme","roles":["moderator"]},"text":"giveaway at 9pm","at":"2026-11-21T20:01:07Z"}
{"kind":"clear","platform":"twitch","channel":"mikavt","at":"2026-11-21T20:01:08Z"}
"#;

    #[test]
    fn platform_events_parse_and_write_back_the_same() {
        let mut reader = ChatLogReader::new(PLATFORM_EVENTS.as_bytes());
        let mut records = Vec::new();
        while let Some(item) = reader.next_record() {
            records.push(item.unwrap().unwrap());
        }
        assert_eq!(records.len(), 5);
        match &records[0] {
            Inbound::Raid { from, viewers, .. } => {
                assert_eq!((from.as_str(), *viewers), ("Hoshi", 120))
            }
            other => panic!("not a raid: {other:?}"),
        }
        match &records[1] {
            Inbound::Sub {
                kind,
                count,
                author,
                ..
            } => {
                assert_eq!(
                    (*kind, *count, author.name.as_str()),
                    (SubKind::MysteryGift, Some(5), "Kaz")
                )
            }
            other => panic!("not a sub: {other:?}"),
        }
        assert!(matches!(records[4], Inbound::ChatCleared { .. }));
        // Written back, each line reads as the same record.
        for r in &records {
            let line = record_line(r).expect("recorded kind");
            assert_eq!(&parse_record(&line, 1).unwrap(), r, "{line}");
        }
        // Chat-only readers skip them; they are not errors.
        let (events, errors) = read_all(PLATFORM_EVENTS.as_bytes()).unwrap();
        assert!(events.is_empty() && errors.is_empty());
    }

    #[test]
    fn a_raid_without_viewers_names_the_missing_key() {
        let e = parse_record(
            r#"{"kind":"raid","platform":"twitch","channel":"c","from":"x","at":"2026-11-21T20:01:00Z"}"#,
            7,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 7") && e.contains("viewers"), "{e}");
    }

    #[test]
    fn parses_the_documented_example() {
        let (events, errors) = read_all(EXAMPLE.as_bytes()).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events.len(), 4);
        let ChatEvent::Message(m) = &events[0] else {
            panic!("first line is a message")
        };
        assert_eq!(m.author.roles, vec![Role::Subscriber]);
        assert_eq!(m.author.months, Some(14));
        let ChatEvent::Message(y) = &events[1] else {
            panic!("second line is a message")
        };
        assert_eq!(y.paid.as_ref().map(|p| p.kind), Some(PaidKind::Superchat));
        assert!(matches!(&events[2], ChatEvent::Delete { id, .. } if id == "a1"));
        assert!(matches!(
            &events[3],
            ChatEvent::Ban {
                duration_s: Some(600),
                ..
            }
        ));
    }

    #[test]
    fn round_trips_through_to_line() {
        let (events, _) = read_all(EXAMPLE.as_bytes()).unwrap();
        let mut out = Vec::new();
        write_events(&mut out, &events).unwrap();
        let (again, errors) = read_all(out.as_slice()).unwrap();
        assert!(errors.is_empty());
        assert_eq!(events, again);
    }

    #[test]
    fn bad_lines_name_their_number_and_the_rest_survives() {
        let mut input = Vec::new();
        input.extend_from_slice(b"{not json\n");
        input.extend_from_slice(br#"{"platform":"myspace","channel":"c","id":"1","at":"2026-11-21T20:00:01Z","author":{"id":"1","name":"a"},"text":"hi"}"#);
        input.push(b'\n');
        input.extend_from_slice(b"{\"text\":\"\xff\xfe\"}\n");
        input.extend_from_slice(&vec![b'x'; 1024 * 1024]);
        input.push(b'\n');
        input.extend_from_slice(br#"{"platform":"twitch","channel":"c","id":"2","at":"yesterday","author":{"id":"1","name":"a"},"text":"hi"}"#);
        input.push(b'\n');
        input.extend_from_slice(EXAMPLE.as_bytes());
        let (events, errors) = read_all(input.as_slice()).unwrap();
        assert_eq!(events.len(), 4, "the four good lines survive");
        let lines: Vec<u64> = errors.iter().map(LineError::line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5]);
        let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(texts[0].contains("bad JSON"));
        assert!(texts[1].contains("myspace"));
        assert!(texts[2].contains("UTF-8"));
        assert!(texts[3].contains("1048576 bytes"));
        assert!(texts[4].contains("yesterday"));
    }

    #[test]
    fn missing_keys_are_named() {
        let err = parse_line(
            r#"{"platform":"twitch","channel":"c","at":"2026-11-21T20:00:01Z","author":{"id":"1","name":"a"},"text":"hi"}"#,
            7,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 7: missing required key \"id\"; line skipped"
        );
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let Err(err) = ChatLogReader::open(Path::new("/nonexistent/chat.jsonl")) else {
            panic!("opening a missing file must fail")
        };
        assert!(err.to_string().contains("/nonexistent/chat.jsonl"));
    }
}
