//! The data model: what each collector's refresh produces ([`Snapshot`], one
//! variant per [`Kind`] of collector) and the rows it holds. The cache, the
//! store on disk and the exposition all work on these types; this module
//! depends on nothing else in the exporter, and does no I/O.

use std::fmt;

/// The collectors an operator can enable, in the order they are refreshed and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Partner = 0,
    Customers = 1,
    Allocations = 2,
    Vouchers = 3,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Partner, Kind::Customers, Kind::Allocations, Kind::Vouchers];

    /// The `collector` label value and the name in flags.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Partner => "partner",
            Kind::Customers => "customers",
            Kind::Allocations => "allocations",
            Kind::Vouchers => "vouchers",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A complete result of one collector's refresh.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Snapshot {
    Partner(PartnerSnapshot),
    Customers(CustomersSnapshot),
    Allocations(AllocationsSnapshot),
    Vouchers(VouchersSnapshot),
}

impl Snapshot {
    pub fn kind(&self) -> Kind {
        match self {
            Snapshot::Partner(_) => Kind::Partner,
            Snapshot::Customers(_) => Kind::Customers,
            Snapshot::Allocations(_) => Kind::Allocations,
            Snapshot::Vouchers(_) => Kind::Vouchers,
        }
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
    pub status: String,
    pub usage: String,
    pub payment_mode: String,
    pub product_scope: String,
    pub amount: Option<f64>,
    pub remaining: Option<f64>,
    pub usage_records: Option<u64>,
    /// Unix seconds.
    pub expiry: Option<f64>,
}

/// Every voucher of the partner's customers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VouchersSnapshot {
    pub rows: Vec<VoucherRow>,
}
