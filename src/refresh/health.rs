//! What a collector's task is doing and how its refreshes went: the
//! [`Status`] that `/-/healthy`, `/-/ready`, the landing page and the refresh
//! metrics read, and that the task and its publications write. No I/O.

use crate::snapshot::Kind;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
// tokio's clock, so the tests of health can advance it instead of sleeping.
use tokio::time::Instant;

/// What `/-/healthy`, `/-/ready`, the landing page and the refresh metrics
/// know of one collector's task.
#[derive(Debug)]
pub struct Status {
    pub kind: Kind,
    pub interval: Duration,
    /// When the task was made: a minute after, a collector the API never
    /// answered says so.
    started: Instant,
    inner: Mutex<StatusView>,
}

/// How long a collector may go without any answer from the API after the
/// exporter starts before `/-/healthy` and the landing page say so.
pub const STARTING: Duration = Duration::from_secs(60);

/// A copy of a collector's status at one moment.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// When the task last started a refresh or got an API answer.
    pub last_progress: Instant,
    pub last_attempt: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    /// Whether the last finished refresh succeeded.
    pub last_ok: Option<bool>,
    pub last_duration: Option<Duration>,
    pub last_error: Option<String>,
    pub next_run: Option<SystemTime>,
    pub phase: Phase,
    /// When values were last published: a complete refresh, a part of one,
    /// or a snapshot restored from disk. Ready from then on.
    pub last_published: Option<SystemTime>,
    /// Whether a refresh has completed since the exporter started: until
    /// then, a refresh under way is the first.
    pub completed_once: bool,
    /// The items of the current (or last) refresh, for a collector that reads
    /// items one at a time.
    pub progress: Option<Progress>,
    /// Items the API refused one at a time since the start, by error code.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Anomalies of the listings' answers since the start, by kind.
    pub anomalies: std::collections::BTreeMap<&'static str, u64>,
    /// Whether the API has answered one of its calls since the start.
    pub answered_once: bool,
    /// Why its latest call failed, until a call is answered: shown at once,
    /// while the call is still retried.
    pub call_error: Option<String>,
    /// Whether a failed call was logged since the last complete refresh.
    failure_logged: bool,
}

/// How far a refresh that reads items one at a time has come.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub read: u64,
    pub due: u64,
    /// Seconds an item takes at the pace the rate limit allows.
    pub seconds_per_item: f64,
}

impl Progress {
    /// The time the items not read yet take at the rate limit's pace.
    pub fn time_left(&self) -> Duration {
        let left = self.due.saturating_sub(self.read) as f64 * self.seconds_per_item;
        Duration::try_from_secs_f64(left).unwrap_or_default()
    }
}

/// What a collector's task is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between refreshes, or before the first: the last outcome says how it went.
    Idle,
    /// Waiting for another collector's first snapshot: not wedged.
    Waiting,
    /// A refresh is under way.
    Refreshing,
    /// The task ended (panicked, or the exporter is stopping).
    Stopped,
}

