//! The real binary against answers typed exactly as Tencent's SDK declares
//! them, and against the odd ones a real API sends: numbers as strings, a
//! value of the wrong type, fields nobody knows, pages shorter than asked.

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::binary::Binary;
use support::{Api, SECRET_ID, SECRET_KEY, fast_settings, scrape_binary, start_api};
use tencentcloud_partner_exporter::simulator::{Fault, Rewrite, Rule, Settings, Shape, dataset::usd};

const USAGE: &str = "DescribeCustomerVoucherUsageDetails";
const LIST: &str = "DescribeCustomerVoucherList";

/// The binary against `api`, every collector refreshed every few seconds.
fn start(api: &Api) -> Binary {
    let endpoint = format!("--api.endpoint={}", api.endpoint);
    Binary::start_with(
        &[
            &endpoint,
            "--api.rate-limit-fraction=20",
            "--api.timeout=2s",
            "--refresh.vouchers-interval=3s",
        ],
        &[
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ],
    )
}

async fn wait_ready(binary: &Binary, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let ready = reqwest::get(binary.url("http", "/-/ready"))
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready within {within:?}:\n{}",
            binary.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Usage records as Tencent's SDK types them: integer ids and owner, string voucher id.
fn usage_records(voucher: u64, owner: u64, n: u64) -> Value {
    json!(
        (0..n)
            .map(|i| json!({
                "Id": voucher * 100 + i, "VoucherId": voucher.to_string(), "DealName": format!("2026112{i}"),
                "BillId": format!("b{i}"), "Amount": 1.25 + i as f64, "PayMode": "postPay", "ProductCode": "p_cvm",
                "SubProductCode": "sp_cvm_s5", "ProductCodeName": "CVM", "SubProductCodeName": "S5",
                "PayTime": "2026-11-20 10:00:00", "CompletionTime": "2026-11-20 10:00:01", "OwnerUin": owner,
            }))
            .collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouchers_export_exactly_from_sdk_typed_and_odd_answers() {
    let api = start_api(
        Shape {
            customers: 40,
            vouchers_per_customer: 2.0,
            seed: 17,
        },
        fast_settings(),
    )
    .await;
    let (twelve_fifty, objected) = api.sim.with_data(|d| {
        let mut ids = d.vouchers.keys().copied();
        let (a, b) = (ids.next().unwrap(), ids.next().unwrap());
        d.vouchers.get_mut(&a).unwrap().remaining_cents = 1250;
        (a, b)
    });
    // Every usage answer carries several SDK-typed records and its remaining
    // amount as a numeric string; one voucher's total amount is an object
    // wherever it appears.
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(move |r| {
            let id = r["VoucherId"].as_u64().unwrap();
            let owner = r["CustomerUin"].as_u64().unwrap();
            r["Data"] = usage_records(id, owner, 3);
            r["RemainAmount"] = json!(format!("{:.2}", r["RemainAmount"].as_f64().unwrap()));
            if id == objected {
                r["TotalAmount"] = json!({"Amount": 1, "Currency": "USD"});
            }
        })))
        .on(USAGE),
    );
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(move |r| {
            for item in r["Data"].as_array_mut().unwrap() {
                if item["VoucherId"] == objected {
                    item["TotalAmount"] = json!({"Amount": 1, "Currency": "USD"});
                }
            }
        })))
        .on(LIST),
    );
    let binary = start(&api);
    wait_ready(&binary, Duration::from_secs(60)).await;
    let scrape = scrape_binary(&binary).await;
    let data = api.sim.with_data(|d| d.clone());

    assert_eq!(
        scrape.series("tencentcloud_partner_voucher_remaining_usd").len(),
        data.vouchers.len()
    );
    for v in data.vouchers.values() {
        let value = |name| scrape.voucher(name, v.customer_uin, v.id);
        assert_eq!(
            value("tencentcloud_partner_voucher_remaining_usd"),
            Some(usd(v.remaining_cents))
        );
        assert_eq!(
            value("tencentcloud_partner_voucher_usage_records"),
            Some(v.usage_records as f64)
        );
        let amount = (v.id != objected).then(|| usd(v.total_cents));
        assert_eq!(
            value("tencentcloud_partner_voucher_amount_usd"),
            amount,
            "voucher {}",
            v.id
        );
    }
    assert_eq!(
        scrape.voucher(
            "tencentcloud_partner_voucher_remaining_usd",
            data.vouchers[&twelve_fifty].customer_uin,
            twelve_fifty
        ),
        Some(12.5)
    );
    for action in [USAGE, LIST] {
        let counted = format!(
            "tencentcloud_partner_api_decode_errors_total{{account=\"default\",action=\"{action}\",field=\"TotalAmount\"}}"
        );
        assert!(scrape.get(&counted).is_some_and(|n| n >= 1.0), "{counted} not counted");
    }
    // Decoding trouble costs no retries and no refresh.
    assert_eq!(
        scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"vouchers\"}"),
        Some(1.0)
    );
    assert!(!scrape.text.contains("code=\"MalformedResponse\""));

    // Logged once per action and field, however many calls and refreshes
    // see it: every voucher's usage details (read once each, as none
    // changes), and the listing, read again every refresh.
    assert_eq!(scrape_count(&binary, USAGE).await, data.vouchers.len() as f64);
    let one_listing = scrape_count(&binary, LIST).await;
    let wait_for_second_refresh = Instant::now();
    while scrape_count(&binary, LIST).await < 2.0 * one_listing {
        assert!(wait_for_second_refresh.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = binary.log();
    let lines = |field: &str| {
        log.lines()
            .filter(|l| {
                l.contains("cannot mean what the field does")
                    && l.split(' ').any(|token| token == format!("field={field}"))
            })
            .count()
    };
    assert_eq!(lines("TotalAmount"), 1, "{log}");
    assert_eq!(lines("Data.TotalAmount"), 1, "{log}");
}

async fn scrape_count(binary: &Binary, action: &str) -> f64 {
    scrape_binary(binary)
        .await
        .get(&format!(
            "tencentcloud_partner_api_requests_total{{account=\"default\",action=\"{action}\",code=\"Success\"}}"
        ))
        .unwrap_or(0.0)
}

/// Adds a field nobody knows to `value` and to every object inside it.
fn add_unknown_fields(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.values_mut().for_each(add_unknown_fields);
            object.insert("FieldTencentAddsLater".into(), json!({"Nested": [1, "two", null]}));
            object.insert("AnotherNewField".into(), json!("2026-11-26 00:00:00"));
        }
        Value::Array(items) => items.iter_mut().for_each(add_unknown_fields),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_in_every_answer_are_ignored() {
    let api = start_api(
        Shape {
            customers: 120,
            vouchers_per_customer: 1.0,
            seed: 29,
        },
        fast_settings(),
    )
    .await;
    api.sim
        .inject(Rule::always(Fault::Rewrite(Rewrite::new(add_unknown_fields))));
    let binary = start(&api);
    wait_ready(&binary, Duration::from_secs(60)).await;
    let scrape = scrape_binary(&binary).await;
    scrape.assert_exact(&api.sim.with_data(|d| d.clone()));
    assert!(
        !scrape.text.contains("api_decode_errors_total{"),
        "no field was misread:\n{}",
        scrape.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_silently_capped_at_twenty_are_walked_to_the_end() {
    for oldest_first in [true, false] {
        let settings = Settings {
            silent_page_cap: Some(20),
            allocations_oldest_first: oldest_first,
            ..fast_settings()
        };
        let api = start_api(
            Shape {
                customers: 250,
                vouchers_per_customer: 1.0,
                seed: 31,
            },
            settings,
        )
        .await;
        let binary = start(&api);
        wait_ready(&binary, Duration::from_secs(90)).await;
        let scrape = scrape_binary(&binary).await;
        let data = api.sim.with_data(|d| d.clone());
        assert!(
            data.customers.values().any(|c| c.allocations.len() > 100),
            "some histories span several pages"
        );
        scrape.assert_exact(&data);
        // 13 pages of 20 customers, after a first page that asked for 100.
        assert_eq!(api.sim.stats()["QueryCustomersCredit"].calls, 13);
        drop(binary);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_whose_uin_cannot_be_read_is_left_out_and_the_rest_published() {
    let api = start_api(
        Shape {
            customers: 60,
            vouchers_per_customer: 0.0,
            seed: 37,
        },
        fast_settings(),
    )
    .await;
    let unreadable = api.sim.with_data(|d| *d.customers.keys().nth(7).unwrap());
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(move |r| {
            for item in r["Data"].as_array_mut().unwrap() {
                if item["ClientUin"] == unreadable {
                    item["ClientUin"] = json!({"Uin": unreadable});
                }
            }
        })))
        .on("QueryCustomersCredit"),
    );
    let binary = start(&api);
    wait_ready(&binary, Duration::from_secs(60)).await;
    let scrape = scrape_binary(&binary).await;
    let data = api.sim.with_data(|d| d.clone());
    assert_eq!(
        scrape
            .series("tencentcloud_partner_customer_credit_remaining_usd")
            .len(),
        data.customers.len() - 1
    );
    for c in data.customers.values().filter(|c| c.uin != unreadable) {
        assert_eq!(
            scrape.customer("tencentcloud_partner_customer_credit_remaining_usd", c.uin),
            Some(usd(c.remaining_cents))
        );
    }
    assert_eq!(
        scrape.get(
            "tencentcloud_partner_api_decode_errors_total{account=\"default\",action=\"QueryCustomersCredit\",field=\"ClientUin\"}"
        ),
        Some(1.0),
        "one walk, one odd value"
    );
    assert_eq!(
        api.sim.stats()["QueryCustomersCredit"].calls,
        1,
        "the walk was not repeated"
    );
}
