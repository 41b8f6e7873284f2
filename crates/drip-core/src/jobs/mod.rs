//! Durable background jobs: work that must happen after a state change even if the process
//! crashes right after it (deleting the object of a deleted file), kept in the metadata database and run by workers on any node.
//!
//! A job is enqueued in the same transaction as the state change that needs it (the
//! repositories take the job to enqueue), claimed with a lease so that a crashed worker's
//! job runs again, retried with exponential backoff, and kept as dead, with its last
//! error, after too many attempts. Handlers are idempotent: a job may run more than once
//! (a worker may crash after the effect and before completing it), never zero times.

pub mod model;
pub mod ports;
pub mod runner;

#[cfg(test)]
mod tests;
