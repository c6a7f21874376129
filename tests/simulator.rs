//! The simulator answers like Tencent: it is what every other test trusts, so
//! its refusals are tested through the exporter's own client.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{SECRET_ID, SECRET_KEY, start_api};
use tencentcloud_partner_exporter::api::actions::{
    CustomersCreditRequest, DescribeCustomerVoucherList, Empty, QueryCustomersCredit, QueryPartnerCredit,
    VoucherListRequest,
};
use tencentcloud_partner_exporter::api::{self, Client, Credentials, Error, NoObserver, Provider, RetryPolicy};
use tencentcloud_partner_exporter::simulator::{Fault, Rule, Settings, Shape};

const SHAPE: Shape = Shape {
    customers: 30,
    vouchers_per_customer: 1.0,
    seed: 2,
};

fn client(endpoint: &str, secret_key: &str) -> Client {
    let settings = api::Settings {
        endpoint: endpoint.parse().unwrap(),
        region: None,
        timeout: Duration::from_secs(2),
        // Far above the simulator's limits, to see its refusals.
        rate_limit_fraction: 100.0,
        retry: RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
    };
    let credentials = Provider::Fixed {
        credentials: Credentials::new(SECRET_ID, secret_key, None),
        source: "test".into(),
    };
    Client::new(settings, credentials, Arc::new(NoObserver)).unwrap()
}

fn code(error: Error) -> String {
    match error {
        Error::Api { code, request_id, .. } => {
            assert!(!request_id.is_empty(), "every answer carries a RequestId");
            code
        }
        other => panic!("expected a Tencent error, got {other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_wrong_signature() {
    let api = start_api(SHAPE, Settings::default()).await;
    let error = client(&api.endpoint, "not-the-key")
        .call::<QueryPartnerCredit>(&Empty {})
        .await
        .unwrap_err();
    assert_eq!(code(error), "AuthFailure.SignatureFailure");
    let ok = client(&api.endpoint, SECRET_KEY)
        .call::<QueryPartnerCredit>(&Empty {})
        .await
        .unwrap();
    assert!(ok.total_credit.unwrap() > 0.0);
}

#[tokio::test]
async fn rejects_a_page_size_over_one_hundred() {
    let api = start_api(SHAPE, Settings::default()).await;
    let client = client(&api.endpoint, SECRET_KEY);
    let too_big = CustomersCreditRequest {
        page: 1,
        page_size: 101,
        ..Default::default()
    };
    let error = client.call::<QueryCustomersCredit>(&too_big).await.unwrap_err();
    assert_eq!(code(error), "InvalidParameterValue");
    let vouchers = VoucherListRequest {
        page: 1,
        page_size: 101,
        ..Default::default()
    };
    let error = client.call::<DescribeCustomerVoucherList>(&vouchers).await.unwrap_err();
    assert_eq!(code(error), "InvalidParameterValue");
}

#[tokio::test]
async fn rejects_the_sixth_call_within_one_second() {
    let api = start_api(SHAPE, Settings::default()).await;
    let client = client(&api.endpoint, SECRET_KEY);
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(match client.call::<QueryPartnerCredit>(&Empty {}).await {
            Ok(_) => "Success".to_owned(),
            Err(e) => code(e),
        });
    }
    assert_eq!(&codes[..5], ["Success"; 5]);
    assert_eq!(codes[5], "RequestLimitExceeded");
    assert_eq!(api.sim.stats()["QueryPartnerCredit"].throttled, 1);
}

#[tokio::test]
async fn injects_errors_malformed_bodies_and_latency() {
    let api = start_api(SHAPE, Settings::default()).await;
    let client = client(&api.endpoint, SECRET_KEY);
    api.sim
        .inject(Rule::always(Fault::Error("InternalError".into())).times(1));
    api.sim.inject(Rule::always(Fault::Malformed).times(1));
    api.sim.inject(Rule::always(Fault::Truncated).times(1));
    api.sim
        .inject(Rule::always(Fault::Latency(Duration::from_secs(3))).times(1));
    api.sim.inject(Rule::always(Fault::Reset).times(1));
    let call = || client.call::<QueryPartnerCredit>(&Empty {});
    assert_eq!(code(call().await.unwrap_err()), "InternalError");
    assert!(matches!(call().await.unwrap_err(), Error::Decode(_)));
    assert!(matches!(call().await.unwrap_err(), Error::Decode(_)));
    assert!(matches!(call().await.unwrap_err(), Error::Timeout(_)));
    let reset = call().await.unwrap_err();
    assert!(matches!(reset, Error::Network(_) | Error::Decode(_)), "{reset:?}");
    assert!(reset.is_retryable());
    assert!(call().await.is_ok(), "the faults were used up");
}
