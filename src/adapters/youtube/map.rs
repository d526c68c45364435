//! Maps `liveChatMessage` resources (the Data API's JSON, read as loose
//! `serde_json::Value`s so that a field of an unexpected shape never loses
//! the rest of the page) to the hub's [`Inbound`] events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::adapters::{Inbound, NoticeKind, SubKind};
use crate::model::{Author, ChatEvent, ChatMessage, Paid, PaidKind, Platform, Role};

const P: Platform = Platform::Youtube;

/// Display names remembered for gift events, at most this many.
const NAMES_MAX: usize = 10_000;

/// What one page of items amounts to.
#[derive(Debug, Default, PartialEq)]
pub struct Mapped {
    pub events: Vec<Inbound>,
    /// A `chatEndedEvent` was among the items: the stream is over.
    pub ended: bool,
    /// Items that could not be used at all (no id, not an object).
    pub skipped: usize,
}

/// Turns items into events for one chat. Keeps the display names of recent
/// authors, because a gift's recipient item names its gifter by channel id
/// only.
#[derive(Debug, Default)]
pub struct Mapper {
    names: HashMap<String, String>,
}

impl Mapper {
    /// Maps a page's `items` in order; `channel` is what the console shows
    /// (the video id), `now` stands in for a missing or bad `publishedAt`.
    pub fn map_items(&mut self, items: &[Value], channel: &str, now: DateTime<Utc>) -> Mapped {
        let mut out = Mapped::default();
        for item in items {
            match self.map_item(item, channel, now) {
                Some(Item::Event(e)) => out.events.push(e),
                Some(Item::Ended) => out.ended = true,
                None => out.skipped += 1,
            }
        }
        out
    }

