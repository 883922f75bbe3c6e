//! Orvanta's integration tests: the real binary, real HTTP, real runtimes.

mod auth;
mod bootstrap;
mod faults;
mod harness;
mod jobs;
mod languages;
mod postgres;
mod scripts;
