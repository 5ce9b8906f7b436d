//! End-to-end scenarios across the duncan CLI and both simulators.
