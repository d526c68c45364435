//! Discord gateway events -> [`Inbound`] events: messages in the configured
//! channels (and threads under them) with roles, reply links and mentions
//! made readable, deletions, bans and timeouts. Pure: it keeps what earlier
//! events taught it (the bot's id, guild owners, thread parents, role names)
//! and takes the time from its caller.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serenity::model::channel::{ChannelType, GuildChannel, Message, MessageType};
use serenity::model::event::Event;
use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};
use serenity::model::user::User;

use crate::adapters::Inbound;
use crate::model::{Author, ChatEvent, ChatMessage, Platform, Role};

/// Who counts as what, from the `[discord]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// The streamer's own user id: their messages are the broadcaster's.
    pub streamer: Option<u64>,
    pub moderators: Vec<u64>,
    pub vips: Vec<u64>,
}

/// Maps gateway events to inbound events, remembering what it needs.
#[derive(Debug, Default)]
pub struct Mapper {
    channels: HashSet<ChannelId>,
    /// Threads under a configured channel -> that channel.
    threads: HashMap<ChannelId, ChannelId>,
    streamer: Option<UserId>,
    bot: Option<UserId>,
    moderators: HashSet<RoleId>,
    vips: HashSet<RoleId>,
    owners: HashMap<GuildId, UserId>,
    role_names: HashMap<RoleId, String>,
    channel_names: HashMap<ChannelId, String>,
    /// Which guild a configured channel or thread is in, once known.
    guild_of: HashMap<ChannelId, GuildId>,
    /// The last timeout end seen per member (a member update repeats it).
    timeouts: HashMap<(GuildId, UserId), i64>,
    /// What a mention of the bot or the streamer reads as (the streamer's
    /// name, so salience sees the message as addressed to them).
    address_as: Option<String>,
}

impl Mapper {
    /// `channels` are the configured channel ids; `address_as` replaces a
    /// mention of the bot or the streamer (`<@id>`) in the text.
    pub fn new(channels: &[u64], roles: &Roles, address_as: Option<String>) -> Self {
        Self {
            channels: channels.iter().map(|&c| ChannelId::new(c)).collect(),
            streamer: roles.streamer.map(UserId::new),
            moderators: roles.moderators.iter().map(|&r| RoleId::new(r)).collect(),
            vips: roles.vips.iter().map(|&r| RoleId::new(r)).collect(),
            address_as,
            ..Default::default()
        }
    }

    /// The bot's own user id, once READY told it.
    pub fn bot_id(&self) -> Option<u64> {
        self.bot.map(UserId::get)
    }

    /// Whether messages in `channel` are read (a configured channel or a
    /// known thread under one).
    pub fn reads(&self, channel: ChannelId) -> bool {
        self.channels.contains(&channel) || self.threads.contains_key(&channel)
    }

    /// The inbound events one gateway event means (often none).
    pub fn map(&mut self, event: Event, now: DateTime<Utc>) -> Vec<Inbound> {
        match event {
            Event::Ready(r) => {
                self.bot = Some(r.ready.user.id);
                Vec::new()
            }
            Event::GuildCreate(g) => {
                let guild = g.guild;
                self.owners.insert(guild.id, guild.owner_id);
                for (id, role) in &guild.roles {
                    self.role_names.insert(*id, role.name.clone());
                }
                for (id, ch) in &guild.channels {
                    self.channel_names.insert(*id, ch.name.clone());
                    if self.channels.contains(id) {
                        self.guild_of.insert(*id, guild.id);
                    }
                }
                for t in &guild.threads {
                    self.learn_thread(t);
                }
                Vec::new()
            }
            Event::ThreadCreate(e) => {
                self.learn_thread(&e.thread);
                Vec::new()
            }
            Event::ThreadUpdate(e) => {
                self.learn_thread(&e.thread);
                Vec::new()
            }
            Event::ThreadListSync(e) => {
                for t in &e.threads {
                    self.learn_thread(t);
                }
                Vec::new()
            }
            Event::GuildRoleCreate(e) => {
                self.role_names.insert(e.role.id, e.role.name.clone());
                Vec::new()
            }
            Event::GuildRoleUpdate(e) => {
                self.role_names.insert(e.role.id, e.role.name.clone());
                Vec::new()
            }
            Event::MessageCreate(e) => self.message(e.message).into_iter().collect(),
            Event::MessageDelete(e) if self.reads(e.channel_id) => {
                vec![delete(e.channel_id, e.message_id.get(), now)]
            }
            Event::MessageDeleteBulk(e) if self.reads(e.channel_id) => e
                .ids
                .iter()
                .map(|id| delete(e.channel_id, id.get(), now))
                .collect(),
            Event::GuildBanAdd(e) => self.purge(e.guild_id, e.user.id, now, None),
            Event::GuildMemberUpdate(e) => {
                let key = (e.guild_id, e.user.id);
                let Some(until) = e.communication_disabled_until.map(|t| t.unix_timestamp()) else {
                    self.timeouts.remove(&key);
                    return Vec::new();
                };
                let left = until - now.timestamp();
                // A member update repeats a running timeout; only a new end
                // in the future is a new timeout.
                if left <= 0 || self.timeouts.get(&key) == Some(&until) {
                    return Vec::new();
                }
                self.timeouts.insert(key, until);
                self.purge(e.guild_id, e.user.id, now, Some(left as u64))
            }
            _ => Vec::new(),
        }
    }

    fn learn_thread(&mut self, t: &GuildChannel) {
        let thread = matches!(
            t.kind,
            ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
        );
        if let (true, Some(parent)) = (thread, t.parent_id)
            && self.channels.contains(&parent)
        {
            self.threads.insert(t.id, parent);
            self.guild_of.insert(t.id, t.guild_id);
            self.channel_names.insert(t.id, t.name.clone());
        }
    }

