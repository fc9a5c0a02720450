//! The systemd notify protocol (`Type=notify`): `READY=1` once the daemon can
//! serve, `WATCHDOG=1` while it is healthy, `STATUS=` lines, `RELOADING=1` around
//! a SIGHUP and `STOPPING=1` on shutdown. Without `NOTIFY_SOCKET` (not started by
//! systemd) every call does nothing. Also the start-up gates that must open
//! before `READY=1`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sd_notify::NotifyState;

/// Talks to the service manager; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Notifier {
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` as systemd set them.
    pub fn from_env() -> Notifier {
        Notifier {
            watchdog: sd_notify::watchdog_enabled().filter(|d| !d.is_zero()),
        }
    }

    /// How often to ping the watchdog: half its timeout, as sd_watchdog_enabled(3)
    /// advises. `None` when systemd runs no watchdog for this service.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(error) = sd_notify::notify(states) {
            tracing::warn!(%error, "cannot notify systemd");
        }
    }

    /// The daemon is ready to serve.
    pub fn ready(&self, status: &str) {
        let status = one_line(status);
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// The daemon is healthy (send only after a passing health check): pings the
    /// watchdog and refreshes the status line in one message.
    pub fn alive(&self, status: &str) {
        let status = one_line(status);
        self.send(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
    }

    /// Replaces the status line `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(&one_line(status))]);
    }

    /// A SIGHUP reload starts; [`Notifier::ready`] ends it.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// Shutdown has begun.
    pub fn stopping(&self, status: &str) {
        let status = one_line(status);
        self.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
    }
}

/// A status value is one line of the datagram; a newline would start a new assignment.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

type Gate = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Start-up steps that must have happened before the daemon reports ready,
/// beyond migrations and the bound listener (for example the first AMI
/// connection attempt). Each gate is a future that resolves once its step was
/// attempted — whether it succeeded or not, since the daemon is useful while
/// Asterisk is down.
#[derive(Default)]
pub struct ReadinessGates {
    gates: Vec<(&'static str, Gate)>,
}

impl ReadinessGates {
    /// Adds a step; `what` names it in the log if it is late.
    pub fn add(
        &mut self,
        what: &'static str,
        attempted: impl Future<Output = ()> + Send + 'static,
    ) {
        self.gates.push((what, Box::pin(attempted)));
    }

    /// Waits for every gate, at most `limit` in all; a late gate is logged and
    /// does not hold readiness back any longer.
    pub async fn wait(self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        for (what, gate) in self.gates {
            if tokio::time::timeout_at(deadline, gate).await.is_err() {
                tracing::warn!(
                    step = what,
                    ?limit,
                    "start-up step not attempted in time; reporting ready anyway"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_cannot_inject_assignments() {
        assert_eq!(one_line("AMI connected\nREADY=1"), "AMI connected READY=1");
        assert_eq!(one_line("ok"), "ok");
    }

    #[tokio::test]
    async fn readiness_waits_for_its_gates() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut gates = ReadinessGates::default();
        gates.add("first attempt", async move {
            let _ = rx.await;
        });
        let waiting = tokio::spawn(gates.wait(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a closed gate holds readiness");
        tx.send(()).expect("gate listening");
        tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("opens once attempted")
            .expect("join");
    }

    #[tokio::test]
    async fn a_gate_never_attempted_holds_readiness_only_until_the_limit() {
        let mut gates = ReadinessGates::default();
        gates.add("never attempted", std::future::pending());
        let limit = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(30), gates.wait(limit))
            .await
            .expect("wait is bounded");
        assert!(
            started.elapsed() >= limit,
            "waited for the gate up to the limit"
        );
    }
}
