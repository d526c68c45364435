//! The word lists salience reads (questions, emotions, topics, fillers, emotes, bots),
//! kept as plain text files in `assets/`, embedded at build time, optionally
//! overridden from a directory, and compiled into one hash map for fast lookups.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

/// A lexicon file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("cannot read lexicon file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lexicon directory {path} is not a directory")]
    NotADirectory { path: PathBuf },
}

/// One word list. Each is a file `<file_name>` in `assets/lexicons/` (embedded)
/// or in the override directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LexiconList {
    /// Interrogatives that open a question without a "?" ("what", "how").
    QuestionWords,
    /// Auxiliaries that open a yes/no question when a subject follows ("do", "is").
    QuestionAux,
    /// Subjects that follow an auxiliary opener ("you", "this", "we").
    QuestionSubjects,
    /// Phrases that mark a question anywhere ("anyone know", "how did you").
    QuestionPhrases,
    /// "you", "your", "u": a question with one is probably asked of the streamer.
    SecondPerson,
    /// "hi", "good morning", "first time here".
    Greetings,
    /// Reactions and filler ("lol", "W", "gg").
    LowValue,
    /// Emote names, lowercased.
    Emotes,
    /// Positive emotion and gratitude.
    Positive,
    /// Negative emotion.
    Negative,
    /// Distress and requests for support.
    Distress,
    /// Game mechanics, builds, PC and streaming setup.
    Technical,
    /// Problems with the broadcast itself ("you're muted", "stream is lagging").
    StreamIssues,
    /// Suggestions ("you should try", "what if you").
    Creative,
    /// Words ignored when comparing with the topic and recent chat.
    Stopwords,
    /// Japanese sentence-final particles ("か", "の"), matched at the end of a text;
    /// entries starting with "-" are endings that only look like one ("ばか").
    QuestionParticles,
    /// Suffixes that may follow a name without a space ("ちゃん", "chan").
    Honorifics,
    /// Self-promotion and follower sellers ("sub4sub", "we help streamers").
    PromoSpam,
    /// Words of crypto "signal" scams; spam together with a messenger.
    CryptoSpam,
    /// Messenger apps scammers move people to ("telegram", "whatsapp").
    Messengers,
    /// Begging for attention ("please", "notice me", "por favor").
    Pleading,
    /// Verbs that open a request to the streamer ("show", "explain", "zeig").
    Requests,
    /// Words that turn a "you" to the whole chat ("you guys", "y'all",
    /// "chat"): such a question is not asked of the streamer.
    ToChat,
}

impl LexiconList {
    pub const ALL: [LexiconList; 23] = [
        LexiconList::QuestionWords,
        LexiconList::QuestionAux,
        LexiconList::QuestionSubjects,
        LexiconList::QuestionPhrases,
        LexiconList::SecondPerson,
        LexiconList::Greetings,
        LexiconList::LowValue,
        LexiconList::Emotes,
        LexiconList::Positive,
        LexiconList::Negative,
        LexiconList::Distress,
        LexiconList::Technical,
        LexiconList::StreamIssues,
        LexiconList::Creative,
        LexiconList::Stopwords,
        LexiconList::QuestionParticles,
        LexiconList::Honorifics,
        LexiconList::PromoSpam,
        LexiconList::CryptoSpam,
        LexiconList::Messengers,
        LexiconList::Pleading,
        LexiconList::Requests,
        LexiconList::ToChat,
    ];

