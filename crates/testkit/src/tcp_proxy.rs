//! [`TcpProxy`]: a TCP proxy of the test's own between a client and a real server, so a test
//! can take the server away (every connection reset, new ones refused) and bring it back, or
//! freeze the open connections (a peer that stops answering without closing), without touching
//! the server other tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy listening on a port of its own on 127.0.0.1, forwarding to `target`.
pub struct TcpProxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    /// Bumped on every `down()`: live connections watch it and close.
    generation: watch::Sender<u64>,
    /// Bumped on every `freeze()`: live connections stop carrying bytes but stay open.
    frozen: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let (frozen, _) = watch::channel(0u64);
        let accept = {
            let down = down.clone();
            let generation = generation.clone();
            let frozen = frozen.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        drop(client); // refused: closed at once
                        continue;
                    }
                    let mut cut = generation.subscribe();
                    let mut freeze = frozen.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(target).await else {
                            return;
                        };
                        let mut client = client;
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                            _ = freeze.changed() => {
                                // Open, silent: nothing more is carried until the proxy is
                                // taken down or dropped.
                                let _ = cut.changed().await;
                            }
                        }
                    });
                }
            })
        };
        Ok(Self {
            addr,
            down,
            generation,
            frozen,
            accept,
        })
    }

    /// Where clients connect.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server is gone: every open connection is cut and new ones are closed at once.
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Every open connection goes silent (nothing carried either way, nothing closed), as a
    /// peer that hangs or a half-open TCP connection does; new connections pass as before.
    pub fn freeze(&self) {
        self.frozen.send_modify(|g| *g += 1);
    }

    /// The server is back.
    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}
