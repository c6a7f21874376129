//! Cutting the text a snapshot renders into its metric families as it is
//! written ([`Families`], a `fmt::Write`), each held in pieces of about
//! [`PIECE`] bytes and compressed once.
//!
//! A family whose text is as in the families served until now is theirs,
//! shared: a part of a long refresh changes a family or two (the usage
//! records read since the last part), and the unchanged ones are then
//! neither compressed again nor held twice. Each family is compared as soon
//! as the next one starts, so that a publication holds at most one family
//! that turns out unchanged, never a second copy of the whole text: at 50,000
//! vouchers that text is tens of megabytes, published every 30 seconds while
//! a first refresh runs.

use super::block::{Block, PIECE, Text};
use bytes::{Bytes, BytesMut};

/// One metric family of a snapshot, encoded: its descriptor (`# HELP`,
/// `# TYPE`, `# UNIT`) apart from its samples, so a scrape can write the
/// descriptor once and the samples of every account after it.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub header: Block,
    /// The descriptor without `# UNIT`, for the classic text format.
    pub classic_header: bytes::Bytes,
    pub samples: Block,
}

/// A piece of text ends at the first line end after this many bytes, so
/// that a line (under 4 KiB, as every line of ours is) seldom grows it past
/// [`PIECE`].
const LINES_UP_TO: usize = PIECE - 4 * 1024;

/// Receives OpenMetrics text and keeps it as families.
pub struct Families<'l> {
    /// The families served until now, shared where unchanged.
    last: &'l [Family],
    done: Vec<Family>,
    /// The descriptor lines of the family being written.
    header: Option<Vec<u8>>,
    /// Whether the family being written is still in its descriptor lines.
    in_header: bool,
    /// Its samples, in finished pieces.
    samples: Vec<Bytes>,
    /// The piece being written; its last line may be unfinished.
    current: BytesMut,
    /// Where, in `current`, the line being written starts.
    line_start: usize,
}

impl<'l> Families<'l> {
    pub fn new(last: &'l [Family]) -> Self {
        Self {
            last,
            done: Vec::new(),
            header: None,
            in_header: false,
            samples: Vec::new(),
            current: BytesMut::new(),
            line_start: 0,
        }
    }

    /// The families written.
    pub fn finish(mut self) -> Vec<Family> {
        self.end_family();
        self.done
    }

    /// Handles the line that ends `current`, now complete.
    fn line_ended(&mut self) {
        let line = &self.current[self.line_start..];
        if line.starts_with(b"# HELP ") {
            let line = line.to_vec();
            self.current.truncate(self.line_start);
            self.end_family();
            self.header = Some(line);
            self.in_header = true;
        } else if self.in_header && line.starts_with(b"# ") {
            // `# TYPE` and `# UNIT` follow `# HELP`, before any sample.
            let line = line.to_vec();
            self.current.truncate(self.line_start);
            self.header.get_or_insert_default().extend_from_slice(&line);
        } else {
            self.in_header = false;
            if self.current.len() >= LINES_UP_TO {
                self.samples.push(self.current.split().freeze());
            }
        }
        self.line_start = self.current.len();
    }

    /// Ends the family being written: `last`'s if its text is the same.
    fn end_family(&mut self) {
        if !self.current.is_empty() {
            self.samples.push(self.current.split().freeze());
        }
        self.line_start = 0;
        let samples = Text::from(std::mem::take(&mut self.samples));
        let Some(header) = self.header.take() else {
            return;
        };
        let name = std::str::from_utf8(&header)
            .ok()
            .and_then(|h| h.strip_prefix("# HELP ")?.split(' ').next())
            .unwrap_or_default()
            .to_owned();
        let header = Text::from(vec![Bytes::from(header)]);
        let unchanged = self
            .last
            .iter()
            .find(|f| f.name == name && f.header.text.same_as(&header) && f.samples.text.same_as(&samples));
        let family = match unchanged {
            Some(family) => family.clone(),
            None => {
                let classic: Vec<u8> = header
                    .to_vec()
                    .split_inclusive(|&b| b == b'\n')
                    .filter(|l| !l.starts_with(b"# UNIT "))
                    .flatten()
                    .copied()
                    .collect();
                Family {
                    name,
                    header: Block::new(header),
                    classic_header: Bytes::from(classic),
                    samples: Block::new(samples),
                }
            }
        };
        self.done.push(family);
    }
}

