//! The store's contract, against a real PostgreSQL: the private server the
//! workspace's tests share, a fresh database per test. One binary, one module
//! per part of the contract.

mod at_rest;
mod batching;
mod concurrency;
mod counter_example;
mod expiry;
mod methods;
mod pool;
mod prune;
mod resurrection;
mod schema;
mod support;
