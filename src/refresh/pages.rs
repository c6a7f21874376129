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

/// Reads every page of a listing (pages from 1, `page_size` items each, or
/// fewer when the server serves fewer).
///
/// A listing that grows while it is walked (a voucher issued every few
/// seconds into a listing of 50,000) settles on what was read once every
/// item of its first `Total` was: the pages up to the largest `Total` seen
/// are read, and the walk holds at least the first `Total`'s number of
/// distinct items. The new items are picked up then, or next time.
///
/// The listing is read again from the start when its `Total` falls during
/// the walk, or when the items read do not add up (a customer bound and
/// another unbound meanwhile shift the pages without changing the total). A
/// listing page without a total fails the walk. One case cannot be seen from
/// the listing itself: a bind and an unbind between two page reads that
/// shift an item past the reader while keeping both the total and the count;
/// the next refresh corrects it.
pub async fn walk_pages<T, F, Fut>(
    listing: &'static str,
    page_size: u64,
    key: impl Fn(&T) -> u64,
    fetch: F,
) -> Result<Vec<T>, Error>
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
        let (pages, most) = read_to_the_end(first, total, size, &fetch).await?;
        let grown_only = pages.iter().all(|p| p.total.is_some_and(|t| t >= total));
        let unkeyed: u64 = pages.iter().map(|p| p.unkeyed).sum();
        let mut seen = HashSet::new();
        let items: Vec<T> = pages
            .into_iter()
            .flat_map(|p| p.items)
            .filter(|item| seen.insert(key(item)))
            .collect();
        let counted = items.len() as u64 + unkeyed;
        if grown_only && (total..=most).contains(&counted) {
            if unkeyed > 0 {
                tracing::debug!(listing, unkeyed, "items without a readable key left out");
            }
            if most > total {
                tracing::debug!(
                    listing,
                    total,
                    most,
                    "listing grew during the walk; the new items follow next time"
                );
            }
            return Ok(items);
        }
        tracing::debug!(
            listing,
            attempt,
            total,
            read = items.len(),
            "listing changed during the walk; reading it again"
        );
    }
    Err(Error::Unsettled {
        listing,
        attempts: MAX_WALKS,
    })
}

