//! Pre-encoded parts of the exposition, and how a scrape stitches them into
//! one response — plain, or gzip without compressing again what was
//! compressed when the snapshot was published.
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

/// One block of exposition text, with its deflate form.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub text: Bytes,
    deflate: Bytes,
    crc: crc32fast::Hasher,
}

impl Block {
    /// Encodes `text` once; its deflate form is reused by every gzip scrape.
    pub fn new(text: String) -> Self {
        Self::from_bytes(Bytes::from(text))
    }

    /// Like [`Block::new`], for text that may be a slice of a larger buffer
    /// (which is then shared, not copied).
    pub fn from_bytes(text: Bytes) -> Self {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        let mut encoder = DeflateEncoder::new(Vec::with_capacity(text.len() / 8), Compression::default());
        encoder
            .write_all(&text)
            .and_then(|()| encoder.flush())
            .expect("compressing into memory cannot fail");
        // Take the stream as it stands after the sync flush: not finished, so
        // that more deflate data may follow it.
        let deflate = std::mem::take(encoder.get_mut());
        Self {
            text,
            deflate: Bytes::from(deflate),
            crc,
        }
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
        chunks.push(block.deflate.clone());
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
}
