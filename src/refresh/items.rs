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
use crate::snapshot::{Rows, Snapshot};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;

/// The items a refresh reads one at a time.
pub struct Items<I> {
    pub due: Vec<I>,
    /// Reads at once; the rate limiter paces them.
    pub in_flight: usize,
    /// Whose item it is and what it is logged by when the API refuses it.
    pub key: fn(&I) -> Key,
}

/// One item of a read: the customer it belongs to, and its own UIN or id
/// (the customer's UIN again for a customer's history or bill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub customer: u64,
    pub id: u64,
    /// Whether it is asked again after a refusal judged its own.
    pub again: bool,
}

impl Key {
    /// The key of an item that is the customer itself.
    pub fn customer(uin: u64) -> Self {
        Self {
            customer: uin,
            id: uin,
            again: false,
        }
    }
}

/// What became of one item of a read.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The API answered it.
    Answered(T),
    /// The API refused it alone: it keeps what it had, which the collector
    /// may mark so that an item that cannot change is not asked again.
    Refused(Key),
}

/// How the state of a refresh becomes the part it publishes.
pub trait Part<S> {
    /// The snapshot to publish now, made from `state`; it may take `state`
    /// whole, which [`Part::take_back`] then restores.
    fn publish(&self, state: &mut S) -> Arc<Snapshot>;
    /// Restores what [`Part::publish`] took from `state`, from `published`
    /// once it is served (or failed to be).
    fn take_back(&self, _state: &mut S, _published: &Snapshot) {}
}

/// A part made from the state, which stays as it is: rows of the items read,
/// merged with what was known.
impl<S, R, F> Part<S> for F
where
    F: Fn(&S) -> R,
    R: Into<Snapshot>,
{
    fn publish(&self, state: &mut S) -> Arc<Snapshot> {
        Arc::new(self(state).into())
    }
}

/// A state that is the rows published, handed over whole rather than
/// copied, then taken back as a copy of what is served. At 50,000 vouchers
/// the rows are 9 MB: copied while the part before is still served, they
/// were held three times at once; handed over, twice.
pub struct HandOver;

impl<R: Rows + Default> Part<R> for HandOver {
    fn publish(&self, state: &mut R) -> Arc<Snapshot> {
        Arc::new(std::mem::take(state).into())
    }

    fn take_back(&self, state: &mut R, published: &Snapshot) {
        if let Some(rows) = R::of(published) {
            *state = rows.clone();
        }
    }
}

/// Reads `items` with `read`, handing each outcome to `keep`, which folds it
/// into `state`; `part` makes what is published from `state` while the
/// refresh runs. The collector declares the items (`Context::items_due`)
/// before. An item the API refuses alone is handed over as refused, under
/// the one rule of [`super::refusals`], judged once every item was asked
/// about. While a part
/// is being published, the items read wait, and are folded in once it is
/// served. On the first failure, or when the exporter stops, what `state`
/// holds is published and the error returned: the caller keeps `state` for
/// the next refresh, which then reads only the items not reached.
pub async fn read_each<S, I, T, Fut>(
    ctx: &Context,
    state: &mut S,
    items: Items<I>,
    read: impl Fn(I) -> Fut,
    mut keep: impl FnMut(&mut S, Outcome<T>),
    part: impl Part<S>,
) -> Result<(), Error>
where
    Fut: Future<Output = Result<T, Error>>,
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
    let mut publishing: Option<Publishing> = None;
    let mut waiting: Vec<Outcome<T>> = Vec::new();
    let outcome = loop {
        if ctx.past_deadline() {
            break Err(ctx.deadline_error());
        }
        let read = match reads.next().await {
            None if ctx.is_stopping() => break Err(Error::Stopping),
            None => break refusals.verdict(),
            Some((_, Ok(item))) => {
                refusals.read(1);
                Outcome::Answered(item)
            }
            Some((key, Err(error))) => match error.item_refusal() {
                Some(code) => {
                    ctx.refused(key.id, &code, &error);
                    refusals.refused(key.customer, &code, key.again);
                    Outcome::Refused(key)
                }
                None => break Err(error),
            },
        };
        waiting.push(read);
        ctx.item_read();
        unpublished += 1;
        if let Some(served) = publishing.take_if(|p| p.is_served()) {
            served.served(state, &part);
        }
        if publishing.is_none() {
            waiting.drain(..).for_each(|read| keep(state, read));
            if ctx.part_due() && !ctx.is_stopping() {
                publishing = Some(Publishing::start(ctx, state, &part));
                unpublished = 0;
            }
        }
    };
    // Parts go out in order, and before whatever the caller publishes next.
    if let Some(publishing) = publishing {
        publishing.finish().await.served(state, &part);
    }
    waiting.into_iter().for_each(|read| keep(state, read));
    if outcome.is_err() && unpublished > 0 {
        Publishing::start(ctx, state, &part).finish().await.served(state, &part);
    }
    outcome
}

/// A part being published.
struct Publishing {
    snapshot: Arc<Snapshot>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Publishing {
    fn start<S>(ctx: &Context, state: &mut S, part: &impl Part<S>) -> Self {
        let snapshot = part.publish(state);
        let task = ctx.spawn_part(snapshot.clone());
        Self {
            snapshot,
            task: Some(task),
        }
    }

    fn is_served(&self) -> bool {
        self.task.as_ref().is_none_or(tokio::task::JoinHandle::is_finished)
    }

    async fn finish(mut self) -> Self {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self
    }

    /// Gives `state` back what the part took; the part is served by now.
    fn served<S>(self, state: &mut S, part: &impl Part<S>) {
        let Self { snapshot, .. } = self;
        part.take_back(state, &snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{VoucherRow, VouchersSnapshot};

    #[test]
    fn rows_handed_over_to_a_part_are_moved_and_come_back_as_served() {
        let rows = VouchersSnapshot {
            aged_out: Vec::new(),
            rows: vec![VoucherRow {
                customer_uin: 100,
                voucher_id: 7,
                remaining: Some(12.5),
                ..Default::default()
            }],
        };
        let mut state = rows.clone();
        let published = HandOver.publish(&mut state);
        assert_eq!(state, VouchersSnapshot::default(), "moved into the part, not copied");
        assert_eq!(*published, Snapshot::from(rows.clone()));
        HandOver.take_back(&mut state, &published);
        assert_eq!(state, rows);
    }

    #[test]
    fn a_part_made_by_a_closure_leaves_the_state_as_it_is() {
        let mut state = vec![1_u64, 2];
        let part = |uins: &Vec<u64>| VouchersSnapshot {
            aged_out: Vec::new(),
            rows: uins
                .iter()
                .map(|&uin| VoucherRow {
                    customer_uin: uin,
                    ..Default::default()
                })
                .collect(),
        };
        let published = part.publish(&mut state);
        assert_eq!(state, [1, 2]);
        let rows = VouchersSnapshot::of(&published).map(|s| s.rows.len());
        assert_eq!(rows, Some(2));
    }
}
