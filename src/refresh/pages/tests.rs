//! The walk of a paged listing, against listings that change, lie and repeat.

use super::*;

mod changing {
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
            0,
            |i: &u64| *i,
            |page, size| async move { Ok(listing.page(page, size)) },
        )
        .await
        .map(|walked| walked.items)
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
            0,
            |i: &u64| *i,
            |page, size| {
                let listing = &listing;
                async move { Ok(listing.page(page, size.min(4))) }
            },
        )
        .await
        .unwrap()
        .items;
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
            0,
            |i: &u64| *i,
            |page, _| async move { Ok(Page::of(Some(25), sent(page), |i| i)) },
        )
        .await
        .unwrap()
        .items;
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
                0,
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
            .unwrap()
            .items;
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
            0,
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
            0,
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

mod bounds {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A listing of `items` whose pages claim `total`, and the calls it took.
    async fn listing(items: Vec<u64>, total: u64, known: usize) -> (Result<Walked<u64>, Error>, u64) {
        let calls = AtomicU64::new(0);
        let walked = walk_pages(
            "test",
            100,
            known,
            |i: &u64| *i,
            |page, size| {
                let (items, calls) = (&items, &calls);
                async move {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let page: Vec<u64> = items
                        .iter()
                        .copied()
                        .skip(((page - 1) * size) as usize)
                        .take(size as usize)
                        .collect();
                    Ok(Page::of(Some(total), page, Some))
                }
            },
        )
        .await;
        (walked, calls.into_inner())
    }

    #[tokio::test]
    async fn a_total_of_a_billion_fails_the_walk_after_the_pages_there_are() {
        let (walked, calls) = listing((0..250).collect(), 1_000_000_000, 250).await;
        assert!(
            matches!(
                walked,
                Err(Error::TotalUnreachable {
                    total: 1_000_000_000,
                    read: 250,
                    ..
                })
            ),
            "{walked:?}"
        );
        assert!(calls <= 7, "{calls} calls");
        // Full pages of the same rows, forever: bounded by what was seen.
        let calls = AtomicU64::new(0);
        let walked = walk_pages(
            "test",
            100,
            0,
            |i: &u64| *i,
            |_, _| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Ok(Page::of(Some(u64::MAX), (0..100).collect(), Some)) }
            },
        )
        .await;
        assert!(matches!(walked, Err(Error::TotalUnreachable { .. })), "{walked:?}");
        assert!(calls.into_inner() <= 5);
    }

    #[tokio::test]
    async fn a_total_off_by_a_few_or_a_row_listed_twice_is_published_and_counted() {
        let (walked, _) = listing((0..250).collect(), 253, 0).await;
        let walked = walked.unwrap();
        assert_eq!((walked.items.len(), walked.short_by), (250, 3));
        let rows: Vec<u64> = (0..100).chain(99..249).collect();
        let (walked, _) = listing(rows, 250, 0).await;
        let walked = walked.unwrap();
        assert_eq!((walked.items.len(), walked.duplicates, walked.short_by), (249, 1, 1));
    }

    #[tokio::test]
    async fn an_empty_listing_that_claims_items_fails() {
        let (walked, _) = listing(Vec::new(), 3, 10).await;
        assert!(matches!(walked, Err(Error::TotalUnreachable { .. })), "{walked:?}");
        let (walked, calls) = listing(Vec::new(), 0, 10).await;
        assert!(walked.unwrap().items.is_empty());
        assert_eq!(calls, 1);
    }
}