    fn map_item(&mut self, item: &Value, channel: &str, now: DateTime<Utc>) -> Option<Item> {
        let id = str_at(item, &["id"])?.to_string();
        if id.is_empty() {
            return None;
        }
        let snippet = item.get("snippet").unwrap_or(&Value::Null);
        let kind = str_at(snippet, &["type"]).unwrap_or("");
        let at = str_at(snippet, &["publishedAt"])
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let author = self.author(item, snippet);
        let channel = channel.to_string();
        let display = str_at(snippet, &["displayMessage"]).unwrap_or("");
        let message = |text: String, paid: Option<Paid>| {
            Item::Event(Inbound::Chat(ChatEvent::Message(ChatMessage {
                platform: P,
                channel: channel.clone(),
                id: id.clone(),
                at,
                author: author.clone(),
                text,
                paid,
                reply_to: None,
            })))
        };
        let sub = |kind: SubKind,
                   author: Author,
                   months: Option<u32>,
                   recipient: Option<String>,
                   count: Option<u32>,
                   text: Option<String>| {
            Item::Event(Inbound::Sub {
                platform: P,
                channel: channel.clone(),
                kind,
                author,
                months,
                recipient,
                count,
                text: text.filter(|t| !t.is_empty()),
                at,
            })
        };
        let item = match kind {
            "textMessageEvent" => {
                let text = str_at(snippet, &["textMessageDetails", "messageText"])
                    .unwrap_or(display)
                    .to_string();
                message(text, None)
            }
            "superChatEvent" => {
                let d = snippet.get("superChatDetails").unwrap_or(&Value::Null);
                let text = str_at(d, &["userComment"]).unwrap_or("").to_string();
                message(text, Some(paid(d, PaidKind::Superchat)))
            }
            "superStickerEvent" => {
                let d = snippet.get("superStickerDetails").unwrap_or(&Value::Null);
                let text = str_at(d, &["superStickerMetadata", "altText"])
                    .unwrap_or(display)
                    .to_string();
                message(text, Some(paid(d, PaidKind::Supersticker)))
            }
            "fanFundingEvent" => {
                let d = snippet
                    .get("fanFundingEventDetails")
                    .unwrap_or(&Value::Null);
                let text = str_at(d, &["userComment"]).unwrap_or("").to_string();
                message(text, Some(paid(d, PaidKind::Donation)))
            }
            "newSponsorEvent" => sub(SubKind::Sub, author, None, None, None, None),
            "memberMilestoneChatEvent" => {
                let d = snippet
                    .get("memberMilestoneChatDetails")
                    .unwrap_or(&Value::Null);
                let months = u64_at(d, &["memberMonth"]).map(|m| m.min(u32::MAX as u64) as u32);
                let text = str_at(d, &["userComment"]).map(str::to_string);
                let mut author = author;
                author.months = months.or(author.months);
                sub(SubKind::Resub, author, months, None, None, text)
            }
            "membershipGiftingEvent" => {
                let count = u64_at(
                    snippet,
                    &["membershipGiftingDetails", "giftMembershipsCount"],
                )
                .map(|n| n.min(u32::MAX as u64) as u32);
                sub(SubKind::MysteryGift, author, None, None, count, None)
            }
            "giftMembershipReceivedEvent" => {
                // The item's author is the recipient; the gifter is named
                // by channel id, and by name when we saw them recently.
                let gifter_id = str_at(
                    snippet,
                    &["giftMembershipReceivedDetails", "gifterChannelId"],
                )
                .unwrap_or("")
                .to_string();
                let gifter = Author {
                    name: self
                        .names
                        .get(&gifter_id)
                        .cloned()
                        .unwrap_or_else(|| gifter_id.clone()),
                    id: gifter_id,
                    ..Author::default()
                };
                sub(
                    SubKind::Gift,
                    gifter,
                    None,
                    Some(author.name.clone()),
                    None,
                    None,
                )
            }
            "messageDeletedEvent" | "messageRetractedEvent" => {
                let target = str_at(snippet, &["messageDeletedDetails", "deletedMessageId"])
                    .or_else(|| str_at(snippet, &["messageRetractedDetails", "retractedMessageId"]))
                    .unwrap_or("");
                if target.is_empty() {
                    return None;
                }
                Item::Event(Inbound::Chat(ChatEvent::Delete {
                    platform: P,
                    channel,
                    id: target.to_string(),
                    at,
                }))
            }
            // A message YouTube withdrew after we may have seen it.
            "tombstone" => Item::Event(Inbound::Chat(ChatEvent::Delete {
                platform: P,
                channel,
                id,
                at,
            })),
            "userBannedEvent" => {
                let d = snippet.get("userBannedDetails").unwrap_or(&Value::Null);
                let banned = str_at(d, &["bannedUserDetails", "channelId"]).unwrap_or("");
                if banned.is_empty() {
                    return None;
                }
                let duration_s = match str_at(d, &["banType"]) {
                    Some("temporary") => Some(u64_at(d, &["banDurationSeconds"]).unwrap_or(0)),
                    _ => None,
                };
                Item::Event(Inbound::Chat(ChatEvent::Ban {
                    platform: P,
                    channel,
                    author_id: banned.to_string(),
                    at,
                    duration_s,
                }))
            }
            "sponsorOnlyModeStartedEvent" | "sponsorOnlyModeEndedEvent" => {
                Item::Event(Inbound::RoomState {
                    platform: P,
                    channel,
                    slow_mode_s: None,
                    followers_only_min: None,
                    subscribers_only: Some(kind == "sponsorOnlyModeStartedEvent"),
                    emote_only: None,
                })
            }
            "chatEndedEvent" => Item::Ended,
            "pollEvent" => {
                let q = str_at(snippet, &["pollDetails", "metadata", "questionText"])
                    .unwrap_or(display);
                Item::Event(notice(&channel, format!("poll: {q}")))
            }
            // A kind this build does not know: shown, never silently dropped.
            other => Item::Event(notice(
                &channel,
                format!(
                    "{}: {display}",
                    if other.is_empty() { "event" } else { other }
                ),
            )),
        };
        Some(item)
    }