    /// The file name in `assets/lexicons/` and in an override directory.
    pub fn file_name(self) -> &'static str {
        match self {
            LexiconList::QuestionWords => "question_words.txt",
            LexiconList::QuestionAux => "question_aux.txt",
            LexiconList::QuestionSubjects => "question_subjects.txt",
            LexiconList::QuestionPhrases => "question_phrases.txt",
            LexiconList::SecondPerson => "second_person.txt",
            LexiconList::Greetings => "greetings.txt",
            LexiconList::LowValue => "low_value.txt",
            LexiconList::Emotes => "emotes.txt",
            LexiconList::Positive => "emotion_positive.txt",
            LexiconList::Negative => "emotion_negative.txt",
            LexiconList::Distress => "distress.txt",
            LexiconList::Technical => "technical.txt",
            LexiconList::StreamIssues => "stream_issues.txt",
            LexiconList::Creative => "creative.txt",
            LexiconList::Stopwords => "stopwords.txt",
            LexiconList::QuestionParticles => "question_particles.txt",
            LexiconList::Honorifics => "honorifics.txt",
            LexiconList::PromoSpam => "promo_spam.txt",
            LexiconList::CryptoSpam => "crypto_spam.txt",
            LexiconList::Messengers => "messengers.txt",
            LexiconList::Pleading => "pleading.txt",
            LexiconList::Requests => "requests.txt",
            LexiconList::ToChat => "to_chat.txt",
        }
    }

    /// The built-in copy of the list.
    pub fn embedded(self) -> &'static str {
        match self {
            LexiconList::QuestionWords => include_str!("../../assets/lexicons/question_words.txt"),
            LexiconList::QuestionAux => include_str!("../../assets/lexicons/question_aux.txt"),
            LexiconList::QuestionSubjects => {
                include_str!("../../assets/lexicons/question_subjects.txt")
            }
            LexiconList::QuestionPhrases => {
                include_str!("../../assets/lexicons/question_phrases.txt")
            }
            LexiconList::SecondPerson => include_str!("../../assets/lexicons/second_person.txt"),
            LexiconList::Greetings => include_str!("../../assets/lexicons/greetings.txt"),
            LexiconList::LowValue => include_str!("../../assets/lexicons/low_value.txt"),
            LexiconList::Emotes => include_str!("../../assets/lexicons/emotes.txt"),
            LexiconList::Positive => include_str!("../../assets/lexicons/emotion_positive.txt"),
            LexiconList::Negative => include_str!("../../assets/lexicons/emotion_negative.txt"),
            LexiconList::Distress => include_str!("../../assets/lexicons/distress.txt"),
            LexiconList::Technical => include_str!("../../assets/lexicons/technical.txt"),
            LexiconList::StreamIssues => include_str!("../../assets/lexicons/stream_issues.txt"),
            LexiconList::Creative => include_str!("../../assets/lexicons/creative.txt"),
            LexiconList::Stopwords => include_str!("../../assets/lexicons/stopwords.txt"),
            LexiconList::QuestionParticles => {
                include_str!("../../assets/lexicons/question_particles.txt")
            }
            LexiconList::Honorifics => include_str!("../../assets/lexicons/honorifics.txt"),
            LexiconList::PromoSpam => include_str!("../../assets/lexicons/promo_spam.txt"),
            LexiconList::CryptoSpam => include_str!("../../assets/lexicons/crypto_spam.txt"),
            LexiconList::Messengers => include_str!("../../assets/lexicons/messengers.txt"),
            LexiconList::Pleading => include_str!("../../assets/lexicons/pleading.txt"),
            LexiconList::Requests => include_str!("../../assets/lexicons/requests.txt"),
            LexiconList::ToChat => include_str!("../../assets/lexicons/to_chat.txt"),
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    const fn bit(self) -> u32 {
        1 << self.index()
    }
}

/// A set of lists, one bit each: what a word belongs to, found with one lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSet(u32);

impl ListSet {
    pub const EMPTY: ListSet = ListSet(0);

    pub fn contains(self, list: LexiconList) -> bool {
        self.0 & list.bit() != 0
    }

    pub fn insert(&mut self, list: LexiconList) {
        self.0 |= list.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if any list of `other` is also in `self`.
    pub fn intersects(self, other: ListSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn union(self, other: ListSet) -> ListSet {
        ListSet(self.0 | other.0)
    }

    pub const fn of(lists: &[LexiconList]) -> ListSet {
        let mut bits = 0;
        let mut i = 0;
        while i < lists.len() {
            bits |= lists[i].bit();
            i += 1;
        }
        ListSet(bits)
    }
}

/// FxHash (the rustc hasher): a multiply and a rotate per 8 bytes. The keys are
/// short words from our own lists, so HashDoS resistance buys nothing here and
/// SipHash would cost most of the scoring budget.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    pub fn with_seed(seed: u64) -> Self {
        FxHasher { hash: seed }
    }

    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for [`FxHasher`].
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// [`FxHasher`] with a final avalanche, for maps keyed by arbitrary text:
/// plain Fx leaves the low bits (hashbrown's bucket index) blind to most
/// bytes of the last word, so keys like "message 12" / "message 13" would
/// pile into one bucket.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxMixHasher(FxHasher);

impl Hasher for FxMixHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.0.finish();
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `BuildHasher` for [`FxMixHasher`].
pub type FxMixBuild = BuildHasherDefault<FxMixHasher>;

/// A hasher for keys that already are well-mixed 64-bit hashes (from
/// [`hash_str`]): it passes them through instead of hashing them again.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassHasher {
    hash: u64,
}

