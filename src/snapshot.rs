//! The data model: what each collector's refresh produces ([`Snapshot`], one
//! variant per [`Kind`] of collector) and the rows it holds. The cache, the
//! store on disk and the exposition all work on these types; this module
//! depends on nothing else in the exporter, and does no I/O.

use std::fmt;
use std::sync::Arc;

/// Declares the collectors: the [`Kind`] enum, the [`Snapshot`] enum with one
/// variant per kind, and the link from each rows type to its kind.
macro_rules! collectors {
    ($($(#[$doc:meta])* $kind:ident = $name:literal => $rows:ident,)+) => {
        /// The collectors an operator can enable, in the order they are refreshed and exported.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($(#[$doc])* $kind,)+
        }

        impl Kind {
            pub const ALL: [Kind; [$(Kind::$kind),+].len()] = [$(Kind::$kind),+];

            /// The `collector` label value and the name in flags and files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$kind => $name,)+
                }
            }

            /// Calls `visitor` with the rows type of this kind.
            pub fn visit<V, O>(self, visitor: V) -> O
            where
                $(V: VisitKind<$rows, Output = O>,)+
            {
                match self {
                    $(Kind::$kind => <V as VisitKind<$rows>>::visit(visitor),)+
                }
            }
        }

        /// A complete result of one collector's refresh.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum Snapshot {
            $(#[serde(rename = $name)] $kind($rows),)+
        }

        impl Snapshot {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Snapshot::$kind(_) => Kind::$kind,)+
                }
            }

            /// Calls `visitor` with the rows this snapshot holds.
            pub fn visit<V, O>(&self, visitor: V) -> O
            where
                $(V: VisitRows<$rows, Output = O>,)+
            {
                match self {
                    $(Snapshot::$kind(rows) => <V as VisitRows<$rows>>::visit(visitor, rows),)+
                }
            }
        }

        $(
            impl Rows for $rows {
                const KIND: Kind = Kind::$kind;

                fn of(snapshot: &Snapshot) -> Option<&Self> {
                    match snapshot {
                        Snapshot::$kind(rows) => Some(rows),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }

            impl From<$rows> for Snapshot {
                fn from(rows: $rows) -> Self {
                    Snapshot::$kind(rows)
                }
            }
        )+
    };
}

// The list of collectors: adding one is a line here, its rows below, and its
// file in `collectors/`, which says how it refreshes and what it exports.
collectors! {
    Partner = "partner" => PartnerSnapshot,
    Customers = "customers" => CustomersSnapshot,
    Allocations = "allocations" => AllocationsSnapshot,
    Vouchers = "vouchers" => VouchersSnapshot,
    Pool = "pool" => PoolSnapshot,
    Status = "status" => StatusSnapshot,
    Subagents = "subagents" => SubagentsSnapshot,
    Bills = "bills" => BillsSnapshot,
    Spend = "spend" => SpendSnapshot,
}

/// What one collector's refresh produces: the payload of one [`Snapshot`] variant.
pub trait Rows: Into<Snapshot> + Clone + Send + Sync + 'static {
    const KIND: Kind;
    /// These rows, if `snapshot` is of this kind.
    fn of(snapshot: &Snapshot) -> Option<&Self>;
}

/// Something done for one kind of rows, chosen by a [`Kind`] at run time.
/// Implement it for every `R` at once (`impl<R: Rows + ...> VisitKind<R>`)
/// to act on whichever collector a value names.
pub trait VisitKind<R> {
    type Output;
    fn visit(self) -> Self::Output;
}

/// Something done with the rows of a [`Snapshot`], whatever its kind.
pub trait VisitRows<R> {
    type Output;
    fn visit(self, rows: &R) -> Self::Output;
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The partner's credit in USD; any field may be missing from the answer.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartnerSnapshot {
    pub total: Option<f64>,
    pub allocated: Option<f64>,
    pub remaining: Option<f64>,
    pub customers_total: Option<f64>,
    pub customers_remaining: Option<f64>,
}

