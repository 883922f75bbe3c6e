//! Orvanta's integration tests: the real binary, real HTTP, real runtimes.

mod attacks;
mod auth;
mod bootstrap;
mod clients;
mod enqueue;
mod faults;
mod flow_repair;
mod flows;
mod harness;
mod hostile;
mod identity;
mod inbound;
mod jobs;
mod languages;
mod objects;
mod postgres;
mod rendezvous;
mod request_args;
mod responses;
mod run_routes;
mod scripts;
mod seed_examples;
mod streams;
mod warm;
mod windmill_clients;
