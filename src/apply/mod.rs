//! The apply worker: database snapshot → files → reload → verify → recorded outcome.
