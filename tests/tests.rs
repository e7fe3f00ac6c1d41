//! The workspace's integration tests, in one binary (one link, one run).

mod workloads;
