//! A DNS server of the test's own: a tokio UDP responder on 127.0.0.1 (a free port) that
//! answers TXT queries from the records the test publishes, NXDOMAIN for any other name.
//! Each test starts its own, so tests never share records.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

type Zone = Arc<Mutex<HashMap<String, Vec<String>>>>;

pub struct DnsServer {
    pub addr: SocketAddr,
    records: Zone,
}

impl DnsServer {
    pub async fn start() -> anyhow::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let records = Zone::default();
        let zone = records.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                if let Some(reply) = answer(&zone, &buffer[..n]) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Ok(Self { addr, records })
    }

    /// Adds a TXT record (another value at the same name adds a record beside it).
    pub fn publish_txt(&self, name: &str, value: &str) {
        self.records
            .lock()
            .expect("zone lock")
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.to_owned());
    }
}

fn answer(zone: &Zone, request: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    let zone = zone.lock().ok()?;
    for query in &request.queries {
        response.add_query(query.clone());
        let name = query
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match zone.get(&name) {
            None => response.metadata.response_code = ResponseCode::NXDomain,
            Some(values) if query.query_type() == RecordType::TXT => {
                for value in values {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        60,
                        RData::TXT(TXT::new(vec![value.clone()])),
                    ));
                }
            }
            // The name exists, without records of that type: NOERROR, no answers.
            Some(_) => {}
        }
    }
    response.to_vec().ok()
}
