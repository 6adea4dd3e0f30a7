//! A minimal HTTP/1.0 GET over a TcpStream: enough to talk to the test servers without
//! adding an HTTP client crate or depending on curl's exit codes.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

pub fn get(port: u16, path: &str) -> io::Result<Response> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // HTTP/1.0 so the server closes the connection and read_to_end knows where the body ends.
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    // Servers should end headers with CRLF CRLF; busybox's CGI passes a script's bare LFs on.
    let (head, body) = [
        text.find("\r\n\r\n").map(|i| (i, 4)),
        text.find("\n\n").map(|i| (i, 2)),
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|(i, n)| (&text[..i], &text[i + n..]))
    .ok_or_else(|| io::Error::other(format!("no end of headers in {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

/// A port nothing listens on right now. The listener is dropped at once, so another process
/// could take it before the container does; on a test machine that is rare and shows up as a
/// clear "address in use" in the container's log.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}
