//! [`FaultProxy`]: a TCP proxy of the test's own between one client (a service) and one server
//! (Postgres, RabbitMQ, Redis, a gateway, another service), whose behaviour the test switches
//! while traffic flows — the fault injection this machine allows (no netem, no iptables, no
//! toxiproxy: docs/reliability.md).
//!
//! Modes ([`Mode`]), applied to open connections and new ones alike:
//! - `Pass`: bytes are carried as they come.
//! - `Latency(ms)`: every chunk read waits `ms` before it is written on (each direction), so a
//!   request/response round trip takes at least twice that longer.
//! - `Blackhole`: bytes are read and dropped, nothing is closed; new connections are accepted
//!   and never reach the server — a partition or a hung peer, found only by timeouts.
//! - `Reset`: every open connection is reset (RST, on both sides) and new ones are reset at once.
//! - `Down`: every open connection is closed (FIN) and new ones are closed at once — a server
//!   that is gone.
//!
//! Invariants: the proxy keeps its port for its whole life (a client's URL never changes);
//! [`FaultProxy::retarget`] moves new connections to another server (a service restarted on a
//! new port) and leaves open ones where they are; dropping the value closes everything.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Latency(u64),
    Blackhole,
    Reset,
    Down,
}

/// A fault-injecting TCP proxy on 127.0.0.1, port of its own.
pub struct FaultProxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    /// The mode every connection watches.
    mode: watch::Sender<Mode>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a fresh port, forwarding to `target`, in [`Mode::Pass`].
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let target = Arc::new(Mutex::new(target));
        let (mode, _) = watch::channel(Mode::Pass);
        let accept = {
            let target = target.clone();
            let mode = mode.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let _ = client.set_nodelay(true);
                    let to = *target
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    tokio::spawn(carry(client, to, mode.subscribe()));
                }
            })
        };
        Ok(Self {
            addr,
            target,
            mode,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Switches every connection, open and new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// New connections go to `target` from now on.
    pub fn retarget(&self, target: SocketAddr) {
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = target;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Connections end when the mode says so; the sender going away closes them too.
        self.mode.send_replace(Mode::Down);
    }
}

/// How a carried connection ended.
enum End {
    /// One side closed or failed: close the other.
    Closed,
    /// The mode became `Reset` or `Down`.
    Cut(Mode),
}

/// One client connection, from accept to close.
async fn carry(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Down => return,
        Mode::Reset => return reset(&client),
        Mode::Blackhole => {
            // Accepted, and then silence: read and drop until the mode changes or the client
            // gives up.
            match swallow(&mut client, &mut mode).await {
                Some(Mode::Reset) => return reset(&client),
                Some(Mode::Pass | Mode::Latency(_)) => {}
                _ => return,
            }
        }
        Mode::Pass | Mode::Latency(_) => {}
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let end = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        tokio::select! {
            end = pump(&mut client_read, &mut server_write, mode.clone()) => end,
            end = pump(&mut server_read, &mut client_write, mode.clone()) => end,
        }
    };
    if let End::Cut(Mode::Reset) = end {
        reset(&client);
        reset(&server);
    }
}

/// Reads from `client` and drops it while the mode is `Blackhole`; the new mode, or `None`
/// once the client closed.
async fn swallow(client: &mut TcpStream, mode: &mut watch::Receiver<Mode>) -> Option<Mode> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client.read(&mut buf) => match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            },
            changed = mode.changed() => {
                changed.ok()?;
                let now = *mode.borrow_and_update();
                if now != Mode::Blackhole {
                    return Some(now);
                }
            }
        }
    }
}

/// Carries one direction under the mode in force for each chunk.
async fn pump<R, W>(from: &mut R, to: &mut W, mut mode: watch::Receiver<Mode>) -> End
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return End::Closed;
                }
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    return End::Cut(Mode::Down);
                }
                let now = *mode.borrow_and_update();
                if matches!(now, Mode::Reset | Mode::Down) {
                    return End::Cut(now);
                }
                continue;
            }
        };
        let now = *mode.borrow();
        match now {
            Mode::Pass => {}
            Mode::Latency(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Mode::Blackhole => continue,
            Mode::Reset | Mode::Down => return End::Cut(now),
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return End::Closed;
        }
    }
}

/// Closes `stream` with a RST rather than a FIN (zero linger), as a reset peer or a middlebox does.
fn reset(stream: &TcpStream) {
    #[allow(deprecated)] // set_linger: the one way to send a RST on close from tokio
    let _ = stream.set_linger(Some(Duration::ZERO));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a port of its own.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn each_mode_does_what_it_says_and_pass_restores() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open).await.unwrap(), b"ping");

        proxy.set(Mode::Latency(150));
        let start = std::time::Instant::now();
        assert_eq!(round_trip(&mut open).await.unwrap(), b"ping");
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "both ways delayed"
        );

        proxy.set(Mode::Blackhole);
        let silent = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut open)).await;
        assert!(silent.is_err(), "nothing comes back, nothing closes");
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        let silent = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut new)).await;
        assert!(silent.is_err(), "a new connection is accepted into silence");

        proxy.set(Mode::Reset);
        let mut buf = [0u8; 1];
        let cut = tokio::time::timeout(Duration::from_secs(5), open.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(&cut, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "reset, not closed: {cut:?}"
        );

        proxy.set(Mode::Down);
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut refused).await.is_err(), "closed at once");

        proxy.set(Mode::Pass);
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn retarget_moves_new_connections() {
        let proxy = FaultProxy::start("127.0.0.1:1".parse().unwrap())
            .await
            .unwrap();
        let mut nowhere = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut nowhere).await.is_err());
        proxy.retarget(echo().await);
        let mut there = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut there).await.unwrap(), b"ping");
    }
}
