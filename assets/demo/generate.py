#!/usr/bin/env python3
"""Generates assets/demo/chat.jsonl, the fictional chat log that `clank demo` replays.

One hour of merged Twitch / YouTube / Discord chat for the fictional VTuber "Mika"
playing the fictional soulslike "Hollow Crown": pre-stream, seven attempts at a boss,
the win, a chill Q&A, an incoming raid and the ending. The format is the chat log
format (JSON Lines) that clank reads; see assets/demo/README.md.

Python 3.11+, standard library only. Deterministic: a fixed seed gives the same bytes
on every run. Every generated file is checked before it is written.

    python3 assets/demo/generate.py              # regenerate assets/demo/chat.jsonl
    python3 assets/demo/generate.py --check      # only check the existing file
    python3 assets/demo/generate.py --out FILE   # write somewhere else
"""

from __future__ import annotations

import argparse
import base64
import heapq
import json
import math
import re
import sys
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random

SEED = 20261121
START = datetime(2026, 11, 21, 20, 0, 0, tzinfo=timezone.utc)
START_MS = int(START.timestamp()) * 1000
END = 3600.0  # seconds of chat
PLATFORMS = ("twitch", "youtube", "discord")
CHANNEL = {"twitch": "mikavt", "youtube": "mikavt-live", "discord": "stream-chat"}
DISCORD_EPOCH_MS = 1420070400000
ROLES = {"broadcaster", "moderator", "vip", "subscriber", "member", "verified", "staff"}
PAID_KINDS = {"superchat", "supersticker", "bits", "donation"}

# ----------------------------------------------------------------------------------
# Timeline (seconds after 20:00:00Z)
# ----------------------------------------------------------------------------------
LIVE = 300.0  # Mika goes live
# (start, phase two starts or None, end, outcome)
ATTEMPTS = [
    (640, None, 735, "death"),
    (790, None, 890, "death"),
    (945, 1045, 1115, "death"),
    (1170, None, 1240, "death_fast"),
    (1300, 1420, 1505, "death_close"),
    (1570, 1650, 1690, "death_tilt"),
    (1790, 1890, 2005, "win"),
]
WIN = 2005.0
CHILL = 2200.0
RAID = 2880.0
POSTRAID = 2980.0
ENDING = 3390.0
RAIDOUT = 3525.0


def segment(t: float) -> str:
    if t < LIVE:
        return "prestream"
    if t < ATTEMPTS[0][0]:
        return "intro"
    if t < WIN:
        for start, _p2, end, _ in ATTEMPTS:
            if start <= t < end:
                return "fight"
        return "between"
    if t < CHILL:
        return "hype"
    if t < RAID:
        return "chill"
    if t < POSTRAID:
        return "raid"
    if t < ENDING:
        return "postraid"
    return "ending"


RATE_SCALE = 0.75
# background messages per second, before the slow random modulation
BASE_RATE = {
    "prestream": 0.36, "intro": 0.78, "fight": 0.92, "between": 0.66, "hype": 0.95,
    "chill": 0.33, "raid": 0.8, "postraid": 0.64, "ending": 0.7,
}


MARKERS = "~<>="


def time_ok(line: str, t: float) -> bool:
    """Whether a bank line marked with ~ < > fits at time t (see the note above BANK)."""
    if line[:1] == "~":
        return t >= LIVE
    if line[:1] == "<":
        return ATTEMPTS[0][0] <= t < WIN
    if line[:1] == ">":
        return t >= WIN
    return True


def unmark(line: str) -> str:
    return line[1:] if line[:1] in MARKERS else line


def bursts() -> list[tuple[float, float, float, str]]:
    """(start, extra messages/s at start, decay seconds, flavour)."""
    out = [(LIVE, 2.0, 45, "greeting"), (342, 2.6, 11, "mic")]
    for start, p2, end, outcome in ATTEMPTS:
        out.append((start, 1.0, 18, "attempt"))
        if p2 is not None:
            out.append((p2, 3.0, 14, "phase2"))
        if outcome == "death":
            out.append((end, 3.4, 12, "death"))
        elif outcome == "death_fast":
            out.append((end, 3.0, 10, "death_fast"))
        elif outcome == "death_close":
            out.append((end, 6.5, 20, "death_close"))
        elif outcome == "death_tilt":
            out.append((end, 3.0, 13, "death"))
            out.append((end + 15, 1.0, 40, "tilt"))
        elif outcome == "win":
            out.append((end, 9.0, 34, "win"))
    out.append((1730, 1.6, 20, "parry"))
    out.append((RAID, 7.5, 38, "raid"))
    out.append((ENDING + 5, 1.8, 70, "goodbye"))
    out.append((RAIDOUT + 5, 2.4, 30, "raidout"))
    return out


# What background chat talks about: flavour -> {category: weight}
FLAVOURS = {
    "prestream": {"prestream": 30, "greeting": 22, "banter": 20, "emote": 8, "q_game": 4,
                  "q_tech": 3, "emotional": 5, "cmd": 3, "q_mika": 3},
    "intro": {"greeting": 22, "hype": 8, "banter": 18, "q_mika": 12, "q_game": 8, "q_tech": 7,
              "emote": 8, "emotional": 6, "suggest": 4, "cmd": 3, "swear": 2},
    "fight": {"backseat": 19, "tension": 22, "banter": 10, "emote": 10, "q_mika": 5, "q_game": 6,
              "q_tech": 2, "suggest": 5, "emotional": 3, "swear": 5, "greeting": 4, "spam": 3,
              "cmd": 3, "mod": 1},
    "between": {"encourage": 22, "suggest": 16, "banter": 13, "q_mika": 8, "q_game": 9,
                "q_tech": 4, "emote": 7, "greeting": 6, "emotional": 5, "swear": 3, "cmd": 3,
                "mod": 1},
    "hype": {"win": 26, "hype": 14, "emote": 11, "q_mika": 9, "q_game": 6, "banter": 11,
             "emotional": 5, "swear_win": 4, "greeting": 4, "cmd": 3, "suggest_next": 3},
    "chill": {"q_mika": 30, "q_tech": 12, "q_game": 8, "banter": 16, "emotional": 12,
              "greeting": 6, "emote": 4, "suggest_next": 8, "cmd": 3, "lore": 6},
    "raid": {"raid_greet": 10, "raid_welcome": 20, "banter": 20, "emote": 20, "hype": 20, "greeting": 10},
    "postraid": {"q_raider": 16, "q_mika": 14, "q_game": 8, "banter": 18, "emote": 9,
                 "greeting": 5, "emotional": 5, "q_tech": 6, "suggest_next": 8, "cmd": 3,
                 "hype": 5},
    "ending": {"goodbye": 40, "emotional": 14, "banter": 10, "emote": 10, "q_mika": 6, "hype": 8,
               "greeting": 2, "cmd": 3},
    # bursts
    "greeting": {"greeting": 70, "hype": 15, "emote": 15},
    "mic": {"mic": 100},
    "attempt": {"attempt": 60, "tension": 25, "emote": 15},
    "phase2": {"phase2": 55, "spam": 15, "emote": 12, "swear": 12, "tension": 6},
    "death": {"death": 55, "emote_death": 18, "spam": 8, "swear": 9, "encourage": 10},
    "death_fast": {"death_fast": 60, "emote_death": 25, "death": 15},
    "death_close": {"death_close": 45, "death": 15, "spam": 15, "emote_death": 12, "swear": 8,
                    "encourage": 5},
    "tilt": {"tilt": 50, "encourage": 30, "suggest": 20},
    "parry": {"parry": 60, "hype": 25, "emote": 15},
    "win": {"win": 55, "emote_hype": 18, "spam": 14, "swear_win": 5, "hype": 8},
    "raid": {"raid_greet": 48, "raid_spam": 32, "raid_welcome": 12, "emote": 8},
    "goodbye": {"goodbye": 80, "emotional": 10, "emote": 10},
    "raidout": {"raidout": 75, "goodbye": 25},
}
DEFAULT_SHARE = (0.515, 0.29, 0.195)
PLATFORM_SHARE = {
    "mic": (0.7, 0.2, 0.1), "raid": (0.93, 0.05, 0.02), "raidout": (0.85, 0.1, 0.05),
    "death_close": (0.64, 0.26, 0.10), "win": (0.62, 0.27, 0.11), "phase2": (0.64, 0.25, 0.11),
    "death": (0.62, 0.26, 0.12), "death_fast": (0.64, 0.25, 0.11),
}
RAID_CATS = {"raid_greet", "raid_spam", "q_raider"}
TWITCH_ONLY = RAID_CATS | {"raidout"}
# categories a chatter's first line of the stream may be swapped for a greeting
SOFT_CATS = {"banter", "emote", "hype", "q_mika", "q_game", "q_tech", "prestream", "encourage",
             "suggest", "suggest_next", "lore", "emotional"}
# categories where the same short text from several people at once is normal
REPEATABLE = {"death", "death_fast", "death_close", "win", "phase2", "mic", "raid_greet", "raidout",
              "hype", "tension", "attempt", "parry"}


# ----------------------------------------------------------------------------------
# Words
# ----------------------------------------------------------------------------------
EMOTES = {  # kind -> (anyone may use, subscribers / members / nitro only)
    "twitch": {
        "laugh": (["KEKW", "LUL", "OMEGALUL", "pepeLaugh", "LULW", "ICANT"], ["mikaLUL"]),
        "hype": (["PogChamp", "Pog", "POGGERS", "PogU", "catJAM", "EZ Clap"], ["mikaHype"]),
        "sad": (["Sadge", "PepeHands", "BibleThump", "FeelsBadMan"], ["mikaCry"]),
        "love": (["<3", "peepoHappy", "VirtualHug"], ["mikaLove", "mikaHeart"]),
        "wave": (["HeyGuys", "VoHiYo", "peepoHey"], ["mikaWave"]),
        "scared": (["monkaS", "monkaW", "NotLikeThis"], ["mikaScared"]),
        "misc": (["Kappa", "4Head", "Clap", "o7", "SeemsGood"], ["mikaWait", "mikaSip"]),
    },
    "youtube": {
        "laugh": (["😂", "🤣", "lol"], [":_mikaLUL:"]),
        "hype": (["🔥", "🎉", "👏"], [":_mikaHype:"]),
        "sad": (["😭", "😢"], [":_mikaCry:"]),
        "love": (["❤️", "💜", "🥰"], [":_mikaLove:"]),
        "wave": (["👋", "🙌"], [":_mikaWave:"]),
        "scared": (["😰", "😱"], [":_mikaScared:"]),
        "misc": (["👀", "🫡", "✨"], [":_mikaSip:"]),
    },
    "discord": {
        "laugh": (["😂", "💀", "lmao"], ["<:mikaLUL:1109457710183624724>"]),
        "hype": (["🔥", "🎉", "!!!"], ["<:mikaHype:1109457798624510022>"]),
        "sad": (["😭", "🥲"], ["<:mikaCry:1109457876290732093>"]),
        "love": (["❤️", "🫶", "💜"], ["<:mikaLove:1109457951620419654>"]),
        "wave": (["👋", "hii"], ["<a:mikaWave:1109458020553810010>"]),
        "scared": (["😨", "😬"], ["<:mikaScared:1109458093207666738>"]),
        "misc": (["👀", "🫡"], ["<:mikaSip:1109458160048365639>"]),
    },
}
KURO_EMOTES = ["kuroRaid", "kuroPat", "kuroLove", "kuroHype"]

BOSS = ["Morwen", "the Regent", "Saint Morwen", "the Thorned Regent", "thorn lady", "morwen"]

