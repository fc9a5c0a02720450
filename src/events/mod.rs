//! The event hub: normalised events, sequence numbers, replay ring, subscriber queues.
