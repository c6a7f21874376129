//! Cutting the text a snapshot renders into its metric families as it is
//! written ([`Families`], a `fmt::Write`), each held in pieces of whole
//! lines, each piece compressed once.
//!
//! A piece written as it is in the family served until now is that one,
//! shared: a part of a long refresh changes a family or two here and there
//! (the usage records read since the last part), and the rest is neither
//! compressed again nor held twice. A piece is compared as soon as it is
//! written, so a publication holds anew only the pieces that changed, never
//! a second copy of a whole family: at 50,000 vouchers the text is tens of
//! megabytes, published every 30 seconds while a first refresh runs.
//!
//! Where a piece ends depends on its lines, not on where it starts: after a
//! line whose series hashes to a boundary, once the piece holds all but the
//! last 8 KB of [`PIECE`]. So a line that changed, came or went moves the
//! cuts of its own piece only, and the pieces after it are cut as before,
//! and shared.

use super::block::{Block, PIECE, Piece};
use bytes::Bytes;
use std::collections::HashMap;

/// One metric family of a snapshot, encoded: its descriptor (`# HELP`,
/// `# TYPE`, `# UNIT`) apart from its samples, so a scrape can write the
/// descriptor once and the samples of every account after it.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub header: Block,
    /// The descriptor without `# UNIT`, for the classic text format;
    /// compressed at publication too, so that a gzipped classic scrape costs
    /// what a gzipped OpenMetrics one does.
    pub classic_header: Block,
    pub samples: Block,
}

/// A piece may end after a line once it holds this many bytes.
const AT_LEAST: usize = PIECE - 8 * 1024;
/// It ends at the first line end after this many bytes, so that a line
/// (under 4 KiB, as every line of ours is) seldom grows it past [`PIECE`].
const LINES_UP_TO: usize = PIECE - 4 * 1024;
/// One series in this many ends a piece (past [`AT_LEAST`]): for lines of
/// 120 bytes, nearly every piece ends where its lines say, not at
/// [`LINES_UP_TO`].
const ONE_IN: u32 = 16;

/// Whether the piece, `len` bytes long with `line` its last, ends there.
fn ends_piece(line: &[u8], len: usize) -> bool {
    if len >= LINES_UP_TO {
        return true;
    }
    if len < AT_LEAST {
        return false;
    }
    // The series, not its value: a value that changed moves no cut.
    let series = line.rsplitn(2, |&b| b == b' ').nth(1).unwrap_or(line);
    crc32fast::hash(series).is_multiple_of(ONE_IN)
}

/// The pieces of a family served until now, by checksum and length.
type Served<'l> = HashMap<(u32, usize), &'l Piece>;

/// Receives OpenMetrics text and keeps it as families.
pub struct Families<'l> {
    /// The families served until now, shared where unchanged.
    last: &'l [Family],
    done: Vec<Family>,
    /// The descriptor lines of the family being written.
    header: Option<Vec<u8>>,
    /// Whether the family being written is still in its descriptor lines.
    in_header: bool,
    /// The pieces of the family of the same name served until now.
    served: Served<'l>,
    /// Its samples, in finished pieces.
    samples: Vec<Piece>,
    /// The piece being written; its last line may be unfinished. One buffer
    /// for every piece: a piece is copied out of it at its own size, or not
    /// at all when it is the one served.
    current: Vec<u8>,
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
            served: HashMap::new(),
            samples: Vec::new(),
            current: Vec::with_capacity(PIECE),
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
            self.served = self.last_named(name_of(&line)).map(served_pieces).unwrap_or_default();
            self.header = Some(line);
            self.in_header = true;
        } else if self.in_header && line.starts_with(b"# ") {
            // `# TYPE` and `# UNIT` follow `# HELP`, before any sample.
            let line = line.to_vec();
            self.current.truncate(self.line_start);
            self.header.get_or_insert_default().extend_from_slice(&line);
        } else {
            self.in_header = false;
            if ends_piece(line, self.current.len()) {
                self.end_piece();
            }
        }
        self.line_start = self.current.len();
    }

    /// Ends the piece being written: the one served until now if its text is the same.
    fn end_piece(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let text = &self.current[..];
        let piece = match self.served.get(&(crc32fast::hash(text), text.len())) {
            Some(served) if served.text() == text => (*served).clone(),
            _ => Piece::new(Bytes::copy_from_slice(text)),
        };
        self.current.clear();
        self.samples.push(piece);
    }

    /// The family named `name` among those served until now.
    fn last_named(&self, name: &str) -> Option<&'l Family> {
        self.last.iter().find(|f| f.name == name)
    }

    /// Ends the family being written; its descriptor is the one served until
    /// now if its text is the same.
    fn end_family(&mut self) {
        self.end_piece();
        self.line_start = 0;
        let pieces = std::mem::take(&mut self.samples);
        self.served.clear();
        let Some(header) = self.header.take() else {
            return;
        };
        let name = name_of(&header).to_owned();
        let last = self.last_named(&name);
        // Every piece shared, in order: the block served, its joined deflate
        // included, rather than a copy of it.
        let samples = match last {
            Some(last) if same_pieces(last.samples.pieces(), &pieces) => last.samples.clone(),
            _ => Block::from(pieces),
        };
        let family = match last {
            Some(last) if last.header.to_vec() == header => Family {
                name,
                header: last.header.clone(),
                classic_header: last.classic_header.clone(),
                samples,
            },
            _ => {
                let classic: Vec<u8> = header
                    .split_inclusive(|&b| b == b'\n')
                    .filter(|l| !l.starts_with(b"# UNIT "))
                    .flatten()
                    .copied()
                    .collect();
                Family {
                    name,
                    header: Block::new(header),
                    classic_header: Block::new(classic),
                    samples,
                }
            }
        };
        self.done.push(family);
    }
}

