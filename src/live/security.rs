//! Who fails to authenticate: failed attempts counted per source address from
//! Asterisk's security events (transcript j2), in bounded memory.
//!
//! Each failed request counts once (see `SecurityKind::counts_as_failure`): a
//! wrong password, each request for an unknown user (scanners that never
//! answer the challenge included), each request an endpoint's ACL refuses. At most
//! `max_tracked_sources` addresses are kept; the least recently seen is
//! forgotten first, so a distributed attack cannot grow the daemon.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use lru::LruCache;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::SecuritySettings;
use crate::events::{SecurityEvent, SecurityKind};

/// The AMI read class security events need.
pub const SECURITY_CLASS: &str = "security";
/// Longest account name kept per source (attackers send long ones).
const MAX_ACCOUNT_LEN: usize = 64;
/// How long before the link counts as up its login's `SuccessfulAuth` may come.
const OWN_LOGIN_SLACK: Duration = Duration::from_secs(5);
/// Sources listed in `/metrics`, the ones with the most recent failures.
const METRICS_TOP: usize = 20;

struct Source {
    failures: u64,
    /// When the last failures happened, at most `max_failures` of them.
    recent: VecDeque<Instant>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    last_account: Option<Box<str>>,
    /// A block was asked for; no second one until it is lifted.
    blocked: bool,
}

/// One source address as the API and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SourceReport {
    #[schema(value_type = String)]
    pub address: IpAddr,
    /// Failed attempts since rayand started tracking it.
    pub failures: u64,
    /// Failed attempts within the window.
    pub recent_failures: u32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub last_account: Option<String>,
}

/// Security events Asterisk still sent about a blocked source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leak {
    pub attempts: u64,
    pub last: Option<DateTime<Utc>>,
}

/// A source that reached the limit: block it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCandidate {
    pub address: IpAddr,
    pub failures: u32,
    pub account: Option<String>,
}

struct Counts {
    sources: LruCache<IpAddr, Source>,
    by_event: [u64; 7],
    forgotten: u64,
    /// When the last security event came, to tell whether the AMI user may
    /// read them.
    last_event: Option<Instant>,
    /// Why security events cannot be read, when rayan found out.
    unavailable: Option<String>,
    /// Blocks in force → attempts Asterisk still reported from them (a live
    /// block lets none through: res_pjsip_acl refuses before any event).
    enforced: std::collections::HashMap<IpAddr, Leak>,
}

/// Counts failed attempts per source; cheap to clone.
#[derive(Clone)]
pub struct SecurityMonitor {
    inner: Arc<Mutex<Counts>>,

    settings: Arc<SecuritySettings>,
    /// Never blocked: loopback, the host's own addresses, `never_block`.
    protected: Arc<Vec<IpNet>>,
}

fn kind_index(kind: SecurityKind) -> usize {
    match kind {
        SecurityKind::ChallengeResponseFailed => 0,
        SecurityKind::InvalidAccountId => 1,
        SecurityKind::FailedAcl => 2,
        SecurityKind::RequestBadFormat => 3,
        SecurityKind::InvalidPassword => 4,
        SecurityKind::ChallengeSent => 5,
        SecurityKind::SuccessfulAuth => 6,
    }
}

const KINDS: [SecurityKind; 7] = [
    SecurityKind::ChallengeResponseFailed,
    SecurityKind::InvalidAccountId,
    SecurityKind::FailedAcl,
    SecurityKind::RequestBadFormat,
    SecurityKind::InvalidPassword,
    SecurityKind::ChallengeSent,
    SecurityKind::SuccessfulAuth,
];

impl SecurityMonitor {
    /// `own_addresses`: the host's addresses, never blocked.
    pub fn new(settings: SecuritySettings, own_addresses: &[IpAddr]) -> Self {
        let capacity =
            NonZeroUsize::new(settings.max_tracked_sources.max(1)).unwrap_or(NonZeroUsize::MIN);
        let mut protected: Vec<IpNet> = ["127.0.0.1", "::1"]
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .chain(own_addresses.iter().copied())
            .map(IpNet::from)
            .collect();
        protected.extend(settings.never_block.iter().copied());
        Self {
            inner: Arc::new(Mutex::new(Counts {
                sources: LruCache::new(capacity),
                by_event: [0; 7],
                forgotten: 0,
                last_event: None,
                unavailable: None,
                enforced: std::collections::HashMap::new(),
            })),
            settings: Arc::new(settings),
            protected: Arc::new(protected),
        }
    }