impl std::fmt::Write for Families<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for segment in s.as_bytes().split_inclusive(|&b| b == b'\n') {
            if self.current.capacity() - self.current.len() < segment.len() {
                self.current.reserve(PIECE.max(segment.len()));
            }
            self.current.extend_from_slice(segment);
            if segment.ends_with(b"\n") {
                self.line_ended();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    /// The families of `text`, written in writes of `at_most` bytes.
    fn families(text: &str, at_most: usize, last: &[Family]) -> Vec<Family> {
        let mut families = Families::new(last);
        let mut rest = text;
        while !rest.is_empty() {
            let mut cut = rest.len().min(at_most);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            families.write_str(&rest[..cut]).unwrap();
            rest = &rest[cut..];
        }
        families.finish()
    }

    const TEXT: &str = "# HELP a_usd First.\n# TYPE a_usd gauge\n# UNIT a_usd usd\na_usd{account=\"x\"} 1.0\n\
                        # HELP b Second.\n# TYPE b gauge\nb{account=\"x\",k=\"v\"} 2.0\nb{account=\"x\",k=\"w\"} 3.0\n";

    #[test]
    fn families_split_descriptors_from_samples_and_rejoin_to_the_text_however_it_is_written() {
        for at_most in [1, 2, 7, 20, 1000] {
            let families = families(TEXT, at_most, &[]);
            let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, ["a_usd", "b"], "writes of {at_most} bytes");
            let rejoined: Vec<u8> = families
                .iter()
                .flat_map(|f| [f.header.text.to_vec(), f.samples.text.to_vec()])
                .flatten()
                .collect();
            assert_eq!(String::from_utf8(rejoined).unwrap(), TEXT);
            assert_eq!(families[0].samples.text.to_vec(), b"a_usd{account=\"x\"} 1.0\n");
            assert_eq!(
                &families[0].classic_header[..],
                b"# HELP a_usd First.\n# TYPE a_usd gauge\n"
            );
            assert_eq!(
                families[1].samples.text.to_vec(),
                b"b{account=\"x\",k=\"v\"} 2.0\nb{account=\"x\",k=\"w\"} 3.0\n"
            );
        }
    }

    #[test]
    fn a_family_unchanged_since_the_last_text_is_shared_and_a_changed_one_is_not() {
        let last = families(TEXT, 5, &[]);
        let next = families(&TEXT.replace("2.0", "4.0"), 1000, &last);
        assert_eq!(next.len(), 2);
        // The same bytes, not an equal copy: compressed once, held once.
        assert!(next[0].samples.text.shares(&last[0].samples.text));
        assert_eq!(
            next[1].samples.text.to_vec(),
            b"b{account=\"x\",k=\"v\"} 4.0\nb{account=\"x\",k=\"w\"} 3.0\n"
        );
        assert!(!next[1].samples.text.shares(&last[1].samples.text));
        let unchanged = families(&TEXT.replace("2.0", "4.0"), 3, &next);
        assert!(unchanged[1].samples.text.shares(&next[1].samples.text));
    }

    #[test]
    fn a_text_of_megabytes_is_held_in_pieces_of_whole_lines() {
        let mut families = Families::new(&[]);
        families.write_str("# HELP a A.\n# TYPE a gauge\n").unwrap();
        for i in 0..100_000 {
            writeln!(families, "a{{account=\"x\",i=\"{i}\"}} 1.0").unwrap();
        }
        let families = families.finish();
        let text = &families[0].samples.text;
        assert!(text.len() > 2_000_000);
        assert!(text.pieces().len() > 30);
        for piece in text.pieces() {
            assert!(piece.len() <= PIECE, "{}", piece.len());
            assert_eq!(piece.last(), Some(&b'\n'));
        }
    }
}