impl Status {
    pub fn new(kind: Kind, interval: Duration) -> Self {
        Self {
            kind,
            interval,
            started: Instant::now(),
            inner: Mutex::new(StatusView {
                last_progress: Instant::now(),
                last_attempt: None,
                last_success: None,
                last_ok: None,
                last_duration: None,
                last_error: None,
                next_run: None,
                phase: Phase::Idle,
                last_published: None,
                completed_once: false,
                progress: None,
                refused: Default::default(),
                anomalies: Default::default(),
                answered_once: false,
                call_error: None,
                failure_logged: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StatusView> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> StatusView {
        self.lock().clone()
    }

    /// Healthy unless the task died or has shown no progress for three intervals.
    pub fn is_healthy(&self) -> bool {
        let view = self.lock();
        match view.phase {
            Phase::Stopped => false,
            Phase::Waiting => true,
            Phase::Idle | Phase::Refreshing => view.last_progress.elapsed() < self.interval * 3,
        }
    }

    /// Why the collector has had no answer from the API, a minute or more
    /// after the start; `None` once one came, before that minute, and while
    /// it waits for another collector (which then says so itself).
    pub fn not_answered(&self) -> Option<String> {
        let view = self.lock();
        let silent = !view.answered_once && !view.completed_once && self.started.elapsed() >= STARTING;
        if !silent || view.phase == Phase::Waiting {
            return None;
        }
        let why = view.call_error.as_ref().or(view.last_error.as_ref());
        Some(why.cloned().unwrap_or_else(|| "no answer from the API yet".to_owned()))
    }

    /// Records a call the API answered (an item refused is an answer too).
    pub fn call_answered(&self) {
        let mut view = self.lock();
        view.answered_once = true;
        view.call_error = None;
    }

    /// Records a call that failed with `error`; whether it is the first
    /// since the last complete refresh, to be logged.
    pub fn call_failed(&self, error: String) -> bool {
        let mut view = self.lock();
        view.call_error = Some(error);
        !std::mem::replace(&mut view.failure_logged, true)
    }

    /// Puts the task in `phase`.
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.lock().phase = phase;
    }

    /// Records real progress: an item read, values published, a refresh
    /// ended other than by its deadline. API calls alone are not: a walk that
    /// calls and calls while reading nothing new is wedged, not alive.
    pub fn progressed(&self) {
        self.lock().last_progress = Instant::now();
    }

    /// Records that the snapshot served was published at `at` by an earlier
    /// run (`complete`, or a part of a refresh): the exporter is ready, and
    /// the refresh metrics show the snapshot's age.
    pub fn restored(&self, at: SystemTime, complete: bool) {
        let mut view = self.lock();
        view.last_published = Some(at);
        if complete {
            view.last_success = Some(at);
        }
    }

    /// Records a publication at `at`: of a complete refresh, or of a part.
    pub fn published(&self, at: SystemTime, complete: bool) {
        let mut view = self.lock();
        view.last_progress = Instant::now();
        view.last_published = Some(at);
        if complete {
            view.last_success = Some(at);
            view.completed_once = true;
        }
    }

    /// Whether a refresh has completed since the exporter started.
    pub fn completed_once(&self) -> bool {
        self.lock().completed_once
    }

    /// Whether the collector serves something true: it has published once,
    /// a part of its first refresh at least, or restored a snapshot.
    pub fn is_ready(&self) -> bool {
        self.lock().last_published.is_some()
    }

    /// Adds `due` items to the current refresh, each taking `seconds_per_item`.
    pub fn items_due(&self, due: usize, seconds_per_item: f64) {
        let mut view = self.lock();
        let progress = view.progress.get_or_insert_with(Progress::default);
        progress.due += due as u64;
        progress.seconds_per_item = seconds_per_item;
    }

    /// Records one item of the current refresh read.
    pub fn item_read(&self) {
        let mut view = self.lock();
        view.last_progress = Instant::now();
        if let Some(progress) = &mut view.progress {
            progress.read += 1;
        }
    }

    /// Counts `n` of an anomaly of a listing's answers; whether it is the
    /// first of its kind.
    pub fn listing_anomaly(&self, anomaly: &'static str, n: u64) -> bool {
        let mut view = self.lock();
        let count = view.anomalies.entry(anomaly).or_default();
        *count += n;
        *count == n
    }

    /// Counts an item the API refused with `code`.
    pub fn item_refused(&self, code: &str) {
        *self.lock().refused.entry(code.to_owned()).or_default() += 1;
    }

    /// Starts a refresh: its items are counted from zero. The start is
    /// progress unless the refresh before ran out of time.
    pub(super) fn refresh_started(&self, at: Instant, progress: bool) {
        let mut view = self.lock();
        if progress {
            view.last_progress = at;
        }
        view.last_attempt = Some(SystemTime::now());
        view.phase = Phase::Refreshing;
        if let Some(progress) = &mut view.progress {
            *progress = Progress::default();
        }
    }

    /// Records how the refresh that took `elapsed` ended.
    pub(super) fn refresh_ended(&self, error: Option<String>, elapsed: Duration, interval: Duration) {
        let mut view = self.lock();
        view.phase = Phase::Idle;
        view.last_duration = Some(elapsed);
        view.next_run = Some(SystemTime::now() + interval.saturating_sub(elapsed));
        view.last_ok = Some(error.is_none());
        if error.is_none() {
            view.failure_logged = false;
        }
        view.last_error = error;
    }

    /// Logs how far a first refresh has come, for whoever watches a first start.
    pub(super) fn log_progress(&self, account: &str) {
        let view = self.view();
        let Some(progress) = view.progress.filter(|p| p.due > 0 && !view.completed_once) else {
            return;
        };
        tracing::info!(
            account,
            collector = %self.kind,
            read = progress.read,
            due = progress.due,
            left = %humantime::format_duration(Duration::from_secs(progress.time_left().as_secs())),
            "first refresh under way"
        );
    }
}

/// Marks the status stopped when the task ends, by return or by panic.
pub(super) struct StopGuard(pub(super) Arc<Status>);
impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.lock().phase = Phase::Stopped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn status_turns_unhealthy_after_three_silent_intervals() {
        let status = Status::new(Kind::Partner, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(179)).await;
        assert!(status.is_healthy());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!status.is_healthy());
        status.item_read();
        assert!(status.is_healthy(), "an item read is progress");
        tokio::time::advance(Duration::from_secs(180)).await;
        status.lock().phase = Phase::Waiting;
        assert!(status.is_healthy(), "waiting for a dependency is not being wedged");
        status.lock().phase = Phase::Stopped;
        assert!(!status.is_healthy());
    }

    #[tokio::test(start_paused = true)]
    async fn a_collector_without_an_answer_a_minute_after_start_says_why() {
        let status = Status::new(Kind::Customers, Duration::from_secs(300));
        assert!(
            status.call_failed("network: connection refused".into()),
            "the first is logged"
        );
        assert!(!status.call_failed("network: connection refused".into()), "once");
        assert_eq!(status.not_answered(), None, "not within the first minute");
        tokio::time::advance(STARTING).await;
        assert_eq!(status.not_answered().as_deref(), Some("network: connection refused"));
        status.set_phase(Phase::Waiting);
        assert_eq!(
            status.not_answered(),
            None,
            "waiting for another collector is not silence"
        );
        status.set_phase(Phase::Refreshing);
        status.call_answered();
        assert_eq!(status.not_answered(), None);
        assert_eq!(status.view().call_error, None);
        status.refresh_ended(None, Duration::ZERO, status.interval);
        assert!(
            status.call_failed("timeout".into()),
            "logged again after a complete refresh"
        );
    }
}
