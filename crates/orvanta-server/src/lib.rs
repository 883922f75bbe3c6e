//! The Orvanta server: configuration, the HTTP API, authentication, and the
//! worker loop. The binary `orvanta` (in `main.rs`) only parses the command
//! line and calls [`app::run`].

pub mod app;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod cache;
pub mod cfg;
pub mod enqueue;
pub mod error;
pub mod flows;
pub mod http;
pub mod inbound;
pub mod notices;
pub mod objects;
pub mod openapi;
pub mod outbound;
pub mod runs;
pub mod secrets;
pub mod state;
pub mod wait;
pub mod worker;
