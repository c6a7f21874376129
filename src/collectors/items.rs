//! Reading items one at a time (a customer's history or bill, a voucher's
//! usage details) the way every such collector must: a few calls in flight,
//! the progress counted, and what has been read so far published every
//! `--refresh.publish-interval` while the refresh runs, and once more when it
//! fails or the exporter stops, so that neither loses anything already read.
//! An item the API refuses costs its own value only (see
//! [`super::refusals`]). Which items are due, how one is read and how the
//! rows so far make a snapshot are the collector's business.

use super::refusals::Refusals;
use super::{Context, Error};
use crate::snapshot::Snapshot;
use futures::StreamExt;
use std::future::Future;

/// The items a refresh reads one at a time.
pub struct Items<I> {
    pub due: Vec<I>,
    /// Reads at once; the rate limiter paces them.
    pub in_flight: usize,
    /// The UIN or id an item is logged by when the API refuses it.
    pub key: fn(&I) -> u64,
}

/// Reads `items` with `read`, handing each result to `keep`, which folds it
/// into `state`; `so_far` makes the rows published from `state` while the
/// refresh runs. The collector declares the items (`Context::items_due`)
/// before. An item the API refuses is left as `state` has it. On the first
/// failure, or when the exporter stops, what `state` holds is published and
/// the error returned: the caller keeps `state` for the next refresh, which
/// then reads only the items not reached.
pub async fn read_each<S, I, T, R, Fut>(
    ctx: &Context,
    state: &mut S,
    items: Items<I>,
    read: impl Fn(I) -> Fut,
    mut keep: impl FnMut(&mut S, T),
    so_far: impl Fn(&S) -> R,
) -> Result<(), Error>
where
    Fut: Future<Output = Result<T, Error>>,
    R: Into<Snapshot>,
{
    // Once the exporter stops, no item is started, and those under way are
    // read to the end and kept: a restart reads none of them again.
    let Items { due, in_flight, key } = items;
    let read = &read;
    let mut reads = std::pin::pin!(
        futures::stream::iter(due)
            .take_until(ctx.stopping())
            .map(|item| {
                let key = key(&item);
                async move { (key, read(item).await) }
            })
            .buffer_unordered(in_flight)
    );
    let mut refusals = Refusals::default();
    let mut unpublished = 0_usize;
    // A part is encoded and written while the reads go on: at 50,000
    // vouchers that takes a while, and the rate limit's slots are not waited.
    let mut publishing: Option<tokio::task::JoinHandle<()>> = None;
    let outcome = loop {
        match reads.next().await {
            None if ctx.is_stopping() => break Err(Error::Stopping),
            None => break Ok(()),
            Some((_, Ok(item))) => {
                keep(state, item);
                refusals.read(1);
                ctx.item_read();
                unpublished += 1;
                let idle = publishing.as_ref().is_none_or(|p| p.is_finished());
                if idle && ctx.part_due() && !ctx.is_stopping() {
                    publishing = Some(ctx.spawn_part(so_far(state)));
                    unpublished = 0;
                }
            }
            Some((key, Err(error))) if error.item_refusal().is_some() => {
                let code = error.item_refusal().unwrap_or_default();
                ctx.refused(key, &code, &error);
                if let Err(refused) = refusals.refused(&code) {
                    break Err(refused);
                }
                ctx.item_read();
            }
            Some((_, Err(error))) => break Err(error),
        }
    };
    // Parts go out in order, and before whatever the caller publishes next.
    if let Some(part) = publishing {
        let _ = part.await;
    }
    if outcome.is_err() && unpublished > 0 {
        ctx.publish_part(so_far(state)).await;
    }
    outcome
}
