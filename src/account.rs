//! The partner accounts being served. Each [`Account`] has its own API client
//! (so its own rate limiters and key), its own cache of snapshots and its own
//! refresh tasks: one account with a bad key or a slow API does not hold up
//! another. The [`Fleet`] starts them, and on reload starts new accounts,
//! restarts changed ones and stops removed ones, all or nothing. It does not
//! know how snapshots become metrics or pages.

use crate::api::credentials::Unavailable;
use crate::api::{self, Credentials};
use crate::cache::Snapshots;
use crate::config::{AccountConfig, Common};
use crate::metrics::exposition::Renderer;
use crate::metrics::instrumentation::ApiMetrics;
use crate::refresh::{self, Schedule, Status};
use crate::snapshot::Kind;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why an account cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("account {account}: cannot start the API client: {error}")]
    Client { account: String, error: api::Error },
    #[error("account {account}: {error}")]
    Credentials { account: String, error: api::Error },
    #[error(
        "missing credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, give --api.secret-id-file and \
         --api.secret-key-file, write ~/.tencentcloud/credentials, run on a CVM with a CAM role, or use --demo"
    )]
    MissingCredentials,
    #[error("account {account}: --cache.snapshot-dir: {error}")]
    Store {
        account: String,
        error: crate::store::Error,
    },
}

/// One account being served.
#[derive(Debug)]
pub struct Account {
    pub name: Arc<str>,
    pub snapshots: Snapshots,
    pub statuses: Vec<Arc<Status>>,
    /// Where the key comes from, for the log and the landing page.
    pub credentials: String,
    /// What the account was started from: a different one means a restart.
    config: AccountConfig,
    cancel: CancellationToken,
    /// Its tasks: stopped, they are awaited before anything replaces them.
    tasks: TaskTracker,
}

impl Account {
    /// An account that serves `statuses` and runs nothing, for the HTTP tests.
    #[cfg(test)]
    pub(crate) fn idle(name: &str, statuses: Vec<Arc<Status>>) -> Self {
        use crate::metrics::exposition::Renderer;
        Self::idle_with(
            name,
            statuses,
            Snapshots::new(Renderer::new(name, false, refresh::encode)),
        )
    }

    /// [`Account::idle`] serving `snapshots`.
    #[cfg(test)]
    pub(crate) fn idle_with(name: &str, statuses: Vec<Arc<Status>>, snapshots: Snapshots) -> Self {
        Self {
            name: name.into(),
            snapshots,
            statuses,
            credentials: "none".into(),
            config: AccountConfig {
                name: name.into(),
                credentials: crate::config::CredentialSource::Demo,
                api: api::Settings {
                    endpoint: "http://127.0.0.1:9".parse().expect("a URL"),
                    region: None,
                    timeout: Duration::from_secs(1),
                    rate_limit_fraction: 1.0,
                    retry: api::RetryPolicy::default(),
                },
                intervals: crate::config::Intervals::default(),
                customer_uins: None,
            },
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Whether every enabled collector has completed a refresh (or serves
    /// one kept on disk).
    pub fn is_ready(&self) -> bool {
        self.statuses.iter().all(|s| s.is_ready())
    }
}

/// What every account shares.
pub struct Setup {
    pub common: Common,
    pub api_metrics: ApiMetrics,
    pub store_errors: prometheus_client::metrics::counter::Counter,
    /// The counters the collectors declare.
    pub counters: crate::metrics::counters::Counters,
    /// The key of the demo's simulated API, for `CredentialSource::Demo`.
    pub demo_key: Option<Credentials>,
}

/// The accounts being served, in name order, as the fleet, the metrics and
/// the pages share them.
pub type Accounts = Arc<ArcSwap<Vec<Arc<Account>>>>;

impl crate::metrics::Source for ArcSwap<Vec<Arc<Account>>> {
    fn published(&self, kind: Kind) -> Vec<(Arc<str>, Arc<crate::metrics::exposition::Published>)> {
        self.load()
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.snapshots.latest(kind)?)))
            .collect()
    }
}

