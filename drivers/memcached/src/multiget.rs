//! Many values in one write, their answers read through a buffer, over TCP connections
//! of its own. The `memcache` crate sends each key of a multi-get with two system calls
//! (two packets, since its sockets do not delay), and reads each answer with four; the
//! index walks behind claims, counts and listings fetch thousands of keys this way.
//!
//! The request is memcached's binary protocol: one quiet `GETKQ` per key (answered only
//! when the key exists) and a `NOOP`, whose answer marks the end.

use crate::client::Versioned;
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

const REQUEST: u8 = 0x80;
const RESPONSE: u8 = 0x81;
const GETKQ: u8 = 0x0d;
const NOOP: u8 = 0x0a;
const HEADER: usize = 24;
/// Connections kept for reuse; more may be open while many walks run at once.
const KEEP: usize = 8;

/// Pipelined multi-gets to one server.
pub(crate) struct MultiGet {
    address: String,
    timeout: Duration,
    idle: Mutex<Vec<TcpStream>>,
}

impl MultiGet {
    /// Multi-gets to `address` (`host:port`); connections open when first needed.
    pub(crate) fn new(address: String, timeout: Duration) -> MultiGet {
        MultiGet {
            address,
            timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The values of the `keys` that exist, with their compare-and-swap tokens.
    pub(crate) fn get_many(&self, keys: &[String]) -> io::Result<HashMap<String, Versioned>> {
        let mut conn = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            Some(conn) => conn,
            None => self.open()?,
        };
        // A connection that failed part way is dropped, not reused.
        let got = exchange(&mut conn, keys)?;
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

/// One request's header: `opcode` and a key of `key_len` bytes, no extras, no value.
fn header(opcode: u8, key_len: usize) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = REQUEST;
    h[1] = opcode;
    h[2..4].copy_from_slice(&(key_len as u16).to_be_bytes());
    h[8..12].copy_from_slice(&(key_len as u32).to_be_bytes());
    h
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

    #[test]
    fn a_request_header_names_its_opcode_and_key_length() {
        let h = header(GETKQ, 300 % 251);
        assert_eq!((h[0], h[1]), (REQUEST, GETKQ));
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 49);
        assert_eq!(u32::from_be_bytes([h[8], h[9], h[10], h[11]]), 49);
        assert_eq!(&h[12..], &[0u8; 12]);
    }
}