/// The partner's voucher quota and role; any field may be missing.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolSnapshot {
    pub agent_name: String,
    /// `reseller`, `distributor`, `second_level_reseller`, or the API's number if unknown.
    pub role: Option<String>,
    pub total: Option<f64>,
    pub remaining: Option<f64>,
    pub issued: Option<u64>,
}

/// One customer's account status, from DescribeCustomerInfo.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusRow {
    pub uin: u64,
    /// 0 normal, 1 forcibly mandatory, 2 mandatory arrears.
    pub account_status: Option<i64>,
    /// 1 when the customer has spent anything, 0 when not.
    pub has_expense: Option<i64>,
    /// Unix seconds when the exporter first saw `account_status` 2, while it lasts.
    #[serde(default)]
    pub arrears_since: Option<f64>,
}

/// The account status of every customer in the customer list.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusSnapshot {
    pub rows: Vec<StatusRow>,
}

/// One second-level reseller of a distributor.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubagentRow {
    pub uin: u64,
    /// Not exported unless `--customer.export-names`.
    pub name: String,
    pub remark: String,
    pub customers: Option<u64>,
    pub credit: Option<f64>,
    pub credit_remaining: Option<f64>,
    pub voucher_pool: Option<f64>,
    pub voucher_pool_remaining: Option<f64>,
}

/// A distributor's second-level resellers; for another role, none and not applicable.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubagentsSnapshot {
    /// False when the account is not a distributor (or may not read them).
    pub applicable: bool,
    pub rows: Vec<SubagentRow>,
}

/// One customer's credit and labels.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerRow {
    pub uin: u64,
    /// Not exported unless `--customer.export-names`: often an e-mail address.
    pub name: String,
    pub remark: String,
    pub customer_type: String,
    /// `unverified`, `individual`, `enterprise`, or the API's number if unknown.
    pub identify_type: String,
    pub credit: Option<f64>,
    pub remaining: Option<f64>,
    /// Unix seconds of the credit's nearest expiry.
    pub expiry: Option<f64>,
    /// `Force`: 0 normal, 2 service forcibly suspended.
    #[serde(default)]
    pub force: Option<i64>,
    /// Unix seconds when the exporter first saw `force` 2, while it lasts.
    #[serde(default)]
    pub suspended_since: Option<f64>,
}

/// The whole customer list.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomersSnapshot {
    /// The number of customers the API reports.
    pub total: u64,
    pub customers: Vec<CustomerRow>,
}

/// One customer's allocation summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AllocationRow {
    pub uin: u64,
    /// How many allocations the customer has had.
    pub count: u64,
    /// Unix seconds of the newest allocation.
    pub last_time: Option<f64>,
    /// USD of the newest allocation.
    pub last_credit: Option<f64>,
    /// The customer's `Credit` when its history was last read: it is read
    /// again when that changes. Not exported.
    #[serde(default)]
    pub credit_seen: Option<f64>,
    /// Unix seconds of the last read of its history, for the full sweep. Not exported.
    #[serde(default)]
    pub read_at: Option<f64>,
}

/// The allocation summary of every customer in the customer list.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AllocationsSnapshot {
    pub rows: Vec<AllocationRow>,
}

/// One voucher.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VoucherRow {
    pub customer_uin: u64,
    pub voucher_id: u64,
    // Shared, not owned: a part of a refresh copies every row, and 50,000
    // rows of four owned strings were 200,000 allocations a copy.
    pub status: Arc<str>,
    pub usage: Arc<str>,
    pub payment_mode: Arc<str>,
    pub product_scope: Arc<str>,
    pub amount: Option<f64>,
    pub remaining: Option<f64>,
    pub usage_records: Option<u64>,
    /// Unix seconds.
    pub expiry: Option<f64>,
    /// The listing's `RemainingAmount` when the usage details were last read:
    /// they are read again only when it, or the status, has changed since.
    /// Not exported.
    #[serde(default)]
    pub listed_remaining: Option<f64>,
    /// When it ended (used up, expired or withdrawn), in unix seconds, as
    /// closely as the listing tells; `None` while in use. Not exported: an
    /// ended voucher is left out `--vouchers.ended-retention` after it.
    #[serde(default)]
    pub ended: Option<f64>,
    /// At how many refreshes in a row the usage details refused it once it
    /// had ended (a withdrawn voucher stays listed as `Invalidated`, and the
    /// details may not know it). Refused at two, it cannot change, so they
    /// are not asked again while it is exported. Not exported.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub details_refused: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// Every voucher of the partner's customers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VouchersSnapshot {
    pub rows: Vec<VoucherRow>,
    /// The vouchers left out because they ended longer than
    /// `--vouchers.ended-retention` ago, remembered so that a later walk of
    /// every voucher, or a restart, does not take them for newly ended.
    /// Sorted by customer and id. Not exported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aged_out: Vec<AgedOut>,
}

