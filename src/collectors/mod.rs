//! The collectors, one file each: what each reads from the API, how often by
//! default, and what it exports. Each is a [`crate::refresh::Collector`], run
//! by the refresh runtime, which owns the schedule, publishing, the rule for
//! what the API refuses and the bounds of every read. Adding a collector
//! means adding one file here, and its line in [`crate::snapshot`]'s list.

pub mod allocations;
pub mod bills;
pub mod customers;
pub mod partner;
pub mod pool;
pub mod spend;
pub mod status;
pub mod subagents;
pub mod vouchers;