    /// The block of `address` is in Asterisk's (or Kamailio's) files and was
    /// reloaded: from now on any event from it means it is not live.
    pub fn block_enforced(&self, address: IpAddr) {
        if let Ok(mut counts) = self.inner.lock() {
            counts.enforced.entry(canonical(address)).or_default();
        }
    }

    /// What got through a block since it was enforced (`None`: not enforced).
    pub fn leak(&self, address: IpAddr) -> Option<Leak> {
        self.inner
            .lock()
            .ok()
            .and_then(|c| c.enforced.get(&canonical(address)).cloned())
    }

    /// Why security events are not received, if they are not.
    pub fn unavailable(&self) -> Option<String> {
        self.inner.lock().ok().and_then(|c| c.unavailable.clone())
    }

    /// After every login of the events connection, Asterisk sends that session
    /// the `SuccessfulAuth` of its own login (o1, j2, j3) if the user may read
    /// the `security` class. When none came within `wait`, the class is missing:
    /// said in the status and the log, since nothing else would show it.
    pub fn check_class(
        &self,
        ami: crate::ami::AmiClient,
        wait: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut events = ami.event_state();
            loop {
                if events.borrow_and_update().is_connected() {
                    // The login's own event may be read before the link says
                    // it is up: allow for it.
                    let since = Instant::now().checked_sub(OWN_LOGIN_SLACK);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait_for(|stop| *stop) => break,
                    }
                    let last = me.inner.lock().ok().and_then(|c| c.last_event);
                    let heard = match (last, since) {
                        (Some(last), Some(since)) => last >= since,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    if events.borrow().is_connected() && !heard {
                        let why = format!(
                            "security events are unavailable: the AMI user needs the `{SECURITY_CLASS}` read class"
                        );
                        tracing::warn!("{why}");
                        if let Ok(mut counts) = me.inner.lock() {
                            counts.unavailable = Some(why);
                        }
                    }
                }
                tokio::select! {
                    changed = events.changed() => if changed.is_err() { break },
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
        })
    }

    pub fn settings(&self) -> &SecuritySettings {
        &self.settings
    }

    /// Whether rayan must never block `address`, and why.
    pub fn protects(&self, address: IpAddr) -> Option<&IpNet> {
        let address = canonical(address);
        self.protected.iter().find(|net| net.contains(&address))
    }

