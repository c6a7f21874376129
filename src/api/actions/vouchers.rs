//! The messages of the voucher actions: the customers' vouchers, one
//! voucher's usage, and the partner's voucher pool.

use crate::api::Error;
use crate::api::decode::{Decode, Fields};
use serde::Serialize;

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoucherListRequest {
    pub page: u64,
    pub page_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_uin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voucher_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voucher_id: Option<u64>,
}

/// DescribeCustomerVoucherList's answer: `TotalCount` and `Data` are its envelope.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VoucherList {
    pub total_count: Option<u64>,
    pub data: Vec<Voucher>,
}

impl Decode for VoucherList {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total_count: f.total("TotalCount")?,
            data: f.list("Data")?,
        })
    }
}

/// DescribeCustomerVoucherItem.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Voucher {
    pub voucher_id: Option<u64>,
    pub customer_uin: Option<u64>,
    pub voucher_status: Option<String>,
    pub remaining_amount: Option<f64>,
    pub total_amount: Option<f64>,
    pub usage: Option<String>,
    pub payment_mode: Option<String>,
    pub product_scope: Option<String>,
    pub expire_time: Option<String>,
}

impl Decode for Voucher {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            voucher_id: f.unsigned("VoucherId"),
            customer_uin: f.unsigned("CustomerUin"),
            voucher_status: f.text("VoucherStatus"),
            remaining_amount: f.balance("RemainingAmount"),
            total_amount: f.balance("TotalAmount"),
            usage: f.text("Usage"),
            payment_mode: f.text("PaymentMode"),
            product_scope: f.text("ProductScope"),
            expire_time: f.time("ExpireTime"),
        })
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoucherUsageRequest {
    pub page: u64,
    pub page_size: u64,
    pub customer_uin: u64,
    pub voucher_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
}

/// DescribeCustomerVoucherUsageDetails' answer. Its usage records (`Data`)
/// are not read: the exporter exports their count, `TotalRecordsCount`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VoucherUsage {
    pub total_amount: Option<f64>,
    pub remain_amount: Option<f64>,
    pub total_records_count: Option<u64>,
}

impl Decode for VoucherUsage {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            total_amount: f.balance("TotalAmount"),
            remain_amount: f.balance("RemainAmount"),
            total_records_count: f.unsigned("TotalRecordsCount"),
        })
    }
}

/// QueryVoucherPool's answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VoucherPool {
    pub agent_name: Option<String>,
    /// 1 reseller, 2 distributor, 3 second-level reseller.
    pub account_type: Option<i64>,
    pub total_quota: Option<f64>,
    pub remaining_quota: Option<f64>,
    pub issued_num: Option<u64>,
}

impl Decode for VoucherPool {
    fn decode(f: &mut Fields<'_>) -> Result<Self, Error> {
        Ok(Self {
            agent_name: f.text("AgentName"),
            account_type: f.integer("AccountType"),
            total_quota: f.balance("TotalQuota"),
            remaining_quota: f.balance("RemainingQuota"),
            issued_num: f.unsigned("IssuedNum"),
        })
    }
}