# A bank line may start with a marker saying when it makes sense: "~" only once the game is
# on screen, "<" only from the first attempt until the win, ">" only after the win;
# "=" marks a line that only one person would say.
BANK: dict[str, list[str]] = {
    "prestream": [
        "is she live yet?", "waiting room {misc}", "the starting soon music is a banger",
        "first", "chat how long until she starts", "hi early chat {wave}", "BOSS DAY {hype}",
        "today's the day we beat morwen", "5 min late as usual {laugh}", "i'm so ready",
        "the countdown is lying again", "anyone else refreshing every 10 seconds",
        "got my snacks, got my tea, ready", "chat what's the over/under on deaths today",
        "i say 12 tries", "under 10 tries, i believe", "morwen is going DOWN tonight",
        "hello early birds", "i made it on time for once", "waiting {misc} {misc}",
        "the little chibi on the starting screen is so cute", "who's here from the discord ping",
        "ready to watch mika suffer {laugh}", "one more minute surely",
        "starting soon screen vibes", "did she say which boss today?",
        "she said in discord it's morwen today", "prediction: 15 deaths",
    ],
    "greeting": [
        "hi mika!", "hello chat", "hiii {wave}", "good evening from germany", "hey everyone",
        "hiya", "yo", "hello from brazil!", "helloo {wave}", "mika!!!!", "evening chat",
        "hi from the netherlands", "good morning from australia lol", "hey mika {love}",
        "hi hi {wave}", "hello mika and chat", "MIKA {hype}", "hey hey", "sup chat",
        "greetings from canada", "hi mika, hi chat {wave}", "heyyy", "o/", "hi {at_mika}",
        "evening all", "hello from the philippines!", "howdy", "hi mika! made it",
        "hello everyone, how's it going", "hiiii mika {love}",
    ],
    "late_greeting": [
        "<just got here, how many tries so far?", "hi chat, what did i miss",
        "<just got off work, how's the fight going?", "<hi! did she beat morwen yet?",
        "sorry i'm late {wave}", "just woke up lol hi", "late but here {love}",
        "<hi chat, how is she doing", "made it! what did i miss", ">wait she beat morwen?? i missed it {sad}",
        ">just got here, did i miss the boss fight?", ">hi chat! heard we won {hype}",
    ],
    "newcomer": [
        "hi! first time chatting, love the model", "hello! found you from the hollow crown tag",
        "first time here, is she always this loud lol", "hi, new here! what game is this?",
        "hello, saw your clip on youtube and had to come watch",
        "hi! first time catching you live {wave}", "new here, your voice is so soothing",
        "<hello from a new viewer! good luck with the boss",
        "<hi everyone, first time here, what is this boss?", ">hello! heard you just beat a hard boss, congrats",
    ],
    "banter": [
        "chat what are we eating tonight", "just made ramen", "it's 4am here lol",
        "who else watching from work {misc}", "~the music in this area is so good",
        "mika's laugh {laugh}", "my cat is watching with me", "how is everyone doing",
        "~this area looks so pretty", "~the lore in this game is insane",
        "~greatsword supremacy", "<i'd have quit 3 tries ago tbh", "chat be nice {love}",
        "lmao", "true", "real", "fr", "based", "chat is so sweaty today {laugh}",
        "~the art direction in this game is unreal", "<whoever designed this boss hates us",
        "{name} same", "~the sound design on her swings {hype}", "i love this chat",
        "~mika's reactions are the best part", "need this on a t-shirt",
        "my tea went cold watching this", "~the way she says 'nope' every time {laugh}",
        "~i'm learning more from this than my own playthrough", "~peak content",
        "it's raining here, perfect stream weather", "~anyone else playing along?",
        "i have work in 6 hours and i'm still here", "chat is moving so fast",
        "~the chibi in the corner is vibing", "~10/10 stream already",
        "<morwen's design is so pretty though", "~the cape physics {hype}",
        "{name} lmao", "<why is this boss so pretty and so evil", "wait this game has co-op?",
        "~ok but the lighting in this arena", "can't believe this game is from a tiny studio",
        "my roommate asked why i'm yelling at my laptop", "this is my comfort stream",
    ],
    "emote": [],  # generated
    "hype": [
        "LETS GOOO {hype}", "{hype} {hype} {hype}", "W", "we're so back", "LETS GO MIKA",
        "hype hype hype {hype}", "she's cracked", "insane", "POGGERS", "big W",
        "this stream is peak", "mika supremacy {love}", "HUGE",
    ],
    "attempt": [
        "here we go {scared}", "good luck mika!", "you got this", "this is the one",
        "believe {hype}", "attempt {attempt} let's go", "focus mode", "lock in mika",
        "lets goooo", "run it", "clean run this time", "no greed this time {laugh}",
        "deep breath mika", "i believe {love}", "here we go again",
    ],
    "tension": [
        "{scared}", "she's doing it", "half hp let's go", "careful careful", "don't choke",
        "my hands are shaking for her", "i can't watch {scared}", "heal when you can",
        "she's so locked in", "clean so far", "this looks good", "{scared} {scared}",
        "omg", "stay calm stay calm", "nice dodge!", "NICE", "that was close",
        "she's learning", "perfect roll", "so clean", "monkaS chat", "i'm nervous",
        "HP BAR MOVING", "don't get greedy", "be patient", "she's reading her so well",
    ],
    "backseat": [
        "DODGE", "heal heal heal", "don't get greedy", "roll left!", "wait for it...",
        "stamina!!", "delayed swing watch out", "go for the riposte", "HEAL",
        "stop panic rolling {laugh}", "back off back off", "she's staggered hit her",
        "roll into it not away", "two hits max", "watch the grab", "ranged thorns incoming",
        "jump the sweep", "stay behind her", "punish now", "don't heal in front of her",
    ],
    "phase2": [
        "PHASE 2??", "WHAT IS THAT", "she has a second health bar???", "oh no she's angry now",
        "the music change {hype}", "HOLY", "nah that's not fair", "SHE GREW WINGS",
        "phase 2 {scared}", "the arena is on fire??", "here comes the pain", "new moves??",
        "omg the thorn crown", "this is so cool and so scary",
    ],
    "death": [
        "NOOOO", "F", "{laugh}", "so close", "that hitbox lmao", "the delayed swing got her again",
        "greedy {laugh}", "rip", "it's ok mika", "that was BS", "run it back", "F in chat",
        "{sad}", "how did that hit", "you were doing so well", "NOOO {sad}", "unlucky",
        "next one", "she's learning the patterns though", "F {sad}", "how", "the grab {sad}",
        "that combo is ridiculous", "camera angle killed you", "f",
    ],
    "death_fast": [
        "{laugh}", "that was fast {laugh}", "speedrun death", "LMAOOO", "30 seconds {laugh}",
        "she went in too hot", "warmup attempt", "that doesn't count", "{laugh} {laugh}",
        "ok that one was funny", "tilted already?",
    ],
    "death_close": [
        "ONE HIT", "1 HIT AWAY NOOOO", "SHE WAS SO CLOSE", "I'M GONNA CRY", "NOOOOOOOO",
        "NEXT ONE FOR SURE", "she had like 2% hp", "THAT WAS SO CLOSE {sad}", "I CAN'T",
        "PAIN", "she was RIGHT THERE", "1 hp {sad} {sad}", "it's ok it's ok you'll get her",
        "my heart", "literally one more swing",
    ],
    "tilt": [
        "take a break maybe?", "drink some water mika", "she's tilted {laugh}", "deep breaths",
        "stretch your hands", "it's ok to take 5", "we're not going anywhere {love}",
        "maybe explore a bit and come back?", "hydrate", "tilt detected",
    ],
    "parry": [
        "PARRY BUILD LETS GO", "parry build arc {hype}", "chat won", "WE'RE SO BACK",
        "parry queen incoming", "buckler time {hype}", "this is the turning point",
        "finally {laugh}", "the parry build era begins",
    ],
    "win": [
        "LETS GOOOOO", "GGGGGGG", "SHE DID IT", "CLIP IT", "POGGERS", "I'M SHAKING", "W",
        "WWWWW", "crying rn", "QUEEN", "PARRY BUILD DIFF", "GG EZ", "HELL YEAH",
        "best boss fight i've seen", "chat we witnessed history", "GG {hype}", "GG MIKA",
        "SHE ACTUALLY DID IT", "{hype} {hype} {hype}", "i'm not crying you're crying {sad}",
        "CLIP IT MODS", "THAT LAST PARRY", "she parried the grab??", "GGs",
        "7 tries not bad at all", "what a fight", "morwen who?", "proud of you mika {love}",
    ],
    "encourage": [
        "you got this mika", "next try for sure", "you're learning her patterns",
        "believe {love}", "it's ok, everyone dies to her", "take your time",
        "you're getting closer every time", "phase 1 is looking clean now",
        "we believe in you {love}", "she's not that tough, you got her",
        "you're doing great", "one more!", "it took me 30 tries, you're fine",
        "that last one was so much better",
    ],
    "suggest": [
        "you should try parry build", "try the parry shield, her combo is super parryable",
        "summon Sir Galen, he tanks phase 2 like a champ", "use frost resin, she's weak to frost",
        "roll INTO the thorn sweep not away", "level vigor more, you get two-shot in phase 2",
        "wait for the delayed swing before healing", "stay close in phase 2, the ranged thorns are worse",
        "{at_mika} try two-handing the greatsword, more poise damage",
        "you can jump attack after the grab whiff", "lock off during the spin, the camera lies",
        "equip the thornward ring, it cuts the bleed", "try summoning the NPC",
        "mika use the buckler, trust", "i think you should go back and level up a bit",
        "fight her on the left side, fewer pillars", "try the frost infusion on the greatsword",
        "put on the heavy armor for phase 2", "bait the grab then punish", "save a flask for the wings",
        "you can roll through the thorns if you time it late", "try the ember talisman for more damage",
        "{at_mika} try the twin scythes for this fight", "strafe right during the spin, it tracks left",
    ],
    "suggest_next": [
        "you should do a karaoke stream after this", "play the DLC next!",
        "you should try the twin scythes, crazy bleed", "do a charity stream sometime",
        "collab with kuro in a co-op game pls", "you should try Lies of P after this",
        "minecraft stream when", "do a cooking stream {love}", "play a horror game next {scared}",
        "you should do an art stream", "sekiro next, you'd love the parries",
        "pls do a 3D debut someday", "you should try the hardcore mode on NG+",
    ],
    "lore": [
        "the item description says she was a saint before the crown took her",
        "is morwen related to the hollow king?", "the lore of the thorned crown is so sad",
        "wait so the thorns are literally her regrets?", "the cloister npc was foreshadowing this",
        "the opening cutscene makes so much more sense now", "this game's lore is dark souls levels",
    ],
    "mic": [
        "MIC", "mika your mic is muted!!", "MUTED", "we can't hear you", "MIC MUTED {laugh}",
        "mika mic", "muted {laugh}", "is my audio broken or is she muted?", "unmute!!",
        "she's talking but no sound {laugh}", "{at_mika} MIC",
    ],
    "swear": [
        "~damn that was close", "~what the hell was that", "~damn she hits hard",
        "~holy crap", "<why the hell is phase 2 so fast", "~damn it", "~hell no", "~crap",
        "~damn mika's cracked", "~hell of a dodge", "~what the hell {laugh}", "~damn {sad}",
        "damn chat is wild today", "hell yeah",
    ],
    "swear_win": [
        "HELL YEAH", "damn mika's cracked", "holy crap she did it", "hell of a fight",
        "damn that last parry", "HOLY CRAP", "damn i'm emotional", "what the hell, 7 tries??",
    ],
    "goodbye": [
        "bye mika!!", "gn chat", "o7", "thanks for the stream!", "great stream",
        "see you saturday", "bye bye {wave}", "that was fun", "goodnight everyone",
        "ty for the stream mika {love}", "bye!", "gn mika {love}", "what a stream, bye all",
        "thanks mika, get some rest", "see you next time", "bye chat {wave}", "o7 o7",
        "best stream in a while, gn", "thank you for the stream {love}",
    ],
    "raid_greet": [
        "hi mika! kuro sent us", "hello from kuro's stream!", "{kuro} hi", "RAID {kuro}",
        "hiii we're here {kuro}", "kuro's cats have arrived {kuro}", "hello mika!!",
        "hi hi from the raid", "{kuro} {kuro} {kuro}", "we come in peace {kuro}",
        "hello mika's chat!", "raid hype {kuro}",
    ],
    "raid_welcome": [
        "welcome raiders {wave}", "hi raiders!!", "welcome kuro's cats {love}",
        "WELCOME RAIDERS", "hi kuro chat {wave}", "welcome in! you just missed the boss win",
        "raiders welcome, you missed a crazy fight", "hello raiders {love}",
    ],
    "raidout": ["o7", "bye!!", "raid time {hype}", "going to hoshi's!", "MIKA RAID"],
    "warm": [
        "love you mika {love}", "this stream is so comforting", "you always make my day better",
        "needed this today {love}", "thank you for streaming {love}", "chat is so wholesome today",
        "best part of my week", "i'm so happy i found this channel", "mika you're the best {love}",
        "your laugh makes everything better", "this community is so sweet", "cozy vibes tonight",
        "proud to be part of this chat {love}", "mika's energy today {hype}", "this is healing",
    ],
    "mod": [
        "reminder: no backseating unless mika asks for help {love}",
        "please keep spoilers out of chat, thanks!",
        "chat be nice to each other please {love}",
        "backseat only if she asks chat, thank you {love}",
        "reminder to stay hydrated chat, mika too",
        "tips are fine if she asks, otherwise let her cook {love}",
        "friendly reminder: spoilers = timeout",
    ],
}

LANG = {  # non-English chatters use these most of the time
    "ja": {
        "greeting": ["こんばんは！", "こんばんは〜 {wave}", "待ってました！", "日本から見てます！"],
        "hype": ["すごい！", "きたー！", "{hype} {hype}"],
        "tension": ["がんばれ！", "いけるいける", "こわい {scared}"],
        "death": ["あー！", "惜しい！", "草", "ドンマイ！"],
        "death_close": ["あと少しだった！", "惜しすぎる {sad}", "泣いた"],
        "encourage": ["がんばって！", "次はいける！", "応援してます {love}"],
        "win": ["おめでとう！！", "やったー！", "神回", "888888", "GG!! おめでとう"],
        "banter": ["かわいい", "草", "wwwww", "このゲーム難しそう"],
        "goodbye": ["おつかれさまでした！", "おつみか〜 {love}", "ありがとう！またね"],
        "emotional": ["いつも元気もらってます {love}"],
    },
    "es": {
        "greeting": ["hola mika!", "hola chat {wave}", "saludos desde méxico"],
        "death": ["nooo", "casi!!", "F"],
        "win": ["VAMOS!!", "GG mika, increíble", "VAMOOOOS {hype}"],
        "encourage": ["tú puedes mika!", "ánimo!!"],
        "goodbye": ["adiós mika!", "buenas noches chat {love}"],
    },
    "pt": {
        "greeting": ["oi mika!", "olá do brasil!", "boa noite chat {wave}"],
        "death": ["nãooo", "quase!!"],
        "win": ["VAMOOO", "GG mika!! incrível"],
        "goodbye": ["tchau mika!", "boa noite {love}"],
    },
}