impl Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; kept correct for any other key type.
        let mut h = FxHasher::with_seed(self.hash);
        h.write(bytes);
        self.hash = h.finish();
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.hash = i;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for maps keyed by [`hash_str`] values.
pub type PassBuild = BuildHasherDefault<PassHasher>;

/// A well-mixed 64-bit hash of `s` under `seed`, used as a compact stand-in for
/// a word or a whole message in bounded rings (collisions are ~2^-64 rare).
#[inline]
pub fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h = FxHasher::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15);
    h.write(s.as_bytes());
    // Fx mixes low bits weakly; a final avalanche (from splitmix64) fixes that.
    let mut z = h.finish() ^ (s.len() as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Normalises one lexicon or blocked-word entry: lowercase, typographic
/// apostrophes to `'`, inner whitespace collapsed.
pub fn normalize_term(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            match c {
                '\u{2019}' | '\u{2018}' | '`' => out.push('\''),
                c => out.extend(c.to_lowercase()),
            }
        }
    }
    out
}

/// The entries of a list file: one per line, `#` comment lines and blank lines
/// skipped, each normalised with [`normalize_term`].
pub fn parse_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(normalize_term)
        .filter(|t| !t.is_empty())
}

/// A multi-word entry, found by its first word; `rest` are the words after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub rest: Box<[Box<str>]>,
    pub list: LexiconList,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Lists holding this word as a single-word entry.
    words: ListSet,
    /// True if some phrase starts with this word.
    starts_phrase: bool,
}

/// All word lists, compiled: one hash lookup per token answers every list at once.
#[derive(Debug, Clone)]
pub struct Lexicon {
    lists: Vec<Vec<String>>,
    words: HashMap<Box<str>, Entry, FxMixBuild>,
    /// Keyed by `hash_str(0, first word)`, so a caller holding a token's hash
    /// finds phrases without hashing the word again.
    phrases: HashMap<u64, Vec<Phrase>, PassBuild>,
}

impl Default for Lexicon {
    fn default() -> Self {
        Lexicon::embedded()
    }
}

impl Lexicon {
    /// The lists built into the binary.
    pub fn embedded() -> Lexicon {
        Lexicon::from_texts(|l| l.embedded().to_string())
    }

