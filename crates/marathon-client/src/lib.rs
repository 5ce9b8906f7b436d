//! Async client for Mesos Marathon's REST API v2 and its event stream.
