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
    stream.write_all(request.as_bytes()).expect("send");
    read_until_closed(stream, give_up)
}

fn read_until_closed(mut stream: TcpStream, give_up: Duration) -> Outcome {
    stream.set_read_timeout(Some(give_up)).expect("read timeout");
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

/// A POST whose head and first body bytes are sent, the rest held back:
/// a request the server has started and not finished (for shutdown tests).
pub struct InFlight {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl InFlight {
    /// Sends the head of a `POST path` with `body`, and `body` up to its
    /// middle.
    pub fn start(addr: SocketAddr, path: &str, body: &str) -> Self {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (first, rest) = body.as_bytes().split_at(body.len() / 2);
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(head.as_bytes()).expect("send head");
        stream.write_all(first).expect("send first half");
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest of the body and reads the answer until the server
    /// closes (at most `give_up`).
    pub fn finish(mut self, give_up: Duration) -> Outcome {
        self.stream.write_all(&self.rest).expect("send the rest");
        read_until_closed(self.stream, give_up)
    }
}

/// Whether a new connection to `addr` is refused within `within` (the
/// server has closed its listener).
pub fn refuses_connections_within(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