    /// The built-in lists, each replaced by `<dir>/<file_name>` when that file
    /// exists. A missing file falls back to the built-in list; a file that exists
    /// but cannot be read is an error naming it, because silently scoring with
    /// the wrong words is worse than refusing to start.
    pub fn load(dir: Option<&Path>) -> Result<Lexicon, LexiconError> {
        let Some(dir) = dir else {
            return Ok(Lexicon::embedded());
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(LexiconError::NotADirectory {
                    path: dir.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(LexiconError::Read {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
        let mut texts = Vec::with_capacity(LexiconList::ALL.len());
        for list in LexiconList::ALL {
            let path = dir.join(list.file_name());
            match std::fs::read_to_string(&path) {
                Ok(t) => texts.push(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    texts.push(list.embedded().to_string());
                }
                Err(source) => return Err(LexiconError::Read { path, source }),
            }
        }
        Ok(Lexicon::from_texts(|l| {
            std::mem::take(&mut texts[l.index()])
        }))
    }

    /// Builds a lexicon from the text of each list (the file format).
    pub fn from_texts(mut text_of: impl FnMut(LexiconList) -> String) -> Lexicon {
        let mut lists = Vec::with_capacity(LexiconList::ALL.len());
        let mut words: HashMap<Box<str>, Entry, FxMixBuild> = HashMap::default();
        let mut phrases: HashMap<u64, Vec<Phrase>, PassBuild> = HashMap::default();
        for list in LexiconList::ALL {
            let text = text_of(list);
            let terms: Vec<String> = parse_list(&text).collect();
            for term in &terms {
                let mut parts = term.split(' ');
                let Some(first) = parts.next() else { continue };
                let rest: Vec<Box<str>> = parts.map(Box::from).collect();
                let entry = words.entry(Box::from(first)).or_default();
                if rest.is_empty() {
                    entry.words.insert(list);
                } else {
                    entry.starts_phrase = true;
                    let ph = Phrase {
                        rest: rest.into_boxed_slice(),
                        list,
                    };
                    let v = phrases.entry(hash_str(0, first)).or_default();
                    if !v.contains(&ph) {
                        v.push(ph);
                    }
                }
            }
            lists.push(terms);
        }
        // Longest phrases first, so a caller taking the first match gets the most specific.
        for v in phrases.values_mut() {
            v.sort_by_key(|p| std::cmp::Reverse(p.rest.len()));
        }
        Lexicon {
            lists,
            words,
            phrases,
        }
    }

    /// The entries of one list, normalised, in file order.
    pub fn terms(&self, list: LexiconList) -> &[String] {
        &self.lists[list.index()]
    }

    /// True if `term` (a word or phrase, any case) is an entry of `list`.
    pub fn contains(&self, list: LexiconList, term: &str) -> bool {
        let t = normalize_term(term);
        let mut parts = t.split(' ');
        let Some(first) = parts.next() else {
            return false;
        };
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() {
            return self.word_lists(first).contains(list);
        }
        self.phrases_from(first)
            .iter()
            .any(|p| p.list == list && p.rest.iter().map(|w| &**w).eq(rest.iter().copied()))
    }

    /// The lists holding `word` (already lowercase) as a single-word entry.
    #[inline]
    pub fn word_lists(&self, word: &str) -> ListSet {
        self.words.get(word).map(|e| e.words).unwrap_or_default()
    }

    /// `(lists of word, whether a phrase starts with it)` in one lookup.
    #[inline]
    pub fn lookup(&self, word: &str) -> (ListSet, bool) {
        self.words
            .get(word)
            .map(|e| (e.words, e.starts_phrase))
            .unwrap_or_default()
    }

    /// Every first word: `(word, lists holding it as a word, whether a phrase
    /// starts with it)`. Lets a caller build its own dictionary on top.
    pub fn words(&self) -> impl Iterator<Item = (&str, ListSet, bool)> + '_ {
        self.words
            .iter()
            .map(|(w, e)| (&**w, e.words, e.starts_phrase))
    }

    /// The phrases whose first word is `first`, longest first.
    pub fn phrases_from(&self, first: &str) -> &[Phrase] {
        self.phrases_from_hash(hash_str(0, first))
    }

    /// [`phrases_from`](Self::phrases_from) given `hash_str(0, first)`.
    pub fn phrases_from_hash(&self, first_hash: u64) -> &[Phrase] {
        self.phrases
            .get(&first_hash)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// Known bot accounts, matched case-insensitively against login and display name.
#[derive(Debug, Clone, Default)]
pub struct BotList {
    names: HashSet<String, FxMixBuild>,
}

impl BotList {
    /// The accounts in the built-in `assets/bots.txt`.
    pub fn embedded() -> BotList {
        BotList::from_names(parse_list(include_str!("../../assets/bots.txt")))
    }

    /// The accounts listed in a file (same format as the lexicons).
    pub fn from_file(path: &Path) -> Result<BotList, LexiconError> {
        let text = std::fs::read_to_string(path).map_err(|source| LexiconError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(BotList::from_names(parse_list(&text)))
    }

    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> BotList {
        let mut b = BotList::default();
        b.extend(names);
        b
    }

    pub fn extend<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) {
        for n in names {
            let n = normalize_term(n.as_ref());
            if !n.is_empty() {
                self.names.insert(n);
            }
        }
    }

    /// True if `name` (any case) is a listed bot.
    pub fn contains(&self, name: &str) -> bool {
        if name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
            self.names.contains(&normalize_term(name))
        } else {
            self.names.contains(name)
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_list_is_non_empty_and_normalised() {
        let lex = Lexicon::embedded();
        for list in LexiconList::ALL {
            let terms = lex.terms(list);
            assert!(!terms.is_empty(), "{} is empty", list.file_name());
            for t in terms {
                assert_eq!(t, &normalize_term(t), "{t:?} in {}", list.file_name());
                assert!(!t.starts_with('#'));
            }
        }
    }

    #[test]
    fn words_and_phrases_are_found_in_their_lists() {
        let lex = Lexicon::embedded();
        assert!(lex.contains(LexiconList::QuestionWords, "How"));
        assert!(lex.contains(LexiconList::QuestionPhrases, "anyone  KNOW"));
        assert!(lex.contains(LexiconList::Creative, "you should try"));
        assert!(!lex.contains(LexiconList::Creative, "you should fly"));
        assert!(!lex.contains(LexiconList::QuestionWords, "banana"));
        // one lookup answers several lists
        let (lists, _) = lex.lookup("lol");
        assert!(lists.contains(LexiconList::LowValue));
        assert!(!lists.contains(LexiconList::Technical));
        let (_, starts) = lex.lookup("anyone");
        assert!(starts, "\"anyone know\" starts with anyone");
    }

    #[test]
    fn parse_list_skips_comments_and_blank_lines() {
        let t = "# header\n\n  Hello   World \n#x\nWhat’s\n";
        let v: Vec<String> = parse_list(t).collect();
        assert_eq!(v, vec!["hello world".to_string(), "what's".to_string()]);
    }

    #[test]
    fn override_dir_replaces_present_files_and_falls_back_for_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("technical.txt"),
            "# only these\nzorblax\nquantum flux\n",
        )
        .unwrap();
        let lex = Lexicon::load(Some(dir.path())).unwrap();
        assert!(lex.contains(LexiconList::Technical, "zorblax"));
        assert!(lex.contains(LexiconList::Technical, "quantum flux"));
        assert!(
            !lex.contains(LexiconList::Technical, "fps"),
            "the override replaces, not extends"
        );
        // a list with no file in the dir keeps the embedded words
        assert!(lex.contains(LexiconList::QuestionWords, "why"));
        assert_eq!(
            lex.terms(LexiconList::Greetings),
            Lexicon::embedded().terms(LexiconList::Greetings)
        );
    }

    #[test]
    fn unreadable_override_file_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where a file is expected cannot be read as text.
        let bad = dir.path().join("greetings.txt");
        std::fs::create_dir(&bad).unwrap();
        let err = Lexicon::load(Some(dir.path())).unwrap_err();
        assert!(
            err.to_string().contains("greetings.txt"),
            "error should name the file: {err}"
        );
    }

    #[test]
    fn missing_override_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nope");
        let err = Lexicon::load(Some(&gone)).unwrap_err();
        assert!(err.to_string().contains("nope"));
        assert!(Lexicon::load(None).is_ok());
    }

    #[test]
    fn bot_list_matches_any_case_and_extends() {
        let mut bots = BotList::embedded();
        for name in [
            "Nightbot",
            "StreamElements",
            "Moobot",
            "Fossabot",
            "Sery_Bot",
        ] {
            assert!(bots.contains(name), "{name}");
        }
        assert!(!bots.contains("Rin"));
        bots.extend(["MyCustomBot"]);
        assert!(bots.contains("mycustombot"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bots.txt");
        std::fs::write(&p, "# mine\nHelperBot\n").unwrap();
        let from = BotList::from_file(&p).unwrap();
        assert!(from.contains("HELPERBOT"));
        assert_eq!(from.len(), 1);
        assert!(BotList::from_file(&dir.path().join("missing.txt")).is_err());
    }

    #[test]
    fn hash_str_separates_seeds_and_strings() {
        assert_ne!(hash_str(1, "boss"), hash_str(2, "boss"));
        assert_ne!(hash_str(1, "boss"), hash_str(1, "bose"));
        assert_eq!(hash_str(7, "boss"), hash_str(7, "boss"));
    }
}
