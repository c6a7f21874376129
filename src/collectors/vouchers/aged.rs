//! The memory of the vouchers left out after `--vouchers.ended-retention`:
//! the listing keeps every voucher ever issued, so without it a later walk
//! of every voucher (daily, when a customer leaves, at every restart) would
//! take one for newly ended and export it for another retention. Kept in
//! the vouchers snapshot, on disk too; an entry is pruned once it can no
//! longer matter: its expiry alone ages it out, or the listing no longer
//! holds it. Nothing here reads the API.

use crate::snapshot::{AgedOut, VoucherRow};
use std::collections::BTreeMap;
use std::time::Duration;

/// The aged-out vouchers remembered, and those seen aged out this refresh.
#[derive(Debug, Default)]
pub struct Memory {
    before: BTreeMap<(u64, u64), AgedOut>,
    seen: BTreeMap<(u64, u64), AgedOut>,
}

impl Memory {
    /// The memory kept with the snapshot served.
    pub fn of(aged_out: &[AgedOut]) -> Self {
        Self {
            before: aged_out.iter().map(|a| ((a.customer_uin, a.voucher_id), *a)).collect(),
            seen: BTreeMap::new(),
        }
    }

    /// When `row` ended, if it was left out before.
    pub fn ended(&self, row: &VoucherRow) -> Option<f64> {
        self.before.get(&(row.customer_uin, row.voucher_id)).map(|a| a.ended)
    }

    /// Records `row`, listed this refresh, as left out.
    pub fn aged_out(&mut self, row: &VoucherRow, ended: f64) {
        let entry = AgedOut {
            customer_uin: row.customer_uin,
            voucher_id: row.voucher_id,
            ended,
            expiry: row.expiry,
        };
        self.seen.insert((row.customer_uin, row.voucher_id), entry);
    }

    /// What is remembered after this refresh, sorted: what it saw left out,
    /// and, unless it walked every voucher (`walked_all`), what was
    /// remembered before and not listed now (`listed` says what was). An
    /// entry whose expiry alone is beyond `retention` is let go.
    pub fn keep(
        self,
        walked_all: bool,
        listed: impl Fn(u64, u64) -> bool,
        now: f64,
        retention: Duration,
    ) -> Vec<AgedOut> {
        let Self { before, mut seen } = self;
        if !walked_all {
            for (key, entry) in before {
                if !listed(key.0, key.1) {
                    seen.entry(key).or_insert(entry);
                }
            }
        }
        let matters = |a: &AgedOut| a.expiry.is_none_or(|expiry| now - expiry < retention.as_secs_f64());
        seen.into_values().filter(matters).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher(id: u64, expiry: Option<f64>) -> VoucherRow {
        VoucherRow {
            customer_uin: 1,
            voucher_id: id,
            status: "Used".into(),
            expiry,
            ..Default::default()
        }
    }

    #[test]
    fn a_voucher_left_out_is_remembered_until_its_expiry_alone_ages_it_out() {
        let day = 86_400.0;
        let retention = Duration::from_secs(30 * 86_400);
        let now = 1_000.0 * day;
        let mut memory = Memory::of(&[]);
        memory.aged_out(&voucher(7, Some(now + 10.0 * day)), now - 31.0 * day);
        memory.aged_out(&voucher(8, Some(now - 31.0 * day)), now - 40.0 * day);
        memory.aged_out(&voucher(9, None), now - 31.0 * day);
        let kept = memory.keep(true, |_, _| true, now, retention);
        let ids: Vec<u64> = kept.iter().map(|a| a.voucher_id).collect();
        assert_eq!(ids, [7, 9], "8 ages out by its expiry alone");
        let memory = Memory::of(&kept);
        assert_eq!(memory.ended(&voucher(7, None)), Some(now - 31.0 * day));
        assert_eq!(memory.ended(&voucher(8, None)), None);
    }

    #[test]
    fn a_walk_of_every_voucher_lets_go_of_what_it_no_longer_lists() {
        let retention = Duration::from_secs(86_400);
        let before = [7, 9].map(|id| AgedOut {
            customer_uin: 1,
            voucher_id: id,
            ended: 0.0,
            expiry: None,
        });
        // Between walks of every voucher, ended ones not listed are kept.
        let kept = Memory::of(&before).keep(false, |_, _| false, 1e6, retention);
        assert_eq!(kept.len(), 2);
        // A walk of every voucher keeps what it saw aged out, nothing else.
        let mut memory = Memory::of(&before);
        memory.aged_out(&voucher(9, None), 0.0);
        let kept = memory.keep(true, |_, _| true, 1e6, retention);
        assert_eq!(kept.iter().map(|a| a.voucher_id).collect::<Vec<_>>(), [9]);
    }
}