/// The pages after `first`, up to the last one of the largest `Total` any
/// page claims, and that total: a listing that grows while it is read is
/// read to its new end, a few more pages.
async fn read_to_the_end<T, F, Fut>(
    first: Page<T>,
    total: u64,
    size: u64,
    fetch: &F,
) -> Result<(Vec<Page<T>>, u64), api::Error>
where
    F: Fn(u64, u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, api::Error>>,
{
    let (mut pages, mut most, mut read_to) = (vec![first], total, 1);
    for _ in 0..MAX_WALKS {
        let last = most.div_ceil(size).max(1);
        if last <= read_to {
            break;
        }
        let rest: Vec<Page<T>> = futures::stream::iter(read_to + 1..=last)
            .map(|page| fetch(page, size))
            .buffered(PAGES_IN_FLIGHT)
            .try_collect()
            .await?;
        read_to = last;
        most = rest.iter().filter_map(|p| p.total).fold(most, u64::max);
        pages.extend(rest);
    }
    Ok((pages, most))
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
) -> Result<Vec<T>, Error>
where
    Fut: Future<Output = Result<Vec<T>, Error>>,
{
    let first = walk().await?;
    let Some(last) = last.filter(|&last| much_shorter(first.len(), last)) else {
        return Ok(first);
    };
    ctx.count(rechecks);
    tracing::warn!(
        collector = %ctx.kind(),
        read = first.len(),
        last,
        "the listing came back much shorter than the one published; reading it again before publishing it"
    );
    let second = walk().await?;
    if much_shorter(second.len(), last) {
        tracing::warn!(collector = %ctx.kind(), read = second.len(), last, "read again, the listing is as short: publishing it");
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
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A listing of `items` whose contents change (to `after`) once `calls`
    /// pages have been served, as when customers bind or unbind mid-walk.
    struct Listing {
        before: Vec<u64>,
        after: Vec<u64>,
        change_after_calls: usize,
        calls: Mutex<usize>,
    }

    impl Listing {
        fn page(&self, page: u64, size: u64) -> Page<u64> {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            let items = if *calls > self.change_after_calls {
                &self.after
            } else {
                &self.before
            };
            Page {
                total: Some(items.len() as u64),
                items: items
                    .iter()
                    .copied()
                    .skip(((page - 1) * size) as usize)
                    .take(size as usize)
                    .collect(),
                unkeyed: 0,
            }
        }
    }

    async fn walk(listing: &Listing) -> Result<Vec<u64>, Error> {
        walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, size| async move { Ok(listing.page(page, size)) },
        )
        .await
    }

    #[tokio::test]
    async fn a_server_that_serves_shorter_pages_is_walked_at_its_own_size() {
        let listing = Listing {
            before: (0..25).collect(),
            after: Vec::new(),
            change_after_calls: usize::MAX,
            calls: Mutex::new(0),
        };
        // Asks for 10 a page; the server silently serves 4.
        let items = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, size| {
                let listing = &listing;
                async move { Ok(listing.page(page, size.min(4))) }
            },
        )
        .await
        .unwrap();
        assert_eq!(items, (0..25).collect::<Vec<u64>>());
        assert_eq!(*listing.calls.lock().unwrap(), 7, "one walk of seven pages of 4");
    }

    #[tokio::test]
    async fn items_without_a_key_count_towards_the_total_but_are_left_out() {
        // 25 items; every fifth has no key (its UIN was null or unreadable).
        let sent = |page: u64| -> Vec<Option<u64>> {
            (0..25)
                .map(|i| (i % 5 != 0).then_some(i))
                .skip(((page - 1) * 10) as usize)
                .take(10)
                .collect()
        };
        let items = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, _| async move { Ok(Page::of(Some(25), sent(page), |i| i)) },
        )
        .await
        .unwrap();
        assert_eq!(items.len(), 20);
    }

    #[test]
    fn the_served_page_size_is_the_asked_one_unless_a_page_falls_short() {
        assert_eq!(served_page_size(100, 20, 250), 20);
        assert_eq!(served_page_size(100, 100, 250), 100);
        assert_eq!(served_page_size(100, 30, 30), 100, "a short last page is the end");
        assert_eq!(
            served_page_size(100, 0, 30),
            100,
            "an empty page says nothing of the size"
        );
    }

    #[tokio::test]
    async fn a_listing_that_grows_mid_walk_settles_in_one_walk() {
        let listing = Listing {
            before: (0..25).collect(),
            // A new customer is listed first, shifting every page by one.
            after: std::iter::once(100).chain(0..25).collect(),
            change_after_calls: 1,
            calls: Mutex::new(0),
        };
        let mut items = walk(&listing).await.unwrap();
        items.sort();
        // Every customer of the first total; the new one, on a page read
        // before it came, follows next time.
        assert_eq!(items, (0..25).collect::<Vec<_>>());
        assert_eq!(*listing.calls.lock().unwrap(), 3, "one walk of three pages");
    }

    #[tokio::test]
    async fn a_listing_that_grows_at_every_page_settles_on_every_item_of_its_first_total() {
        // A voucher issued before each page is read, listed first (newest
        // first) or last (oldest first): the walk settles in one pass.
        for newest_first in [true, false] {
            let issued = Mutex::new((0..250).collect::<Vec<u64>>());
            let calls = Mutex::new(0);
            let items = walk_pages(
                "test",
                100,
                |i: &u64| *i,
                |page, size| {
                    let (issued, calls) = (&issued, &calls);
                    async move {
                        let mut issued = issued.lock().unwrap();
                        *calls.lock().unwrap() += 1;
                        let new = 1000 + issued.len() as u64;
                        if newest_first {
                            issued.insert(0, new)
                        } else {
                            issued.push(new)
                        }
                        let items = issued
                            .iter()
                            .copied()
                            .skip(((page - 1) * size) as usize)
                            .take(size as usize);
                        Ok(Page::of(Some(issued.len() as u64), items.collect(), Some))
                    }
                },
            )
            .await
            .unwrap();
            let distinct: HashSet<u64> = items.iter().copied().collect();
            assert_eq!(distinct.len(), items.len());
            assert!(
                (0..250).all(|i| distinct.contains(&i)),
                "every voucher of the first total"
            );
            assert!(*calls.lock().unwrap() <= 4, "one walk, not {}", calls.lock().unwrap());
        }
    }

    #[tokio::test]
    async fn a_swap_that_keeps_the_total_is_caught_by_the_count() {
        // A customer bound (listed first) and another unbound (the last): the
        // total stays 25, but the shifted pages repeat one item, so the walk
        // reads 24 distinct items and starts over.
        let listing = Listing {
            before: (0..25).collect(),
            after: std::iter::once(100).chain(0..24).collect(),
            change_after_calls: 1,
            calls: Mutex::new(0),
        };
        let mut items = walk(&listing).await.unwrap();
        items.sort();
        assert_eq!(items, (0..24).chain(std::iter::once(100)).collect::<Vec<u64>>());
        assert_eq!(*listing.calls.lock().unwrap(), 6, "two walks of three pages");
    }

    #[tokio::test]
    async fn a_listing_without_a_total_fails_instead_of_publishing_an_empty_list() {
        let result = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |_, _| async {
                Ok(Page {
                    total: None,
                    items: Vec::<u64>::new(),
                    unkeyed: 0,
                })
            },
        )
        .await;
        assert!(matches!(result, Err(Error::Api(api::Error::Decode(_)))));
    }

    #[tokio::test]
    async fn a_listing_that_keeps_shrinking_fails_instead_of_publishing() {
        struct Restless(Mutex<u64>);
        let restless = Restless(Mutex::new(0));
        let result = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, _| {
                let restless = &restless;
                async move {
                    let mut n = restless.0.lock().unwrap();
                    *n += 1;
                    Ok(Page {
                        total: Some(100 - *n),
                        items: (page * 10..page * 10 + 10).collect(),
                        unkeyed: 0,
                    })
                }
            },
        )
        .await;
        assert!(matches!(result, Err(Error::Unsettled { .. })));
    }
}