    /// Counts one event (filling in `recent_failures`) and answers the block to
    /// make when blocking is on and the source just reached the limit.
    pub fn observe(&self, event: &mut SecurityEvent, now: Instant) -> Option<BlockCandidate> {
        let mut counts = self.inner.lock().ok()?;
        counts.last_event = Some(now);
        counts.unavailable = None;
        counts.by_event[kind_index(event.event)] += 1;
        let address = canonical(event.address?);
        if let Some(leak) = counts.enforced.get_mut(&address) {
            leak.attempts += 1;
            leak.last = Some(Utc::now());
        }
        if !event.failure {
            return None;
        }
        let window = self.settings.window();
        let keep = self.settings.max_failures.max(1) as usize;
        let wall = Utc::now();
        if !counts.sources.contains(&address) && counts.sources.len() == counts.sources.cap().get()
        {
            counts.forgotten += 1;
        }
        let source = counts.sources.get_or_insert_mut(address, || Source {
            failures: 0,
            recent: VecDeque::new(),
            first_seen: wall,
            last_seen: wall,
            last_account: None,
            blocked: false,
        });
        source.failures += 1;
        source.last_seen = wall;
        if let Some(account) = &event.account {
            source.last_account = Some(
                account
                    .chars()
                    .take(MAX_ACCOUNT_LEN)
                    .collect::<String>()
                    .into(),
            );
        }
        while source
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            source.recent.pop_front();
        }
        if source.recent.len() == keep {
            source.recent.pop_front();
        }
        source.recent.push_back(now);
        let recent = source.recent.len() as u32;
        event.recent_failures = Some(recent);
        let reached = recent >= self.settings.max_failures;
        if !self.settings.blocking || !reached || source.blocked {
            return None;
        }
        let account = source.last_account.as_deref().map(str::to_owned);
        if self.protects(address).is_some() {
            return None;
        }
        source.blocked = true;
        Some(BlockCandidate {
            address,
            failures: recent,
            account,
        })
    }

    /// A block was lifted (or failed): the source may be blocked again, after
    /// `max_failures` new failures.
    pub fn unblocked(&self, address: IpAddr) {
        if let Ok(mut counts) = self.inner.lock() {
            counts.enforced.remove(&canonical(address));
            if let Some(source) = counts.sources.peek_mut(&canonical(address)) {
                source.blocked = false;
                source.recent.clear();
            }
        }
    }

    /// How many sources are tracked now.
    pub fn tracked(&self) -> usize {
        self.inner.lock().map_or(0, |c| c.sources.len())
    }

    /// The sources with the most failures within the window, at most `limit`.
    pub fn top_sources(&self, limit: usize) -> Vec<SourceReport> {
        let Ok(counts) = self.inner.lock() else {
            return Vec::new();
        };
        let window = self.settings.window();
        let now = Instant::now();
        let mut reports: Vec<SourceReport> = counts
            .sources
            .iter()
            .map(|(address, source)| SourceReport {
                address: *address,
                failures: source.failures,
                recent_failures: source
                    .recent
                    .iter()
                    .filter(|t| now.saturating_duration_since(**t) <= window)
                    .count() as u32,
                first_seen: source.first_seen,
                last_seen: source.last_seen,
                last_account: source.last_account.as_deref().map(str::to_owned),
            })
            .collect();
        reports.sort_by(|a, b| {
            (b.recent_failures, b.failures, b.last_seen).cmp(&(
                a.recent_failures,
                a.failures,
                a.last_seen,
            ))
        });
        reports.truncate(limit);
        reports
    }

    /// Prometheus text for the security counters: events by type, sources
    /// tracked and forgotten, and the failures of the busiest sources.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let (by_event, tracked, forgotten) = match self.inner.lock() {
            Ok(c) => (c.by_event, c.sources.len(), c.forgotten),
            Err(_) => return,
        };
        out.push_str("# HELP rayan_security_events_total Security events from Asterisk, by type\n# TYPE rayan_security_events_total counter\n");
        for (kind, count) in KINDS.iter().zip(by_event) {
            let _ = writeln!(
                out,
                "rayan_security_events_total{{event=\"{}\"}} {count}",
                kind.as_str()
            );
        }
        let _ = writeln!(
            out,
            "# HELP rayan_security_sources_tracked Source addresses with failed attempts, kept in memory\n# TYPE rayan_security_sources_tracked gauge\nrayan_security_sources_tracked {tracked}\n# HELP rayan_security_sources_forgotten_total Sources forgotten to keep memory bounded\n# TYPE rayan_security_sources_forgotten_total counter\nrayan_security_sources_forgotten_total {forgotten}"
        );
        out.push_str("# HELP rayan_security_source_failures Failed attempts of the busiest sources (at most 20)\n# TYPE rayan_security_source_failures gauge\n");
        for source in self.top_sources(METRICS_TOP) {
            let _ = writeln!(
                out,
                "rayan_security_source_failures{{address=\"{}\"}} {}",
                source.address, source.failures
            );
        }
    }
}

/// What the event pump holds: counts each security event and hands the blocks
/// to make to whoever makes them (a full queue drops the block, and the source
/// may be blocked again at its next failures).
pub struct SecurityWatch {
    monitor: SecurityMonitor,
    blocks: tokio::sync::mpsc::Sender<BlockCandidate>,
}

/// How many blocks may wait to be made.
const BLOCK_QUEUE: usize = 1_024;

impl SecurityWatch {
    pub fn new(monitor: SecurityMonitor) -> (Self, tokio::sync::mpsc::Receiver<BlockCandidate>) {
        let (blocks, rx) = tokio::sync::mpsc::channel(BLOCK_QUEUE);
        (Self { monitor, blocks }, rx)
    }

    pub fn observe(&self, event: &mut SecurityEvent) {
        if let Some(candidate) = self.monitor.observe(event, Instant::now()) {
            let address = candidate.address;
            if self.blocks.try_send(candidate).is_err() {
                self.monitor.unblocked(address);
            }
        }
    }
}