# (question, answers from chat, answers from Mika)
Q_MIKA = [
    ("{at_mika} what's your build?", ["str/faith crownbreaker, type !build", "!build has it"],
     ["strength faith with the crownbreaker!! 40 vigor because i'm a coward"]),
    ("mika how many hours do you have in this game?", ["she's around 40h i think"],
     ["like 38 hours?? don't look at the timer pls"]),
    ("{at_mika} is this your first soulslike?", ["no she did bloodborne last year"],
     ["nope! bloodborne and lies of p before this"]),
    ("mika what level are you?", ["74 i think"], ["level 74! vigor is carrying"]),
    ("{at_mika} are you playing blind?", ["blind but chat backseats anyway lol"],
     ["blind-ish! I read item descriptions, no guides"]),
    ("<mika how do you stay so calm after dying that many times", [],
     ["i am NOT calm. i am screaming internally"]),
    ("{at_mika} what's your favorite weapon so far?", ["crownbreaker obviously"],
     ["crownbreaker!! big sword big happiness"]),
    ("mika did you eat dinner?", ["she never eats before boss fights lol"],
     ["yes!! curry before stream"]),
    ("{at_mika} when is the next stream?", ["check !schedule", "saturday i think"],
     ["saturday 8pm UTC!!"]),
    ("mika are you going to play the DLC after?", ["she said maybe"], ["if chat votes for it yes!!"]),
    ("{at_mika} what's your favorite soulslike?", ["bloodborne for sure"],
     ["bloodborne... but hollow crown is climbing the list"]),
    ("how long have you been streaming {at_mika}?", ["almost 3 years!"],
     ["almost 3 years in january!! time is fake"]),
    ("{at_mika} who made your model?", ["hana_draws! check !model"],
     ["my mama is hana_draws!! she's in chat actually"]),
    ("mika when's the next karaoke?", ["next saturday i think"],
     ["karaoke next week!! I need to practice lol"]),
    ("{at_mika} controller or keyboard?", ["controller, dualsense"], ["controller!! I'd die on keyboard"]),
    ("mika what's your favorite boss so far?", [], ["the drowned knight! the music in that fight..."]),
    ("{at_mika} do you read the lore or just vibe?", [],
     ["I read EVERYTHING. item descriptions are my novels"]),
    ("=mika can you say hi to my little sister? she's watching with me", [],
     ["hi little sister!! thank you for watching"]),
    ("{at_mika} what got you into vtubing?", [],
     ["I was too shy for a facecam lol, and I love drawing characters"]),
    ("mika are you going to do a no-hit run?", ["LMAO"], ["absolutely not LOL"]),
    ("{at_mika} what's your favorite snack while streaming?", [], ["pocky!! strawberry ones"]),
    ("<mika do you get nervous on boss fights?", [], ["SO nervous. my hands are cold rn"]),
    ("{at_mika} how did you find this game?", [], ["a friend gifted it to me! thank you kuro"]),
    ("<mika are you taking a break after this boss?", [], ["maybe 5 min for water after"]),
    ("{at_mika} is morwen harder than the drowned knight?", ["way harder"],
     ["WAY harder. the knight was a warmup"]),
    ("<{at_mika} what's the plan after morwen?", [], ["explore the cloister then chill Q&A!"]),
    ("mika do you have merch?", ["not yet but she said soon"], ["soon!! hana is drawing something"]),
    ("{at_mika} will you stream on sunday?", ["check !schedule"], ["no sunday, rest day!"]),
    ("{at_mika} how do you pronounce your name? mee-ka or my-ka?", ["mee-ka"], ["mee-ka!!"]),
    ("mika what's your favorite color?", ["purple obviously"], ["purple!! you can tell lol"]),
    ("{at_mika} do you have a pet?", ["she has a cat named mochi"], ["a cat named mochi! she's asleep on my bed"]),
    ("mika what time is it for you?", [], ["9pm! perfect gremlin hours"]),
    ("{at_mika} have you played the first game from this studio?", [], ["not yet! it's on my list"]),
    ("mika what's your zodiac sign lol", [], ["scorpio, explains a lot"]),
    ("{at_mika} would you ever do a 24h stream?", ["she did a 12h one last year"], ["maybe for my anniversary?? scary"]),
    ("mika what was your first stream like?", ["legendary, 3 viewers"], ["3 viewers and my mic was muted for 20 minutes"]),
    ("{at_mika} do you draw too?", ["yes she posts doodles in discord"], ["a little! mostly doodles"]),
    ("<mika how many deaths do you think tonight?", ["!deaths"], []),
    ("mika what music do you listen to while gaming?", [], ["game soundtracks and city pop!"]),
    ("{at_mika} tea or coffee?", ["tea, she's a matcha enjoyer"], ["tea!! matcha forever"]),
    ("=mika can you do the fox laugh again lol", [], ["NO. well maybe later"]),
    ("{at_mika} what's your favorite area in the game so far?", [], ["the drowned cloister, so pretty"]),
    ("mika are you going to stream the DLC on youtube too?", ["she always simulcasts"], ["yes! everywhere at once"]),
    ("{at_mika} how long do you usually stream?", ["2-3 hours"], ["usually 2 to 3 hours!"]),
    ("mika any tips for new streamers?", [], ["stream what you love and don't look at the viewer count!!"]),
]
Q_GAME = [
    ("is this NG+?", ["no, first playthrough"], []),
    ("how many flasks does she have?", ["12 i think", "she has 12 ember flasks"], []),
    ("did she get the pilgrim's buckler yet?", ["yes from the cloister"], []),
    ("<what's the boss weak to?", ["frost, and strike damage", "frost resin works"], []),
    ("<is the boss weak to fire?", ["no she resists fire, use frost"], []),
    ("how much vigor does she have?", ["40"], ["40!"]),
    ("is the greatsword better than the twin scythes?", ["greatsword has way better poise damage"], []),
    ("did she do the Galen questline?", ["yes, she can summon him"], []),
    ("<is there a summon for this boss?", ["Sir Galen, sign by the gate"], []),
    ("how long is this game?", ["like 50-60 hours"], []),
    ("is this game hard?", ["yes lol", "harder than elden ring imo"], []),
    ("is this game worth it?", ["100%, best soulslike this year"], []),
    ("what does upgrading the ember flask do?", ["more heal per sip"], []),
    ("how do you get to the drowned cloister?", ["elevator behind the chapel"], []),
    ("<can you parry the thorn sweep?", ["only the first hit"], []),
    ("is the crownbreaker good?", ["best weapon in the game don't @ me"], []),
    ("which ending is the best?", ["no spoilers chat {love}"], []),
    ("what's the deaths counter at?", ["type !deaths"], []),
    ("does this game have a parry?", ["yes, with the buckler or certain weapons"], []),
    ("is this the same studio as the other game with the lantern?", ["yep, Lantern Forge"], []),
    ("what's that ring she's wearing?", ["thornward ring, cuts bleed buildup"], []),
    ("is the DLC out yet?", ["next month i think"], []),
    ("how many bosses are in this game?", ["like 24 main ones"], []),
    ("does this game have multiplayer?", ["co-op summons, no pvp"], []),
    ("what difficulty is she on?", ["there's only one difficulty lol"], []),
    ("<how many tries is this?", ["check !deaths", "this is like attempt 5"], []),
    ("what platform is hollow crown on?", ["PC, PS5 and xbox"], []),
    ("<which phase is harder?", ["phase 2 by far"], []),
    ("is the soundtrack on spotify?", ["yes! it's so good"], []),
    ("what's the weapon with the big glowing blade?", ["that's the crownbreaker"], []),
]
Q_TECH = [
    ("what mic does mika use?", ["it's in !setup", "shure mv7 i think"], ["shure MV7 into a goxlr mini!"]),
    ("{at_mika} do you use vtube studio?", ["yes, iphone tracking"], ["yes! vtube studio with iphone tracking"]),
    ("is that OBS or streamlabs?", ["OBS"], ["OBS!"]),
    ("what encoder do you use? NVENC?", [], ["NVENC on a 4070, 6000 bitrate"]),
    ("stream is lagging for me, anyone else?", ["fine for me, try lowering quality", "no lag here",
                                                 "refresh, it's twitch being twitch"], []),
    ("mika your game audio is kinda loud compared to your voice", [],
     ["oh! turning it down, thank you!!"]),
    ("how does the model track so smooth?", ["iphone face tracking is way better than webcam"],
     ["iPhone tracking! webcam was jittery"]),
    ("what bitrate do you stream at?", [], ["6000!"]),
    ("{at_mika} how do you see youtube and twitch chat at the same time?", [],
     ["a little console that merges them! secret project lol"]),
    ("is the game on PC or PS5?", ["PC"], ["PC!"]),
    ("mika what resolution is the stream? looks really crisp", [], ["1080p60!"]),
    ("anyone know what overlay she uses?", ["custom, hana made it"], []),
    ("why is the stream blurry for me?", ["source quality? it's fine here"], []),
    ("{at_mika} your mic is peaking a bit when you scream lol", [], ["sorry!! I'll add a limiter"]),
    ("what are the PC specs?", ["!setup"], []),
    ("{at_mika} which capture card do you use?", ["she plays on PC, no capture card"], []),
    ("how do you get your model to react to donations?", ["vtube studio plugin i think"],
     ["streamer.bot + vtube studio hotkeys!"]),
    ("mika is your model live2d?", ["yes"], ["live2d! rigged by tsuki rigs"]),
    ("does anyone know how to stop OBS dropping frames?", ["lower the bitrate or use nvenc",
                                                          "check your upload speed"], []),
    ("is anyone else's stream buffering?", ["a little, dropped to 720p and it's fine"], []),
    ("mika your mic sounds different today, new setup?", [], ["new foam on the mic! good ears"]),
    ("what software does she use for the chat overlay?", ["custom overlay in OBS"], []),
    ("{at_mika} do you use a stream deck?", [], ["yes! the little one"]),
    ("=the audio is desynced for me by like a second", ["refresh fixed it for me"], []),
    ("how do you get the model to blink so naturally?", [], ["vtube studio's eye tracking, tuned forever"]),
]
Q_RAIDER = [
    ("what game is this?", ["Hollow Crown! soulslike that came out this year"],
     ["hollow crown!! a soulslike, I just beat a boss!"]),
    ("hi! what did I miss?", ["she beat Saint Morwen after 7 tries"],
     ["I BEAT THE BOSS!! you missed it by 15 min lol"]),
    ("is this game hard?", ["very lol", "yes but she's cracked"], ["very!! I died 7 times to one boss today"]),
    ("how long has she been streaming today?", ["about 50 min"], []),
    ("who drew your model? so cute", ["hana_draws!"], ["hana_draws!! thank you!!"]),
    ("does she stream every day?", ["tue/thu/sat, !schedule"], []),
    ("what boss did she beat?", ["Saint Morwen, the Thorned Regent"], []),
    ("is mika friends with kuro?", ["yes they did a collab last month"], ["yes!! kuro is my bestie"]),
]
Q_BANKS = {"q_mika": Q_MIKA, "q_game": Q_GAME, "q_tech": Q_TECH, "q_raider": Q_RAIDER}

EMOTIONAL = [
    ("rough day at work, really needed this stream", "neg"),
    ("had a really bad week tbh, your streams help", "neg"),
    ("my dog passed away this morning, just need something comforting rn", "neg"),
    ("i've been feeling really lonely lately, this chat is nice", "neg"),
    ("couldn't sleep again, glad you're live", "neg"),
    ("failed my driving test today lol", "neg"),
    ("honestly having a hard time lately, thank you for streaming", "neg"),
    ("long shift at the hospital, finally home", "neg"),
    ("stressed about finals, studying with the stream on", "neg"),
    ("i passed my exam today!!", "pos"),
    ("got the job!!! first day is monday", "pos"),
    ("thank you for streaming, it genuinely helps my anxiety", "pos"),
    ("i'm so proud of you mika {love}", "pos"),
    ("this community is the best {love}", "pos"),
    ("your streams are my favorite part of the week", "pos"),
    ("been watching since you had 30 followers, so happy to see you grow", "pos"),
    ("beat this boss myself yesterday because of your tips", "pos"),
    ("just finished my first drawing of you, posting it in the discord!", "pos"),
    ("today's my birthday!!", "bday"),
    ("first stream i've caught in weeks, work has been brutal", "neg"),
    ("my exams are over!!! free at last", "pos"),
    ("had a panic attack earlier, your voice is really calming", "neg"),
    ("just moved to a new city and don't know anyone yet, this chat feels like home", "neg"),
    ("i finally finished the hollow crown platinum because you inspired me", "pos"),
    ("my grandma is in the hospital, watching to distract myself", "neg"),
    ("i got accepted into art school!!", "pos"),
    ("been sick all week, this is the first thing i've enjoyed", "neg"),
    ("got my first commission because of the fanart i posted in your discord {love}", "pos"),
    ("it's my one year anniversary of watching you!", "pos"),
    ("broke up with my partner yesterday, just need some noise", "neg"),
    ("my cat came back after 3 days missing!!", "pos"),
]
SUPPORT = {
    "neg": ["sending hugs", "sorry to hear that, hope it gets better", "<3 we're here for you",
            "take care of yourself", "hope tomorrow is kinder to you {love}", "big hugs {love}"],
    "pos": ["congrats!!", "LETS GO", "happy for you", "well deserved {love}", "that's awesome!!"],
    "bday": ["happy birthday!!", "HAPPY BIRTHDAY {hype}", "hbd!!"],
}
MIKA_SUPPORT = {
    "neg": ["I'm really sorry, we're here for you {love}", "sending the biggest hug, take it easy tonight",
            "thank you for being here, please be gentle with yourself {love}"],
    "pos": ["CONGRATS!!! {hype}", "so proud of you!!", "that's amazing!!"],
    "bday": ["HAPPY BIRTHDAY!!! {love}"],
}
REPLY_REACT = ["lol", "true", "real", "so true", "LMAO", "fr", "{laugh}", "agreed", "same",
               "this ^", "right??", "exactly"]

