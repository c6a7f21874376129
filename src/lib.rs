//! A Prometheus exporter for Tencent Cloud International Partners: partner and
//! customer credit, credit allocations and customer vouchers, read from the
//! `intlpartnersmgt` API in the background and served from memory.
//!
//! # Architecture
//!
//! * [`account`] runs each partner account: its own client, cache and
//!   collectors. [`collectors`] refresh snapshots in the background, one task
//!   per collector and account, each on its own interval; a refresh
//!   publishes a complete snapshot or nothing.
//! * [`api`] is the only code that talks to Tencent Cloud; it signs
//!   (TC3-HMAC-SHA256), keeps to each action's rate limit and retries.
//! * [`cache`] holds the last complete snapshot of each collector (moka) and
//!   drops it once it is older than `--cache.max-age`.
//! * [`metrics`] turns snapshots into OpenMetrics on each scrape, without I/O.
//! * [`http`] serves `/metrics`, `/`, `/-/healthy`, `/-/ready` and
//!   `/-/reload`, plain or over TLS, behind the `--web.config.file` guard
//!   (basic auth, headers, rate limit).
//! * [`store`] keeps the snapshots on disk (`--cache.snapshot-dir`) so a
//!   restart starts warm.
//! * [`reload`] re-reads configuration files on SIGHUP, `/-/reload` and change.
//! * [`app`] wires them together; [`config`] and [`telemetry`] read flags and
//!   set up logging.
//! * [`simulator`] is an in-process fake of the API for `--demo` and the tests.

pub mod account;
pub mod api;
pub mod app;
pub mod cache;
pub mod collectors;
pub mod config;
pub mod http;
pub mod metrics;
pub mod reload;
pub mod simulator;
pub mod store;
pub mod telemetry;