/// `::ffff:203.0.113.9` is `203.0.113.9`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(address: &str) -> SecurityEvent {
        SecurityEvent {
            event: SecurityKind::ChallengeResponseFailed,
            service: Some("PJSIP".into()),
            account: Some("2001".into()),
            address: address.parse().ok(),
            port: Some(5060),
            transport: Some("udp".into()),
            acl_name: None,
            failure: true,
            recent_failures: None,
        }
    }

    fn settings(blocking: bool) -> SecuritySettings {
        SecuritySettings {
            blocking,
            max_failures: 3,
            window_secs: 60,
            max_tracked_sources: 100,
            never_block: vec!["10.0.0.0/8".parse().expect("net")],
            ..SecuritySettings::default()
        }
    }

    #[test]
    fn blocks_once_at_the_limit_within_the_window() {
        let monitor = SecurityMonitor::new(settings(true), &[]);
        let t0 = Instant::now();
        let mut event = failed("203.0.113.9");
        assert!(monitor.observe(&mut event, t0).is_none());
        assert!(
            monitor
                .observe(&mut event, t0 + Duration::from_secs(1))
                .is_none()
        );
        let block = monitor
            .observe(&mut event, t0 + Duration::from_secs(2))
            .expect("third failure blocks");
        assert_eq!(
            (block.failures, block.account.as_deref()),
            (3, Some("2001"))
        );
        assert_eq!(event.recent_failures, Some(3));
        assert!(
            monitor
                .observe(&mut event, t0 + Duration::from_secs(3))
                .is_none(),
            "once"
        );
        monitor.unblocked("203.0.113.9".parse().expect("ip"));
        assert!(
            monitor
                .observe(&mut event, t0 + Duration::from_secs(4))
                .is_none()
        );
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let monitor = SecurityMonitor::new(settings(true), &[]);
        let t0 = Instant::now();
        let mut event = failed("203.0.113.10");
        monitor.observe(&mut event, t0);
        monitor.observe(&mut event, t0 + Duration::from_secs(1));
        assert!(
            monitor
                .observe(&mut event, t0 + Duration::from_secs(120))
                .is_none()
        );
        assert_eq!(event.recent_failures, Some(1));
    }

    #[test]
    fn never_blocks_loopback_own_or_listed_addresses() {
        let own: IpAddr = "192.0.2.7".parse().expect("ip");
        let monitor = SecurityMonitor::new(settings(true), &[own]);
        let t0 = Instant::now();
        for address in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "192.0.2.7",
            "10.1.2.3",
        ] {
            let mut event = failed(address);
            for i in 0..5 {
                assert!(
                    monitor
                        .observe(&mut event, t0 + Duration::from_millis(i))
                        .is_none(),
                    "{address}"
                );
            }
        }
        // The rest of 127.0.0.0/8 can be blocked.
        let mut event = failed("127.0.0.5");
        let blocked = (0..3)
            .filter_map(|i| monitor.observe(&mut event, t0 + Duration::from_millis(i)))
            .count();
        assert_eq!(blocked, 1);
    }

    #[test]
    fn counts_without_blocking_when_off_and_ignores_non_failures() {
        let monitor = SecurityMonitor::new(settings(false), &[]);
        let t0 = Instant::now();
        let mut event = failed("203.0.113.11");
        for i in 0..10 {
            assert!(
                monitor
                    .observe(&mut event, t0 + Duration::from_millis(i))
                    .is_none()
            );
        }
        let mut sent = failed("203.0.113.12");
        sent.event = SecurityKind::ChallengeSent;
        sent.failure = false;
        monitor.observe(&mut sent, t0);
        let top = monitor.top_sources(10);
        assert_eq!(top.len(), 1);
        assert_eq!((top[0].failures, top[0].recent_failures), (10, 3));
        let mut text = String::new();
        monitor.render_metrics(&mut text);
        assert!(
            text.contains("rayan_security_events_total{event=\"challenge_response_failed\"} 10")
        );
        assert!(text.contains("rayan_security_events_total{event=\"challenge_sent\"} 1"));
        assert!(text.contains("rayan_security_source_failures{address=\"203.0.113.11\"} 10"));
    }

    #[test]
    fn memory_stays_bounded_under_many_sources() {
        let monitor = SecurityMonitor::new(settings(false), &[]);
        let t0 = Instant::now();
        for i in 0..1_000u32 {
            let address = std::net::Ipv4Addr::from(0xCB00_7100 + i);
            let mut event = failed(&address.to_string());
            monitor.observe(&mut event, t0);
        }
        assert_eq!(monitor.tracked(), 100);
        let mut text = String::new();
        monitor.render_metrics(&mut text);
        assert!(text.contains("rayan_security_sources_forgotten_total 900"));
    }
}