impl refresh::metrics::Statuses for Accounts {
    fn statuses(&self) -> Vec<(Arc<str>, Arc<Status>)> {
        self.load()
            .iter()
            .flat_map(|a| a.statuses.iter().map(|s| (a.name.clone(), s.clone())))
            .collect()
    }
}

/// How long a reload waits for a restarted or removed account's tasks to
/// end (they are given 3 s to publish what they read) before it starts the
/// new ones anyway.
const RESTART_GRACE: Duration = Duration::from_secs(10);

/// The accounts being served, in name order.
pub struct Fleet {
    accounts: Accounts,
    setup: Setup,
    cancel: CancellationToken,
    /// One apply at a time.
    applying: tokio::sync::Mutex<()>,
}

impl Fleet {
    /// A fleet with no account yet, publishing its accounts to `accounts`.
    pub fn new(setup: Setup, accounts: Accounts) -> Self {
        Self {
            accounts,
            setup,
            cancel: CancellationToken::new(),
            applying: tokio::sync::Mutex::new(()),
        }
    }

    /// The accounts being served now.
    pub fn accounts(&self) -> Arc<Vec<Arc<Account>>> {
        self.accounts.load_full()
    }

    /// Serves exactly `configs`: starts new accounts, restarts changed ones
    /// (keeping the snapshots they serve), stops removed ones. Nothing
    /// changes, metrics included, unless every new or changed account can
    /// start; an account's old tasks have ended (publishing what they read)
    /// before its new ones call the API.
    pub async fn apply(&self, configs: Vec<AccountConfig>) -> Result<(), Error> {
        let _one_at_a_time = self.applying.lock().await;
        let running: BTreeMap<Arc<str>, Arc<Account>> =
            self.accounts().iter().map(|a| (a.name.clone(), a.clone())).collect();
        let mut next = Vec::with_capacity(configs.len());
        let mut starting = Vec::new();
        for config in configs {
            match running.get(config.name.as_str()) {
                Some(account) if account.config == config => next.push(account.clone()),
                previous => {
                    let prepared = self.prepare(config, previous.map(|a| a.snapshots.clone())).await;
                    let (account, start) = match prepared {
                        Ok(prepared) => prepared,
                        Err(error) => {
                            self.forget_unstarted(&starting, &running);
                            return Err(error);
                        }
                    };
                    next.push(account.clone());
                    starting.push((account, start));
                }
            }
        }
        next.sort_by(|a, b| a.name.cmp(&b.name));
        let stopping: Vec<&Arc<Account>> = running
            .values()
            .filter(|account| !next.iter().any(|a| Arc::ptr_eq(a, *account)))
            .collect();
        for account in &stopping {
            account.cancel.cancel();
            account.tasks.close();
        }
        let ended = futures::future::join_all(stopping.iter().map(|a| a.tasks.wait()));
        if tokio::time::timeout(RESTART_GRACE, ended).await.is_err() {
            tracing::warn!("the tasks of a stopped account did not end in time; starting its new ones anyway");
        }
        for account in &stopping {
            if !next.iter().any(|a| a.name == account.name) {
                self.setup.api_metrics.remove(&account.name);
                self.setup.counters.remove(&account.name);
            }
            tracing::info!(account = %account.name, "account stopped");
        }
        for (account, start) in starting {
            self.setup
                .api_metrics
                .for_account(&account.name, account.config.api.rate_limit_fraction);
            start();
            tracing::info!(account = %account.name, credentials = %account.credentials, "account started");
        }
        self.accounts.store(Arc::new(next));
        Ok(())
    }

    /// Removes the series a failed apply created for accounts it prepared
    /// and did not start, where no running account of that name has them.
    fn forget_unstarted<S>(&self, prepared: &[(Arc<Account>, S)], running: &BTreeMap<Arc<str>, Arc<Account>>) {
        for (account, _) in prepared {
            if !running.contains_key(&account.name) {
                self.setup.counters.remove(&account.name);
            }
        }
    }