/// The family name a `# HELP` line is about.
fn name_of(help: &[u8]) -> &str {
    std::str::from_utf8(help)
        .ok()
        .and_then(|h| h.strip_prefix("# HELP ")?.split(' ').next())
        .unwrap_or_default()
}

/// Whether `pieces` are `served`'s, in the same order.
fn same_pieces(served: &[Piece], pieces: &[Piece]) -> bool {
    served.len() == pieces.len() && served.iter().zip(pieces).all(|(a, b)| a.shares(b))
}

fn served_pieces(family: &Family) -> Served<'_> {
    family
        .samples
        .pieces()
        .iter()
        .map(|piece| ((piece.checksum(), piece.text().len()), piece))
        .collect()
}

impl std::fmt::Write for Families<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for segment in s.as_bytes().split_inclusive(|&b| b == b'\n') {
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
                .flat_map(|f| [f.header.to_vec(), f.samples.to_vec()])
                .flatten()
                .collect();
            assert_eq!(String::from_utf8(rejoined).unwrap(), TEXT);
            assert_eq!(families[0].samples.to_vec(), b"a_usd{account=\"x\"} 1.0\n");
            assert_eq!(
                families[0].classic_header.to_vec(),
                b"# HELP a_usd First.\n# TYPE a_usd gauge\n"
            );
            assert_eq!(
                families[1].samples.to_vec(),
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
        assert!(shared(&next[0].samples, &last[0].samples));
        assert!(next[0].samples.shares(&last[0].samples), "its joined deflate too");
        assert_eq!(
            next[1].samples.to_vec(),
            b"b{account=\"x\",k=\"v\"} 4.0\nb{account=\"x\",k=\"w\"} 3.0\n"
        );
        assert!(!shared(&next[1].samples, &last[1].samples));
        let unchanged = families(&TEXT.replace("2.0", "4.0"), 3, &next);
        assert!(shared(&unchanged[1].samples, &next[1].samples));
        assert!(unchanged[1].samples.shares(&next[1].samples));
        assert!(unchanged[1].header.pieces()[0].shares(&next[1].header.pieces()[0]));
    }

    /// Whether every piece of `a` is the piece of `b` at its place.
    fn shared(a: &Block, b: &Block) -> bool {
        same_pieces(b.pieces(), a.pieces())
    }

    /// A family of `lines` samples, written in one go; `value` gives each.
    fn big(lines: impl Iterator<Item = usize>, value: impl Fn(usize) -> f64, last: &[Family]) -> Vec<Family> {
        let mut families = Families::new(last);
        families.write_str("# HELP a A.\n# TYPE a gauge\n").unwrap();
        for i in lines {
            writeln!(families, "a{{account=\"x\",customer_uin=\"{i}\"}} {:?}", value(i)).unwrap();
        }
        families.finish()
    }

    #[test]
    fn a_text_of_megabytes_is_held_in_pieces_of_whole_lines() {
        let families = big(0..100_000, |_| 1.0, &[]);
        let samples = &families[0].samples;
        assert!(samples.len() > 3_500_000, "{}", samples.len());
        assert!(samples.pieces().len() > 30, "{} pieces", samples.pieces().len());
        for text in samples.text() {
            assert!(text.len() <= PIECE, "{}", text.len());
            assert_eq!(text.last(), Some(&b'\n'));
        }
    }

    #[test]
    fn a_line_that_changed_came_or_went_costs_its_own_piece_only() {
        let last = big(0..100_000, |_| 1.0, &[]);
        let count = last[0].samples.pieces().len();
        for (what, next) in [
            (
                "a value",
                big(0..100_000, |i| if i == 50_000 { 12.25 } else { 1.0 }, &last),
            ),
            (
                "a line gone",
                big((0..100_000).filter(|&i| i != 50_000), |_| 1.0, &last),
            ),
            ("a line more", big((0..100_000).chain([100_000]), |_| 1.0, &last)),
            (
                "a longer value",
                big(0..100_000, |i| if i == 20 { 1234567.5 } else { 1.0 }, &last),
            ),
        ] {
            let old = last[0].samples.pieces();
            let new = next[0].samples.pieces();
            let anew = new.iter().filter(|p| !old.iter().any(|o| o.shares(p))).count();
            assert!(anew <= 2, "{what}: {anew} of {} pieces written anew", new.len());
            assert!(
                new.len().abs_diff(count) <= 1,
                "{what}: {} pieces, {count} before",
                new.len()
            );
            assert!(next[0].header.pieces()[0].shares(&last[0].header.pieces()[0]));
        }
    }
}
