//! The IRC connection as lines: each read takes what the socket has and its
//! complete lines are handed out in place (no allocation per line); IRC
//! messages go out as CRLF lines.

use std::borrow::Cow;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use twitch_irc::message::{AsRawIRC, IRCMessage};

use super::map::MAX_IRC_LINE_BYTES;

/// Room made for each read: a flood's backlog arrives in large pieces (about
/// a hundred lines), ordinary chat a few lines at a time.
const READ_CHUNK: usize = 64 * 1024;

/// One line read from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Without its CRLF; bytes that are not UTF-8 read as U+FFFD, so the
    /// rest of the line still arrives.
    Text(Cow<'a, str>),
    /// A line longer than [`MAX_IRC_LINE_BYTES`], skipped; `len` bytes
    /// without its newline.
    TooLong { len: usize },
}

/// Reads lines from the socket's read half.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Where the first line not yet handed out starts in `buf`.
    start: usize,
    /// Bytes skipped so far of an over-long line, until its newline comes.
    skipping: Option<usize>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            skipping: None,
        }
    }

    /// Reads once from the socket; `Ok(0)` when the server closed it.
    /// Cancel-safe: dropped before it completes, it has read nothing.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            // Only the unfinished line is left: move it to the front.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(READ_CHUNK);
        self.inner.read_buf(&mut self.buf).await
    }

    /// The next complete line of what was read, blank lines skipped; `None`
    /// when the rest is an unfinished line (call [`Self::fill`]).
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let (from, end) = loop {
            let pending = &self.buf[self.start..];
            let Some(i) = pending.iter().position(|&b| b == b'\n') else {
                // (One byte of slack: the line's CR may be in already.)
                if self.skipping.is_some() || pending.len() > MAX_IRC_LINE_BYTES + 1 {
                    // Drop what came of the over-long line; its length counts on.
                    *self.skipping.get_or_insert(0) += pending.len();
                    self.start = self.buf.len();
                }
                return None;
            };
            let (from, mut end) = (self.start, self.start + i);
            self.start = end + 1;
            // Every CR before the LF goes, as `map::map_line` trims them.
            while end > from && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            let skipped = self.skipping.take();
            if skipped.is_some() || end - from > MAX_IRC_LINE_BYTES {
                return Some(Line::TooLong {
                    len: skipped.unwrap_or(0) + (end - from),
                });
            }
            if end > from {
                break (from, end);
            }
        };
        Some(Line::Text(String::from_utf8_lossy(&self.buf[from..end])))
    }
}

/// Writes IRC messages to the socket's write half.
pub struct LineWriter<W> {
    inner: W,
    line: String,
}

impl<W: AsyncWrite + Unpin> LineWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            line: String::new(),
        }
    }

    /// Writes `msg` as one CRLF-terminated line and flushes it (TLS holds
    /// bytes back until flushed).
    pub async fn send(&mut self, msg: IRCMessage) -> io::Result<()> {
        self.line.clear();
        self.line.push_str(&msg.as_raw_irc());
        self.line.push_str("\r\n");
        self.inner.write_all(self.line.as_bytes()).await?;
        self.inner.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line the reader hands out, reading `chunks` in order through
    /// a pipe of 4 KiB, so long lines arrive over many reads.
    async fn lines_of(chunks: &[&[u8]]) -> Vec<String> {
        let (mut tx, rx) = tokio::io::duplex(4096);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        tokio::spawn(async move {
            for c in chunks {
                tx.write_all(&c).await.unwrap();
            }
        });
        let mut r = LineReader::new(rx);
        let mut out = Vec::new();
        loop {
            while let Some(line) = r.next_line() {
                out.push(match line {
                    Line::Text(t) => t.into_owned(),
                    Line::TooLong { len } => format!("<too long: {len}>"),
                });
            }
            if r.fill().await.unwrap() == 0 {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn lines_split_across_reads_come_whole_and_without_crlf() {
        let got = lines_of(&[b"PING :a\r\nPRIV", b"MSG #c :hi\r", b"\n\r\n\nlast\r\r\n"]).await;
        assert_eq!(got, ["PING :a", "PRIVMSG #c :hi", "last"]);
    }

    #[tokio::test]
    async fn an_over_long_line_is_skipped_and_counted_and_the_next_arrives() {
        let huge = vec![b'x'; MAX_IRC_LINE_BYTES + 10];
        let got = lines_of(&[b"one\r\n", &huge, b"yy\r\ntwo\r\n"]).await;
        assert_eq!(
            got,
            [
                "one".to_string(),
                format!("<too long: {}>", MAX_IRC_LINE_BYTES + 10 + 2),
                "two".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_still_arrives() {
        let mut line = vec![b'x'; MAX_IRC_LINE_BYTES];
        line.extend_from_slice(b"\r\n");
        let got = lines_of(&[&line, b"next\r\n"]).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_IRC_LINE_BYTES);
        assert_eq!(got[1], "next");
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_do_not_cost_the_line() {
        let got = lines_of(&[b"PRIVMSG #c :caf\xe9 ok\r\n"]).await;
        assert_eq!(got, ["PRIVMSG #c :caf\u{fffd} ok"]);
    }

    #[tokio::test]
    async fn a_message_goes_out_as_one_crlf_line() {
        let (tx, mut rx) = tokio::io::duplex(1024);
        let mut w = LineWriter::new(tx);
        w.send(IRCMessage::new_simple(
            "PRIVMSG".into(),
            vec!["#c".into(), "hello there".into()],
        ))
        .await
        .unwrap();
        drop(w);
        let mut got = String::new();
        rx.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "PRIVMSG #c :hello there\r\n");
    }
}
