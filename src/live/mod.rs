//! Live state kept in memory from Asterisk's events, each part snapshotted after
//! every AMI (re)connect and kept current by the event pump in between:
//! who is registered and trunks' registrations ([`registrations`]), phones'
//! hints ([`presence`]), and who fails to authenticate ([`security`]).

mod in_step;
pub mod presence;
pub mod registrations;
pub mod security;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ami::AmiClient;

pub use crate::config::SecuritySettings;
pub use presence::{HintPresence, PresenceMap};
pub use registrations::{
    Contact, Registration, RegistrationState, Registrations, TrunkRegistration, TrunkRegistrations,
};
pub use security::{BlockCandidate, SecurityMonitor, SecurityWatch, SourceReport};

/// How long after a login the own `SuccessfulAuth` must have arrived.
const CLASS_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Everything kept live, built once by the daemon and shared by the pump (which
/// keeps it current) and the services (which read it). Cheap to clone.
#[derive(Clone)]
pub struct LiveState {
    pub registrations: Registrations,
    pub trunks: TrunkRegistrations,
    pub presence: PresenceMap,
    pub security: SecurityMonitor,
}

impl LiveState {
    /// `own_addresses`: the host's addresses, which are never blocked.
    pub fn new(security: SecuritySettings, own_addresses: &[std::net::IpAddr]) -> Self {
        Self {
            registrations: Registrations::default(),
            trunks: TrunkRegistrations::default(),
            presence: PresenceMap::default(),
            security: SecurityMonitor::new(security, own_addresses),
        }
    }

    /// Keeps each part in step with Asterisk: a snapshot after every connect.
    pub fn track(&self, ami: &AmiClient, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        vec![
            self.registrations.track(ami.clone(), shutdown.clone()),
            self.trunks.track(ami.clone(), shutdown.clone()),
            self.presence.track(ami.clone(), shutdown.clone()),
            self.security
                .check_class(ami.clone(), CLASS_CHECK_WAIT, shutdown.clone()),
        ]
    }

    /// What cannot be known because the AMI user lacks a class, each naming it.
    pub fn unavailable(&self) -> Vec<String> {
        self.presence
            .unavailable()
            .into_iter()
            .chain(self.security.unavailable())
            .collect()
    }

    /// Events were lost: every part takes a fresh snapshot.
    pub fn resync(&self) {
        self.registrations.resync();
        self.trunks.resync();
        self.presence.resync();
    }
}
