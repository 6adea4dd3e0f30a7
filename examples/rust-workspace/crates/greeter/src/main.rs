//! greeter: an HTTP/1.0 server on $PORT answering every GET with the shared greeting and the
//! uid it runs as. Standard library only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).unwrap_or_else(|e| {
        eprintln!("greeter: cannot listen on port {port}: {e}");
        std::process::exit(1)
    });
    eprintln!("greeter listening on {port}");
    for stream in listener.incoming().flatten() {
        let mut reader = BufReader::new(&stream);
        // Read the head of the request; the body (none for GET) is not needed.
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
            line.clear();
        }
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
        let body = format!("{} uid={uid}\n", greeting::greeting("greeter"));
        let _ = write!(
            &stream,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
}
