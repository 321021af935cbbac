//! The platform as operators see it: real binaries, real servers.

mod api_fuzzing;
mod broker_outage;
mod drills;
mod flows;
mod hostile_messages;
mod make_run;
mod startup;
mod stock_flow;
mod trace;
