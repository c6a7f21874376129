//! Reading a paged listing whole: every page, read again when the listing
//! changes under the reader, at the page size the server actually serves.

use super::{Context, Error};
use crate::api;
use crate::metrics::counters::CounterDef;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::future::Future;

/// How many times a listing is walked again when it changes while being read.
const MAX_WALKS: u32 = 5;
/// Pages of one listing requested at once; the rate limiter paces them.
const PAGES_IN_FLIGHT: usize = 4;

/// One page of a listing: the total it claims, and its items.
pub struct Page<T> {
    pub total: Option<u64>,
    pub items: Vec<T>,
    /// Items the server sent that cannot be exported (no UIN or id, or one of
    /// another type): they still count towards `total`.
    pub unkeyed: u64,
}

impl<T> Page<T> {
    /// A page of the items of `sent` that `keep` turns into rows.
    pub fn of<S>(total: Option<u64>, sent: Vec<S>, keep: impl FnMut(S) -> Option<T>) -> Self {
        let count = sent.len() as u64;
        let items: Vec<T> = sent.into_iter().filter_map(keep).collect();
        Self {
            total,
            unkeyed: count - items.len() as u64,
            items,
        }
    }
}

/// A listing read whole, and what was odd about its answers.
#[derive(Debug)]
pub struct Walked<T> {
    pub items: Vec<T>,
    /// The `Total` of its first page, which the items reach or nearly reach.
    pub total: u64,
    /// Rows listed twice, dropped.
    pub duplicates: u64,
    /// How many items short of its `Total` it was published: a few, as when
    /// a `Total` is off by one or a row is listed twice.
    pub short_by: u64,
}

/// Reads every page of a listing (pages from 1, `page_size` items each, or
/// fewer when the server serves fewer). `known` is the length last
/// published, for the bound.
///
/// No `Total` is a bound. The walk reads the pages its `Total` claims, but
/// no further than the items it has seen and `known` justify (plus a
/// margin), and stops at the first page shorter than the others, empty
/// included. A listing that grows while it is walked (a voucher issued every
/// few seconds into a listing of 50,000) settles on what was read once every
/// item of its first `Total` was; the new items follow next time. Rows
/// listed twice are dropped and counted.
///
/// The listing is read again from the start when its `Total` falls during
/// the walk, or when the items read fall a few short of it (a customer bound
/// and another unbound meanwhile shift the pages without changing the
/// total); read again and still a few short, it is published as read. A
/// `Total` the pages cannot reach (one answer claiming a billion customers)
/// fails the walk at once: the last snapshot stays. A listing page without
/// a total fails the walk.
pub async fn walk_pages<T, F, Fut>(
    listing: &'static str,
    page_size: u64,
    known: usize,
    key: impl Fn(&T) -> u64,
    fetch: F,
) -> Result<Walked<T>, Error>
where
    F: Fn(u64, u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, api::Error>>,
{
    for attempt in 1..=MAX_WALKS {
        let first = fetch(1, page_size).await?;
        // Without a total, a short or empty page cannot be told from the end
        // of the list: publishing it could drop every customer at once.
        let Some(total) = first.total else {
            return Err(Error::Api(api::Error::Decode(format!(
                "{listing} answered without a total"
            ))));
        };
        let size = served_page_size(page_size, first.items.len() as u64 + first.unkeyed, total);
        if size != page_size {
            tracing::debug!(
                listing,
                asked = page_size,
                served = size,
                "the API serves shorter pages than asked"
            );
        }
        let mut walk = Walk::new(total, size, known as u64, &key);
        walk.add(first);
        walk.read_on(&fetch).await?;
        let Walk {
            items,
            duplicates,
            unkeyed,
            fell,
            ..
        } = walk;
        let counted = items.len() as u64 + unkeyed;
        let short_by = total.saturating_sub(counted);
        let last_try = attempt == MAX_WALKS;
        if fell && !last_try {
            tracing::debug!(
                listing,
                attempt,
                total,
                read = counted,
                "the listing shrank during the walk; reading it again"
            );
            continue;
        }
        if fell {
            return Err(Error::Unsettled {
                listing,
                attempts: MAX_WALKS,
            });
        }
        if short_by > a_few(total) || (counted == 0 && total > 0) {
            return Err(Error::TotalUnreachable {
                listing,
                total,
                read: counted,
            });
        }
        if short_by > 0 && attempt == 1 {
            tracing::debug!(
                listing,
                total,
                read = counted,
                "the listing is a few items short of its total; reading it again"
            );
            continue;
        }
        if unkeyed > 0 {
            tracing::debug!(listing, unkeyed, "items without a readable key left out");
        }
        return Ok(Walked {
            items,
            total,
            duplicates,
            short_by,
        });
    }
    Err(Error::Unsettled {
        listing,
        attempts: MAX_WALKS,
    })
}

/// How far short of its `Total` a listing may come and still be published:
/// a row listed twice, a `Total` off by a few, not a `Total` that lies.
fn a_few(total: u64) -> u64 {
    (total / 100).max(5)
}

/// The most items one walk reads, whatever the listing says: ten times the
/// largest partner measured.
const MOST_ITEMS: u64 = 5_000_000;

/// One walk of a listing under way.
struct Walk<'k, T, K> {
    key: &'k K,
    size: u64,
    /// The first page's `Total`, and the largest any page claimed.
    total: u64,
    most: u64,
    known: u64,
    items: Vec<T>,
    seen: HashSet<u64>,
    unkeyed: u64,
    duplicates: u64,
    read_to: u64,
    /// Whether a page shorter than the others (empty included) was read:
    /// the end of the listing.
    ended: bool,
    /// Whether a page claimed a smaller `Total` than the first.
    fell: bool,
}