COPYPASTA_BOSS = ("Mika doesn't die to Morwen. Morwen survives Mika for a while. Every death is "
                  "just Mika collecting data. The Thorned Regent has been on borrowed time since 8pm.")
COPYPASTA_WIN = "THE THORNED REGENT HAS BEEN DETHRONED 👑 ALL HAIL QUEEN MIKA 👑"
RAID_PASTA = "kuroRaid KURO'S CATS HAVE ARRIVED kuroRaid"
RAIDOUT_PASTA = "mikaLove MIKA RAID mikaLove THE CROWN IS HOLLOW BUT OUR HEARTS ARE FULL mikaLove"

COMMANDS = ["!build", "!setup", "!uptime", "!deaths", "!discord", "!model", "!schedule", "!lurk",
            "!followage"]

# ----------------------------------------------------------------------------------
# Cast
# ----------------------------------------------------------------------------------
NAME_WORDS = [
    "moth", "ember", "ash", "raven", "kitsune", "tanuki", "mochi", "tofu", "yuki", "sora", "hoshi",
    "tsuki", "neko", "pixel", "byte", "salt", "rune", "thorn", "knight", "ghost", "void", "bramble",
    "pepper", "noodle", "waffle", "cactus", "otter", "ferret", "badger", "frog", "toad", "lark",
    "wren", "finch", "comet", "nova", "static", "glitch", "fern", "moss", "cinder", "quartz", "onyx",
    "jade", "maple", "birch", "cobalt", "amber", "dumpling", "biscuit", "pickle", "kiwi", "lemon",
    "panda", "koala", "yeti", "golem", "wisp", "lantern", "parry", "rolly", "estus", "bonfire",
    "sigil", "shroom", "pebble", "tea", "matcha", "boba", "ramen", "udon", "gecko", "newt",
]
NAME_ADJ = [
    "sleepy", "grumpy", "tiny", "big", "lazy", "silent", "lucky", "salty", "cozy", "spicy", "sneaky",
    "hollow", "iron", "paper", "rusty", "velvet", "neon", "midnight", "frosty", "soggy", "chill",
    "feral", "crispy", "wobbly", "smol", "mega", "ancient", "cursed", "blessed", "honest", "quiet",
]
YT_FIRST = ["Kaz", "Ren", "Aoi", "Mara", "Jonah", "Priya", "Lukas", "Sofia", "Mateo", "Hana", "Ethan",
            "Chloe", "Diego", "Yuna", "Oskar", "Nina", "Tomás", "Leila", "Felix", "Ines", "Kenji",
            "Amara", "Rafael", "Elif", "Noah", "Mei", "Sam", "Ava", "Luca", "Zoe", "Daniel", "Maya"]
YT_LAST = ["Ashford", "Nakamura", "Silva", "Novak", "Okafor", "Lindqvist", "Moreau", "Kowalski",
           "Tanaka", "Rossi", "Haddad", "Park", "Fischer", "Costa", "Reyes", "Brennan", "Sato"]
YT_JA = ["ゆうき", "さくら", "たけし", "みなと", "あおい", "はるか", "れん", "ひなた", "つばさ", "しおり",
         "みかファン", "月見うどん"]
DC_NAMES = ["moth🦋", "Sable", "tofu", "void_kitten", "Ash", "bread enjoyer", "dusk", "kiwi",
            "nyx", "pebble", "sunny ☀", "Wisp", "juniper", "lowbattery", "Clover", "ghostie", "Fern",
            "rook", "pancake", "static", "mossy", "Quill", "tea goblin", "Bee", "orbit", "Lumi",
            "cactus jack", "Halcyon", "pixie", "bonfire enjoyer", "sleepyhead", "Rae", "Milo",
            "owl.", "noodle", "Iris", "spoon", "frogge", "Tamsin", "zzz"]


@dataclass
class User:
    platform: str
    id: str
    name: str
    roles: list[str] = field(default_factory=list)
    months: int | None = None
    newcomer: bool = False  # this channel has never seen them: first line says first_message
    weight: float = 1.0
    arrive: float = 0.0
    leave: float = 1e9
    group: str = "regular"  # regular, raider, mod, vip, bot, troll, broadcaster, special
    lang: str = "en"
    entitled: bool = False  # may use channel / member / nitro emotes
    kuro: bool = False  # raider subscribed to Kuro (uses her emotes)
    in_pool: bool = True  # picked for background chat
    spoke: bool = False
    banned: bool = False
    muted_until: float = -1.0
    last: float = -1e9  # when they last spoke
    told: bool = False  # has shared a personal story (one each)

    def author(self) -> dict:
        a = {"id": self.id, "name": self.name, "roles": list(self.roles)}
        if self.months is not None:
            a["months"] = self.months
        if self.newcomer and not self.spoke:
            a["first_message"] = True
        return a

    def can_speak(self, t: float) -> bool:
        return self.arrive <= t < self.leave and not self.banned and t >= self.muted_until

    def is_mod(self) -> bool:
        return "moderator" in self.roles or "broadcaster" in self.roles


def fmt_at(ms: int) -> str:
    dt = START + timedelta(milliseconds=ms)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


