//! The one error type of the Kamailio adapter.

use std::time::Duration;

use thiserror::Error;

use crate::model::FieldErrors;

/// Everything that can go wrong when rendering Kamailio's lists or talking to it.
#[derive(Debug, Clone, Error)]
pub enum KamailioError {
    /// An entry failed validation; nothing was rendered.
    #[error("{item}: {errors}")]
    Invalid { item: String, errors: FieldErrors },

    /// Kamailio accepts an empty `dispatcher.list` as a successful reload that
    /// drops every destination, so an empty list is never rendered.
    #[error(
        "refusing to render an empty dispatcher list: Kamailio would load it and drop every destination"
    )]
    EmptyDispatcherList,

    /// The permissions module keeps at most `max_subnets` subnet entries and
    /// silently drops the rest.
    #[error(
        "{count} subnet entries exceed the permissions module's max_subnets ({max}); Kamailio would drop the rest"
    )]
    TooManySubnets { count: usize, max: usize },

    /// The RPC URL or the HTTP client could not be set up.
    #[error("invalid Kamailio RPC endpoint {url}: {reason}")]
    Config { url: String, reason: String },

    /// No connection could be made (refused, reset, DNS, ...).
    #[error("Kamailio at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },

    /// The call was sent but no reply came within the timeout.
    #[error("Kamailio at {url} did not answer {method} within {after:?}")]
    Timeout {
        url: String,
        method: String,
        after: Duration,
    },

    /// Kamailio answered with a JSON-RPC error.
    #[error("Kamailio refused {method}: {code} {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },

    /// A reload (or dispatcher add/remove) came within the module's
    /// `reload_delta` window. Retrying after `retry_after` succeeds.
    #[error("Kamailio is rate-limiting {method} ({message}); retry after {retry_after:?}")]
    RateLimited {
        method: String,
        message: String,
        retry_after: Duration,
    },

    /// The reply was not what the method returns (not JSON-RPC, wrong id,
    /// an empty `{}` where a string was due, ...).
    #[error("unexpected reply from Kamailio to {method}: {reason}")]
    Protocol { method: String, reason: String },
}

impl KamailioError {
    /// True when Kamailio could not be reached at all: the change should be
    /// kept as pending and applied when Kamailio is back.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. })
    }

    /// True when the same call succeeds if repeated after [`Self::retry_after`].
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }

    /// How long to wait before repeating a rate-limited call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