impl<'k, T, K: Fn(&T) -> u64> Walk<'k, T, K> {
    fn new(total: u64, size: u64, known: u64, key: &'k K) -> Self {
        Self {
            key,
            size,
            total,
            most: total,
            known,
            items: Vec::new(),
            seen: HashSet::new(),
            unkeyed: 0,
            duplicates: 0,
            read_to: 0,
            ended: false,
            fell: false,
        }
    }

    /// Adds the next page.
    fn add(&mut self, page: Page<T>) {
        self.read_to += 1;
        let served = page.items.len() as u64 + page.unkeyed;
        if let Some(claimed) = page.total {
            self.most = self.most.max(claimed);
            self.fell |= claimed < self.total;
        }
        self.unkeyed += page.unkeyed;
        for item in page.items {
            if self.seen.insert((self.key)(&item)) {
                self.items.push(item);
            } else {
                self.duplicates += 1;
            }
        }
        self.ended |= served < self.size;
    }

    /// The last page worth reading now: up to the last the largest `Total`
    /// claims, no further than what was seen and `known` justify, a few pages at once.
    fn next_stop(&self) -> Option<u64> {
        let claimed = self.most.div_ceil(self.size);
        let seen = self.items.len() as u64 + self.unkeyed;
        let base = seen.max(self.known);
        let justified = (base + (base / 10).max(self.size)).min(MOST_ITEMS).div_ceil(self.size);
        let next = self.read_to + 1;
        let last = claimed.min(justified).min(self.read_to + PAGES_IN_FLIGHT as u64);
        (!self.ended && next <= last).then_some(last)
    }

    /// Reads the pages after those read, a few at a time, to the end of the
    /// listing or of what is justified.
    async fn read_on<F, Fut>(&mut self, fetch: &F) -> Result<(), api::Error>
    where
        F: Fn(u64, u64) -> Fut,
        Fut: Future<Output = Result<Page<T>, api::Error>>,
    {
        while let Some(last) = self.next_stop() {
            let pages: Vec<Page<T>> = futures::stream::iter(self.read_to + 1..=last)
                .map(|page| fetch(page, self.size))
                .buffered(PAGES_IN_FLIGHT)
                .try_collect()
                .await?;
            for page in pages {
                if self.ended {
                    break;
                }
                self.add(page);
            }
        }
        Ok(())
    }
}

