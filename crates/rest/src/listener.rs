use std::net::{Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

/// Binds `[host]:port`. An empty host binds `[::]` dual-stack (IPv4-mapped
/// addresses accepted), falling back to `0.0.0.0` where IPv6 is off: the
/// scheduler dials `localhost`, which may resolve to `::1` first.
pub fn bind_listener(address: &str) -> std::io::Result<TcpListener> {
    let invalid = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("invalid listen address {address:?}"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    if host.is_empty() {
        return bind_dual_stack(port).or_else(|_| TcpListener::bind(("0.0.0.0", port)));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last_error = invalid();
    for addr in addrs {
        match bind_socket(addr, false) {
            Ok(l) => return Ok(l),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

fn bind_dual_stack(port: u16) -> std::io::Result<TcpListener> {
    bind_socket(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), true)
}

fn bind_socket(addr: SocketAddr, dual_stack: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    #[test]
    fn empty_host_accepts_ipv4_and_ipv6_loopback() {
        let l = bind_listener(":0").unwrap();
        let port = l.local_addr().unwrap().port();
        TcpStream::connect(("127.0.0.1", port)).unwrap();
        if TcpStream::connect(("::1", port)).is_err() {
            eprintln!("skipping ::1 check: no IPv6 loopback here");
        }
    }

    #[test]
    fn explicit_hosts_and_bad_addresses() {
        assert!(bind_listener("127.0.0.1:0").is_ok());
        assert!(bind_listener("localhost:0").is_ok());
        assert!(bind_listener("nonsense").is_err());
        assert!(bind_listener(":notaport").is_err());
    }
}
