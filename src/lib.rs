//! A Prometheus exporter for Tencent Cloud International Partners: partner and
//! customer credit, credit allocations, customer vouchers and account status,
//! the voucher pool and second-level resellers, read from the
//! `intlpartnersmgt` API in the background and served from memory.
//!
//! # Architecture
//!
//! From the top down; each module uses only those below it (checked by
//! `scripts/module-graph`):
//!
//! * [`app`] wires the rest together; [`config`] and [`telemetry`] read flags
//!   and set up logging.
//! * [`reload`] re-reads configuration files on SIGHUP, `/-/reload` and change.
//! * [`http`] serves `/metrics`, `/`, `/-/healthy`, `/-/ready` and
//!   `/-/reload`, plain or over TLS, behind the `--web.config.file` guard
//!   (basic auth, headers, rate limit).
//! * [`account`] runs each partner account: its own client, cache and
//!   collectors.
//! * [`collectors`] say, one file each, what each collector reads and exports.
//! * [`refresh`] runs them in the background, one task per collector and
//!   account, each on its own interval; a refresh publishes a complete
//!   snapshot, and a long one what it has read so far (never a wrong value),
//!   encoded off the async workers. It owns the one rule for what the API
//!   refuses and the bounds of every walk.
//! * [`cache`] holds the last published snapshot of each collector (moka) and
//!   drops it once it is older than `--cache.max-age`; [`store`] keeps them on
//!   disk (`--cache.snapshot-dir`) so a restart starts warm.
//! * [`metrics`] encodes each snapshot once, when it is published, and
//!   assembles `/metrics` from those blocks and the exporter's own metrics,
//!   without I/O.
//! * [`api`] is the only code that talks to Tencent Cloud; it signs
//!   (TC3-HMAC-SHA256), keeps to each action's rate limit, retries, and reads
//!   answers as Tencent's SDK declares them.
//! * [`snapshot`] is the data model and the list of collectors: one line each
//!   names a collector and what its refresh produces. It depends on
//!   nothing else here.
//! * [`local_file`] reads the operator's files with a cap on their size;
//!   [`yaml_file`] reads the YAML ones with one error type.
//! * [`thresholds`] is `--customers.thresholds-file`: which customer has
//!   alert thresholds of its own.
//! * [`simulator`] is an in-process fake of the API for `--demo` and the tests.
//! * `fuzzing` feeds arbitrary bytes to each parser of outside input, for the
//!   fuzz targets in `fuzz/`; the exporter does not use it.

pub mod account;
pub mod api;
pub mod app;
pub mod cache;
pub mod collectors;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod local_file;
pub mod metrics;
pub mod refresh;
pub mod reload;
pub mod simulator;
pub mod snapshot;
pub mod store;
pub mod telemetry;
pub mod thresholds;
pub mod yaml_file;
