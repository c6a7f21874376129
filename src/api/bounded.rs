//! Reading an answer's body within a bound: an upstream that streams without
//! end (a broken proxy, a captive portal) costs one failed call, never the
//! process's memory. Used by the API client and the metadata service's.

use super::Error;

/// The largest API answer read. A page of 100 items is tens of kilobytes;
/// anything near this is not an answer of the API.
pub const MAX_ANSWER: usize = 4 << 20;

/// The largest answer of the CVM metadata service read: a role name or a key.
pub const MAX_METADATA: usize = 64 << 10;

/// The body of `response`, or [`Error::TooLarge`] as soon as it is longer
/// than `limit` (by its `Content-Length`, or by what has arrived): what
/// arrived past the limit is never kept. `broken` names a body cut short.
pub async fn read(
    mut response: reqwest::Response,
    limit: usize,
    broken: impl Fn(reqwest::Error) -> Error,
) -> Result<Vec<u8>, Error> {
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(Error::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&broken)? {
        if body.len() + chunk.len() > limit {
            return Err(Error::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
