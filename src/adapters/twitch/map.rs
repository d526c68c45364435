//! Pure mapping from Twitch IRC messages to [`Inbound`] events, shared by the
//! live adapter and the raw-capture reader (`clank replay` of `.irc` files).
//! No I/O and no clock: the receive time is passed in.

use std::borrow::Cow;
use std::io::{BufRead, Read};

use chrono::{DateTime, TimeZone, Utc};
use twitch_irc::message::{
    Badge, ClearChatAction, FollowersOnlyMode, IRCMessage, ServerMessage, UserNoticeEvent,
};

use crate::adapters::{Inbound, NoticeKind, SubKind};
use crate::chatlog::{ChatLogError, LineError};
use crate::model::{Author, ChatEvent, ChatMessage, Paid, PaidKind, Platform, Role};

const P: Platform = Platform::Twitch;

/// Lines longer than this are refused without being mapped (Twitch's own
/// limit is 8 KiB of tags plus 512 bytes of message).
pub const MAX_IRC_LINE_BYTES: usize = 64 * 1024;

/// Parses one raw IRC line and maps it. `Ok(vec![])` for lines that carry
/// nothing for the core (PING, JOIN, capability acks, ...).
pub fn map_line(line: &str, received_at: DateTime<Utc>) -> Result<Vec<Inbound>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(m) = fast_privmsg(line, received_at) {
        return Ok(vec![Inbound::Chat(ChatEvent::Message(m))]);
    }
    let irc = IRCMessage::parse(line).map_err(|e| format!("not an IRC line: {e}"))?;
    map_irc_message(irc, received_at)
}

/// Maps a parsed IRC message. Falls back to a lenient reading of PRIVMSG
/// when twitch-irc's strict parse refuses it (a missing or odd tag must not
/// cost a viewer's message).
pub fn map_irc_message(
    irc: IRCMessage,
    received_at: DateTime<Utc>,
) -> Result<Vec<Inbound>, String> {
    // The line parser accepts any first word as a command; a word Twitch
    // never sends means the line is not Twitch IRC at all.
    if !is_known_command(&irc.command) {
        return Err(format!("unknown IRC command {:?}", short(&irc.command)));
    }
    match ServerMessage::try_from(irc) {
        Ok(msg) => Ok(map_server_message(&msg, received_at)),
        Err(err) => {
            let reason = err.to_string();
            let source = IRCMessage::from(err);
            if source.command == "PRIVMSG" {
                lenient_privmsg(&source, received_at)
                    .map(|m| vec![Inbound::Chat(ChatEvent::Message(m))])
                    .map_err(|why| format!("{why} ({})", short(&reason)))
            } else {
                Err(short(&reason))
            }
        }
    }
}

/// Commands Twitch's chat servers send, plus numeric replies.
fn is_known_command(cmd: &str) -> bool {
    const KNOWN: [&str; 15] = [
        "PRIVMSG",
        "CLEARCHAT",
        "CLEARMSG",
        "USERNOTICE",
        "NOTICE",
        "ROOMSTATE",
        "USERSTATE",
        "GLOBALUSERSTATE",
        "PING",
        "PONG",
        "RECONNECT",
        "JOIN",
        "PART",
        "CAP",
        "WHISPER",
    ];
    (cmd.len() == 3 && cmd.bytes().all(|b| b.is_ascii_digit()))
        || KNOWN.contains(&cmd)
        || cmd == "HOSTTARGET"
}

/// twitch-irc's error messages repeat the whole raw line; keep them short.
fn short(reason: &str) -> String {
    let trimmed: String = reason.chars().take(200).collect();
    if trimmed.len() < reason.len() {
        format!("{trimmed}...")
    } else {
        trimmed
    }
}