    /// A ban or timeout applies guild-wide: one event per channel read in
    /// that guild (or whose guild is not known yet, to be safe).
    fn purge(
        &self,
        guild: GuildId,
        user: UserId,
        now: DateTime<Utc>,
        duration_s: Option<u64>,
    ) -> Vec<Inbound> {
        let mut read: Vec<ChannelId> = self
            .channels
            .iter()
            .chain(self.threads.keys())
            .copied()
            .filter(|c| self.guild_of.get(c).is_none_or(|g| *g == guild))
            .collect();
        read.sort();
        read.into_iter()
            .map(|c| {
                Inbound::Chat(ChatEvent::Ban {
                    platform: Platform::Discord,
                    channel: c.to_string(),
                    author_id: user.to_string(),
                    at: now,
                    duration_s,
                })
            })
            .collect()
    }

    fn message(&mut self, m: Message) -> Option<Inbound> {
        if !self.reads(m.channel_id) {
            return None;
        }
        // Bots (this one included) and webhooks are not chat to answer.
        if m.author.bot || m.webhook_id.is_some() || Some(m.author.id) == self.bot {
            return None;
        }
        if !matches!(m.kind, MessageType::Regular | MessageType::InlineReply) {
            return None;
        }
        if let Some(g) = m.guild_id {
            self.guild_of.entry(m.channel_id).or_insert(g);
        }
        let text = self.readable(&m.content, &m.mentions);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut roles = Vec::new();
        let owner = m.guild_id.and_then(|g| self.owners.get(&g)).copied();
        if Some(m.author.id) == owner || Some(m.author.id) == self.streamer {
            roles.push(Role::Broadcaster);
        }
        let mut name = m
            .author
            .global_name
            .clone()
            .unwrap_or_else(|| m.author.name.clone());
        if let Some(member) = &m.member {
            if member.roles.iter().any(|r| self.moderators.contains(r)) {
                roles.push(Role::Moderator);
            }
            if member.roles.iter().any(|r| self.vips.contains(r)) {
                roles.push(Role::Vip);
            }
            // A server booster pays for the server: the nearest thing to a sub.
            if member.premium_since.is_some() {
                roles.push(Role::Subscriber);
            }
            if let Some(nick) = &member.nick {
                name = nick.clone();
            }
        }
        let reply_to = m
            .message_reference
            .as_ref()
            .filter(|r| r.channel_id == m.channel_id)
            .and_then(|r| r.message_id)
            .map(|id| id.to_string());
        Some(Inbound::Chat(ChatEvent::Message(ChatMessage {
            platform: Platform::Discord,
            channel: m.channel_id.to_string(),
            id: m.id.to_string(),
            at: *m.timestamp,
            author: Author {
                id: m.author.id.to_string(),
                name,
                roles,
                ..Default::default()
            },
            text: text.to_string(),
            paid: None,
            reply_to,
        })))
    }

    /// Discord markup as a reader sees it: `<@id>` -> `@name` (the streamer's
    /// name for the bot or the streamer), `<@&id>` -> `@role`, `<#id>` ->
    /// `#channel`, custom emoji `<:name:id>` -> `:name:`. The long digit runs
    /// would otherwise score as numbers and hide who is addressed.
    fn readable(&self, content: &str, mentions: &[User]) -> String {
        let mut out = String::with_capacity(content.len());
        let mut rest = content;
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let Some(close) = after.find('>') else {
                out.push_str(after);
                return out;
            };
            let inner = &after[1..close];
            match self.markup(inner, mentions) {
                Some(text) => out.push_str(&text),
                None => {
                    // Not markup: keep the "<" and look again after it.
                    out.push('<');
                    rest = &after[1..];
                    continue;
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn markup(&self, inner: &str, mentions: &[User]) -> Option<String> {
        let digits = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if let Some(role) = inner.strip_prefix("@&") {
            let id = RoleId::new(digits(role).filter(|&n| n > 0)?);
            let name = self.role_names.get(&id).map_or("role", String::as_str);
            return Some(format!("@{name}"));
        }
        if let Some(user) = inner.strip_prefix('@') {
            let user = user.strip_prefix('!').unwrap_or(user);
            let id = UserId::new(digits(user).filter(|&n| n > 0)?);
            if Some(id) == self.bot || Some(id) == self.streamer {
                if let Some(name) = &self.address_as {
                    return Some(format!("@{name}"));
                }
            }
            let name = mentions
                .iter()
                .find(|u| u.id == id)
                .map(|u| u.global_name.clone().unwrap_or_else(|| u.name.clone()))
                .unwrap_or_else(|| "someone".into());
            return Some(format!("@{name}"));
        }
        if let Some(ch) = inner.strip_prefix('#') {
            let id = ChannelId::new(digits(ch).filter(|&n| n > 0)?);
            let name = self
                .channel_names
                .get(&id)
                .map_or("channel", String::as_str);
            return Some(format!("#{name}"));
        }
        let emoji = inner
            .strip_prefix("a:")
            .or_else(|| inner.strip_prefix(':'))?;
        let (name, id) = emoji.rsplit_once(':')?;
        digits(id)?;
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~');
        ok.then(|| format!(":{name}:"))
    }
}

fn delete(channel: ChannelId, id: u64, now: DateTime<Utc>) -> Inbound {
    Inbound::Chat(ChatEvent::Delete {
        platform: Platform::Discord,
        channel: channel.to_string(),
        id: id.to_string(),
        at: now,
    })
}
