//! Checking basic-auth passwords so that a wrong one costs its sender, not
//! the scraper. A bcrypt verification takes about 100 ms of a core at cost
//! 10, so a flood of wrong passwords, each new, would otherwise queue the
//! scraper behind it. Here:
//!
//! - a credential once found good is remembered apart from the wrong ones,
//!   which cannot push it out, and accepted at once ever after;
//! - a wrong one is remembered for a while and refused at once when sent again;
//! - at most [`CHECKS_AT_ONCE`] verifications run, [`CHECKS_ADMITTED`] run or
//!   wait (a few more for clients that sent no wrong credential lately), and
//!   [`PER_CLIENT`] of one client; beyond that a new credential is answered
//!   at once without a check;
//! - a client (an IPv4 address, or an IPv6 /64) that sent
//!   [`FAILURES_ALLOWED`] wrong ones within [`FAILURE_MEMORY`] gets no more
//!   checks until it has been quiet that long.
//!
//! An unknown user is checked against a decoy hash, at the fixed cost the
//! exporter-toolkit uses, so that its time does not say the user is unknown
//! and a user hashed at a high cost does not make every unknown one costly.
//! Nothing here reads files or knows the web configuration's other parts.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// Verifications running at once: the exporter's other work keeps its cores.
pub const CHECKS_AT_ONCE: usize = 2;
/// Verifications running or waiting; a new credential beyond is not checked.
pub const CHECKS_ADMITTED: usize = 8;
/// More places for clients that sent no wrong credential lately: a
/// scraper's first check is not crowded out by a flood from many addresses.
pub const CHECKS_RESERVED_FOR_CLEAN: usize = 2;
/// Verifications running or waiting for one client.
pub const PER_CLIENT: usize = 2;
/// Wrong credentials a client may send before it gets no more checks.
pub const FAILURES_ALLOWED: u32 = 20;
/// How long a client's wrong credentials are remembered after its last one,
/// and a wrong credential after it was sent.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(30);
/// Good credentials remembered: a scraper or two, a few browsers.
const GOOD_REMEMBERED: u64 = 256;
/// Wrong credentials remembered, each for [`FAILURE_MEMORY`].
const WRONG_REMEMBERED: u64 = 4096;
/// The decoy's bcrypt cost: the exporter-toolkit's.
const DECOY_COST: u32 = 10;

/// A hash of a random password, computed the first time an unknown user
/// is checked, on the blocking thread that checks it.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let password = format!("{:032x}", rand::random::<u128>());
    bcrypt::hash(password, DECOY_COST).expect("the decoy's cost is valid")
});

/// What became of a user and password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    /// Wrong: 401.
    Refused,
    /// Not checked, its client having sent too many wrong ones or too many
    /// checks running or waiting: 429.
    NotChecked,
}

/// The passwords checked so far, and the checks under way.
pub struct Passwords {
    good: moka::sync::Cache<[u8; 32], ()>,
    wrong: moka::sync::Cache<[u8; 32], ()>,
    failures: moka::sync::Cache<IpAddr, u32>,
    admitted: Mutex<HashMap<IpAddr, usize>>,
    /// Held by the blocking thread that verifies, so that a client gone
    /// meanwhile does not let another verification start beside it.
    running: Arc<tokio::sync::Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self {
            good: moka::sync::Cache::new(GOOD_REMEMBERED),
            wrong: moka::sync::Cache::builder()
                .max_capacity(WRONG_REMEMBERED)
                .time_to_live(FAILURE_MEMORY)
                .build(),
            failures: moka::sync::Cache::builder()
                .max_capacity(WRONG_REMEMBERED)
                .time_to_idle(FAILURE_MEMORY)
                .build(),
            admitted: Mutex::new(HashMap::new()),
            running: Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
        }
    }
}

impl Passwords {
    /// Whether `user` and `password`, sent by `client`, are a pair of `users`
    /// (user name → bcrypt hash).
    pub async fn check(&self, users: &BTreeMap<String, String>, client: IpAddr, user: &str, password: &str) -> Verdict {
        let hash = users.get(user);
        let key = digest(user, hash.map_or("", String::as_str), password);
        if hash.is_some() && self.good.contains_key(&key) {
            return Verdict::Granted;
        }
        if self.wrong.contains_key(&key) {
            return Verdict::Refused;
        }
        let client = network_of(client);
        let failures = self.failures.get(&client).unwrap_or(0);
        if failures >= FAILURES_ALLOWED {
            return Verdict::NotChecked;
        }
        let Some(_admitted) = Admitted::new(&self.admitted, client, failures == 0) else {
            return Verdict::NotChecked;
        };
        let Ok(running) = self.running.clone().acquire_owned().await else {
            return Verdict::NotChecked;
        };
        let (password, hash) = (password.to_owned(), hash.cloned());
        let matches = tokio::task::spawn_blocking(move || {
            let _running = running;
            match hash {
                Some(hash) => bcrypt::verify(password, &hash).unwrap_or(false),
                None => bcrypt::verify(password, &DECOY).map(|_| false).unwrap_or(false),
            }
        })
        .await
        .unwrap_or(false);
        if matches {
            self.good.insert(key, ());
            Verdict::Granted
        } else {
            self.wrong.insert(key, ());
            self.failures
                .entry(client)
                .and_upsert_with(|count| count.map_or(1, |c| c.into_value().saturating_add(1)));
            Verdict::Refused
        }
    }
}