/// Maps one typed Twitch message to what the core and the console need.
/// Control traffic (PING, RECONNECT, JOIN, ...) maps to nothing; the live
/// session handles it before calling this.
pub fn map_server_message(msg: &ServerMessage, received_at: DateTime<Utc>) -> Vec<Inbound> {
    match msg {
        ServerMessage::Privmsg(m) => {
            let tags = &m.source.tags.0;
            let mut roles = roles_from_badges(&m.badges);
            if tag_is(tags, "mod", "1") && !roles.contains(&Role::Moderator) {
                roles.push(Role::Moderator);
            }
            let author = Author {
                id: m.sender.id.clone(),
                name: m.sender.name.clone(),
                roles,
                months: months_from_badge_info(&m.badge_info),
                first_message: tag_is(tags, "first-msg", "1"),
                returning_chatter: tag_is(tags, "returning-chatter", "1"),
            };
            let reply_to = tags
                .get("reply-parent-msg-id")
                .filter(|v| !v.is_empty())
                .cloned();
            vec![Inbound::Chat(ChatEvent::Message(ChatMessage {
                platform: P,
                channel: m.channel_login.clone(),
                id: m.message_id.clone(),
                at: m.server_timestamp,
                author,
                text: m.message_text.clone(),
                paid: m.bits.filter(|b| *b > 0).map(bits),
                reply_to,
            }))]
        }
        ServerMessage::ClearMsg(m) => vec![Inbound::Chat(ChatEvent::Delete {
            platform: P,
            channel: m.channel_login.clone(),
            id: m.message_id.clone(),
            at: m.server_timestamp,
        })],
        ServerMessage::ClearChat(m) => {
            let (author_id, duration_s) = match &m.action {
                ClearChatAction::ChatCleared => {
                    return vec![Inbound::ChatCleared {
                        platform: P,
                        channel: m.channel_login.clone(),
                        at: m.server_timestamp,
                    }];
                }
                ClearChatAction::UserBanned { user_id, .. } => (user_id.clone(), None),
                ClearChatAction::UserTimedOut {
                    user_id,
                    timeout_length,
                    ..
                } => (user_id.clone(), Some(timeout_length.as_secs())),
            };
            vec![Inbound::Chat(ChatEvent::Ban {
                platform: P,
                channel: m.channel_login.clone(),
                author_id,
                at: m.server_timestamp,
                duration_s,
            })]
        }
        ServerMessage::UserNotice(m) => {
            let author = Author {
                id: m.sender.id.clone(),
                name: m.sender.name.clone(),
                roles: roles_from_badges(&m.badges),
                months: months_from_badge_info(&m.badge_info),
                first_message: false,
                returning_chatter: false,
            };
            let channel = m.channel_login.clone();
            let at = m.server_timestamp;
            let sub = |kind, months: Option<u64>, recipient: Option<String>, count: Option<u64>| {
                Inbound::Sub {
                    platform: P,
                    channel: channel.clone(),
                    kind,
                    author: author.clone(),
                    months: months.map(clamp_u32),
                    recipient,
                    count: count.map(clamp_u32),
                    text: m.message_text.clone(),
                    at,
                }
            };
            match &m.event {
                UserNoticeEvent::SubOrResub {
                    is_resub,
                    cumulative_months,
                    ..
                } => vec![sub(
                    if *is_resub {
                        SubKind::Resub
                    } else {
                        SubKind::Sub
                    },
                    Some(*cumulative_months),
                    None,
                    None,
                )],
                UserNoticeEvent::SubGift {
                    recipient,
                    cumulative_months,
                    ..
                } => vec![sub(
                    SubKind::Gift,
                    Some(*cumulative_months),
                    Some(recipient.name.clone()),
                    None,
                )],
                UserNoticeEvent::SubMysteryGift {
                    mass_gift_count, ..
                }
                | UserNoticeEvent::AnonSubMysteryGift {
                    mass_gift_count, ..
                } => vec![sub(
                    SubKind::MysteryGift,
                    None,
                    None,
                    Some(*mass_gift_count),
                )],
                UserNoticeEvent::GiftPaidUpgrade { .. }
                | UserNoticeEvent::AnonGiftPaidUpgrade { .. } => {
                    vec![sub(SubKind::GiftUpgrade, None, None, None)]
                }
                UserNoticeEvent::Raid { viewer_count, .. } => vec![Inbound::Raid {
                    platform: P,
                    channel,
                    from: m.sender.name.clone(),
                    from_id: m.sender.id.clone(),
                    viewers: clamp_u32(*viewer_count),
                    at,
                }],
                UserNoticeEvent::Announcement { .. } => vec![Inbound::Announcement {
                    platform: P,
                    channel,
                    author,
                    text: m.message_text.clone().unwrap_or_default(),
                    at,
                }],
                // Rituals, bits badge tiers and kinds newer than twitch-irc:
                // the console still shows Twitch's own sentence for them.
                _ => vec![Inbound::Notice {
                    platform: P,
                    channel: Some(channel),
                    kind: NoticeKind::Other,
                    text: m.system_message.clone(),
                }],
            }
        }
        ServerMessage::Notice(m) => vec![Inbound::Notice {
            platform: P,
            channel: m.channel_login.clone(),
            kind: notice_kind(m.message_id.as_deref(), &m.message_text),
            text: m.message_text.clone(),
        }],
        ServerMessage::RoomState(m) => vec![Inbound::RoomState {
            platform: P,
            channel: m.channel_login.clone(),
            slow_mode_s: m.slow_mode.map(|d| d.as_secs()),
            followers_only_min: m.followers_only.as_ref().map(|f| match f {
                FollowersOnlyMode::Disabled => None,
                FollowersOnlyMode::Enabled(d) => Some(d.as_secs() / 60),
            }),
            subscribers_only: m.subscribers_only,
            emote_only: m.emote_only,
        }],
        ServerMessage::UserState(m) => vec![Inbound::SelfState {
            platform: P,
            channel: m.channel_login.clone(),
            privileged: badges_privileged(&m.badges) || tag_is(&m.source.tags.0, "mod", "1"),
        }],
        _ => {
            let _ = received_at;
            Vec::new()
        }
    }
}

