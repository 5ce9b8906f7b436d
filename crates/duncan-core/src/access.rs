//! (in progress) owned by the core-foundations helper.