    fn author(&mut self, item: &Value, snippet: &Value) -> Author {
        let d = item.get("authorDetails").unwrap_or(&Value::Null);
        let id = str_at(d, &["channelId"])
            .or_else(|| str_at(snippet, &["authorChannelId"]))
            .unwrap_or("")
            .to_string();
        let name = str_at(d, &["displayName"]).unwrap_or(&id).to_string();
        let mut roles = Vec::new();
        for (flag, role) in [
            ("isChatOwner", Role::Broadcaster),
            ("isChatModerator", Role::Moderator),
            ("isChatSponsor", Role::Member),
            ("isVerified", Role::Verified),
        ] {
            if d.get(flag).and_then(Value::as_bool) == Some(true) {
                roles.push(role);
            }
        }
        if !id.is_empty() {
            if self.names.len() >= NAMES_MAX {
                self.names.clear();
            }
            self.names.insert(id.clone(), name.clone());
        }
        Author {
            id,
            name,
            roles,
            ..Author::default()
        }
    }
}

// Lives for one item on the stack and is never stored: boxing would cost
// an allocation per chat message for nothing.
#[allow(clippy::large_enum_variant)]
enum Item {
    Event(Inbound),
    Ended,
}

fn notice(channel: &str, text: String) -> Inbound {
    Inbound::Notice {
        platform: P,
        channel: Some(channel.to_string()),
        kind: NoticeKind::Other,
        text,
    }
}

