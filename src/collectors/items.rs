//! Reading items one at a time (a customer's history or bill, a voucher's
//! usage details) the way every such collector must: a few calls in flight,
//! the progress counted, and what has been read so far published every
//! `--refresh.publish-interval` while the refresh runs, and once more when it
//! fails or the exporter stops, so that neither loses anything already read. Which items are due,
//! how one is read and how the rows so far make a snapshot are the
//! collector's business.

use super::{Context, Error};
use crate::snapshot::Snapshot;
use futures::StreamExt;
use std::future::Future;

/// Reads `due` with `read`, `in_flight` at a time, handing each result to
/// `keep`, which folds it into `state`; `so_far` makes the rows published
/// from `state` while the refresh runs. The collector declares the items
/// (`Context::items_due`) before. On the first failure, or when the exporter
/// stops, what `state` holds is published and the error returned: the caller
/// keeps `state` for the next refresh, which then reads only the items not
/// reached.
pub async fn read_each<S, I, T, R, Fut>(
    ctx: &Context,
    state: &mut S,
    due: Vec<I>,
    in_flight: usize,
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
    let mut reads = std::pin::pin!(
        futures::stream::iter(due)
            .take_until(ctx.stopping())
            .map(read)
            .buffer_unordered(in_flight)
    );
    let mut unpublished = 0_usize;
    // A part is encoded and written while the reads go on: at 50,000
    // vouchers that takes a while, and the rate limit's slots are not waited.
    let mut publishing: Option<tokio::task::JoinHandle<()>> = None;
    let outcome = loop {
        match reads.next().await {
            None if ctx.is_stopping() => break Err(Error::Stopping),
            None => break Ok(()),
            Some(Ok(item)) => {
                keep(state, item);
                ctx.item_read();
                unpublished += 1;
                let idle = publishing.as_ref().is_none_or(|p| p.is_finished());
                if idle && ctx.part_due() && !ctx.is_stopping() {
                    publishing = Some(ctx.spawn_part(so_far(state)));
                    unpublished = 0;
                }
            }
            Some(Err(error)) => break Err(error),
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
