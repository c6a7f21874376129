//! Pre-encoded parts of the exposition, and how a scrape stitches them into
//! one response — plain, or gzip without compressing again what was
//! compressed when the snapshot was published.
//!
//! A block of text is held in [`Piece`]s of at most [`PIECE`] bytes of whole
//! lines, never in one buffer: at 50,000 vouchers a snapshot is tens of
//! megabytes, and a long refresh publishes it every 30 seconds. Each piece is
//! compressed on its own, so that a piece unchanged since the last
//! publication is shared with it, text and deflate alike, and a publication
//! holds anew only the pieces that changed (see [`super::families`]).
//!
//! Each piece's deflate stream is ended by a sync flush (byte-aligned, not
//! final). Deflate streams ended that way can be concatenated: a block joins
//! its pieces' streams and combines their CRCs once, when published. A
//! scrape sends the blocks' streams, compresses its small own part last with
//! a final block, and combines the blocks' CRCs for the gzip trailer. The
//! result is one ordinary single-member gzip stream that every client reads.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::io::Write;

/// The most bytes a piece of text holds, but for a single longer line. A
/// scrape writes a piece at a time, and pieces of 56 to 64 KB are what it
/// writes fastest: at 2,000 customers, pieces of 32 to 64 KB or of 64 to 128
/// KB took a plain scrape from 2.6 to 3.9 ms of CPU and its p99 from 11 to
/// 130 ms.
pub const PIECE: usize = 64 * 1024;

/// Text and its deflate form, compressed once.
#[derive(Debug, Clone)]
pub struct Piece {
    text: Bytes,
    deflate: Bytes,
    crc: crc32fast::Hasher,
}

impl Piece {
    /// Compresses `text`; its deflate form is reused by every gzip scrape.
    pub fn new(text: Bytes) -> Self {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        let mut encoder = DeflateEncoder::new(Vec::with_capacity(text.len() / 8 + 64), Compression::default());
        encoder.write_all(&text).expect("compressing into memory cannot fail");
        encoder.flush().expect("compressing into memory cannot fail");
        // Take the stream as it stands after the sync flush: not finished, so
        // that more deflate data may follow it.
        let deflate = Bytes::from(std::mem::take(encoder.get_mut()));
        Self { text, deflate, crc }
    }

    pub fn text(&self) -> &Bytes {
        &self.text
    }

    /// The CRC-32 of the text.
    pub fn checksum(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// Whether the two pieces are one, not equal copies.
    pub fn shares(&self, other: &Piece) -> bool {
        self.text.as_ptr() == other.text.as_ptr() && self.text.len() == other.text.len()
    }
}

/// One block of exposition text (a family's descriptor, or its samples), in
/// pieces, with its deflate form in one buffer: a gzip scrape sends it as
/// one chunk and combines one CRC, not one of each per piece.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Each piece's deflate stream is a slice of `deflate`.
    pieces: Vec<Piece>,
    deflate: Bytes,
    /// The CRC-32 of the whole text.
    crc: crc32fast::Hasher,
}

impl Block {
    /// `text` as one piece, compressed once.
    pub fn new(text: impl Into<Bytes>) -> Self {
        let text = text.into();
        if text.is_empty() {
            return Self::default();
        }
        Self::from(vec![Piece::new(text)])
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The text, piece by piece.
    pub fn text(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces.iter().map(Piece::text)
    }

    pub fn len(&self) -> usize {
        self.text().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.text().all(Bytes::is_empty)
    }

    /// Whether the two blocks are one, joined deflate and all, not equal copies.
    #[cfg(test)]
    pub fn shares(&self, other: &Block) -> bool {
        self.deflate.as_ptr() == other.deflate.as_ptr() && self.deflate.len() == other.deflate.len()
    }

    /// The text in one buffer, for tests and small texts.
    pub fn to_vec(&self) -> Vec<u8> {
        self.text().flat_map(|t| t.iter().copied()).collect()
    }
}

impl From<Vec<Piece>> for Block {
    /// Joins the pieces' deflate streams, each piece then pointing into the
    /// joined buffer: the buffers of the pieces written anew are freed, and a
    /// piece shared with the block before no longer holds that one's.
    fn from(mut pieces: Vec<Piece>) -> Self {
        let mut joined = Vec::with_capacity(pieces.iter().map(|p| p.deflate.len()).sum());
        let mut crc = crc32fast::Hasher::new();
        for piece in &pieces {
            joined.extend_from_slice(&piece.deflate);
            crc.combine(&piece.crc);
        }
        let deflate = Bytes::from(joined);
        let mut at = 0;
        for piece in &mut pieces {
            let len = piece.deflate.len();
            piece.deflate = deflate.slice(at..at + len);
            at += len;
        }
        Self { pieces, deflate, crc }
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
        chunks.push(block.deflate.clone());
        crc.combine(&block.crc);
        len += block.len() as u64;
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
    fn a_block_of_many_pieces_stitches_into_one_stream() {
        let pieces: Vec<Piece> = (0..5)
            .map(|i| Piece::new(Bytes::from(format!("piece {i}\n").repeat(100 + i))))
            .collect();
        let block = Block::from(pieces);
        let body: Vec<u8> = gzip(&[&block], b"# EOF\n").concat();
        let mut decoded = Vec::new();
        GzDecoder::new(&body[..]).read_to_end(&mut decoded).unwrap();
        let mut expected = block.to_vec();
        expected.extend_from_slice(b"# EOF\n");
        assert_eq!(decoded, expected);
        assert_eq!(block.pieces()[2].checksum(), crc32fast::hash(block.pieces()[2].text()));
    }
}
