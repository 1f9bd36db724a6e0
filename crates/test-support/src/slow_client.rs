//! A client that announces a body, sends part of it, then goes silent: what
//! a slow-loris attacker does to hold a server's connections.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What the server did with the half-sent request.
#[derive(Debug)]
pub struct Outcome {
    /// Status of the server's answer, 0 when it closed without one.
    pub status: u16,
    /// Everything the server sent.
    pub response: String,
    /// From the last byte sent to the server closing the connection.
    pub closed_after: Duration,
}

/// A POST to `path` announcing `Content-Length: 1000` with only the first
/// bytes of a JSON object.
pub fn half_a_body(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"user"
    )
}

/// A request line and one header, without the blank line ending the head.
pub fn half_a_head(path: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: test\r\n")
}

/// Sends `request`, then reads until the server closes. Panics when it is
/// still open after `give_up`.
pub fn send_then_wait(addr: SocketAddr, request: &str, give_up: Duration) -> Outcome {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(give_up)).expect("read timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let sent = Instant::now();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection still open {give_up:?} after a partial request; received {response:?}")
            }
            Err(e) => panic!("reading the response: {e}"),
        }
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Outcome {
        status,
        response,
        closed_after: sent.elapsed(),
    }
}