/// Classifies a NOTICE by its `msg-id`, or by its text for the login
/// failures that Twitch sends without one.
pub fn notice_kind(msg_id: Option<&str>, text: &str) -> NoticeKind {
    match msg_id {
        Some("msg_ratelimit") => NoticeKind::RateLimited,
        Some("msg_duplicate") => NoticeKind::Duplicate,
        Some("msg_slowmode") => NoticeKind::SlowMode,
        Some(
            "msg_banned"
            | "msg_timedout"
            | "msg_requires_verified_phone_number"
            | "msg_verified_email",
        ) => NoticeKind::Banned,
        Some("msg_channel_suspended" | "msg_channel_blocked" | "tos_ban" | "msg_suspended") => {
            NoticeKind::ChannelUnavailable
        }
        Some(_) => NoticeKind::Other,
        None if text.contains("Login authentication failed")
            || text.contains("Improperly formatted auth") =>
        {
            NoticeKind::AuthFailed
        }
        None => NoticeKind::Other,
    }
}

fn tag_is(tags: &std::collections::HashMap<String, String>, key: &str, value: &str) -> bool {
    tags.get(key).is_some_and(|v| v == value)
}

fn bits(amount: u64) -> Paid {
    Paid {
        amount: amount as f64,
        currency: "bits".into(),
        kind: PaidKind::Bits,
    }
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Twitch badge names to the model's roles; unknown badges carry no role.
pub fn role_for_badge(name: &str) -> Option<Role> {
    match name {
        "broadcaster" => Some(Role::Broadcaster),
        "moderator" | "lead_moderator" => Some(Role::Moderator),
        "vip" => Some(Role::Vip),
        "subscriber" | "founder" => Some(Role::Subscriber),
        "staff" | "admin" | "global_mod" => Some(Role::Staff),
        "partner" => Some(Role::Verified),
        _ => None,
    }
}

fn roles_from_badges(badges: &[Badge]) -> Vec<Role> {
    let mut roles = Vec::new();
    for b in badges {
        if let Some(r) = role_for_badge(&b.name)
            && !roles.contains(&r)
        {
            roles.push(r);
        }
    }
    roles
}

fn badges_privileged(badges: &[Badge]) -> bool {
    badges.iter().any(|b| {
        matches!(
            role_for_badge(&b.name),
            Some(Role::Broadcaster | Role::Moderator | Role::Vip)
        )
    })
}

/// Subscriber months live in `badge-info` (`subscriber/14`); founders count too.
fn months_from_badge_info(info: &[Badge]) -> Option<u32> {
    info.iter()
        .find(|b| b.name == "subscriber" || b.name == "founder")
        .and_then(|b| b.version.parse().ok())
}

/// Reads `name/version,name/version` as twitch-irc does, without failing.
fn parse_badges(value: &str) -> Vec<Badge> {
    value
        .split(',')
        .filter_map(|b| {
            let (name, version) = b.split_once('/')?;
            (!name.is_empty()).then(|| Badge {
                name: name.to_string(),
                version: version.to_string(),
            })
        })
        .collect()
}

/// The tags a chat message is read from, wherever they were parsed.
#[derive(Default)]
struct PrivmsgTags<'a> {
    id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    display_name: Option<Cow<'a, str>>,
    tmi_sent_ts: Option<Cow<'a, str>>,
    badges: Option<Cow<'a, str>>,
    badge_info: Option<Cow<'a, str>>,
    is_mod: Option<Cow<'a, str>>,
    first_msg: Option<Cow<'a, str>>,
    returning_chatter: Option<Cow<'a, str>>,
    bits: Option<Cow<'a, str>>,
    reply_parent_msg_id: Option<Cow<'a, str>>,
}

impl<'a> PrivmsgTags<'a> {
    /// Where the value of `key` is kept, or `None` when a chat message is
    /// not read from it (so its value is never unescaped).
    fn slot(&mut self, key: &str) -> Option<&mut Option<Cow<'a, str>>> {
        Some(match key {
            "id" => &mut self.id,
            "user-id" => &mut self.user_id,
            "display-name" => &mut self.display_name,
            "tmi-sent-ts" => &mut self.tmi_sent_ts,
            "badges" => &mut self.badges,
            "badge-info" => &mut self.badge_info,
            "mod" => &mut self.is_mod,
            "first-msg" => &mut self.first_msg,
            "returning-chatter" => &mut self.returning_chatter,
            "bits" => &mut self.bits,
            "reply-parent-msg-id" => &mut self.reply_parent_msg_id,
            _ => return None,
        })
    }

    fn from_map(tags: &'a std::collections::HashMap<String, String>) -> Self {
        let mut out = Self::default();
        for (k, v) in tags {
            if let Some(slot) = out.slot(k) {
                *slot = Some(Cow::Borrowed(v.as_str()));
            }
        }
        out
    }
}