class Sim:
    def __init__(self, seed: int = SEED):
        self.rng = Random(seed)
        self.heap: list = []
        self.seq = 0
        self.now = 0.0
        self.last_ms = -1
        self.lines: list[dict] = []
        self.refs: dict[str, str] = {}
        self.msgs: dict[str, list[dict]] = {p: [] for p in PLATFORMS}
        self.by_id: dict[tuple[str, str], dict] = {}
        self.deleted: set[tuple[str, str]] = set()
        self.recent: dict[str, deque] = {p: deque(maxlen=25) for p in PLATFORMS}
        self.recent_texts: dict[str, deque] = {p: deque(maxlen=60) for p in PLATFORMS}
        self.mika_last = -1e9
        self.told: set[str] = set()  # personal stories already told (each once)
        self.usage: Counter = Counter()  # how often each long bank line was used
        self.mika_answered: dict[str, float] = {}
        self.names: dict[str, set[str]] = {p: set() for p in PLATFORMS}
        self.deaths = 131
        self.attempt_no = 0
        self.disc_inc = 0
        self.bursts = bursts()
        self.build_modulation()
        self.build_cast()

    # ---- ids ---------------------------------------------------------------------
    def twitch_user_id(self, new: bool = False) -> str:
        return str(self.rng.randint(880_000_000, 1_250_000_000) if new else
                   self.rng.randint(21_000_000, 870_000_000))

    def youtube_channel_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "UC" + "".join(self.rng.choice(alphabet) for _ in range(21)) + self.rng.choice("AQgw")

    def discord_user_id(self) -> str:
        created = self.rng.randint(1451606400000, 1748736000000)  # 2016-01 .. 2025-06
        return str(((created - DISCORD_EPOCH_MS) << 22) | self.rng.getrandbits(22))

    def message_id(self, platform: str, ms: int) -> str:
        if platform == "twitch":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if platform == "youtube":
            return "LCC." + base64.urlsafe_b64encode(self.rng.randbytes(45)).decode()
        self.disc_inc = (self.disc_inc + 1) % 4096
        return str(((START_MS + ms - DISCORD_EPOCH_MS) << 22) | (self.rng.randrange(32) << 17)
                   | (self.rng.randrange(32) << 12) | self.disc_inc)

    # ---- cast --------------------------------------------------------------------
    def unique_name(self, platform: str, make) -> str:
        for _ in range(200):
            name = make()
            if name.lower() not in self.names[platform]:
                self.names[platform].add(name.lower())
                return name
        raise RuntimeError("ran out of names")

    def twitch_name(self) -> str:
        r = self.rng
        w, a = r.choice(NAME_WORDS), r.choice(NAME_ADJ)
        pattern = r.randrange(9)
        if pattern == 0:
            return a.capitalize() + w.capitalize()
        if pattern == 1:
            return f"{a}_{w}"
        if pattern == 2:
            return f"{w}{r.randint(1, 999)}"
        if pattern == 3:
            return f"{w}_{r.choice(NAME_WORDS)}"
        if pattern == 4:
            return f"{w.capitalize()}{r.choice(['Gaming', 'Plays', 'TV', 'Main', 'Enjoyer'])}"
        if pattern == 5:
            return f"the_{a}_{w}"
        if pattern == 6:
            return f"{a}{w}{r.randint(0, 99):02d}"
        if pattern == 7:
            return f"xX{w.capitalize()}Xx"
        return f"{w}{r.choice(['_', ''])}{r.choice(['kun', 'chan', 'san', 'ttv', 'irl', 'zz'])}"

    def youtube_name(self, lang: str) -> str:
        r = self.rng
        if lang == "ja":
            return r.choice(YT_JA) + r.choice(["", "", str(r.randint(1, 99))])
        p = r.randrange(4)
        if p == 0:
            return f"{r.choice(YT_FIRST)} {r.choice(YT_LAST)}"
        if p == 1:
            return r.choice(YT_FIRST)
        if p == 2:
            return f"@{r.choice(NAME_ADJ)}{r.choice(NAME_WORDS)}{r.randint(1, 9999)}"
        return f"{r.choice(YT_FIRST)}{r.choice(['', '.', '_'])}{r.choice(NAME_WORDS).capitalize()}"

    def discord_name(self) -> str:
        r = self.rng
        if r.random() < 0.6:
            return r.choice(DC_NAMES)
        return f"{r.choice(NAME_ADJ)}{r.choice(['', '.', '_'])}{r.choice(NAME_WORDS)}"

    def arrival(self) -> tuple[float, float]:
        r = self.rng
        x = r.random()
        if x < 0.42:
            arrive = r.uniform(0, LIVE)
        elif x < 0.68:
            arrive = r.uniform(LIVE, 720)
        else:
            arrive = r.uniform(720, 3300)
        leave = 1e9 if r.random() < 0.7 else arrive + r.uniform(600, 2400)
        return arrive, leave

    def months(self) -> int:
        return min(60, 1 + int(self.rng.expovariate(1 / 9)))

    def activity(self) -> float:
        return min(12.0, max(0.05, self.rng.lognormvariate(0, 1.1)))

    def add(self, u: User) -> User:
        self.users[u.platform].append(u)
        self.names[u.platform].add(u.name.lower())
        if u.in_pool:
            self.pools[u.platform].append(u)
        return u

    def special(self, platform: str, uid: str, name: str, roles, months=None, **kw) -> User:
        kw.setdefault("in_pool", False)
        kw.setdefault("group", "special")
        return self.add(User(platform, uid, name, list(roles), months, **kw))

    def build_cast(self) -> None:
        r = self.rng
        self.users = {p: [] for p in PLATFORMS}
        self.pools = {p: [] for p in PLATFORMS}
        T, Y, D = PLATFORMS
        # Mika
        self.mika = {
            T: self.special(T, "614259873", "MikaVT", ["broadcaster"], group="broadcaster", entitled=True),
            Y: self.special(Y, self.youtube_channel_id(), "MikaVT Ch.", ["broadcaster"],
                            group="broadcaster", entitled=True),
            D: self.special(D, self.discord_user_id(), "Mika 🦊", ["broadcaster"], group="broadcaster",
                            entitled=True),
        }
        # moderators (5 people) and bots
        mk = lambda p, uid, name, roles, months, w: self.add(User(  # noqa: E731
            p, uid, name, roles, months, weight=w, arrive=0, group="mod", entitled=True))
        self.ravenholt = mk(T, self.twitch_user_id(), "Ravenholt", ["moderator", "subscriber"], 34, 3.0)
        self.tamago = mk(T, self.twitch_user_id(), "tamago_tanuki", ["moderator", "subscriber"], 22, 2.5)
        self.lumen = mk(T, self.twitch_user_id(), "lumen_ash", ["moderator", "subscriber"], 15, 2.5)
        self.sable = mk(Y, self.youtube_channel_id(), "Sable Hart", ["moderator", "member"], 20, 2.0)
        self.gremlin = mk(D, self.discord_user_id(), "gremlin.exe", ["moderator"], None, 3.0)
        self.mods = {T: [self.ravenholt, self.tamago, self.lumen], Y: [self.sable], D: [self.gremlin]}
        self.nightbot = self.special(T, "19264788", "Nightbot", ["moderator"], group="bot")
        self.streamelements = self.special(T, "100135110", "StreamElements", ["moderator"], group="bot")
        self.nightbot_yt = self.special(Y, self.youtube_channel_id(), "Nightbot", ["moderator"], group="bot")
        # VIPs
        vip = lambda name, months, w: self.add(User(  # noqa: E731
            T, self.twitch_user_id(), name, ["vip", "subscriber"] if months else ["vip"], months,
            weight=w, arrive=r.uniform(0, 200), group="vip", entitled=bool(months)))
        self.pixelmoth = vip("PixelMoth", 19, 3.0)
        self.hana = vip("hana_draws", 28, 1.5)
        self.salty = vip("saltyscribe", None, 2.0)
        self.kuro = self.special(T, self.twitch_user_id(), "KuroNeko_VT", ["vip"], arrive=RAID,
                                 kuro=True, group="vip")
        # the verified studio account
        self.studio = self.special(Y, self.youtube_channel_id(), "Lantern Forge Games", ["verified"])
        # named regulars who get into trouble later (they also chat normally)
        reg = lambda p, name, roles, months, w, arrive: self.add(User(  # noqa: E731
            p, self.twitch_user_id() if p == T else self.discord_user_id(), name, roles, months,
            weight=w, arrive=arrive, entitled=months is not None))
        self.grimwald = reg(T, "grimwald_88", ["subscriber"], 3, 1.0, 120)
        self.nightowl = reg(T, "NightOwlJun", [], None, 1.0, 500)
        self.bonk = reg(T, "bonkmaster3000", [], None, 1.2, 700)
        self.lilbap = reg(T, "lilbap_", ["subscriber"], 7, 1.0, 200)
        self.sal = reg(T, "SCREAMINGSAL", ["subscriber"], 11, 1.0, 400)
        self.hypno = reg(T, "hypn0toad", [], None, 1.0, 1000)
        self.marrow = reg(D, "Marrow", [], None, 1.0, 300)
        self.sunny = reg(T, "SunnyAshes", ["subscriber"], 41, 1.5, 100)
        # trolls and spam accounts
        self.linkbot = self.special(T, self.twitch_user_id(new=True), "strmv1ewz_promo", [], newcomer=True,
                                    group="troll")
        self.ratking = self.special(T, self.twitch_user_id(), "ratkingdeluxe", [], group="troll")
        self.ratking2 = self.special(T, self.twitch_user_id(new=True), "ratkingdeluxe2", [], newcomer=True,
                                     group="troll")
        self.crasher = self.special(T, self.twitch_user_id(new=True), "raidcrasher_xd", [], newcomer=True,
                                    group="troll")
        self.yt_troll = self.special(Y, self.youtube_channel_id(), "trash takes only", [], group="troll")
        self.yt_spam = self.special(Y, self.youtube_channel_id(), "Crypto Rewards Team", [], newcomer=True,
                                    group="troll")
        self.dc_troll = self.special(D, self.discord_user_id(), "vvv_void", [], group="troll")
        self.dc_promo = self.special(D, self.discord_user_id(), "smolstreamer", [], group="troll")
        # crowds
        for _ in range(196):
            newcomer = r.random() < 0.07
            sub = not newcomer and r.random() < 0.55
            arrive, leave = self.arrival()
            lang = r.choices(["en", "es", "pt"], [0.93, 0.04, 0.03])[0]
            self.add(User(T, self.twitch_user_id(new=newcomer), self.unique_name(T, self.twitch_name),
                          ["subscriber"] if sub else [], self.months() if sub else None, newcomer,
                          self.activity(), arrive, leave, lang=lang, entitled=sub))
        for _ in range(82):
            lang = r.choices(["en", "ja", "es", "pt"], [0.74, 0.16, 0.06, 0.04])[0]
            member = r.random() < 0.33
            newcomer = not member and r.random() < 0.1
            arrive, leave = self.arrival()
            self.add(User(Y, self.youtube_channel_id(), self.unique_name(Y, lambda: self.youtube_name(lang)),
                          ["member"] if member else [], self.months() if member else None, newcomer,
                          self.activity(), arrive, leave, lang=lang, entitled=member))
        for _ in range(42):
            arrive, leave = self.arrival()
            self.add(User(D, self.discord_user_id(), self.unique_name(D, self.discord_name), [], None,
                          r.random() < 0.04, self.activity() * 1.2, arrive, leave,
                          entitled=r.random() < 0.35))
        self.raiders = []
        for _ in range(72):
            stays = r.random() < 0.55
            arrive = RAID + r.uniform(0, 25)
            u = self.add(User(T, self.twitch_user_id(new=r.random() < 0.5), self.unique_name(T, self.twitch_name),
                              [], None, r.random() < 0.75, self.activity() * 1.3, arrive,
                              1e9 if stays else arrive + r.uniform(90, 500), group="raider",
                              kuro=r.random() < 0.65))
            self.raiders.append(u)

    # ---- pacing ------------------------------------------------------------------
    def build_modulation(self) -> None:
        n = int(END // 20) + 2
        raw = [math.exp(self.rng.gauss(0, 0.35)) for _ in range(n)]
        smooth = [(raw[max(0, i - 1)] + raw[i] + raw[min(n - 1, i + 1)]) / 3 for i in range(n)]
        mean = sum(smooth) / n
        self.modulation = [s / mean for s in smooth]

    def rate(self, t: float) -> tuple[float, list[tuple[float, str]]]:
        base = RATE_SCALE * BASE_RATE[segment(t)] * self.modulation[int(t // 20)]
        active = [(RATE_SCALE * amp * math.exp(-(t - t0) / tau), fl) for t0, amp, tau, fl in self.bursts
                  if t0 <= t < t0 + 6 * tau]
        return base, active

    # ---- scheduling --------------------------------------------------------------
    def at(self, t: float, fn, *args) -> None:
        heapq.heappush(self.heap, (t, self.seq, fn, args))
        self.seq += 1

    def after(self, dt: float, fn, *args) -> None:
        if self.now + dt < END:
            self.at(self.now + dt, fn, *args)

    def run(self) -> list[dict]:
        self.script()
        for u in (u for p in PLATFORMS for u in self.pools[p]):
            if u.leave < END:
                self.at(u.leave - 0.5, self.maybe_goodbye, u)
        self.at(0.2, self.propose)
        while self.heap:
            t, _, fn, args = heapq.heappop(self.heap)
            if t >= END:
                continue
            self.now = t
            fn(*args)
        return self.lines

    def tick_ms(self) -> int:
        ms = max(int(round(self.now * 1000)), self.last_ms + 1)
        self.last_ms = ms
        return ms

    # ---- output ------------------------------------------------------------------
    def emit(self, user: User, text: str, paid: dict | None = None, reply_to: str | None = None,
             cat: str | None = None, q=None) -> str:
        ms = self.tick_ms()
        p = user.platform
        mid = self.message_id(p, ms)
        rec = {"platform": p, "channel": CHANNEL[p], "id": mid, "at": fmt_at(ms),
               "author": user.author(), "text": text}
        if paid:
            rec["paid"] = paid
        if reply_to:
            rec["reply_to"] = reply_to
        self.lines.append(rec)
        info = {"id": mid, "user": user, "text": text, "cat": cat, "t": self.now, "q": q}
        self.msgs[p].append(info)
        self.by_id[(p, mid)] = info
        user.spoke = True
        user.last = self.now
        self.recent_texts[p].append(text)
        if user.group == "broadcaster":
            self.mika_last = self.now
        if user.group not in ("bot", "troll"):
            self.recent[p].append(user)
        return mid

    def delete_line(self, platform: str, mid: str) -> None:
        if (platform, mid) in self.deleted:
            return
        self.deleted.add((platform, mid))
        self.lines.append({"kind": "delete", "platform": platform, "channel": CHANNEL[platform],
                           "id": mid, "at": fmt_at(self.tick_ms())})

    def ban_line(self, user: User, duration: int | None = None) -> None:
        rec = {"kind": "ban", "platform": user.platform, "channel": CHANNEL[user.platform],
               "author_id": user.id, "at": fmt_at(self.tick_ms())}
        if duration is None:
            user.banned = True
        else:
            rec["duration_s"] = duration
            user.muted_until = self.now + duration
        self.lines.append(rec)

    # ---- text --------------------------------------------------------------------
    def emote(self, user: User, kind: str) -> str:
        free, own = EMOTES[user.platform][kind]
        if user.kuro and self.rng.random() < 0.3:
            return self.rng.choice(KURO_EMOTES)
        if user.entitled and self.rng.random() < 0.55:
            return self.rng.choice(own)
        return self.rng.choice(free)

    def at_mika(self, platform: str) -> str:
        if platform == "twitch":
            return self.rng.choice(["@MikaVT", "@Mika", "@mikavt", "@MikaVT"])
        if platform == "youtube":
            return self.rng.choice(["@MikaVT", "Mika", "@Mika"])
        return "@Mika"

    def other_name(self, user: User) -> str:
        names = [u.name for u in self.recent[user.platform] if u is not user and u.group != "broadcaster"]
        return self.rng.choice(names) if names else "chat"

    def fill(self, template: str, user: User) -> str:
        def sub(m: re.Match) -> str:
            key = m.group(1)
            if key in EMOTES["twitch"]:
                return self.emote(user, key)
            if key == "boss":
                return self.rng.choice(BOSS)
            if key == "at_mika":
                return self.at_mika(user.platform)
            if key == "name":
                n = self.other_name(user)
                return n if n.startswith("@") else "@" + n
            if key == "kuro":
                return self.rng.choice(KURO_EMOTES) if user.kuro else self.emote(user, "wave")
            if key == "attempt":
                return str(self.attempt_no)
            return m.group(0)
        return re.sub(r"\{(\w+)\}", sub, template)

    def vary(self, template: str) -> str:
        r = self.rng
        if r.random() < 0.22 and any(c.isupper() for c in template):
            template = template.lower()
        if r.random() < 0.1:
            template = template.rstrip("!?.")
        if r.random() < 0.1 and not template.endswith("}"):
            template += " {" + r.choice(["laugh", "love", "hype", "misc"]) + "}"
        return template

    def spam_text(self, flavour: str) -> str:
        r = self.rng
        kind = r.choice({"win": [0, 2, 4, 5, 6, 7], "phase2": [0, 3, 4, 7]}.get(flavour, [0, 1, 3, 4, 7]))
        if kind == 0:
            return "A" * r.randint(8, 60)
        if kind == 1:
            return "N" + "O" * r.randint(8, 40)
        if kind == 2:
            return "W" * r.randint(5, 30)
        if kind == 3:
            return "?" * r.randint(5, 20)
        if kind == 4:
            return "HOLY SH" + "I" * r.randint(6, 25)
        if kind == 5:
            return "LETS GO" + "O" * r.randint(6, 30)
        if kind == 6:
            return "G" * r.randint(8, 40)
        return "!" * r.randint(6, 20)

    def emote_spam(self, user: User, kinds: list[str]) -> str:
        r = self.rng
        e = self.emote(user, r.choice(kinds))
        if user.platform == "youtube" and e.startswith(":"):
            return e * r.randint(2, 6)
        words = [e] * r.randint(2, 7)
        if r.random() < 0.3:
            words.insert(r.randrange(len(words)), self.emote(user, r.choice(kinds)))
        return " ".join(words)

    def choose(self, bank: list, cat: str, platform: str, key=lambda x: x):
        """A line from bank that fits the time and, unless repeats are normal there, was not
        just said on this platform."""
        fits = [x for x in bank if time_ok(key(x), self.now)] or bank
        recent = self.recent_texts[platform]
        for _ in range(8):
            x = self.rng.choice(fits)
            line = unmark(key(x))
            if self.usage[line] >= (1 if key(x)[:1] == "=" else 3 if len(line) > 24 else 10**6):
                continue  # a long, specific line from many people looks canned
            if cat in REPEATABLE or line not in recent:
                break
        self.usage[unmark(key(x))] += 1
        return x

    def pick_text(self, cat: str, user: User) -> str:
        bank = LANG.get(user.lang, {}).get(cat)
        if bank and self.rng.random() < 0.6:
            return self.fill(self.choose(bank, cat, user.platform), user)
        line = unmark(self.choose(BANK[cat], cat, user.platform))
        return self.fill(self.vary(line), user)

    # ---- background chat ---------------------------------------------------------
    def propose(self) -> None:
        rmax = 16.0
        t = self.now
        base, active = self.rate(t)
        total = base + sum(a for a, _ in active)
        if self.rng.random() < total / rmax:
            x = self.rng.random() * total
            flavour = segment(t)
            if x >= base:
                x -= base
                for a, fl in active:
                    flavour = fl
                    if x < a:
                        break
                    x -= a
            self.background(flavour)
        self.after(self.rng.expovariate(rmax), self.propose)

    def pick_user(self, platform: str, cat: str, exclude: User | None = None,
                  prefer_regulars: bool = False) -> User | None:
        t = self.now
        if cat in RAID_CATS:
            pool = self.raiders
        elif cat == "mod":
            pool = self.mods[platform]
        else:
            pool = self.pools[platform]
        cands, weights = [], []
        for u in pool:
            if u is exclude or not u.can_speak(t):
                continue
            if cat == "raid_welcome" and u.group == "raider":
                continue
            w = u.weight
            quiet = t - u.last
            if quiet < 2.0:
                continue
            if quiet < 15.0:
                w *= (quiet / 15.0) ** 2
            if u.group == "raider" and cat not in RAID_CATS:
                w *= 0.5 if t > RAID + 180 else 1.0
            if prefer_regulars and (u.is_mod() or "vip" in u.roles or (u.months or 0) >= 6):
                w *= 4
            cands.append(u)
            weights.append(w)
        if not cands:
            return None
        return self.rng.choices(cands, weights)[0]

    def background(self, flavour: str) -> None:
        r = self.rng
        self.flavour = flavour
        cats = FLAVOURS[flavour]
        cat = r.choices(list(cats), list(cats.values()))[0]
        platform = r.choices(PLATFORMS, PLATFORM_SHARE.get(flavour, DEFAULT_SHARE))[0]
        if cat in TWITCH_ONLY:
            platform = "twitch"
        if cat == "cmd" and platform == "discord":
            cat = "banter"
        user = self.pick_user(platform, cat)
        if user is None:
            return
        if not user.spoke and (cat in SOFT_CATS or user.newcomer) and user.group != "raider":
            if user.newcomer and r.random() < 0.7:
                cat = "newcomer"
            elif r.random() < 0.4:
                cat = "late_greeting" if self.now > 900 and r.random() < 0.5 else "greeting"
        self.say_category(user, cat)

    def say_category(self, user: User, cat: str) -> None:
        r = self.rng
        p = user.platform
        if cat in Q_BANKS:
            entry = self.choose(Q_BANKS[cat], cat, p, key=lambda e: e[0])
            mid = self.emit(user, self.fill(self.vary(unmark(entry[0])), user), cat=cat, q=entry)
            self.question_followups(user, mid, entry)
        elif cat == "newcomer":
            text = unmark(self.choose(BANK["newcomer"], cat, p))
            mid = self.emit(user, self.fill(text, user), cat=cat)
            if "?" in text and r.random() < 0.6:
                entry = (text, ["Hollow Crown! a soulslike", "welcome! it's Hollow Crown"], [])
                self.question_followups(user, mid, entry)
            elif r.random() < 0.3:
                self.after(r.uniform(3, 15), self.welcome, user, mid)
        elif cat == "emotional":
            bank = LANG.get(user.lang, {}).get("emotional")
            if bank and r.random() < 0.7:
                self.emit(user, self.fill(r.choice(bank), user), cat=cat)
                return
            stories = [e for e in EMOTIONAL if e[0] not in self.told]
            if user.told or not stories or r.random() < 0.45:
                line = unmark(self.choose(BANK["warm"], "warm", p))
                self.emit(user, self.fill(self.vary(line), user), cat=cat)
                return
            text, mood = r.choice(stories)
            self.told.add(text)
            user.told = True
            mid = self.emit(user, self.fill(text, user), cat=cat)
            if r.random() < (0.5 if mood == "neg" else 0.35):
                self.after(r.uniform(4, 20), self.support, user, mid, mood, False)
            if p == "twitch" and r.random() < (0.45 if segment(self.now) in ("chill", "postraid") else 0.12):
                self.after(r.uniform(10, 45), self.support, user, mid, mood, True)
        elif cat == "cmd":
            cmd = r.choice(COMMANDS)
            self.emit(user, cmd, cat=cat)
            self.after(r.uniform(0.6, 2.5), self.bot_reply, user, cmd)
        elif cat == "spam":
            self.emit(user, self.spam_text(self.flavour), cat=cat)
        elif cat == "emote":
            kinds = {"prestream": ["misc", "wave", "hype"], "chill": ["love", "misc", "laugh"],
                     "ending": ["wave", "love"]}.get(segment(self.now), ["hype", "laugh", "love", "scared"])
            self.emit(user, self.emote_spam(user, kinds), cat=cat)
        elif cat == "emote_death":
            self.emit(user, self.emote_spam(user, ["sad", "laugh"]), cat=cat)
        elif cat == "emote_hype":
            self.emit(user, self.emote_spam(user, ["hype", "love"]), cat=cat)
        elif cat == "raid_spam":
            self.emit(user, RAID_PASTA if r.random() < 0.8 else self.pick_text("raid_greet", user), cat=cat)
        elif cat == "raidout":
            self.emit(user, RAIDOUT_PASTA if r.random() < 0.7 else self.pick_text("raidout", user), cat=cat)
        elif cat == "mod":
            self.emit(user, self.fill(r.choice(BANK["mod"]), user), cat=cat)
        else:
            mid = self.emit(user, self.pick_text(cat, user), cat=cat)
            if p != "youtube" and cat in ("banter", "hype", "win", "lore", "suggest_next") \
                    and r.random() < 0.07:
                self.after(r.uniform(2, 12), self.react_reply, user, mid)
            if cat == "backseat" and p == "twitch" and r.random() < 0.04:
                self.after(r.uniform(3, 10), self.mod_warn, user, mid)

    # ---- follow-ups --------------------------------------------------------------
    def reply_text(self, target: User, replier: User, text: str, mid: str) -> tuple[str, str | None]:
        if target.platform == "twitch":
            return f"@{target.name} {text}", mid
        if target.platform == "discord":
            return text, mid
        return f"@{target.name.lstrip('@')} {text}", None  # YouTube chat has no threads

    def alive(self, platform: str, mid: str) -> bool:
        info = self.by_id.get((platform, mid))
        return info is not None and (platform, mid) not in self.deleted and not info["user"].banned

    def question_followups(self, asker: User, mid: str, entry) -> None:
        r = self.rng
        _q, chat, mika = entry
        p = asker.platform
        seg = segment(self.now)
        p_mika = 0.2 if seg in ("chill", "postraid") else 0.04
        if mika and p == "twitch" and r.random() < p_mika:
            self.after(r.uniform(6, 35), self.mika_answer, asker, mid, entry)
        elif chat and r.random() < 0.45:
            self.after(r.uniform(3, 18), self.answer, asker, mid, None, r.choice(chat))

    def mika_answer(self, asker: User, mid: str, entry) -> None:
        """Mika types an answer now and then: not twice in 20 s, not the same question twice."""
        if self.now - self.mika_last < 20 or self.now - self.mika_answered.get(entry[0], -1e9) < 600:
            return
        self.mika_answered[entry[0]] = self.now
        self.answer(asker, mid, self.mika["twitch"], self.rng.choice(entry[2]))

    def answer(self, asker: User, mid: str, who: User | None, text: str) -> None:
        p = asker.platform
        if not self.alive(p, mid):
            return
        if who is None:
            who = self.pick_user(p, "answer", exclude=asker, prefer_regulars=True)
            if who is None:
                return
        body, reply_to = self.reply_text(asker, who, self.fill(text, who), mid)
        self.emit(who, body, reply_to=reply_to, cat="answer")

    def support(self, target: User, mid: str, mood: str, from_mika: bool) -> None:
        p = target.platform
        if not self.alive(p, mid):
            return
        if from_mika:
            if self.now - self.mika_last < 20:
                return
            who, text = self.mika["twitch"], self.rng.choice(MIKA_SUPPORT[mood])
        else:
            who = self.pick_user(p, "support", exclude=target)
            text = self.rng.choice(SUPPORT[mood])
            if who is None:
                return
        body, reply_to = self.reply_text(target, who, self.fill(text, who), mid)
        self.emit(who, body, reply_to=reply_to, cat="support")

    def welcome(self, target: User, mid: str) -> None:
        if not self.alive(target.platform, mid):
            return
        who = self.pick_user(target.platform, "welcome", exclude=target, prefer_regulars=True)
        if who:
            text = self.fill(self.rng.choice(["welcome!! {love}", "welcome in {wave}", "hi, welcome!",
                                              "welcome to the den {love}"]), who)
            body, reply_to = self.reply_text(target, who, text, mid)
            self.emit(who, body, reply_to=reply_to, cat="welcome")

    def react_reply(self, target: User, mid: str) -> None:
        if not self.alive(target.platform, mid):
            return
        who = self.pick_user(target.platform, "react", exclude=target)
        if who:
            body, reply_to = self.reply_text(target, who, self.fill(self.rng.choice(REPLY_REACT), who), mid)
            self.emit(who, body, reply_to=reply_to, cat="react")

    def mod_warn(self, target: User, mid: str) -> None:
        if not self.alive(target.platform, mid):
            return
        mod = self.rng.choice(self.mods["twitch"])
        text = self.fill(self.rng.choice(["no backseating please {love}", "let her figure it out chat",
                                          "she didn't ask for tips, chill {love}"]), mod)
        self.emit(mod, f"@{target.name} {text}", reply_to=mid, cat="mod")

    def maybe_goodbye(self, user: User) -> None:
        if user.spoke and user.can_speak(self.now) and self.rng.random() < 0.3:
            self.emit(user, self.fill(self.rng.choice(
                ["gotta go, bye mika!", "heading to bed, gn chat", "have to leave, good luck with the rest!",
                 "bye chat {wave}", "dinner time, bye!", "gtg o7"]), user), cat="leave")

    def bot_reply(self, user: User, cmd: str) -> None:
        p = user.platform
        t = self.now
        live = t - LIVE
        name = user.name
        if cmd == "!build":
            text = ("Parry build: Str/Dex, 40 Vigor, +8 Crownbreaker, Pilgrim's Buckler +5, Thornward Ring"
                    if t > 1730 else
                    "Mika's build: Strength/Faith, 40 Vigor, +8 Crownbreaker, Ember Talisman, Thornward Ring")
        elif cmd == "!setup":
            text = ("Mic: Shure MV7 > GoXLR Mini | Tracking: iPhone 13 + VTube Studio | "
                    "PC: Ryzen 7 7700X, RTX 4070 | OBS Studio")
        elif cmd == "!uptime":
            text = (f"MikaVT has been live for {int(live // 60)} minutes {int(live % 60)} seconds"
                    if live > 0 else "MikaVT is offline. Stream starts soon!")
        elif cmd == "!deaths":
            text = f"Mika has died {self.deaths} times in Hollow Crown ({self.deaths - 131} today)"
        elif cmd == "!discord":
            text = "Join the den for stream pings and fanart: https://mikavt.example/discord"
        elif cmd == "!model":
            text = "Mama: hana_draws | Rig: Tsuki Rigs | Live2D model"
        elif cmd == "!schedule":
            text = "Mika streams Tue/Thu/Sat at 8pm UTC. Schedule: https://mikavt.example/schedule"
        elif cmd == "!lurk":
            if p == "twitch":
                self.emit(self.streamelements, f"{name} is now lurking. Enjoy the stream! mikaLove",
                          cat="bot")
            return
        elif cmd == "!followage":
            if p != "twitch":
                return
            y, m = self.rng.randint(0, 2), self.rng.randint(1, 11)
            span = (f"{y} year{'s' if y > 1 else ''} " if y else "") + f"{m} month{'s' if m > 1 else ''}"
            text = f"{name} has been following mikavt for {span}"
        else:
            return
        bot = self.nightbot if p == "twitch" else self.nightbot_yt
        self.emit(bot, f"@{name.lstrip('@')} -> {text}", cat="bot")

    # ---- scripted moments --------------------------------------------------------
    def say(self, t: float, user: User, text: str, paid: dict | None = None, reply: str | None = None,
            ref: str | None = None, force: bool = False) -> None:
        self.at(t, self._say, user, text, paid, reply, ref, force)

    def _say(self, user, text, paid, reply, ref, force) -> None:
        if not force and (user.banned or self.now < user.muted_until):
            return
        reply_to = None
        if reply is not None and user.platform != "youtube":
            reply_to = self.refs.get(reply)
            if reply_to is None or not self.alive(user.platform, reply_to):
                reply_to = None
            elif user.platform == "twitch" and not text.startswith("@"):
                text = f"@{self.by_id[(user.platform, reply_to)]['user'].name} {text}"
        user.arrive = min(user.arrive, self.now)
        mid = self.emit(user, self.fill(text, user), paid=paid, reply_to=reply_to, cat="scripted")
        if ref:
            self.refs[ref] = mid

    def delete(self, t: float, ref: str) -> None:
        self.at(t, lambda: self.delete_line(*self.lookup(ref)))

    def lookup(self, ref: str) -> tuple[str, str]:
        mid = self.refs[ref]
        for p in PLATFORMS:
            if (p, mid) in self.by_id:
                return (p, mid)
        raise KeyError(ref)

    def ban(self, t: float, user: User, duration: int | None = None) -> None:
        self.at(t, self.ban_line, user, duration)

    def death(self, t: float) -> None:
        def run():
            self.deaths += 1
        self.at(t, run)

    def attempt(self, t: float, n: int) -> None:
        def run():
            self.attempt_no = n
        self.at(t - 1, run)

    def paid(self, t, user, text, amount, currency, kind, ref=None):
        self.say(t, user, text, {"amount": amount, "currency": currency, "kind": kind}, ref=ref)
        if kind == "bits" and amount >= 500:
            self.say(t + self.rng.uniform(1.5, 3.5), self.streamelements,
                     f"{user.name} just cheered {int(amount)} bits! Thank you!! mikaHype")

    def pick_named(self, platform: str, months_min: int = 0, exclude=(), lang: str = "en") -> User:
        """A fixed regular for a scripted line (chosen once, deterministically)."""
        cands = [u for u in self.pools[platform] if u.group == "regular" and u not in exclude
                 and (u.months or 0) >= months_min and not u.newcomer and u.leave > END
                 and u.lang == lang]
        return self.rng.choice(cands)

    def script(self) -> None:
        T, Y, D = PLATFORMS
        mika, mika_yt, mika_dc = self.mika[T], self.mika[Y], self.mika[D]
        rav, tam, lum, sab, grem = self.ravenholt, self.tamago, self.lumen, self.sable, self.gremlin
        se, nb = self.streamelements, self.nightbot
        used: list[User] = [self.grimwald, self.nightowl, self.bonk, self.lilbap, self.sal, self.hypno,
                            self.marrow, self.sunny]

        def regular(p, months_min=0, lang="en"):
            u = self.pick_named(p, months_min, used, lang)
            used.append(u)
            return u

        for i, (start, _p2, end, outcome) in enumerate(ATTEMPTS, 1):
            self.attempt(start, i)
            if outcome != "win":
                self.death(end)

        # pre-stream
        self.say(0.0, self.pixelmoth, "first mikaWait")
        self.say(60, rav, "evening chat, boss day today mikaHype")
        self.paid(200, regular(Y, lang="ja"), "早く始まって〜 楽しみ！", 500, "JPY", "superchat")
        self.say(240, grem, "stream in a minute, twitch chat is already feral 😂")
        self.say(288, mika, "hiii chat!! starting in a sec, fixing my mic gain mikaLove")
        # intro
        self.say(LIVE, se, "MikaVT is live! Tonight: Hollow Crown, Saint Morwen or bust 👑")
        self.say(LIVE + 4, mika, "HELLO CHAT mikaWave today we FINALLY fight Saint Morwen")
        self.say(330, mika_yt, "hi youtube chat!! 💜 I can see you")
        self.say(350, rav, "!clank status")
        self.say(366, mika, "OOPS i muted myself while fixing the gain LMAO sorry")
        self.paid(372, regular(T, 3), "Cheer100 good luck today!", 100, "BITS", "bits")
        self.paid(420, regular(Y), "Good luck on Morwen today! What level are you going in at?",
                  5.0, "USD", "superchat")
        self.say(470, mika, "level 74 with 40 vigor!! thank you for the superchat 💜")
        self.say(600, se, "Mika streams Tue/Thu/Sat at 8pm UTC. Turn on notifications so you never miss "
                          "a death 💀 https://mikavt.example/schedule")
        self.say(632, mika, "ok boss time. wish me luck mikaScared")
        # attempts 1-2, link spam bot
        self.paid(660, regular(T, 6), "Cheer200 for the first attempt mikaHype", 200, "BITS", "bits")
        self.say(742, mika, "she has a DELAYED SWING?? who designed this")
        bot = self.linkbot
        self.say(752, bot, "Hello, sorry for bothering you. I want to offer promotion of your channel, "
                           "viewers, followers, views, chat bots, etc... The price is lower than any "
                           "competitor, the quality is guaranteed to be the best. Go to strmboost.example",
                 ref="spam1")
        self.say(766, bot, "Best viewers on https://strmboost.example/mikavt cheap followers and primes",
                 ref="spam2")
        self.delete(769, "spam1")
        self.say(779, bot, "B e s t viewers => strmboost (.) example / mikavt", ref="spam3")
        self.delete(772, "spam2")
        self.delete(783, "spam3")
        self.ban(784, bot)
        self.say(788, rav, "bye bot o7")
        self.paid(785, regular(Y), "it's ok mika!! you got this", 2.0, "USD", "superchat")
        self.say(805, tam, "!clank threshold 40")
        self.paid(895, regular(T, 10), "Cheer500 bits for a new controller after this", 500, "BITS", "bits")
        self.say(900, nb, "Join the den for stream pings, clips and fanart: https://mikavt.example/discord")
        # attempt 3 (phase two) and the troll
        self.say(1048, mika, "PHASE 2 HAS A SECOND HEALTH BAR???")
        self.paid(1122, regular(Y), "Mika how do you deal with the delayed swing? I've been stuck on her "
                                    "for days", 10.0, "USD", "superchat")
        self.say(1150, self.ratking, "this game is so easy and she's still dying lmao", ref="rat1")
        self.say(1178, self.ratking, "imagine being this bad at a video game", ref="rat2")
        self.say(1185, lum, "@ratkingdeluxe be nice or take it somewhere else", reply="rat2")
        self.say(1196, self.ratking, "@lumen_ash cry about it you <slur>", ref="rat3")
        self.delete(1199, "rat3")
        self.delete(1200, "rat2")
        self.ban(1201, self.ratking)
        self.say(1205, rav, "o7 bye")
        self.say(1215, mika, "wait what happened in chat", ref="mika_what")
        self.say(1222, self.pixelmoth, "@MikaVT nothing mika, focus on the boss mikaLove", reply="mika_what")
        self.paid(1230, regular(T), "Cheer100 is there a way to cheese phase 2?", 100, "BITS", "bits")
        self.say(1244, mika, "chat i'm fine. i'm totally fine. mikaCry")
        self.say(1262, self.grimwald, "fun fact the hollow king is morwen's brother and you fight him "
                                      "right after the cloister", ref="spoil1")
        self.say(1268, rav, "@grimwald_88 no spoilers please", reply="spoil1")
        self.delete(1270, "spoil1")
        self.ban(1271, self.grimwald, 600)
        self.say(1318, self.ratking2, "lol you can't ban me <slur>", ref="rat4")
        self.delete(1321, "rat4")
        self.ban(1322, self.ratking2)
        self.say(1325, tam, "ban evasion, bye")
        self.say(1330, self.salty, "you should try parry build, her combo is super parryable", ref="parry")
        # attempt 5: one hit away, copypasta and a flooder
        self.say(1508, mika, "NO WAY. ONE HIT. SHE HAD ONE HIT LEFT")
        pasta_users = [regular(T) for _ in range(7)] + [regular(Y), regular(Y)]
        for i, u in enumerate(pasta_users):
            self.say(1509 + i * 3.4 + self.rng.uniform(0, 2), u, COPYPASTA_BOSS)
        self.say(1511, self.lilbap, COPYPASTA_BOSS, ref="bap1")
        self.say(1517, self.lilbap, COPYPASTA_BOSS + " mikaHype", ref="bap2")
        self.say(1524, self.lilbap, COPYPASTA_BOSS, ref="bap3")
        self.delete(1526, "bap2")
        self.delete(1527, "bap3")
        self.ban(1528, self.lilbap, 300)
        self.say(1531, tam, "@lilbap_ once is enough lol")
        self.paid(1520, regular(Y, lang="ja"), "あと少しだった！！ 次は絶対勝てる", 1000, "JPY", "superchat")
        self.say(1545, self.yt_troll, "vtubers are so cringe lmao", ref="ytt1")
        self.paid(1560, regular(T, 12), "Cheer1000 mika please try parry build, I believe", 1000, "BITS",
                  "bits", ref="parry_bits")
        self.say(1563, self.yt_troll, "imagine paying a <slur> to play games for you", ref="ytt2")
        self.delete(1568, "ytt2")
        self.delete(1569, "ytt1")
        self.ban(1570, self.yt_troll)
        self.say(1573, sab, "Removed. Please keep chat kind 💜")
        # attempt 6 and the backseater
        self.say(1590, self.bonk, "JUST PARRY", ref="bonk1")
        self.say(1598, self.bonk, "parry it omg")
        self.say(1606, self.bonk, "why won't you parry PARRY", ref="bonk3")
        self.say(1610, lum, "@bonkmaster3000 chill with the backseating please", reply="bonk3")
        self.say(1625, self.bonk, "PARRY BUTTON EXISTS", ref="bonk4")
        self.delete(1628, "bonk4")
        self.ban(1629, self.bonk, 300)
        self.paid(1640, regular(D), "hang in there mika!! $10 for a snack break", 10.0, "USD", "donation")
        self.say(1694, mika, "ok... I need water. brb 2 min")
        self.say(1728, mika, "ok you guys win, switching to the parry build", reply="parry")
        self.paid(1745, regular(T, 2), "Cheer300 what stats are you putting points in for parry?", 300,
                  "BITS", "bits", ref="stats_q")
        self.say(1772, mika, "dex to 30 and the buckler to +5!!", reply="stats_q")
        self.say(1800, nb, "Join the den for stream pings, clips and fanart: https://mikavt.example/discord")
        self.say(1835, self.lilbap, "ok i'm back, sorry mods lol")
        self.say(1892, mika, "NOT THE WINGS AGAIN")
        # the win
        self.say(WIN + 3, mika, "WE DID IT!!!!! THANK YOU CHAT I LOVE YOU ALL mikaLove mikaLove")
        win_pasta = [regular(T) for _ in range(10)] + [regular(Y), regular(Y)]
        for i, u in enumerate(win_pasta):
            self.say(WIN + 6 + i * 2.7 + self.rng.uniform(0, 2), u, COPYPASTA_WIN)
        self.paid(WIN + 5, self.sunny, "Cheer1000 Cheer1000 Cheer1000 Cheer1000 Cheer1000 SHE DID IT!!! "
                                        "GG MIKA", 5000, "BITS", "bits")
        self.paid(WIN + 9, regular(Y), "GG!!!! I've watched every attempt, so proud of you. Buy yourself "
                                       "something nice 💜", 50.0, "USD", "superchat")
        self.say(WIN + 10, self.sal, "A" * 120, ref="sal1")
        self.say(WIN + 14, self.sal, "A" * 220, ref="sal2")
        self.say(WIN + 18, self.sal, "A" * 380, ref="sal3")
        self.delete(WIN + 20, "sal2")
        self.delete(WIN + 21, "sal3")
        self.ban(WIN + 22, self.sal, 60)
        self.paid(WIN + 15, self.hana, "ShowLove1000 gg queen, drawing this moment later", 1000, "BITS",
                  "bits")
        self.paid(WIN + 25, regular(Y), "QUEEN OF THE CROWN 👑 what are you doing to celebrate?", 20.0,
                  "EUR", "superchat")
        self.paid(WIN + 35, regular(Y, lang="ja"), "おめでとうございます！！ 日本から応援してます！ Mika, do you speak any "
                                        "Japanese?", 10000, "JPY", "superchat")
        self.paid(WIN + 40, regular(Y, 1), "", 4.99, "USD", "supersticker")
        self.paid(WIN + 45, regular(T), "Cheer250 clip of the year", 250, "BITS", "bits")
        clipper = regular(T, 4)
        self.say(WIN + 50, clipper, "!clip")
        self.say(WIN + 52, nb, f"@{clipper.name} -> clip: https://clips.twitch.tv/ThornedRegentDethroned-"
                               "mikavt-7Qx2pLmN")
        self.say(WIN + 55, self.studio, "Congrats Mika! Very few players clear Saint Morwen with a parry "
                                        "build 👑")
        self.say(WIN + 65, mika_dc, "CLIP GOING IN #clips LATER 😭💜")
        self.say(WIN + 85, self.sal, "sorry mods i got excited")
        self.say(2100, self.marrow, "wait till she finds out what happens to galen in act 3 lmao",
                 ref="spoil2")
        self.say(2104, grem, "no spoilers please, not even ||spoiler tagged|| ones", reply="spoil2")
        self.delete(2106, "spoil2")
        self.ban(2107, self.marrow, 600)
        self.say(2140, mika, "ok I'm gonna explore the cloister a little, then chill Q&A")
        # chill Q&A
        self.say(CHILL + 10, mika, "ok chill time!! ask me stuff, I'll read chat mikaSip")
        self.say(CHILL + 16, rav, "!clank threshold 25")
        self.paid(2280, regular(Y), "Hi Mika! Long time viewer, first superchat. What got you into "
                                    "VTubing?", 20.0, "USD", "superchat")
        self.say(2300, self.dc_promo, "hey everyone come check out my stream twitch.tv/smolstreamer_ttv, "
                                      "playing hollow crown too!", ref="promo1")
        self.say(2330, self.dc_promo, "anyone? twitch.tv/smolstreamer_ttv 🙏", ref="promo2")
        self.delete(2336, "promo1")
        self.delete(2337, "promo2")
        self.ban(2338, self.dc_promo, 60)
        self.say(2341, grem, "no self promo please, read #rules 💜")
        self.paid(2345, regular(T, 5), "Cheer500 @MikaVT what was harder, Morwen or the Drowned Knight?",
                  500, "BITS", "bits", ref="harder_q")
        self.say(2372, mika, "MORWEN. not even close", reply="harder_q")
        self.say(2360, self.hypno, "!clank threshold 1", ref="hypno")
        self.say(2366, lum, "nice try, mods only KEKW", reply="hypno")
        self.say(2400, se, "Mika streams Tue/Thu/Sat at 8pm UTC. Schedule: https://mikavt.example/schedule")
        self.paid(2440, regular(Y), "what's your favorite boss in the game so far?", 5.0, "EUR", "superchat")
        self.say(2500, self.yt_spam, "🎁 MIKA IS GIVING AWAY 0.5 ETH TO 100 VIEWERS 🎁 claim now: "
                                     "https://mika-giveaway.example/claim", ref="yts1")
        self.say(2512, self.yt_spam, "only 23 spots left!! https://mika-giveaway.example/claim", ref="yts2")
        self.delete(2516, "yts1")
        self.delete(2517, "yts2")
        self.ban(2518, self.yt_spam)
        self.say(2521, sab, "That's a scam, Mika never does giveaways like that. Don't click 💜")
        self.paid(2560, regular(T), "Cheer100 how do you keep your voice from going out when you scream "
                                    "so much lol", 100, "BITS", "bits", ref="voice_q")
        self.say(2590, mika, "honey lemon tea and prayer", reply="voice_q")
        self.paid(2600, regular(Y), "rough week at work but this stream fixed it, thank you", 2.0, "USD",
                  "superchat")
        self.say(2640, self.nightowl, "the final boss is her father btw", ref="spoil3")
        self.delete(2645, "spoil3")
        self.ban(2646, self.nightowl, 600)
        self.say(2650, tam, "@NightOwlJun not cool, no spoilers")
        self.say(2700, nb, "Join the den for stream pings, clips and fanart: https://mikavt.example/discord")
        self.say(2750, self.dc_troll, "this stream is dead lol")
        self.say(2768, self.dc_troll, "<slur> streamer <slur> chat", ref="dct")
        self.delete(2772, "dct")
        self.ban(2773, self.dc_troll)
        self.say(2776, grem, "banned. sorry about that everyone")
        # raid
        self.say(RAID, se, "KuroNeko_VT is raiding with a party of 184! Welcome raiders! mikaWave")
        self.say(RAID + 3, self.kuro, "MIKAAAA hi!! my cats heard you beat morwen kuroRaid")
        self.say(RAID + 8, mika, "KURO!!! thank you for the raid!! welcome raiders mikaWave mikaWave")
        self.say(RAID + 25, rav, "!clank delay 120")
        self.say(RAID + 30, self.crasher, "lmao both of these streamers are <slur>s", ref="crash")
        self.delete(RAID + 34, "crash")
        self.ban(RAID + 35, self.crasher)
        self.paid(RAID + 40, self.raiders[0], "Cheer1500 kuroRaid congrats on the boss!!", 1500, "BITS", "bits")
        self.say(RAID + 50, self.kuro, "be nice to mika's chat my cats kuroPat")
        self.paid(RAID + 80, self.raiders[1], "Cheer100 hi from kuro's raid", 100, "BITS", "bits")
        # after the raid
        self.say(3020, mika, "for the raiders: this is Hollow Crown, I just beat Saint Morwen after 7 "
                             "tries and my hands are still shaking")
        self.say(3060, self.studio, "Welcome raiders! Hollow Crown is 20% off this weekend 👑")
        self.say(3100, lum, "!clank status")
        self.paid(3130, regular(Y), "watching on youtube while kuro's chat takes over twitch lol. Are you going to play the DLC?",
                  10.0, "USD", "superchat")
        self.say(3140, self.kuro, "mika we should co-op the DLC kuroLove")
        self.paid(3180, regular(D), "from the discord gang 💜 do you have a merch drop planned?", 15.0,
                  "EUR", "donation")
        self.say(3240, tam, "!clank delay 30")
        self.paid(3300, regular(T, 8), "Cheer400 when is the next stream?", 400, "BITS", "bits",
                  ref="next_q")
        self.say(3318, mika, "saturday!! karaoke maybe??", reply="next_q")
        self.say(3310, nb, "Join the den for stream pings, clips and fanart: https://mikavt.example/discord")
        # ending
        self.say(ENDING + 2, mika, "ok that's gonna be it for today!! thank you so much for hanging out, "
                                   "best boss fight ever")
        self.paid(3420, regular(Y, lang="ja"), "お疲れ様でした！ also what time is next stream in JST?", 2000, "JPY",
                  "superchat")
        self.paid(3450, regular(T, 20), "Cheer2000 thank you for the stream Mika, best one yet", 2000,
                  "BITS", "bits")
        self.paid(3480, regular(Y, 12), "thank you for always making my weekends better. See you "
                                        "Saturday!", 100.0, "USD", "superchat")
        self.say(RAIDOUT, mika, "we're raiding hoshi_plays!! copy the raid message!!")
        self.say(RAIDOUT + 3, rav, RAIDOUT_PASTA)
        self.say(RAIDOUT + 5, tam, RAIDOUT_PASTA)
        self.say(3575, mika_dc, "thank you discord gang 💜 see you saturday")
        self.say(3590, mika, "bye chat!! mikaLove see you saturday")


# ----------------------------------------------------------------------------------
# Checking
# ----------------------------------------------------------------------------------
AT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
ID_RE = {
    "twitch": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
    "youtube": re.compile(r"^LCC\.[A-Za-z0-9_-]{40,}$"),
    "discord": re.compile(r"^[0-9]{17,20}$"),
}
AUTHOR_RE = {
    "twitch": re.compile(r"^[0-9]{5,12}$"),
    "youtube": re.compile(r"^UC[A-Za-z0-9_-]{22}$"),
    "discord": re.compile(r"^[0-9]{17,20}$"),
}


def check(text: str) -> tuple[list[str], dict]:
    """Checks a whole chat log; returns (problems, statistics)."""
    problems: list[str] = []
    stats = {"kind": Counter(), "paid": Counter(), "roles": Counter(), "first_message": 0,
             "replies": 0, "timeouts": 0, "bans": 0, "authors": {p: set() for p in PLATFORMS}}
    seen_ids: dict[str, dict[str, int]] = {p: {} for p in PLATFORMS}
    spoke: set[tuple[str, str, str]] = set()
    names: dict[tuple[str, str], str] = {}
    deleted: set[tuple[str, str]] = set()
    banned: set[tuple[str, str, str]] = set()
    muted: dict[tuple[str, str, str], datetime] = {}
    last = None
    first_at = last_at = None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        def bad(msg: str) -> None:
            problems.append(f"line {n}: {msg}")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            bad(f"bad JSON: {e}")
            continue
        if not isinstance(obj, dict):
            bad("not a JSON object")
            continue
        kind = obj.get("kind", "message")
        if kind not in ("message", "delete", "ban"):
            bad(f"unknown kind {kind!r}")
            continue
        p = obj.get("platform")
        if p not in PLATFORMS:
            bad(f"bad platform {p!r}")
            continue
        ch = obj.get("channel")
        if ch != CHANNEL[p]:
            bad(f"channel {ch!r} is not {CHANNEL[p]!r}")
        at_s = obj.get("at")
        if not isinstance(at_s, str) or not AT_RE.match(at_s):
            bad(f"bad at {at_s!r}")
            continue
        at = datetime.fromisoformat(at_s)
        if last is not None and at <= last:
            bad(f"at {at_s} is not after the previous line")
        last = at
        first_at = first_at or at
        last_at = at
        stats["kind"][(kind, p)] += 1
        if kind == "message":
            mid = obj.get("id")
            if not isinstance(mid, str) or not ID_RE[p].match(mid):
                bad(f"bad {p} message id {mid!r}")
                continue
            if mid in seen_ids[p]:
                bad(f"duplicate {p} id {mid} (first on line {seen_ids[p][mid]})")
            seen_ids[p][mid] = n
            a = obj.get("author")
            if not isinstance(a, dict) or not isinstance(a.get("id"), str) or not isinstance(a.get("name"), str):
                bad("author must have string id and name")
                continue
            aid = a["id"]
            if not AUTHOR_RE[p].match(aid):
                bad(f"bad {p} author id {aid!r}")
            if not a["name"]:
                bad("empty author name")
            roles = a.get("roles", [])
            if not isinstance(roles, list) or not set(roles) <= ROLES:
                bad(f"bad roles {roles!r}")
            for role in roles:
                stats["roles"][(p, role, aid)] += 1
            months = a.get("months")
            if months is not None and (not isinstance(months, int) or isinstance(months, bool) or months < 1):
                bad(f"bad months {months!r}")
            key = (p, ch, aid)
            if "first_message" in a:
                if a["first_message"] is not True:
                    bad("first_message should be true or absent")
                if key in spoke:
                    bad("first_message on an author who already spoke")
                stats["first_message"] += 1
            if (p, aid) in names and names[(p, aid)] != a["name"]:
                bad(f"author {aid} renamed from {names[(p, aid)]!r} to {a['name']!r}")
            names[(p, aid)] = a["name"]
            if key in banned:
                bad(f"banned author {aid} speaks")
            if key in muted and at < muted[key]:
                bad(f"timed-out author {aid} speaks")
            spoke.add(key)
            stats["authors"][p].add(aid)
            if not isinstance(obj.get("text"), str):
                bad("text must be a string")
            paid = obj.get("paid")
            if paid is not None:
                amount = paid.get("amount") if isinstance(paid, dict) else None
                if (not isinstance(amount, (int, float)) or isinstance(amount, bool) or not math.isfinite(amount)
                        or amount < 0 or paid.get("kind") not in PAID_KINDS
                        or not isinstance(paid.get("currency"), str)):
                    bad(f"bad paid {paid!r}")
                else:
                    stats["paid"][(paid["kind"], paid["currency"])] += 1
                    if paid["kind"] == "bits" and not (100 <= amount <= 5000):
                        bad(f"bits amount {amount} outside 100..5000")
            rt = obj.get("reply_to")
            if rt is not None:
                stats["replies"] += 1
                if rt not in seen_ids[p] or rt == mid:
                    bad(f"reply_to {rt!r} is not an earlier {p} message")
        elif kind == "delete":
            mid = obj.get("id")
            if mid not in seen_ids[p]:
                bad(f"delete of {mid!r}, not an earlier {p} message")
            if (p, mid) in deleted:
                bad(f"{mid} deleted twice")
            deleted.add((p, mid))
        else:
            aid = obj.get("author_id")
            key = (p, ch, aid)
            if key not in spoke:
                bad(f"ban of {aid!r}, who has not spoken in {p}/{ch}")
            dur = obj.get("duration_s")
            if dur is None:
                banned.add(key)
                stats["bans"] += 1
            elif not isinstance(dur, int) or isinstance(dur, bool) or dur <= 0:
                bad(f"bad duration_s {dur!r}")
            else:
                muted[key] = at + timedelta(seconds=dur)
                stats["timeouts"] += 1
    total = len(lines)
    n_del = sum(v for (k, _), v in stats["kind"].items() if k == "delete")
    if not 3000 <= total <= 4000:
        problems.append(f"{total} lines, expected 3000-4000")
    if not 15 <= n_del <= 30:
        problems.append(f"{n_del} deletes, expected 15-30")
    if stats["bans"] < 3 or stats["timeouts"] < 3:
        problems.append(f"{stats['bans']} bans and {stats['timeouts']} timeouts, expected at least 3 of each")
    if first_at != START:
        problems.append(f"first line is at {first_at}, expected {START}")
    if len(text.encode()) > 1_500_000:
        problems.append(f"{len(text.encode())} bytes, expected under 1.5 MB")
    stats["lines"] = total
    stats["bytes"] = len(text.encode())
    stats["first_at"], stats["last_at"] = first_at, last_at
    return problems, stats


def report(stats: dict) -> str:
    out = []
    k = stats["kind"]
    out.append(f"{stats['lines']} lines, {stats['bytes']} bytes, {stats['first_at']:%H:%M:%S} .. "
               f"{stats['last_at']:%H:%M:%S} ({(stats['last_at'] - stats['first_at']).total_seconds():.0f} s)")
    out.append(f"{'':10}{'message':>9}{'delete':>8}{'ban':>6}")
    msgs = sum(k[("message", p)] for p in PLATFORMS)
    for p in PLATFORMS:
        out.append(f"{p:10}{k[('message', p)]:>9}{k[('delete', p)]:>8}{k[('ban', p)]:>6}"
                   f"   {100 * k[('message', p)] / msgs:4.1f}% of messages, {len(stats['authors'][p])} authors")
    out.append(f"bans {stats['bans']}, timeouts {stats['timeouts']}, replies {stats['replies']}, "
               f"first_message {stats['first_message']}")
    out.append("paid: " + ", ".join(f"{kind}/{cur} x{n}" for (kind, cur), n in sorted(stats["paid"].items())))
    roles = Counter()
    for (p, role, _aid) in stats["roles"]:
        roles[(p, role)] += 1
    out.append("distinct authors by role: " + ", ".join(f"{p} {r} {n}" for (p, r), n in sorted(roles.items())))
    return "\n".join(out)


def render(lines: list[dict]) -> str:
    return "".join(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n" for rec in lines)


def main() -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=here / "chat.jsonl", help="where to write the log")
    ap.add_argument("--check", action="store_true", help="only check the existing file")
    args = ap.parse_args()
    if args.check:
        text = args.out.read_text(encoding="utf-8")
    else:
        text = render(Sim(SEED).run())
    problems, stats = check(text)
    for p in problems[:50]:
        print("problem:", p, file=sys.stderr)
    if problems:
        print(report(stats), file=sys.stderr)
        print(f"{len(problems)} problems; nothing written", file=sys.stderr)
        return 1
    if not args.check:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    print(report(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
