//! How the simulator behaves beyond its data: its rate limits, page sizes,
//! clock and the ways it answers that the API may or may not have.

/// How the simulator behaves, beyond its data.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Multiplies every documented rate limit; `None` disables rate limiting.
    pub rate_limit_scale: Option<f64>,
    /// Whether allocation history is listed oldest first. The API does not
    /// document an order; the exporter must not depend on either.
    pub allocations_oldest_first: bool,
    /// Largest PageSize QueryCustomersCredit and QueryCreditAllocationHistory accept.
    pub max_page_size: u64,
    /// Serve at most this many items per page of those two listings, whatever
    /// PageSize asked, without saying so: their largest page is undocumented.
    pub silent_page_cap: Option<u64>,
    /// Seconds the simulated API's clock is ahead of this host's (negative:
    /// behind), to test a skewed client clock.
    pub clock_offset_secs: i64,
    /// Whether to keep every answered request, for [`Simulator::requests`].
    pub record_requests: bool,
    /// Whether DescribeCustomerVoucherUsageDetails refuses a withdrawn
    /// voucher (`Invalidated`, still listed) with `FailedOperation`, its one
    /// documented error, as a partner has seen it do.
    pub refuse_withdrawn_details: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit_scale: Some(1.0),
            allocations_oldest_first: true,
            max_page_size: 100,
            silent_page_cap: None,
            clock_offset_secs: 0,
            record_requests: false,
            refuse_withdrawn_details: false,
        }
    }
}
