#!/usr/bin/env python3
"""The exporter a partner would otherwise write: Tencent's Python SDK and the
official prometheus_client library, serving the same series as
tencentcloud-partner-exporter. Used by benches/scale.rs as the comparison.

It is written the way the prometheus_client documentation recommends for
data fetched from elsewhere: a background thread refreshes a snapshot, and a
custom collector turns the snapshot into metric families on each scrape.

Usage: python_exporter.py PORT ENDPOINT_HOST:PORT   (credentials from
TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY). Prints "ready" once loaded.
"""
import datetime
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

CHINA = datetime.timezone(datetime.timedelta(hours=8))


def unix(text):
    if not text:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).timestamp()


class Partner:
    def __init__(self, endpoint):
        cred = credential.Credential(os.environ["TENCENTCLOUD_SECRET_ID"], os.environ["TENCENTCLOUD_SECRET_KEY"])
        http = HttpProfile(protocol="http", endpoint=endpoint, keepAlive=True)
        self.client = CommonClient("intlpartnersmgt", "2022-09-28", cred, "", profile=ClientProfile(httpProfile=http))
        self.snapshot = None

    def call(self, action, params):
        return self.client.call_json(action, params)["Response"]

    def pages(self, action, key, total_key, params=None):
        items, page = [], 1
        while True:
            answer = self.call(action, dict(params or {}, Page=page, PageSize=100))
            items.extend(answer.get(key) or [])
            if len(items) >= (answer.get(total_key) or 0) or not answer.get(key):
                return items
            page += 1

    def allocation(self, uin):
        first = self.call("QueryCreditAllocationHistory", {"ClientUin": uin, "Page": 1, "PageSize": 1})
        total = first.get("Total") or 0
        records = first.get("History") or []
        if total > len(records):
            last = self.call("QueryCreditAllocationHistory", {"ClientUin": uin, "Page": (total + 99) // 100, "PageSize": 100})
            records += last.get("History") or []
        newest = max(records, key=lambda r: r.get("AllocatedTime") or "", default=None)
        return uin, total, newest

    def usage(self, voucher):
        answer = self.call("DescribeCustomerVoucherUsageDetails", {"Page": 1, "PageSize": 1, "CustomerUin": voucher["CustomerUin"], "VoucherId": voucher["VoucherId"]})
        return voucher, answer

    def refresh(self):
        partner = self.call("QueryPartnerCredit", {})
        customers = self.pages("QueryCustomersCredit", "Data", "Total")
        vouchers = self.pages("DescribeCustomerVoucherList", "Data", "TotalCount")
        with ThreadPoolExecutor(16) as pool:
            allocations = list(pool.map(self.allocation, [c["ClientUin"] for c in customers]))
            usages = list(pool.map(self.usage, vouchers))
        self.snapshot = (partner, customers, allocations, usages)


class PartnerCollector:
    def __init__(self, partner):
        self.partner = partner

    def collect(self):
        if self.partner.snapshot is None:
            return
        partner, customers, allocations, usages = self.partner.snapshot
        p = "tencentcloud_partner_"
        for name, field in [("credit_usd", "TotalCredit"), ("credit_allocated_usd", "AllocatedCredit"), ("credit_remaining_usd", "RemainingCredit"), ("customers_credit_usd", "CustomerTotalCredit"), ("customers_credit_remaining_usd", "CustomerRemainingCredit")]:
            g = GaugeMetricFamily(p + name, "Partner credit (cached).")
            g.add_metric([], partner[field])
            yield g
        count = GaugeMetricFamily(p + "customers", "Number of customers (cached).")
        count.add_metric([], len(customers))
        yield count
        credit = GaugeMetricFamily(p + "customer_credit_usd", "Customer credit (cached).", labels=["customer_uin"])
        remaining = GaugeMetricFamily(p + "customer_credit_remaining_usd", "Customer credit left (cached).", labels=["customer_uin"])
        expiry = GaugeMetricFamily(p + "customer_credit_expiry_timestamp_seconds", "Customer credit expiry (cached).", labels=["customer_uin"])
        info = GaugeMetricFamily(p + "customer_info", "Customer labels (cached).", labels=["customer_uin", "remark", "customer_type", "identify_type"])
        for c in customers:
            uin = str(c["ClientUin"])
            credit.add_metric([uin], c["Credit"])
            remaining.add_metric([uin], c["RemainingCredit"])
            if c.get("RecentExpiry"):
                expiry.add_metric([uin], unix(c["RecentExpiry"]))
            info.add_metric([uin, c.get("Remark") or "", c.get("Type") or "", str(c.get("IdentifyType"))], 1)
        yield from (credit, remaining, expiry, info)
        total = GaugeMetricFamily(p + "customer_credit_allocations", "Allocations (cached).", labels=["customer_uin"])
        last_time = GaugeMetricFamily(p + "customer_credit_last_allocation_timestamp_seconds", "Newest allocation (cached).", labels=["customer_uin"])
        last_credit = GaugeMetricFamily(p + "customer_credit_last_allocation_usd", "Newest allocation (cached).", labels=["customer_uin"])
        for uin, count_, newest in allocations:
            total.add_metric([str(uin)], count_)
            if newest:
                last_time.add_metric([str(uin)], unix(newest["AllocatedTime"]))
                last_credit.add_metric([str(uin)], newest["Credit"])
        yield from (total, last_time, last_credit)
        labels = ["customer_uin", "voucher_id"]
        amount = GaugeMetricFamily(p + "voucher_amount_usd", "Voucher value (cached).", labels=labels)
        left = GaugeMetricFamily(p + "voucher_remaining_usd", "Voucher balance (cached).", labels=labels)
        records = GaugeMetricFamily(p + "voucher_usage_records", "Voucher charges (cached).", labels=labels)
        vexpiry = GaugeMetricFamily(p + "voucher_expiry_timestamp_seconds", "Voucher expiry (cached).", labels=labels)
        vinfo = GaugeMetricFamily(p + "voucher_info", "Voucher labels (cached).", labels=labels + ["status", "usage", "payment_mode", "product_scope"])
        for v, u in usages:
            key = [str(v["CustomerUin"]), str(v["VoucherId"])]
            amount.add_metric(key, u["TotalAmount"])
            left.add_metric(key, u["RemainAmount"])
            records.add_metric(key, u["TotalRecordsCount"])
            vexpiry.add_metric(key, unix(v["ExpireTime"]))
            vinfo.add_metric(key + [v["VoucherStatus"], v["Usage"], v["PaymentMode"], v["ProductScope"]], 1)
        yield from (amount, left, records, vexpiry, vinfo)


def main():
    port, endpoint = int(sys.argv[1]), sys.argv[2]
    partner = Partner(endpoint)
    partner.refresh()
    REGISTRY.register(PartnerCollector(partner))
    start_http_server(port, addr="127.0.0.1")
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
