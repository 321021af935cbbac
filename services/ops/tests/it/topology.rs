//! Ops drains the `.dlq` of every work queue the services declare: a queue added to a service's
//! `topology()` but not to `ops::WORK_QUEUES` fails here.

use std::collections::BTreeSet;

#[test]
fn work_queues_are_every_queue_the_services_declare() {
    let declared: BTreeSet<String> = [
        catalog::topology(),
        checkout::topology(),
        payments::topology(),
        notifications::topology(),
    ]
    .into_iter()
    .flat_map(|t| t.queues.into_iter().map(|q| q.name))
    .collect();
    let drained: BTreeSet<String> = ops::WORK_QUEUES.iter().map(|q| (*q).to_owned()).collect();
    assert_eq!(drained, declared);
}
