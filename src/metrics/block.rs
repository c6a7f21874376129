//! Pre-encoded parts of the exposition, and how a scrape stitches them into
//! one response — plain, or gzip without compressing again what was
//! compressed when the snapshot was published.
//!
//! Text is held in pieces of about [`PIECE`] bytes ([`Text`]), never in one
//! buffer: at 50,000 vouchers a snapshot is tens of megabytes, and a long
//! refresh publishes it every 30 seconds. Buffers of one size, well under the
//! allocator's threshold for mapping memory of its own, are reused from one
//! publication to the next, where buffers of tens of megabytes of a size
//! that grows with each part left the heap in fragments (peak RSS at 10,000
//! customers went from 99.5 MiB to 224.5 MiB with parts before this).
//!
//! Each cached block is kept as text and as a raw deflate stream ended by a
//! sync flush (byte-aligned, not final). Deflate streams ended that way can be
//! concatenated; the small per-scrape part is compressed last with a final
//! block, and the gzip trailer's CRC-32 is combined from the parts' CRCs. The
//! result is one ordinary single-member gzip stream that every client reads.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::io::Write;

/// The size text and deflate streams are held in pieces of.
pub const PIECE: usize = 64 * 1024;

/// Text held in pieces; a piece of exposition text holds whole lines.
#[derive(Debug, Clone, Default)]
pub struct Text(Vec<Bytes>);

impl Text {
    pub fn pieces(&self) -> &[Bytes] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    /// Whether `self` and `other` hold the same bytes, however cut: compared
    /// a run of both pieces at a time, not byte by byte (a part of the
    /// vouchers compares tens of megabytes).
    pub fn same_as(&self, other: &Text) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (mut ours, mut theirs) = (self.0.iter().map(|p| &p[..]), other.0.iter().map(|p| &p[..]));
        let (mut a, mut b): (&[u8], &[u8]) = (&[], &[]);
        loop {
            if a.is_empty() {
                match ours.next() {
                    Some(piece) => a = piece,
                    None => return b.is_empty() && theirs.all(<[u8]>::is_empty),
                }
                continue;
            }
            if b.is_empty() {
                match theirs.next() {
                    Some(piece) => b = piece,
                    None => return false,
                }
                continue;
            }
            let run = a.len().min(b.len());
            if a[..run] != b[..run] {
                return false;
            }
            (a, b) = (&a[run..], &b[run..]);
        }
    }

    /// The text in one buffer, for tests and small texts.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.concat()
    }

    /// Whether the two texts share their first piece: the same text, not a copy.
    pub fn shares(&self, other: &Text) -> bool {
        match (self.0.first(), other.0.first()) {
            (Some(a), Some(b)) => a.as_ptr() == b.as_ptr(),
            _ => false,
        }
    }
}

impl From<Vec<Bytes>> for Text {
    fn from(pieces: Vec<Bytes>) -> Self {
        Text(pieces)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text(vec![Bytes::from(text)])
    }
}

/// Writes a byte stream (deflate) into pieces of [`PIECE`] bytes.
#[derive(Debug, Default)]
pub struct Pieces {
    done: Vec<Bytes>,
    current: Vec<u8>,
}

impl Pieces {
    fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            // Grown as written, not reserved whole: the deflate stream of a
            // family's descriptor is a few dozen bytes.
            let take = data.len().min(PIECE - self.current.len());
            self.current.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.current.len() >= PIECE {
                self.done.push(Bytes::from(std::mem::take(&mut self.current)));
            }
        }
    }

    /// The pieces written.
    pub fn finish(mut self) -> Text {
        if !self.current.is_empty() {
            self.done.push(Bytes::from(self.current));
        }
        Text(self.done)
    }
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One block of exposition text, with its deflate form.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub text: Text,
    deflate: Text,
    crc: crc32fast::Hasher,
}

impl Block {
    /// Encodes `text` once; its deflate form is reused by every gzip scrape.
    pub fn new(text: impl Into<Text>) -> Self {
        let text = text.into();
        let mut crc = crc32fast::Hasher::new();
        let mut encoder = DeflateEncoder::new(Pieces::default(), Compression::default());
        for piece in text.pieces() {
            crc.update(piece);
            encoder.write_all(piece).expect("compressing into memory cannot fail");
        }
        encoder.flush().expect("compressing into memory cannot fail");
        // Take the stream as it stands after the sync flush: not finished, so
        // that more deflate data may follow it.
        let deflate = std::mem::take(encoder.get_mut()).finish();
        Self { text, deflate, crc }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// The chunks of a gzip stream of `blocks` followed by `tail`.
pub fn gzip(blocks: &[&Block], tail: &[u8]) -> Vec<Bytes> {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = Vec::with_capacity(blocks.len() + 3);
    chunks.push(Bytes::from_static(&HEADER));
    let mut crc = crc32fast::Hasher::new();
    let mut len: u64 = 0;
    for block in blocks {
        chunks.extend(block.deflate.pieces().iter().cloned());
        crc.combine(&block.crc);
        len += block.text.len() as u64;
    }
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(tail.len() / 4 + 16), Compression::fast());
    encoder.write_all(tail).expect("compressing into memory cannot fail");
    chunks.push(Bytes::from(
        encoder.finish().expect("compressing into memory cannot fail"),
    ));
    let mut tail_crc = crc32fast::Hasher::new();
    tail_crc.update(tail);
    crc.combine(&tail_crc);
    len += tail.len() as u64;
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
    trailer.extend_from_slice(&(len as u32).to_le_bytes());
    chunks.push(Bytes::from(trailer));
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn stitched_gzip_is_one_stream_of_every_part_in_order() {
        let a = Block::new("first block\n".repeat(1000));
        let b = Block::new(String::new());
        let c = Block::new("third ".repeat(5000));
        let chunks = gzip(&[&a, &b, &c], b"tail\n# EOF\n");
        let body: Vec<u8> = chunks.concat();
        let mut decoded = String::new();
        GzDecoder::new(&body[..]).read_to_string(&mut decoded).unwrap();
        let expected = "first block\n".repeat(1000) + &"third ".repeat(5000) + "tail\n# EOF\n";
        assert_eq!(decoded, expected);
        // A single member: a strict reader that stops after one member sees all of it.
        let mut strict = flate2::read::GzDecoder::new(&body[..]);
        let mut once = Vec::new();
        strict.read_to_end(&mut once).unwrap();
        assert_eq!(once.len(), expected.len());
    }

    #[test]
    fn gzip_of_nothing_but_a_tail_is_valid() {
        let body: Vec<u8> = gzip(&[], b"# EOF\n").concat();
        let mut decoded = String::new();
        GzDecoder::new(&body[..]).read_to_string(&mut decoded).unwrap();
        assert_eq!(decoded, "# EOF\n");
    }

    #[test]
    fn texts_are_the_same_however_they_are_cut() {
        let cut = |parts: &[&str]| {
            Text::from(
                parts
                    .iter()
                    .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                    .collect::<Vec<_>>(),
            )
        };
        let whole = cut(&["abcdef"]);
        assert!(whole.same_as(&cut(&["ab", "", "cde", "f"])));
        assert!(cut(&["", "abc", "def", ""]).same_as(&whole));
        assert!(!whole.same_as(&cut(&["ab", "cdeg"])));
        assert!(!whole.same_as(&cut(&["abcde"])));
        assert!(Text::default().same_as(&cut(&["", ""])));
    }
}
