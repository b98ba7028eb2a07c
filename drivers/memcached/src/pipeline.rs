//! Many commands in one write, their answers read through a buffer, over TCP connections
//! of its own. The `memcache` crate sends each command with two or three system calls
//! (a packet each, since its sockets do not delay) and reads each answer with four; on
//! loopback every send also wakes the server, so a batch's claims and acks spent their
//! time switching tasks. Here a whole batch is one write and one buffered read.
//!
//! The requests are memcached's binary protocol. A multi-get is one quiet `GETKQ` per key
//! (answered only when the key exists) and a `NOOP`, whose answer marks the end; a batch
//! of writes (compare-and-swaps, deletes) is answered command by command, in order.

use crate::client::Versioned;
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

const REQUEST: u8 = 0x80;
const RESPONSE: u8 = 0x81;
const GETKQ: u8 = 0x0d;
const NOOP: u8 = 0x0a;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const DELETE: u8 = 0x04;
/// The answer to a write: done, no such key, or the key changed since it was read.
const DONE: u16 = 0x0000;
const NOT_FOUND: u16 = 0x0001;
const EXISTS: u16 = 0x0002;
const NOT_STORED: u16 = 0x0005;
const HEADER: usize = 24;
/// Connections kept for reuse; more may be open while many walks run at once.
const KEEP: usize = 8;

/// Pipelined multi-gets and writes to one server.
pub(crate) struct Pipeline {
    address: String,
    timeout: Duration,
    idle: Mutex<Vec<TcpStream>>,
}