fn is_one(v: &Option<Cow<'_, str>>) -> bool {
    v.as_deref() == Some("1")
}

fn nonempty<'v>(v: &'v Option<Cow<'_, str>>) -> Option<&'v str> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// A chat message from a PRIVMSG's parts, keeping every field that is usable
/// and defaulting the rest, so that a viewer's words still arrive.
fn privmsg_from(
    tags: &PrivmsgTags<'_>,
    channel: &str,
    raw_text: &str,
    nick: Option<&str>,
    received_at: DateTime<Utc>,
) -> Result<ChatMessage, String> {
    let id = nonempty(&tags.id).ok_or("PRIVMSG without an id tag")?;
    let author_id = nonempty(&tags.user_id)
        .map(str::to_string)
        .or_else(|| nick.map(|n| format!("login:{n}")))
        .ok_or("PRIVMSG without user-id or sender")?;
    let name = tags
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .or(nick)
        .map_or_else(|| author_id.clone(), str::to_string);
    let at = tags
        .tmi_sent_ts
        .as_deref()
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .unwrap_or(received_at);
    let badges = tags.badges.as_deref().map(parse_badges).unwrap_or_default();
    let badge_info = tags
        .badge_info
        .as_deref()
        .map(parse_badges)
        .unwrap_or_default();
    let mut roles = roles_from_badges(&badges);
    if is_one(&tags.is_mod) && !roles.contains(&Role::Moderator) {
        roles.push(Role::Moderator);
    }
    let text = raw_text
        .strip_prefix("\u{1}ACTION ")
        .and_then(|t| t.strip_suffix('\u{1}'))
        .unwrap_or(raw_text);
    Ok(ChatMessage {
        platform: P,
        channel: channel.to_string(),
        id: id.to_string(),
        at,
        author: Author {
            id: author_id,
            name,
            roles,
            months: months_from_badge_info(&badge_info),
            first_message: is_one(&tags.first_msg),
            returning_chatter: is_one(&tags.returning_chatter),
        },
        text: text.to_string(),
        paid: tags
            .bits
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|b| *b > 0)
            .map(bits),
        reply_to: nonempty(&tags.reply_parent_msg_id).map(str::to_string),
    })
}

/// A PRIVMSG that twitch-irc's strict parser refused: keep every field that
/// is usable and default the rest, so that a viewer's words still arrive.
fn lenient_privmsg(irc: &IRCMessage, received_at: DateTime<Utc>) -> Result<ChatMessage, String> {
    let channel = irc
        .params
        .first()
        .and_then(|c| c.strip_prefix('#'))
        .filter(|c| !c.is_empty())
        .ok_or("PRIVMSG without a #channel")?;
    let raw_text = irc.params.get(1).ok_or("PRIVMSG without text")?;
    let nick = irc.prefix.as_ref().and_then(|p| match p {
        twitch_irc::message::IRCPrefix::Full { nick, .. } => Some(nick.as_str()),
        twitch_irc::message::IRCPrefix::HostOnly { .. } => None,
    });
    privmsg_from(
        &PrivmsgTags::from_map(&irc.tags.0),
        channel,
        raw_text,
        nick,
        received_at,
    )
}

