//! The web edge against the real services: every test starts catalog, checkout, payments and
//! ops as processes (each on a fresh database of its own and the test's own vhost), the gateway
//! simulator, and the storefront binary, and talks to the storefront over HTTP — or drives
//! real headless Chromium through chromedriver (`browser`).

#![allow(clippy::unwrap_used)]

mod browser;
mod degradation;
// Catalog's test DNS server (TXT records a test publishes), used here as it is there.
#[path = "../../../catalog/tests/it/dns.rs"]
mod dns;
mod journeys;
mod notifications_pages;
mod ops_pages;
mod payments_pages;
mod security;
mod settings;
mod stack;
mod world;
