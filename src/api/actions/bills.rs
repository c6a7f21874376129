//! The messages of the bill actions: a customer's bill total for a month,
//! and what it spent on one day.

use crate::api::Error;
use crate::api::decode::{Decode, Fields};
use serde::Serialize;

/// DescribeCustomerBillSummary's request: one customer, one month. The
/// optional `PayMode`, `ActionType` and `IsConfirmed` filters are never sent:
/// the exporter wants the whole bill.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BillSummaryRequest {
    pub customer_uin: u64,
    /// `YYYY-MM`.
    pub month: String,
}

/// DescribeCustomerBillSummary's answer: the month's bill total, USD.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BillSummary {
    pub total_cost: Option<f64>,
}

impl Decode for BillSummary {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total_cost: f.balance("TotalCost"),
        })
    }
}

/// DescribeCustomerBillDetailByDay's request: one customer, one day.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BillByDayRequest {
    pub customer_uin: u64,
    /// `YYYY-MM-DD`, a UTC+8 bill day; none before 2025-06-01 can be asked for.
    pub date: String,
}

/// DescribeCustomerBillDetailByDay's answer: what the customer spent that
/// day, USD. The SDK types it as a string.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BillByDay {
    pub total_cost: Option<f64>,
}

impl Decode for BillByDay {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total_cost: f.amount_text("TotalCost"),
        })
    }
}