/// Money from `amountMicros` (a JSON string for an unsigned long, as Google
/// encodes 64-bit numbers; a number is accepted too) and `currency`.
fn paid(d: &Value, kind: PaidKind) -> Paid {
    let micros = u64_at(d, &["amountMicros"]).unwrap_or(0);
    Paid {
        amount: micros as f64 / 1_000_000.0,
        currency: str_at(d, &["currency"]).unwrap_or("USD").to_string(),
        kind,
    }
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let v = at(v, path)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-12-02T18:00:00Z".parse().unwrap()
    }

    fn one(item: Value) -> Inbound {
        let m = Mapper::default().map_items(&[item], "vid", now());
        assert_eq!(m.events.len(), 1, "{m:?}");
        m.events.into_iter().next().unwrap()
    }

    #[test]
    fn a_super_chat_is_paid_with_amount_from_micros_and_roles_from_flags() {
        let e = one(json!({
            "id": "m1",
            "snippet": {"type": "superChatEvent", "publishedAt": "2026-12-02T17:00:00.5Z",
                "superChatDetails": {"amountMicros": "5000000", "currency": "EUR",
                    "amountDisplayString": "€5.00", "userComment": "gg", "tier": 2}},
            "authorDetails": {"channelId": "UC1", "displayName": "Kaz", "isChatSponsor": true,
                "isVerified": true, "isChatModerator": false}
        }));
        let Inbound::Chat(ChatEvent::Message(m)) = e else {
            panic!("{e:?}")
        };
        assert_eq!(m.text, "gg");
        assert_eq!(m.id, "m1");
        assert_eq!(m.author.roles, vec![Role::Member, Role::Verified]);
        let paid = m.paid.unwrap();
        assert_eq!((paid.amount, paid.currency.as_str()), (5.0, "EUR"));
        assert_eq!(paid.kind, PaidKind::Superchat);
        assert_eq!(m.at.to_rfc3339(), "2026-12-02T17:00:00.500+00:00");
    }

    #[test]
    fn bans_timeouts_and_deletions() {
        let e = one(json!({"id": "b", "snippet": {"type": "userBannedEvent",
            "userBannedDetails": {"bannedUserDetails": {"channelId": "UCbad"},
            "banType": "temporary", "banDurationSeconds": "300"}}}));
        assert!(
            matches!(e, Inbound::Chat(ChatEvent::Ban { duration_s: Some(300), ref author_id, .. }) if author_id == "UCbad")
        );
        let e = one(json!({"id": "b2", "snippet": {"type": "userBannedEvent",
            "userBannedDetails": {"bannedUserDetails": {"channelId": "UCbad"}, "banType": "permanent"}}}));
        assert!(matches!(
            e,
            Inbound::Chat(ChatEvent::Ban {
                duration_s: None,
                ..
            })
        ));
        let e = one(
            json!({"id": "d", "snippet": {"type": "messageRetractedEvent",
            "messageRetractedDetails": {"retractedMessageId": "m9"}}}),
        );
        assert!(matches!(e, Inbound::Chat(ChatEvent::Delete { ref id, .. }) if id == "m9"));
    }

    #[test]
    fn a_gift_names_its_gifter_when_seen_before() {
        let mut m = Mapper::default();
        let out = m.map_items(
            &[
                json!({"id": "g", "snippet": {"type": "membershipGiftingEvent",
                    "membershipGiftingDetails": {"giftMembershipsCount": 5}},
                    "authorDetails": {"channelId": "UCg", "displayName": "Giver"}}),
                json!({"id": "r", "snippet": {"type": "giftMembershipReceivedEvent",
                    "giftMembershipReceivedDetails": {"gifterChannelId": "UCg"}},
                    "authorDetails": {"channelId": "UCr", "displayName": "Lucky"}}),
                json!({"id": "e", "snippet": {"type": "chatEndedEvent"}}),
            ],
            "vid",
            now(),
        );
        assert!(out.ended);
        assert!(matches!(
            &out.events[0],
            Inbound::Sub {
                kind: SubKind::MysteryGift,
                count: Some(5),
                ..
            }
        ));
        let Inbound::Sub {
            kind,
            author,
            recipient,
            ..
        } = &out.events[1]
        else {
            panic!()
        };
        assert_eq!(*kind, SubKind::Gift);
        assert_eq!(author.name, "Giver");
        assert_eq!(recipient.as_deref(), Some("Lucky"));
    }

    /// Deterministic pseudo-random JSON: no panic, and every item is either
    /// an event, the end, or counted as skipped (none is lost).
    #[test]
    fn arbitrary_json_never_panics_and_loses_nothing() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10);
        const KINDS: &[&str] = &[
            "textMessageEvent",
            "superChatEvent",
            "superStickerEvent",
            "newSponsorEvent",
            "memberMilestoneChatEvent",
            "membershipGiftingEvent",
            "giftMembershipReceivedEvent",
            "messageDeletedEvent",
            "messageRetractedEvent",
            "userBannedEvent",
            "pollEvent",
            "chatEndedEvent",
            "sponsorOnlyModeStartedEvent",
            "sponsorOnlyModeEndedEvent",
            "tombstone",
            "brandNewEvent",
        ];
        fn junk(rng: &mut rand_chacha::ChaCha8Rng, depth: u32) -> Value {
            match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
                0 => Value::Null,
                1 => json!(rng.random::<bool>()),
                2 => json!(rng.random::<i64>()),
                3 => json!(rng.random::<f64>()),
                4 => json!(format!("{}", rng.random::<u32>())),
                5 => Value::Array((0..3).map(|_| junk(rng, depth + 1)).collect()),
                _ => {
                    let keys = [
                        "amountMicros",
                        "currency",
                        "userComment",
                        "channelId",
                        "displayName",
                        "banType",
                        "banDurationSeconds",
                        "memberMonth",
                        "deletedMessageId",
                        "bannedUserDetails",
                        "isChatOwner",
                        "publishedAt",
                        "messageText",
                    ];
                    let mut o = serde_json::Map::new();
                    for _ in 0..4 {
                        let k = keys[rng.random_range(0..keys.len())];
                        o.insert(k.into(), junk(rng, depth + 1));
                    }
                    Value::Object(o)
                }
            }
        }
        let mut mapper = Mapper::default();
        for _ in 0..5000 {
            let mut item = junk(&mut rng, 0);
            if rng.random_bool(0.8) {
                let kind = KINDS[rng.random_range(0..KINDS.len())];
                let mut snippet = junk(&mut rng, 1);
                if let Value::Object(o) = &mut snippet {
                    o.insert("type".into(), json!(kind));
                    for d in [
                        "superChatDetails",
                        "userBannedDetails",
                        "messageDeletedDetails",
                        "memberMilestoneChatDetails",
                    ] {
                        o.insert(d.into(), junk(&mut rng, 1));
                    }
                }
                item = json!({"id": format!("i{}", rng.random::<u16>()), "snippet": snippet,
                    "authorDetails": junk(&mut rng, 1)});
            }
            let out = mapper.map_items(std::slice::from_ref(&item), "vid", now());
            let counted = out.events.len() + usize::from(out.ended) + out.skipped;
            assert_eq!(counted, 1, "{item}");
        }
    }
}