/// A place among the checks running or waiting, given back when dropped.
struct Admitted<'a> {
    admitted: &'a Mutex<HashMap<IpAddr, usize>>,
    client: IpAddr,
}

impl<'a> Admitted<'a> {
    /// A place for `client`, unless the places it may take are taken; one
    /// `clean` of wrong credentials may take a reserved one.
    fn new(admitted: &'a Mutex<HashMap<IpAddr, usize>>, client: IpAddr, clean: bool) -> Option<Self> {
        let mut counts = admitted.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = counts.values().sum();
        let own = counts.get(&client).copied().unwrap_or(0);
        let places = CHECKS_ADMITTED + if clean { CHECKS_RESERVED_FOR_CLEAN } else { 0 };
        if total >= places || own >= PER_CLIENT {
            return None;
        }
        counts.insert(client, own + 1);
        Some(Self { admitted, client })
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut counts = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// The client a failure is held against: its IPv4 address, or the /64 of
/// its IPv6 address (one host is given a /64 and can use any of it).
fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1_u128 << 64) - 1)).into()),
        },
    }
}

fn digest(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const COST: u32 = 4;

    fn users() -> BTreeMap<String, String> {
        BTreeMap::from([("prometheus".to_owned(), bcrypt::hash("right", COST).unwrap())])
    }

    #[test]
    fn digests_do_not_collide_on_where_the_colon_falls() {
        assert_ne!(digest("a:b", "h", "c"), digest("a", "h", "b:c"));
    }

    #[test]
    fn a_client_is_its_ipv4_address_or_its_ipv6_64() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1234".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_ne!(network_of(a), network_of("2001:db8:0:1::1".parse().unwrap()));
        assert_eq!(network_of("::ffff:192.0.2.7".parse().unwrap()), v4);
    }

    #[tokio::test]
    async fn a_client_that_sent_too_many_wrong_passwords_gets_no_more_checks_but_a_known_good_one_passes() {
        let (passwords, users) = (Passwords::default(), users());
        let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(
            passwords.check(&users, client, "prometheus", "right").await,
            Verdict::Granted
        );
        for n in 0..FAILURES_ALLOWED {
            let verdict = passwords
                .check(&users, client, "prometheus", &format!("wrong {n}"))
                .await;
            assert_eq!(verdict, Verdict::Refused);
        }
        let verdict = passwords.check(&users, client, "prometheus", "wrong again").await;
        assert_eq!(verdict, Verdict::NotChecked);
        assert_eq!(
            passwords.check(&users, client, "prometheus", "right").await,
            Verdict::Granted
        );
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            passwords.check(&users, other, "prometheus", "wrong").await,
            Verdict::Refused
        );
        assert_eq!(
            passwords.check(&users, other, "nobody", "right").await,
            Verdict::Refused
        );
    }

    #[test]
    fn checks_beyond_the_admitted_are_not_waited_for() {
        let counts = Mutex::new(HashMap::new());
        let one = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let held: Vec<_> = (0..PER_CLIENT)
            .map(|_| Admitted::new(&counts, one, true).unwrap())
            .collect();
        assert!(
            Admitted::new(&counts, one, true).is_none(),
            "one client's share is taken"
        );
        let others: Vec<_> = (0..CHECKS_ADMITTED - PER_CLIENT)
            .map(|n| Admitted::new(&counts, IpAddr::V4(Ipv4Addr::new(198, 51, 100, n as u8)), false).unwrap())
            .collect();
        let late = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        assert!(Admitted::new(&counts, late, false).is_none(), "every place is taken");
        let reserved: Vec<_> = (0..CHECKS_RESERVED_FOR_CLEAN)
            .map(|n| Admitted::new(&counts, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10 + n as u8)), true).unwrap())
            .collect();
        assert!(
            Admitted::new(&counts, late, true).is_none(),
            "the reserved places are taken too"
        );
        drop((held, others, reserved));
        assert!(counts.lock().unwrap().is_empty(), "every place is given back");
    }
}
