//! The web edge against the real services: every test starts catalog, checkout, payments and
//! ops as processes (each on a fresh database of its own and the test's own vhost), the gateway
//! simulator, and the storefront binary, and talks to the storefront over HTTP — or drives
//! real headless Chromium through chromedriver (`browser`).

#![allow(clippy::unwrap_used)]

mod browser;
mod degradation;
mod journeys;
mod ops_pages;
mod security;
mod stack;
mod world;
