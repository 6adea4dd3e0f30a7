//! rust-hello: answers `GET /` with the uid it runs as (so a test can check the image's user)
//! and serves `assets/` at `/static/`, relative to the working directory, as lade's image sets
//! it. One request per connection (HTTP/1.0), which is all the tests need.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rust-hello: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("rust-hello listening on {port}, serving assets/ at /static/");
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                if let Err(e) = serve(s) {
                    eprintln!("rust-hello: {e}");
                }
            }
            Err(e) => eprintln!("rust-hello: accept: {e}"),
        }
    }
}

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let path = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => break req.path.unwrap_or("/").to_string(),
            Ok(httparse::Status::Partial) if buf.len() < 64 * 1024 => continue,
            _ => return respond(&mut stream, 400, b"bad request\n"),
        }
    };
    if path == "/" {
        // The owner of /proc/self is the process's effective uid; no libc call needed.
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
        let mut body = b"hello from rust-hello uid=".to_vec();
        body.extend_from_slice(itoa::Buffer::new().format(uid).as_bytes());
        body.push(b'\n');
        return respond(&mut stream, 200, &body);
    }
    if let Some(name) = path.strip_prefix("/static/") {
        if !name.split('/').any(|c| c == ".." || c.is_empty()) {
            if let Ok(body) = std::fs::read(std::path::Path::new("assets").join(name)) {
                return respond(&mut stream, 200, &body);
            }
        }
    }
    respond(&mut stream, 404, b"not found\n")
}

fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let mut len = itoa::Buffer::new();
    let head = format!(
        "HTTP/1.0 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        len.format(body.len())
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}
