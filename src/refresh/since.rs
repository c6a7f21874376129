//! Since when a customer has been in a state the API reports without a
//! start (arrears, a forced suspension): the first time the exporter saw it,
//! carried from the snapshot served, so that it survives refreshes and, from
//! `--cache.snapshot-dir`, restarts; forgotten once the state ends. It owns
//! only that rule; which state is which is the collectors' business.

/// When a customer now `in_state` entered it: as last seen (`seen`) while it
/// stays, `now` when it is new, none once it ends. Before the first sight the
/// exporter cannot know, so the value means "at least since".
pub fn since(in_state: bool, seen: Option<f64>, now: f64) -> Option<f64> {
    in_state.then(|| seen.unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_keeps_its_first_sight_and_ends_with_it() {
        assert_eq!(since(true, None, 100.0), Some(100.0));
        assert_eq!(since(true, Some(40.0), 100.0), Some(40.0));
        assert_eq!(since(false, Some(40.0), 100.0), None);
        assert_eq!(since(false, None, 100.0), None);
    }
}
