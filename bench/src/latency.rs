//! A network's round trip put back between a function and a stand-in that answers over loopback: a TCP proxy
//! that hands each chunk on half a round trip after it arrived, in each direction, keeping order and letting
//! chunks overlap (a pipe, not a queue). TLS runs through it end to end, so a handshake pays its flights, and a
//! call its round trip, as in a region, where loopback would weigh both at ~0.05 ms. `init-ab --rtt MS` uses it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub struct Latency {
    /// `127.0.0.1:<port>`, in place of the upstream's address.
    pub address: String,
    task: JoinHandle<()>,
}

impl Drop for Latency {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the proxy for `upstream` (`127.0.0.1:<port>`) with `rtt` between the two.
pub async fn start(upstream: &str, rtt: Duration) -> Latency {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let address = listener.local_addr().expect("address").to_string();
    let upstream = upstream.to_owned();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else { continue };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let ((client_read, client_write), (server_read, server_write)) = (client.into_split(), server.into_split());
            tokio::spawn(delayed(client_read, server_write, rtt / 2));
            tokio::spawn(delayed(server_read, client_write, rtt / 2));
        }
    });
    Latency { address, task }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read, until either side closes.
async fn delayed(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin + Send + 'static,
    delay: Duration,
) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer).await {
        if sender.send((Instant::now() + delay, buffer[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(sender);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_through_it_take_one_round_trip_together_and_keep_their_bytes() {
        // An echo server behind a 100 ms round trip; three chunks sent 1 ms apart come back whole and in order after
        // one round trip (a pipe: ~100 ms), not each after the one before (a queue: ~200 ms).
        let echo = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
        let upstream = echo.local_addr().expect("address").to_string();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.expect("a client");
            let mut buffer = [0u8; 64];
            while let Ok(n @ 1..) = socket.read(&mut buffer).await {
                socket.write_all(&buffer[..n]).await.expect("echoed");
            }
        });
        let proxy = start(&upstream, Duration::from_millis(100)).await;
        let mut client = TcpStream::connect(&proxy.address).await.expect("connected");
        let sent = std::time::Instant::now();
        for chunk in [b"one ", b"two ", b"six!"] {
            client.write_all(chunk).await.expect("sent");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut echoed = vec![0u8; 12];
        client.read_exact(&mut echoed).await.expect("echoed back");
        let elapsed = sent.elapsed();
        assert_eq!(echoed, b"one two six!");
        assert!(elapsed >= Duration::from_millis(100), "faster than the round trip: {elapsed:?}");
        assert!(elapsed < Duration::from_millis(150), "the chunks queued behind each other: {elapsed:?}");
    }
}