impl Pipeline {
    /// Batches to `address` (`host:port`); connections open when first needed.
    pub(crate) fn new(address: String, timeout: Duration) -> Pipeline {
        Pipeline {
            address,
            timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The values of the `keys` that exist, with their compare-and-swap tokens.
    pub(crate) fn get_many(&self, keys: &[String]) -> io::Result<HashMap<String, Versioned>> {
        self.with_conn(|conn| exchange(conn, keys))
    }

    /// Runs `writes` in one round trip; one answer per write, in order.
    pub(crate) fn write_many(&self, writes: &[Write<'_>]) -> io::Result<Vec<Written>> {
        self.with_conn(|conn| write_all_of(conn, writes))
    }

    fn with_conn<T>(&self, work: impl FnOnce(&mut TcpStream) -> io::Result<T>) -> io::Result<T> {
        let mut conn = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            Some(conn) => conn,
            None => self.open()?,
        };
        // A connection that failed part way is dropped, not reused.
        let got = work(&mut conn)?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        Ok(got)
    }

    fn open(&self) -> io::Result<TcpStream> {
        let conn = TcpStream::connect(&self.address)?;
        conn.set_nodelay(true)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }
}

/// One write of a batch.
pub(crate) enum Write<'a> {
    /// Store `value` under `key` only if its compare-and-swap token is still `cas`.
    Swap {
        key: &'a str,
        value: &'a [u8],
        cas: u64,
    },
    /// Store `value` under `key` for `ttl` seconds only if `key` is absent.
    Add {
        key: &'a str,
        value: &'a [u8],
        ttl: u32,
    },
    /// Remove `key`, whatever it holds.
    Delete { key: &'a str },
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Stored or removed.
    Done,
    /// The key changed since it was read (or, for an add, exists), so nothing was stored.
    Changed,
    /// There is no such key.
    Missing,
}

/// One request's header: `opcode` and a key of `key_len` bytes, no extras, no value.
fn header(opcode: u8, key_len: usize) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = REQUEST;
    h[1] = opcode;
    h[2..4].copy_from_slice(&(key_len as u16).to_be_bytes());
    h[8..12].copy_from_slice(&(key_len as u32).to_be_bytes());
    h
}

/// Appends one write to `request`, numbered `n` (the answer carries the number back).
fn encode(request: &mut Vec<u8>, n: u32, write: &Write<'_>) -> io::Result<()> {
    let (opcode, key, value, cas, ttl) = match write {
        Write::Swap { key, value, cas } => (SET, *key, *value, *cas, 0u32),
        Write::Add { key, value, ttl } => (ADD, *key, *value, 0, *ttl),
        Write::Delete { key } => (DELETE, *key, &[][..], 0, 0),
    };
    if key.len() > 250 {
        return Err(bad("a memcached key is longer than 250 bytes"));
    }
    // A set or add carries flags (zero) and its expiry in seconds (zero: never).
    let extras = if opcode == DELETE { 0 } else { 8 };
    let mut h = header(opcode, key.len());
    h[4] = extras as u8;
    h[8..12].copy_from_slice(&((extras + key.len() + value.len()) as u32).to_be_bytes());
    h[12..16].copy_from_slice(&n.to_be_bytes());
    h[16..24].copy_from_slice(&cas.to_be_bytes());
    request.extend_from_slice(&h);
    let mut flags_and_expiry = [0u8; 8];
    flags_and_expiry[4..].copy_from_slice(&ttl.to_be_bytes());
    request.extend_from_slice(&flags_and_expiry[..extras]);
    request.extend_from_slice(key.as_bytes());
    request.extend_from_slice(value);
    Ok(())
}

/// Writes every request at once and reads one answer per request.
fn write_all_of(conn: &mut TcpStream, writes: &[Write<'_>]) -> io::Result<Vec<Written>> {
    let mut request = Vec::new();
    for (n, write) in writes.iter().enumerate() {
        encode(&mut request, n as u32, write)?;
    }
    conn.write_all(&request)?;
    let mut reader = BufReader::with_capacity(16 * 1024, &*conn);
    let mut answers = Vec::with_capacity(writes.len());
    for n in 0..writes.len() {
        let mut h = [0u8; HEADER];
        reader.read_exact(&mut h)?;
        let status = u16::from_be_bytes([h[6], h[7]]);
        let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let opaque = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        let mut body = vec![0u8; body_len];
        reader.read_exact(&mut body)?;
        if h[0] != RESPONSE || opaque != n as u32 {
            return Err(bad("memcached answered a batch of writes out of order"));
        }
        answers.push(match status {
            DONE => Written::Done,
            NOT_FOUND => Written::Missing,
            EXISTS | NOT_STORED => Written::Changed,
            other => {
                return Err(bad(&format!(
                    "memcached refused a write (status {other}): {}",
                    String::from_utf8_lossy(&body)
                )));
            }
        });
    }
    Ok(answers)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Writes the whole request at once and reads the answers up to the `NOOP`'s.
fn exchange(conn: &mut TcpStream, keys: &[String]) -> io::Result<HashMap<String, Versioned>> {
    let size: usize = keys.iter().map(|k| HEADER + k.len()).sum::<usize>() + HEADER;
    let mut request = Vec::with_capacity(size);
    for key in keys {
        if key.len() > 250 {
            return Err(bad("a memcached key is longer than 250 bytes"));
        }
        request.extend_from_slice(&header(GETKQ, key.len()));
        request.extend_from_slice(key.as_bytes());
    }
    request.extend_from_slice(&header(NOOP, 0));
    conn.write_all(&request)?;

    let mut reader = BufReader::with_capacity(64 * 1024, &*conn);
    let mut found = HashMap::with_capacity(keys.len());
    loop {
        let mut h = [0u8; HEADER];
        reader.read_exact(&mut h)?;
        if h[0] != RESPONSE {
            return Err(bad(
                "memcached answered with a packet that is not a response",
            ));
        }
        let key_len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let extras_len = h[4] as usize;
        let status = u16::from_be_bytes([h[6], h[7]]);
        let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let cas = u64::from_be_bytes(h[16..24].try_into().expect("eight bytes"));
        let mut body = vec![0u8; body_len];
        reader.read_exact(&mut body)?;
        if h[1] == NOOP {
            // Nothing follows the NOOP's answer, so the buffer holds nothing more.
            debug_assert!(reader.buffer().is_empty());
            return Ok(found);
        }
        if status != 0 || h[1] != GETKQ || extras_len + key_len > body_len {
            let text = String::from_utf8_lossy(&body[extras_len.min(body_len)..]).to_string();
            return Err(bad(&format!(
                "memcached refused a multi-get (status {status}): {text}"
            )));
        }
        let value = body.split_off(extras_len + key_len);
        let key = String::from_utf8(body.split_off(extras_len))
            .map_err(|_| bad("memcached answered with a key that is not UTF-8"))?;
        found.insert(key, (value, cas));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test server's `host:port`, from `RAKIT_TEST_MEMCACHED_URL` as the driver's tests.
    fn server() -> String {
        let url = std::env::var("RAKIT_TEST_MEMCACHED_URL")
            .unwrap_or_else(|_| "memcache://127.0.0.1:11211".into());
        let rest = url.split("://").nth(1).unwrap_or("127.0.0.1:11211");
        rest.split(['?', '/']).next().unwrap_or(rest).to_string()
    }

    #[test]
    fn a_batch_of_writes_answers_each_in_order_on_a_real_server() {
        let p = Pipeline::new(server(), Duration::from_secs(5));
        let prefix = format!("pipeline-test-{}", rakit_job_core::JobId::generate());
        let (a, b, c) = (
            format!("{prefix}:a"),
            format!("{prefix}:b"),
            format!("{prefix}:c"),
        );
        let first = p
            .write_many(&[
                Write::Add {
                    key: &a,
                    value: b"1",
                    ttl: 60,
                },
                Write::Add {
                    key: &a,
                    value: b"2",
                    ttl: 60,
                },
                Write::Delete { key: &b },
            ])
            .unwrap();
        assert_eq!(first, [Written::Done, Written::Changed, Written::Missing]);
        let read = p.get_many(std::slice::from_ref(&a)).unwrap();
        let (value, cas) = read[&a].clone();
        assert_eq!(value, b"1");
        let second = p
            .write_many(&[
                Write::Swap {
                    key: &a,
                    value: b"3",
                    cas,
                },
                Write::Swap {
                    key: &a,
                    value: b"4",
                    cas,
                },
                Write::Swap {
                    key: &c,
                    value: b"5",
                    cas,
                },
                Write::Delete { key: &a },
            ])
            .unwrap();
        assert_eq!(
            second,
            [
                Written::Done,
                Written::Changed,
                Written::Missing,
                Written::Done
            ]
        );
        assert!(p.get_many(&[a, c]).unwrap().is_empty());
    }

    #[test]
    fn a_request_header_names_its_opcode_and_key_length() {
        let h = header(GETKQ, 300 % 251);
        assert_eq!((h[0], h[1]), (REQUEST, GETKQ));
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 49);
        assert_eq!(u32::from_be_bytes([h[8], h[9], h[10], h[11]]), 49);
        assert_eq!(&h[12..], &[0u8; 12]);
    }
}