/// A voucher left out once it had ended for longer than the retention.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgedOut {
    pub customer_uin: u64,
    pub voucher_id: u64,
    /// When it ended, unix seconds, as the exporter judged it then.
    pub ended: f64,
    /// Its expiry, unix seconds: once that too is beyond the retention, the
    /// voucher ages out by its expiry alone and need not be remembered.
    pub expiry: Option<f64>,
}

/// One customer's bill for the month so far.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BillRow {
    pub uin: u64,
    /// DescribeCustomerBillSummary's `TotalCost`, USD.
    pub cost: Option<f64>,
    /// The customer's `RemainingCredit` when its bill was read: it is read
    /// again when that changes. Not exported.
    pub remaining_seen: Option<f64>,
    /// What was left on the customer's vouchers when its bill was read. Not exported.
    pub vouchers_seen: Option<f64>,
    /// Unix seconds of the read, for the full sweep. Not exported.
    pub read_at: Option<f64>,
}

/// The month-to-date bill of each customer read so far this month.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BillsSnapshot {
    /// The month, `YYYY-MM` in the API's time zone.
    pub month: String,
    /// Unix seconds of the month's first instant in the API's time zone.
    pub month_start: Option<f64>,
    /// Sorted by UIN; a customer not read yet this month has no row.
    pub rows: Vec<BillRow>,
}

/// One customer's spend: today so far, and the complete days of the week
/// before today, each as the API billed it. Yesterday's and the week's
/// totals are worked out from the days when they are exported.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpendRow {
    pub uin: u64,
    /// Today so far, USD.
    pub today: Option<f64>,
    /// When today's figure was read, unix seconds. Not exported.
    pub today_read_at: Option<f64>,
    /// The customer's `RemainingCredit` when today's figure was read: it is
    /// read again sooner when that moves. Not exported.
    pub remaining_seen: Option<f64>,
    /// The complete days before the snapshot's `today`, USD: `[0]` is
    /// yesterday, `[6]` seven days back; `None` where not read yet, or before
    /// the first day the API answers for.
    pub days: [Option<f64>; 7],
    /// Bit `i` set once `days[i]` was read on the day after the day after:
    /// late settlement is in, and it is never read again.
    pub settled: u8,
}

impl SpendRow {
    /// Yesterday's total, USD.
    pub fn yesterday(&self) -> Option<f64> {
        self.days[0]
    }

    /// The total of the 7 complete days before today, once all 7 are known,
    /// to the 8 decimals Tencent's bills carry, so that adding floats leaves
    /// no trace (`0.30000000000000004`).
    pub fn last_7_days(&self) -> Option<f64> {
        let sum: f64 = self.days.iter().copied().sum::<Option<f64>>()?;
        Some((sum * 1e8).round() / 1e8)
    }
}

/// Every customer's spend on the bill day `today` and the 7 days before.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpendSnapshot {
    /// The bill day the values are for, `YYYY-MM-DD` on disk.
    pub today: Option<chrono::NaiveDate>,
    /// Unix seconds of that day's first instant.
    pub today_start: Option<f64>,
    /// Sorted by UIN; a customer who never spent has no row, and one not
    /// read yet a row with nothing in it.
    pub rows: Vec<SpendRow>,
}
