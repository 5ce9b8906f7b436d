//! A server that answers Marathon's REST API and simulates deployments over time, for tests.
