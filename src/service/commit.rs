//! The one step every configuration write takes after its transaction commits.

use super::Services;

impl Services {
    /// Called exactly once after each configuration write (extension, trunk, route) has
    /// committed, with what changed, e.g. `update trunk telnyx_main`. This is where the
    /// write hands over to the apply worker.
    pub(super) fn committed(&self, trigger: String) {
        tracing::debug!(%trigger, "configuration changed");
    }
}