/// [`walk_pages`] for `ctx`'s collector, within the refresh's deadline: a
/// walk still under way at it fails. What was odd about the listing's
/// answers is counted (`tencentcloud_partner_listing_anomalies_total`) and
/// logged at `warn`, the first time of each kind, with the figures.
pub async fn walk<T, F, Fut>(
    ctx: &Context,
    listing: &'static str,
    page_size: u64,
    known: usize,
    key: impl Fn(&T) -> u64,
    fetch: F,
) -> Result<Walked<T>, Error>
where
    F: Fn(u64, u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, api::Error>>,
{
    let walking = walk_pages(listing, page_size, known, key, fetch);
    let walked = tokio::time::timeout_at(ctx.deadline(), walking)
        .await
        .unwrap_or_else(|_| Err(ctx.deadline_error()));
    match &walked {
        Ok(walked) => {
            if walked.duplicates > 0 {
                ctx.listing_anomaly(Anomaly::DuplicateRows, walked.duplicates, || {
                    format!("{listing} listed {} rows twice; each is kept once", walked.duplicates)
                });
            }
            if walked.short_by > 0 {
                ctx.listing_anomaly(Anomaly::ShortOfTotal, 1, || {
                    format!(
                        "{listing} claims {} items and its pages hold {} fewer, twice in a row; publishing what they hold",
                        walked.total, walked.short_by
                    )
                });
            }
        }
        Err(error @ Error::TotalUnreachable { .. }) => {
            ctx.listing_anomaly(Anomaly::TotalUnreachable, 1, || error.to_string());
        }
        Err(_) => {}
    }
    walked
}

/// What a walk found odd about a listing's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// Rows listed twice (counted per row).
    DuplicateRows,
    /// A listing published a few items short of its `Total`.
    ShortOfTotal,
    /// A `Total` the pages could not reach: the read failed.
    TotalUnreachable,
}

impl Anomaly {
    /// The value of the `anomaly` label.
    pub fn label(self) -> &'static str {
        match self {
            Anomaly::DuplicateRows => "duplicate_rows",
            Anomaly::ShortOfTotal => "short_of_total",
            Anomaly::TotalUnreachable => "total_unreachable",
        }
    }
}

/// Reads a listing whole with `walk`, and once more when it comes back
/// empty, or under half as long as `last` (the length published). A listing
/// that loses most of its items at once is likelier an answer gone wrong
/// than a mass unbinding, and publishing it would remove every series it
/// left out and what was learnt about them: an hour of allocation histories
/// and hours of bills to read again. The second read is what is published,
/// so a real mass unbinding shows one read later. Each recheck is counted in
/// `rechecks`.
pub async fn walk_checked<T, Fut>(
    ctx: &Context,
    rechecks: &CounterDef,
    last: Option<usize>,
    walk: impl Fn() -> Fut,
) -> Result<Walked<T>, Error>
where
    Fut: Future<Output = Result<Walked<T>, Error>>,
{
    let first = walk().await?;
    let Some(last) = last.filter(|&last| much_shorter(first.items.len(), last)) else {
        return Ok(first);
    };
    ctx.count(rechecks);
    tracing::warn!(
        collector = %ctx.kind(),
        read = first.items.len(),
        last,
        "the listing came back much shorter than the one published; reading it again before publishing it"
    );
    let second = walk().await?;
    if much_shorter(second.items.len(), last) {
        tracing::warn!(collector = %ctx.kind(), read = second.items.len(), last, "read again, the listing is as short: publishing it");
    }
    Ok(second)
}

/// Whether a listing of `read` items is empty or under half of `last`.
fn much_shorter(read: usize, last: usize) -> bool {
    read * 2 < last
}

/// The page size a server actually uses, judged from a first page of `served`
/// items out of `total` when `asked` were asked for. A page shorter than asked
/// while more remain shows the server's own cap, which it does not announce.
pub fn served_page_size(asked: u64, served: u64, total: u64) -> u64 {
    if served > 0 && served < asked && served < total {
        served
    } else {
        asked
    }
}

#[cfg(test)]
mod tests;