    /// Builds an account and what starts its tasks, without starting them.
    async fn prepare(
        &self,
        config: AccountConfig,
        snapshots: Option<Snapshots>,
    ) -> Result<(Arc<Account>, impl FnOnce() + use<>), Error> {
        let common = &self.setup.common;
        let name: Arc<str> = config.name.as_str().into();
        let account_error = |error| Error::Credentials {
            account: config.name.clone(),
            error,
        };
        let provider = config
            .credentials
            .clone()
            .provider(config.api.timeout, self.setup.demo_key.clone())
            .await
            .map_err(|e| match e {
                Unavailable::Missing => Error::MissingCredentials,
                Unavailable::Failed(error) => account_error(error),
            })?;
        let credentials = provider.describe();
        let observer = Arc::new(self.setup.api_metrics.observer(&config.name));
        let client = api::Client::new(config.api.clone(), provider, observer).map_err(|error| Error::Client {
            account: config.name.clone(),
            error,
        })?;
        let store = match &common.snapshot_dir {
            Some(dir) => Some(Store::open(dir, &config.name).map_err(|error| Error::Store {
                account: config.name.clone(),
                error,
            })?),
            None => None,
        };
        let restoring = snapshots.is_none();
        let snapshots = snapshots
            .unwrap_or_else(|| Snapshots::new(Renderer::new(&config.name, common.export_names, refresh::encode)));
        let statuses: Vec<Arc<Status>> = common
            .collectors
            .kinds()
            .map(|kind| Arc::new(Status::new(kind, config.intervals.get(kind))))
            .collect();
        // A value stays exported until it is older than --cache.max-age, or
        // than two of its own intervals if that is longer: a slow collector's
        // series must not blink out between two good refreshes.
        let max_age_floor = common.max_age;
        let max_age = move |status: &Status| max_age_floor.max(status.interval * 2);
        if let (Some(store), true) = (&store, restoring) {
            // Reading and encoding the files (tens of megabytes at 50,000
            // vouchers) is kept off the async workers, which serve scrapes
            // meanwhile when an account is added on reload.
            let (name, store, statuses, snapshots) = (name.clone(), store.clone(), statuses.clone(), snapshots.clone());
            let restoring = tokio::task::spawn_blocking(move || {
                for status in &statuses {
                    refresh::task::restore(&name, &store, status, max_age(status), &snapshots);
                }
            });
            if let Err(error) = restoring.await {
                tracing::warn!(account = %config.name, %error, "restoring the snapshots kept on disk stopped");
            }
        } else {
            // A restarted account keeps serving what it served; its statuses are new.
            for status in &statuses {
                if let Some(published) = snapshots.latest(status.kind) {
                    status.restored(published.at, published.complete);
                }
            }
        }
        let shared = refresh::Inputs {
            account: name.clone(),
            api: client,
            snapshots: snapshots.clone(),
            timezone: common.timezone,
            ended_retention: common.ended_retention,
            customer_uins: config.customer_uins.clone().map(Into::into),
            store,
            store_errors: self.setup.store_errors.clone(),
            counters: self.setup.counters.for_account(&config.name),
            started: std::time::SystemTime::now(),
            tasks: TaskTracker::new(),
        };
        let tasks = shared.tasks.clone();
        let cancel = self.cancel.child_token();
        let account = Arc::new(Account {
            name,
            snapshots,
            statuses: statuses.clone(),
            credentials,
            config: config.clone(),
            cancel: cancel.clone(),
            tasks: tasks.clone(),
        });
        let full_sweeps = common.full_sweeps;
        let publish_every = common.publish_every;
        let start = move || {
            for status in statuses {
                let schedule = Schedule {
                    interval: status.interval,
                    max_age: max_age(&status),
                    full_sweep: full_sweeps.get(status.kind),
                    publish_every,
                };
                refresh::spawn(&tasks, status, shared.clone(), schedule, cancel.clone());
            }
        };
        Ok((account, start))
    }

    /// Stops every account's tasks, waiting up to `grace` for them.
    pub async fn stop(&self, grace: Duration) {
        self.cancel.cancel();
        let accounts = self.accounts();
        for account in accounts.iter() {
            account.tasks.close();
        }
        let ended = futures::future::join_all(accounts.iter().map(|a| a.tasks.wait()));
        if tokio::time::timeout(grace, ended).await.is_err() {
            tracing::warn!("refresh tasks did not stop in time");
        }
    }
}
