//! A TCP relay that holds every chunk it carries for a set time before passing it on.
//!
//! The scale bench puts one on the path between each simulated host and the store, so a
//! round trip costs about what it costs between two machines; this kernel has no `netem`.
//! It uses a thread per direction plus a writer thread per direction, because a thread's
//! sleep keeps to tens of microseconds where the async runtime's timer rounds to a
//! millisecond.

use crate::BenchError;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Threads of the relay need little stack: a read buffer lives on the heap.
const STACK: usize = 128 * 1024;

/// A listening relay; it stops accepting when dropped (open connections run to their end).
pub struct Relay {
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Listens on `listen` and relays each connection to `to`, delaying each chunk by the
    /// microseconds in `delay_us` (read as each chunk goes, so it can change between phases).
    pub fn start(
        listen: SocketAddr,
        to: SocketAddr,
        delay_us: Arc<AtomicU64>,
    ) -> Result<Relay, BenchError> {
        let listener = TcpListener::bind(listen).map_err(|e| {
            BenchError::Io(format!(
                "the relay cannot listen on {listen}: {e}; run the scale bench through scripts/bench.sh --scale, which adds that address"
            ))
        })?;
        let listen = listener
            .local_addr()
            .map_err(|e| BenchError::Io(format!("the relay has no address: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    break;
                }
                let Ok(client) = stream else { continue };
                let Ok(server) = TcpStream::connect(to) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                relay_both_ways(client, server, &delay_us);
            }
        });
        Ok(Relay { listen, stop })
    }

    /// Where it listens (the port chosen when `listen` named port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.listen, Duration::from_millis(200));
    }
}

fn spawn(f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("the relay could not start a thread");
}

fn relay_both_ways(client: TcpStream, server: TcpStream, delay_us: &Arc<AtomicU64>) {
    for (from, to) in [(&client, &server), (&server, &client)] {
        let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            return;
        };
        let _ = from.set_nodelay(true);
        let delay = delay_us.clone();
        spawn(move || carry(from, to, delay));
    }
}

/// Reads chunks from `from` and has a writer pass each on to `to` once it is `delay` old.
fn carry(mut from: TcpStream, to: TcpStream, delay_us: Arc<AtomicU64>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let Ok(reader_side) = from.try_clone() else {
        return;
    };
    spawn(move || {
        let mut to = to;
        for (read_at, chunk) in rx {
            let due = read_at + Duration::from_micros(delay_us.load(Ordering::Relaxed));
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                let _ = reader_side.shutdown(Shutdown::Both);
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_echo_comes_back_intact_and_late_by_both_delays() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_at = echo.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut buf = [0u8; 1024];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let delay = Arc::new(AtomicU64::new(20_000));
        let relay = Relay::start("127.0.0.1:0".parse().unwrap(), echo_at, delay).unwrap();
        let mut s = TcpStream::connect(relay.addr()).unwrap();
        let started = Instant::now();
        s.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        assert!(started.elapsed() >= Duration::from_millis(40));
    }
}
