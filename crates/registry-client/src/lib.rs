//! Checks image tags in any OCI / Docker Registry HTTP API v2 registry.
