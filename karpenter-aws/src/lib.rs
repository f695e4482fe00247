//! AWS providers (not yet implemented).
