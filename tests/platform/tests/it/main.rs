//! The platform as operators see it: real binaries, real servers.

mod broker_outage;
mod drills;
mod flows;
mod make_run;
mod startup;
mod stock_flow;
