//! Placeholder; filled in by the Event Hubs work.
