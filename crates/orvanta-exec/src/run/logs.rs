//! What the job prints: forwarded to the observer as it comes, up to a cap,
//! with a tail kept for error reports and, for Bash, the last line of stdout
//! (its result).

use super::RunObserver;

/// Lines of the tail shown in an error report.
const TAIL_LINES: usize = 20;
/// The tail is trimmed back to half of this once it grows past it.
const TAIL_BYTES: usize = 16 * 1024;
/// The longest Bash result line kept; longer ones are cut here.
const MAX_RESULT_LINE: usize = 16 * 1024 * 1024;

/// Decodes a byte stream as UTF-8 across reads: a character split between two
/// reads is held back until its end arrives; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
pub(crate) struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::with_capacity(self.pending.len());
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        // Cut short: the rest of the character comes next read.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        text
    }

    /// What is left at the end of the stream (a character never completed).
    pub(crate) fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Forwards log text to the observer until `cap` bytes, then one note, then
/// nothing (the job goes on: a chatty job is not a failed one).
#[derive(Debug)]
pub(crate) struct LogSink {
    cap: usize,
    forwarded: usize,
    truncated: bool,
    tail: String,
}

impl LogSink {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap, forwarded: 0, truncated: false, tail: String::new() }
    }

    pub(crate) async fn push(&mut self, text: &str, observer: &dyn RunObserver) {
        if text.is_empty() {
            return;
        }
        self.keep_tail(text);
        if self.truncated {
            return;
        }
        let room = self.cap - self.forwarded;
        if text.len() <= room {
            self.forwarded += text.len();
            observer.on_logs(text).await;
            return;
        }
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end > 0 {
            observer.on_logs(&text[..end]).await;
        }
        self.forwarded = self.cap;
        self.truncated = true;
        let note = format!("\n[orvanta] logs truncated: over the {} cap; the job goes on\n", human_size(self.cap));
        observer.on_logs(&note).await;
    }

    fn keep_tail(&mut self, text: &str) {
        self.tail.push_str(text);
        if self.tail.len() > TAIL_BYTES {
            let mut cut = self.tail.len() - TAIL_BYTES / 2;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail.drain(..cut);
        }
    }

    /// The last lines printed (also those past the cap): what an error report shows.
    pub(crate) fn last_lines(&self) -> String {
        let trimmed = self.tail.trim_end_matches(['\n', '\r']);
        let start = trimmed.rmatch_indices('\n').nth(TAIL_LINES - 1).map_or(0, |(at, _)| at + 1);
        trimmed[start..].to_owned()
    }
}

/// `10 MiB`, `64 KiB`, or `1000 bytes`: the cap as the note names it.
fn human_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Finds where a warm process says a job's output ended: the bytes before
/// the marker are the job's logs; the marker is never shown. A stream may
/// cut the marker across reads, so a tail that could begin it is held back.
#[derive(Debug)]
pub(crate) struct EndMarker {
    marker: Vec<u8>,
    held: Vec<u8>,
}

impl EndMarker {
    pub(crate) fn new(marker: &[u8]) -> Self {
        Self { marker: marker.to_vec(), held: Vec::new() }
    }

    /// The job's bytes among `bytes` (with what was held back), and whether
    /// the marker came. What follows the marker is not the job's: dropped.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(bytes);
        if let Some(at) = data.windows(self.marker.len()).position(|w| w == self.marker.as_slice()) {
            data.truncate(at);
            return (data, true);
        }
        // The longest end of `data` that could start the marker.
        let most = (self.marker.len() - 1).min(data.len());
        let keep = (1..=most).rev().find(|&n| self.marker.starts_with(&data[data.len() - n..])).unwrap_or(0);
        self.held = data.split_off(data.len() - keep);
        (data, false)
    }

    /// What was held back when the stream ended without the marker.
    pub(crate) fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Follows a byte stream and remembers its last line that is not blank.
#[derive(Debug, Default)]
pub(crate) struct LastLine {
    current: Vec<u8>,
    last: Vec<u8>,
}

impl LastLine {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let mut lines = bytes.split(|&b| b == b'\n');
        // `split` yields one more piece than there are newlines: every piece
        // but the last ends a line.
        if let Some(first) = lines.next() {
            self.extend(first);
        }
        for piece in lines {
            self.end_line();
            self.extend(piece);
        }
    }

    fn extend(&mut self, piece: &[u8]) {
        let room = MAX_RESULT_LINE.saturating_sub(self.current.len());
        self.current.extend_from_slice(&piece[..piece.len().min(room)]);
    }

    fn end_line(&mut self) {
        if self.current.iter().any(|b| !b.is_ascii_whitespace()) {
            self.last = std::mem::take(&mut self.current);
        } else {
            self.current.clear();
        }
    }

    /// The last non-blank line, trimmed (a final line without newline counts).
    pub(crate) fn finish(mut self) -> Option<String> {
        self.end_line();
        let line = String::from_utf8_lossy(&self.last).trim().to_owned();
        (!line.is_empty()).then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_holds_a_split_character() {
        let mut d = Utf8Decoder::default();
        let bytes = "é!".as_bytes();
        assert_eq!(d.decode(&bytes[..1]), "");
        assert_eq!(d.decode(&bytes[1..]), "é!");
        assert_eq!(d.decode(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(d.decode(b"\xc3"), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }

    #[test]
    fn last_line_skips_blank_lines_and_keeps_an_unterminated_one() {
        let mut l = LastLine::default();
        l.push(b"one\ntw");
        l.push(b"o\n  \n\n");
        assert_eq!(l.finish().as_deref(), Some("two"));
        let mut l = LastLine::default();
        l.push(b"a\nb");
        assert_eq!(l.finish().as_deref(), Some("b"));
        assert_eq!(LastLine::default().finish(), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut sink = LogSink::new(10);
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        sink.keep_tail(&text);
        let last = sink.last_lines();
        assert!(last.starts_with("line 11\n"), "{last}");
        assert!(last.ends_with("line 30"), "{last}");
    }

    #[test]
    fn the_end_marker_is_found_across_reads_and_never_shown() {
        let mut m = EndMarker::new(b"<END>");
        assert_eq!(m.feed(b"hello <"), (b"hello ".to_vec(), false));
        assert_eq!(m.feed(b"EN"), (Vec::new(), false));
        assert_eq!(m.feed(b"D>after"), (Vec::new(), true));
        let mut m = EndMarker::new(b"<END>");
        assert_eq!(m.feed(b"a <E b"), (b"a <E b".to_vec(), false));
        assert_eq!(m.feed(b"x<END>"), (b"x".to_vec(), true));
        let mut m = EndMarker::new(b"<END>");
        assert_eq!(m.feed(b"tail<"), (b"tail".to_vec(), false));
        assert_eq!(m.rest(), b"<".to_vec());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }
}