/// An IRCv3 tag value unescaped (`\:` is `;`, `\s` a space, `\\` a
/// backslash, `\r` and `\n` CR and LF; any other escaped character stands
/// for itself and a lone trailing backslash is dropped), borrowed when it
/// has nothing to unescape.
fn unescape_tag(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// The hot path of live chat: an ordinary PRIVMSG line read in place,
/// without building twitch-irc's `IRCMessage` (a map of every tag, each
/// key and value its own allocation) and its typed message, which cost
/// about a third of the adapter's CPU per message at 1,000 msgs/s.
///
/// `None` leaves the line to the full parse ([`map_irc_message`]): any
/// other command, any framing twitch-irc would refuse or read otherwise,
/// and any PRIVMSG without `id`, `user-id` and a display name without
/// surrounding space (the cases where twitch-irc's strict reading and the
/// lenient one could differ). What it returns is what the full parse
/// returns for the same line; `tests/twitch_map_fuzz.rs` checks that on the
/// capture and on random lines.
pub fn fast_privmsg(line: &str, received_at: DateTime<Utc>) -> Option<ChatMessage> {
    let rest = line.strip_prefix('@')?;
    if memchr::memchr2(b'\r', b'\n', line.as_bytes()).is_some() {
        return None;
    }
    let (raw_tags, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix(':')?;
    let (prefix, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("PRIVMSG ")?;
    // `#channel :text`, or `#channel word` (a one-word text may come
    // without its colon, as in captures from the recent-messages service).
    let (channel_param, rest) = rest.split_once(' ')?;
    let raw_text = match rest.strip_prefix(':') {
        Some(text) => text,
        None if !rest.is_empty() && !rest.contains(' ') => rest,
        None => return None,
    };
    if raw_tags.is_empty() || prefix.is_empty() {
        return None;
    }
    let channel = channel_param.strip_prefix('#').filter(|c| !c.is_empty())?;
    let mut tags = PrivmsgTags::default();
    each_tag(raw_tags, |key, value| {
        // Most of a PRIVMSG's tags (emotes, color, flags, ...) are not
        // read, so only the kept ones pay for unescaping.
        if let Some(slot) = tags.slot(key) {
            *slot = Some(unescape_tag(value));
        }
    });
    nonempty(&tags.id)?;
    nonempty(&tags.user_id)?;
    let name = nonempty(&tags.display_name)?;
    if name.trim() != name {
        return None;
    }
    // As twitch-irc reads a prefix: a nick only when it has a host.
    let nick = prefix
        .split_once('@')
        .map(|(nick_user, _)| nick_user.split_once('!').map_or(nick_user, |(n, _)| n));
    privmsg_from(&tags, channel, raw_text, nick, received_at).ok()
}

/// Calls `f(key, value)` for each tag of an IRCv3 tag string (`k=v;k2;k3=v3`,
/// without its `@`), as `split(';')` then `split_once('=')` would cut it: a
/// tag without `=` has an empty value. Both separators are found in one
/// SIMD pass; splitting twice scanned every tag twice, a sixth of the live
/// path's socket task at 1,000 msgs/s.
fn each_tag<'a>(raw: &'a str, mut f: impl FnMut(&'a str, &'a str)) {
    let mut start = 0;
    let mut eq = None;
    let mut tag = |start: usize, eq: Option<usize>, end: usize| match eq {
        // The separators are ASCII, so every cut is on a char boundary.
        Some(eq) => f(&raw[start..eq], &raw[eq + 1..end]),
        None => f(&raw[start..end], ""),
    };
    for i in memchr::memchr2_iter(b';', b'=', raw.as_bytes()) {
        if raw.as_bytes()[i] == b'=' {
            eq = eq.or(Some(i));
        } else {
            tag(start, eq, i);
            start = i + 1;
            eq = None;
        }
    }
    tag(start, eq, raw.len());
}

/// True when a line looks like raw IRC rather than a JSON chat log line,
/// so `clank replay` can pick the reader by the file's first line.
pub fn is_irc_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('@') || t.starts_with(':') || t.starts_with("PING ")
}

/// Streams [`Inbound`] events out of a raw Twitch IRC capture (one line per
/// message, like `tests/fixtures/twitch-nymn.irc`), through the same mapping
/// as the live adapter. A bad line is a [`LineError`] naming its number and
/// the reader goes on; lines that carry nothing for the core are counted in
/// [`IrcCaptureReader::skipped`].
pub struct IrcCaptureReader<R> {
    reader: R,
    line: u64,
    skipped: u64,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Inbound>,
    last_at: DateTime<Utc>,
}

/// Opens a raw IRC capture for [`IrcCaptureReader`].
pub fn read_irc_capture<R: BufRead>(reader: R) -> IrcCaptureReader<R> {
    IrcCaptureReader {
        reader,
        line: 0,
        skipped: 0,
        buf: Vec::with_capacity(2048),
        pending: Default::default(),
        last_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

impl<R: BufRead> IrcCaptureReader<R> {
    /// The number of the last line read (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Lines that were valid but carried nothing for the core.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn next_item(&mut self) -> Option<Result<Result<Inbound, LineError>, ChatLogError>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(Ok(ev)));
            }
            self.buf.clear();
            let n = match (&mut self.reader)
                .take(MAX_IRC_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf)
            {
                Ok(n) => n,
                Err(source) => {
                    return Some(Err(ChatLogError::Read {
                        line: self.line,
                        source,
                    }));
                }
            };
            if n == 0 {
                return None;
            }
            self.line += 1;
            let line = self.line;
            if self.buf.len() > MAX_IRC_LINE_BYTES && !self.buf.ends_with(b"\n") {
                // Skip the rest of the over-long line.
                let mut sink = Vec::new();
                let mut len = self.buf.len();
                loop {
                    sink.clear();
                    match (&mut self.reader)
                        .take(MAX_IRC_LINE_BYTES as u64)
                        .read_until(b'\n', &mut sink)
                    {
                        Ok(0) => break,
                        Ok(k) => {
                            len += k;
                            if sink.ends_with(b"\n") {
                                break;
                            }
                        }
                        Err(source) => return Some(Err(ChatLogError::Read { line, source })),
                    }
                }
                return Some(Ok(Err(LineError::TooLong {
                    line,
                    len,
                    max: MAX_IRC_LINE_BYTES,
                })));
            }
            let text = match std::str::from_utf8(&self.buf) {
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
            // Lines without a timestamp of their own take the last one seen,
            // which keeps a capture's order without inventing a clock.
            match map_line(text, self.last_at) {
                Ok(events) if events.is_empty() => self.skipped += 1,
                Ok(events) => {
                    for ev in &events {
                        if let Inbound::Chat(c) = ev {
                            self.last_at = self.last_at.max(c.at());
                        }
                    }
                    self.pending.extend(events);
                }
                Err(message) => return Some(Ok(Err(LineError::Invalid { line, message }))),
            }
        }
    }
}

/// Only the chat events of a raw IRC capture (messages, deletions, bans), in
/// the item shape of [`crate::chatlog::ChatLogReader`], so `clank replay`
/// can take either file kind through the same loop.
pub fn read_irc_capture_events<R: BufRead>(
    reader: R,
) -> impl Iterator<Item = Result<Result<ChatEvent, LineError>, ChatLogError>> {
    read_irc_capture(reader).filter_map(|item| match item {
        Ok(Ok(Inbound::Chat(ev))) => Some(Ok(Ok(ev))),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(Ok(Err(e))),
        Err(e) => Some(Err(e)),
    })
}

impl<R: BufRead> Iterator for IrcCaptureReader<R> {
    type Item = Result<Result<Inbound, LineError>, ChatLogError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_item()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn each_tag_cuts_tags_as_split_then_split_once_does() {
        for raw in [
            "",
            "a",
            "a=",
            "=v",
            "a=1;b=2",
            "a=1;;b",
            "a=1;b=2;",
            ";a=x=y;b==;c",
            "display-name=Fo\\so;id=é=ü;x",
        ] {
            let mut got = Vec::new();
            each_tag(raw, |k, v| got.push((k, v)));
            let want: Vec<(&str, &str)> = raw
                .split(';')
                .map(|t| t.split_once('=').unwrap_or((t, "")))
                .collect();
            assert_eq!(got, want, "{raw:?}");
        }
    }

    fn one(line: &str) -> Inbound {
        let mut v = map_line(line, t0()).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    fn msg(line: &str) -> ChatMessage {
        match one(line) {
            Inbound::Chat(ChatEvent::Message(m)) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    const SUB_MOD: &str = "@badge-info=subscriber/14;badges=moderator/1,subscriber/12,vip/1;bits=250;color=;display-name=Rin;emotes=;first-msg=1;flags=;id=abc-1;mod=1;reply-parent-msg-id=parent-9;reply-parent-user-id=5;reply-parent-user-login=mika;reply-parent-display-name=Mika;reply-parent-msg-body=hi;returning-chatter=0;room-id=1;subscriber=1;tmi-sent-ts=1704557984095;turbo=0;user-id=11;user-type=mod :rin!rin@rin.tmi.twitch.tv PRIVMSG #mikavt :\u{1}ACTION cheers loudly\u{1}";

    #[test]
    fn privmsg_tags_map_to_the_model() {
        let m = msg(SUB_MOD);
        assert_eq!(m.platform, Platform::Twitch);
        assert_eq!(m.channel, "mikavt");
        assert_eq!(m.id, "abc-1");
        assert_eq!(m.at.timestamp_millis(), 1_704_557_984_095);
        assert_eq!(m.author.id, "11");
        assert_eq!(m.author.name, "Rin");
        assert_eq!(
            m.author.roles,
            vec![Role::Moderator, Role::Subscriber, Role::Vip]
        );
        assert_eq!(m.author.months, Some(14));
        assert!(m.author.first_message);
        assert_eq!(m.text, "cheers loudly", "ACTION wrapper is stripped");
        let paid = m.paid.unwrap();
        assert_eq!(
            (paid.amount, paid.currency.as_str(), paid.kind),
            (250.0, "bits", PaidKind::Bits)
        );
        assert_eq!(m.reply_to.as_deref(), Some("parent-9"));
        assert!(!m.author.returning_chatter, "returning-chatter=0");
        let back = SUB_MOD.replace("returning-chatter=0", "returning-chatter=1");
        let mapped = map_line(&back, Utc::now()).unwrap();
        let Some(Inbound::Chat(ChatEvent::Message(m))) = mapped.into_iter().next() else {
            panic!("a PRIVMSG maps to a chat message")
        };
        assert!(m.author.returning_chatter, "returning-chatter=1");
    }

    #[test]
    fn broadcaster_and_plain_viewers() {
        let m = msg(
            "@badges=broadcaster/1;display-name=Mika;id=x;room-id=1;tmi-sent-ts=1;user-id=1;first-msg=0 :mika!mika@mika.tmi.twitch.tv PRIVMSG #mika :hello",
        );
        assert_eq!(m.author.roles, vec![Role::Broadcaster]);
        assert!(!m.author.first_message);
        assert_eq!(m.author.months, None);
        assert!(m.paid.is_none());
        assert!(m.reply_to.is_none());
    }

    #[test]
    fn a_privmsg_with_broken_tags_is_still_delivered() {
        // No room-id, a malformed timestamp: twitch-irc refuses it, we do not.
        let m = msg(
            "@badges=founder/0;badge-info=founder/3;display-name=;id=q1;tmi-sent-ts=soon;user-id=77 :kaz!kaz@kaz.tmi.twitch.tv PRIVMSG #mikavt :still here",
        );
        assert_eq!(m.id, "q1");
        assert_eq!(
            m.author.name, "kaz",
            "empty display-name falls back to login"
        );
        assert_eq!(m.author.roles, vec![Role::Subscriber]);
        assert_eq!(m.author.months, Some(3));
        assert_eq!(m.at, t0(), "unparsable time falls back to the receive time");
        assert_eq!(m.text, "still here");
    }

    #[test]
    fn a_privmsg_without_id_is_an_error_not_a_silent_drop() {
        let err = map_line(
            ":kaz!kaz@kaz.tmi.twitch.tv PRIVMSG #mikavt :no tags at all",
            t0(),
        )
        .unwrap_err();
        assert!(err.contains("id"), "{err}");
    }

    #[test]
    fn clearmsg_is_a_delete() {
        let ev = one(
            "@login=rin;room-id=;target-msg-id=abc-1;tmi-sent-ts=1704557984095 :tmi.twitch.tv CLEARMSG #mikavt :oops",
        );
        assert_eq!(
            ev,
            Inbound::Chat(ChatEvent::Delete {
                platform: Platform::Twitch,
                channel: "mikavt".into(),
                id: "abc-1".into(),
                at: Utc.timestamp_millis_opt(1_704_557_984_095).unwrap(),
            })
        );
    }

    #[test]
    fn clearchat_ban_timeout_and_clear() {
        let ban = one(
            "@room-id=1;target-user-id=42;tmi-sent-ts=1000 :tmi.twitch.tv CLEARCHAT #mikavt :troll",
        );
        assert!(matches!(
            ban,
            Inbound::Chat(ChatEvent::Ban { ref author_id, duration_s: None, .. }) if author_id == "42"
        ));
        let timeout = one(
            "@ban-duration=600;room-id=1;target-user-id=43;tmi-sent-ts=1000 :tmi.twitch.tv CLEARCHAT #mikavt :spammer",
        );
        assert!(matches!(
            timeout,
            Inbound::Chat(ChatEvent::Ban { ref author_id, duration_s: Some(600), .. }) if author_id == "43"
        ));
        let cleared = one("@room-id=1;tmi-sent-ts=1000 :tmi.twitch.tv CLEARCHAT #mikavt");
        assert!(matches!(cleared, Inbound::ChatCleared { ref channel, .. } if channel == "mikavt"));
    }

    #[test]
    fn raid_sub_gift_announcement() {
        let raid = one(
            "@badge-info=;badges=;color=;display-name=BigStreamer;emotes=;flags=;id=r1;login=bigstreamer;mod=0;msg-id=raid;msg-param-displayName=BigStreamer;msg-param-login=bigstreamer;msg-param-profileImageURL=x;msg-param-viewerCount=1234;room-id=1;subscriber=0;system-msg=1234\\sraiders;tmi-sent-ts=1000;user-id=99;user-type= :tmi.twitch.tv USERNOTICE #mikavt",
        );
        assert!(matches!(
            raid,
            Inbound::Raid { ref from, ref from_id, viewers: 1234, .. } if from == "BigStreamer" && from_id == "99"
        ));
        let resub = one(
            "@badge-info=subscriber/7;badges=subscriber/6;color=;display-name=Rin;emotes=;flags=;id=s1;login=rin;mod=0;msg-id=resub;msg-param-cumulative-months=7;msg-param-should-share-streak=0;msg-param-sub-plan-name=Tier\\s1;msg-param-sub-plan=1000;room-id=1;subscriber=1;system-msg=Rin\\sresubscribed;tmi-sent-ts=1000;user-id=11;user-type= :tmi.twitch.tv USERNOTICE #mikavt :seven months!",
        );
        match resub {
            Inbound::Sub {
                kind,
                months,
                text,
                author,
                ..
            } => {
                assert_eq!(kind, SubKind::Resub);
                assert_eq!(months, Some(7));
                assert_eq!(text.as_deref(), Some("seven months!"));
                assert_eq!(author.name, "Rin");
            }
            other => panic!("{other:?}"),
        }
        let ann = one(
            "@badge-info=;badges=moderator/1;color=;display-name=Mod;emotes=;flags=;id=a1;login=mod;mod=1;msg-id=announcement;msg-param-color=PRIMARY;room-id=1;subscriber=0;system-msg=;tmi-sent-ts=1000;user-id=5;user-type=mod :tmi.twitch.tv USERNOTICE #mikavt :giveaway at 8",
        );
        assert!(matches!(ann, Inbound::Announcement { ref text, .. } if text == "giveaway at 8"));
    }

    #[test]
    fn notices_roomstate_userstate() {
        let n = one(
            "@msg-id=msg_ratelimit :tmi.twitch.tv NOTICE #mikavt :You are sending messages too quickly.",
        );
        assert!(matches!(
            n,
            Inbound::Notice { kind: NoticeKind::RateLimited, channel: Some(ref c), .. } if c == "mikavt"
        ));
        let auth = one(":tmi.twitch.tv NOTICE * :Login authentication failed");
        assert!(matches!(
            auth,
            Inbound::Notice {
                kind: NoticeKind::AuthFailed,
                channel: None,
                ..
            }
        ));
        let rs = one(
            "@emote-only=0;followers-only=10;r9k=0;room-id=1;slow=30;subs-only=0 :tmi.twitch.tv ROOMSTATE #mikavt",
        );
        assert_eq!(
            rs,
            Inbound::RoomState {
                platform: Platform::Twitch,
                channel: "mikavt".into(),
                slow_mode_s: Some(30),
                followers_only_min: Some(Some(10)),
                subscribers_only: Some(false),
                emote_only: Some(false),
            }
        );
        let us = one(
            "@badge-info=;badges=vip/1;color=;display-name=clankbot;emote-sets=0;mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE #mikavt",
        );
        assert!(matches!(
            us,
            Inbound::SelfState {
                privileged: true,
                ..
            }
        ));
    }

    #[test]
    fn control_lines_map_to_nothing() {
        assert!(map_line("PING :tmi.twitch.tv", t0()).unwrap().is_empty());
        assert!(
            map_line(":tmi.twitch.tv RECONNECT", t0())
                .unwrap()
                .is_empty()
        );
        assert!(map_line("", t0()).is_err());
    }

    #[test]
    fn the_nymn_capture_maps_every_line() {
        let data = include_str!("../../../tests/fixtures/twitch-nymn.irc");
        let reader = read_irc_capture(data.as_bytes());
        let mut messages = 0;
        let mut bans = 0;
        for item in reader {
            match item.unwrap().unwrap() {
                Inbound::Chat(ChatEvent::Message(m)) => {
                    assert_eq!(m.channel, "nymn");
                    assert!(!m.id.is_empty() && !m.author.id.is_empty());
                    assert!(!m.text.contains('\u{1}'));
                    messages += 1;
                }
                Inbound::Chat(ChatEvent::Ban { duration_s, .. }) => {
                    assert_eq!(duration_s, Some(180));
                    bans += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((messages, bans), (798, 2));
    }

    #[test]
    fn capture_events_keep_only_chat() {
        let data = "@room-id=1;tmi-sent-ts=5 :tmi.twitch.tv CLEARCHAT #c\n\
                    @id=1;user-id=2;tmi-sent-ts=5 :a!a@a PRIVMSG #c :one\n\
                    garbage here\n";
        let items: Vec<_> = read_irc_capture_events(data.as_bytes())
            .map(|i| i.unwrap())
            .collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], Ok(ChatEvent::Message(m)) if m.text == "one"));
        assert_eq!(items[1].as_ref().unwrap_err().line(), 3);
    }

    #[test]
    fn capture_reader_names_bad_lines_and_goes_on() {
        let data = "@id=1;user-id=2;tmi-sent-ts=5 :a!a@a PRIVMSG #c :one\n\
                    this is not irc\n\
                    \n\
                    PING :tmi.twitch.tv\n\
                    @id=2;user-id=2 :a!a@a PRIVMSG #c :two\n";
        let mut r = read_irc_capture(data.as_bytes());
        let items: Vec<_> = r.by_ref().map(|i| i.unwrap()).collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok());
        assert_eq!(items[1].as_ref().unwrap_err().line(), 2);
        match &items[2] {
            Ok(Inbound::Chat(ChatEvent::Message(m))) => {
                assert_eq!(m.text, "two");
                assert_eq!(m.at.timestamp_millis(), 5, "inherits the last time seen");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.skipped(), 1);
        assert!(is_irc_line("@a=b :x PRIVMSG #c :d"));
        assert!(!is_irc_line("{\"platform\":\"twitch\"}"));
    }
}
