//! What the daemon's parts report about themselves: the AMI connection, the
//! Kamailio adapter, the apply worker and the last apply. `/readyz` and the
//! systemd `STATUS=` line read it. Every part is `None` until the part that
//! owns it exists and reports, and is then shown; nothing here is a failure
//! except a dead apply worker.

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::LinkState;
use crate::model::apply::Outcome;

/// Kamailio as its adapter last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KamailioState {
    Reachable,
    Unreachable,
}

/// The outcome of the most recent apply and when it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastApply {
    pub outcome: Outcome,
    pub finished: Instant,
}

type Liveness = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct Board {
    ami: Option<LinkState>,
    kamailio: Option<KamailioState>,
    last_apply: Option<LastApply>,
    apply_worker: Option<Liveness>,
}

/// Shared, cheap to clone; every part holds one and writes its own field.
#[derive(Clone, Default)]
pub struct StatusBoard {
    board: Arc<RwLock<Board>>,
}

/// A copy of the board at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub ami: Option<LinkState>,
    pub kamailio: Option<KamailioState>,
    pub last_apply: Option<LastApply>,
    /// `None` until an apply worker registered its liveness check.
    pub apply_worker_alive: Option<bool>,
}

impl StatusBoard {
    fn write(&self, change: impl FnOnce(&mut Board)) {
        // A writer that panicked left plain values behind; they are still usable.
        let mut board = self
            .board
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut board);
    }

    /// The AMI client reports its connection state.
    pub fn set_ami(&self, state: LinkState) {
        self.write(|b| b.ami = Some(state));
    }

    /// The Kamailio adapter reports whether Kamailio answers.
    pub fn set_kamailio(&self, state: KamailioState) {
        self.write(|b| b.kamailio = Some(state));
    }

    /// The apply worker reports a finished apply.
    pub fn set_last_apply(&self, outcome: Outcome, finished: Instant) {
        self.write(|b| b.last_apply = Some(LastApply { outcome, finished }));
    }

    /// The apply worker registers how to tell that it is alive (for example
    /// `move || !handle.is_finished()`); `/readyz` fails while it returns false.
    pub fn watch_apply_worker(&self, alive: impl Fn() -> bool + Send + Sync + 'static) {
        self.write(|b| b.apply_worker = Some(Arc::new(alive)));
    }

    pub fn snapshot(&self) -> Snapshot {
        let (mut snapshot, liveness) = {
            let board = self
                .board
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let snapshot = Snapshot {
                ami: board.ami,
                kamailio: board.kamailio,
                last_apply: board.last_apply,
                apply_worker_alive: None,
            };
            (snapshot, board.apply_worker.clone())
        };
        // Called outside the lock: the check is the worker's code.
        snapshot.apply_worker_alive = liveness.map(|alive| alive());
        snapshot
    }
}

impl Snapshot {
    /// The one-line summary systemd shows in `systemctl status`, e.g.
    /// `AMI connected, 1234 extensions, last apply verified 3s ago`.
    pub fn status_line(&self, extensions: Option<u64>, now: Instant) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(ami) = self.ami {
            parts.push(format!("AMI {}", ami_word(ami)));
        }
        if self.apply_worker_alive == Some(false) {
            parts.push("apply worker stopped".into());
        }
        if let Some(count) = extensions {
            parts.push(format!(
                "{count} extension{}",
                if count == 1 { "" } else { "s" }
            ));
        }
        if let Some(kamailio) = self.kamailio {
            parts.push(format!("Kamailio {}", kamailio_word(kamailio)));
        }
        if let Some(last) = self.last_apply {
            parts.push(format!(
                "last apply {} {} ago",
                last.outcome.as_str(),
                short_age(now.saturating_duration_since(last.finished))
            ));
        }
        if parts.is_empty() {
            "running".into()
        } else {
            parts.join(", ")
        }
    }
}

fn ami_word(state: LinkState) -> &'static str {
    match state {
        LinkState::Connecting => "connecting",
        LinkState::Connected => "connected",
        LinkState::Disconnected => "disconnected",
    }
}

fn kamailio_word(state: KamailioState) -> &'static str {
    match state {
        KamailioState::Reachable => "reachable",
        KamailioState::Unreachable => "unreachable",
    }
}

/// `3s`, `5m`, `2h`, `4d`: the largest whole unit.
fn short_age(age: Duration) -> String {
    let secs = age.as_secs();
    let mut out = String::new();
    let _ = match secs {
        0..60 => write!(out, "{secs}s"),
        60..3_600 => write!(out, "{}m", secs / 60),
        3_600..86_400 => write!(out, "{}h", secs / 3_600),
        _ => write!(out, "{}d", secs / 86_400),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn empty_board_says_running_or_only_what_is_known() {
        let board = StatusBoard::default();
        let now = Instant::now();
        assert_eq!(board.snapshot().status_line(None, now), "running");
        assert_eq!(board.snapshot().status_line(Some(1), now), "1 extension");
        assert_eq!(board.snapshot().apply_worker_alive, None);
    }

    #[test]
    fn full_status_line_reads_like_the_issue_example() {
        let board = StatusBoard::default();
        let now = Instant::now();
        board.set_ami(LinkState::Connected);
        board.set_last_apply(Outcome::Verified, now - Duration::from_secs(3));
        assert_eq!(
            board.snapshot().status_line(Some(1234), now),
            "AMI connected, 1234 extensions, last apply verified 3s ago"
        );
        board.set_kamailio(KamailioState::Unreachable);
        board.set_ami(LinkState::Disconnected);
        assert_eq!(
            board.snapshot().status_line(Some(0), now),
            "AMI disconnected, 0 extensions, Kamailio unreachable, last apply verified 3s ago"
        );
    }

    #[test]
    fn apply_worker_liveness_is_asked_at_read_time() {
        let board = StatusBoard::default();
        let alive = Arc::new(AtomicBool::new(true));
        let probe = alive.clone();
        board.watch_apply_worker(move || probe.load(Ordering::SeqCst));
        assert_eq!(board.snapshot().apply_worker_alive, Some(true));
        alive.store(false, Ordering::SeqCst);
        let snapshot = board.snapshot();
        assert_eq!(snapshot.apply_worker_alive, Some(false));
        assert_eq!(
            snapshot.status_line(None, Instant::now()),
            "apply worker stopped"
        );
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3_599, "59m"),
            (3_600, "1h"),
            (86_399, "23h"),
            (200_000, "2d"),
        ];
        for (secs, text) in cases {
            assert_eq!(short_age(Duration::from_secs(secs)), text);
        }
    }
}
