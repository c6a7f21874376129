//! `tencentcloud_partner_customer_threshold`: the thresholds of
//! `--customers.thresholds-file` of each customer an entry matches, encoded
//! at scrape time from the customer lists served and the file in force. The
//! matches are worked out again only when either changes, never per scrape.
//! This module reads the thresholds, it does not load them.

use super::Source;
use super::exposition::gauges;
use crate::snapshot::{CustomersSnapshot, Kind, Rows};
use crate::thresholds::Thresholds;
use arc_swap::ArcSwap;
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;
use std::sync::{Arc, Mutex};

/// One sample: account, customer UIN, threshold name, value.
type Sample = (Arc<str>, u64, &'static str, f64);

/// What the samples were worked out from: each customer list served (by
/// address) and the thresholds in force.
type Basis = (Vec<usize>, usize);

/// The per-customer thresholds, as a scrape-time collector.
#[derive(Debug)]
pub struct ThresholdMetrics {
    source: Arc<dyn Source>,
    thresholds: Arc<ArcSwap<Thresholds>>,
    last: Mutex<Option<(Basis, Arc<Vec<Sample>>)>>,
}

impl ThresholdMetrics {
    pub fn new(source: Arc<dyn Source>, thresholds: Arc<ArcSwap<Thresholds>>) -> Self {
        Self {
            source,
            thresholds,
            last: Mutex::new(None),
        }
    }

    fn samples(&self) -> Arc<Vec<Sample>> {
        let thresholds = self.thresholds.load_full();
        if thresholds.is_empty() {
            return Arc::default();
        }
        let lists = self.source.published(Kind::Customers);
        let basis: Basis = (
            lists.iter().map(|(_, p)| Arc::as_ptr(p) as usize).collect(),
            Arc::as_ptr(&thresholds) as usize,
        );
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, samples)) = &*last
            && *seen == basis
        {
            return samples.clone();
        }
        let samples: Vec<Sample> = lists
            .iter()
            .filter_map(|(account, p)| Some((account, CustomersSnapshot::of(&p.snapshot)?)))
            .flat_map(|(account, list)| {
                list.customers.iter().flat_map(|c| {
                    thresholds
                        .of(c.uin, &c.remark)
                        .into_iter()
                        .map(|(name, value)| (account.clone(), c.uin, name, value))
                })
            })
            .collect();
        let samples = Arc::new(samples);
        *last = Some((basis, samples.clone()));
        samples
    }
}

impl prometheus_client::collector::Collector for ThresholdMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let samples = self.samples();
        gauges(
            &mut encoder,
            "customer_threshold",
            "A customer's own alert threshold from --customers.thresholds-file (credit_remaining_ratio: share of its credit; credit_days_left: days); only customers an entry matches",
            None,
            samples.iter().map(|(account, uin, name, value)| {
                let labels = [
                    ("account", account.to_string()),
                    ("customer_uin", uin.to_string()),
                    ("threshold", (*name).to_owned()),
                ];
                (labels, *value)
            }),
        )
    }
}
