//! Just enough HTTP/1.1 for the test servers: one message at a time.

use std::io::Read;
use std::net::TcpStream;

use anyhow::{bail, Result};

/// One whole HTTP message (request or answer): headers, then the body by
/// its Content-Length, or chunks up to the last one.
pub(crate) fn read_message(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    let mut more = |data: &mut Vec<u8>| -> Result<()> {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            bail!("the peer hung up mid-message");
        }
        data.extend_from_slice(&buf[..n]);
        Ok(())
    };
    let end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        more(&mut data)?;
    };
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    if head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked")) {
        while !data[end..].windows(5).any(|w| w == b"0\r\n\r\n") {
            more(&mut data)?;
        }
        return Ok(data);
    }
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while data.len() < end + 4 + length {
        more(&mut data)?;
    }
    Ok(data)
}

/// A request split into its parts.
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn parse(raw: &[u8]) -> Result<Request> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow::anyhow!("no header end"))?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, path) =
            (first.next().unwrap_or_default().to_string(), first.next().unwrap_or_default().to_string());
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Request { method, path, headers, body: raw[end + 4..].to_vec() })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The JSON body of a whole HTTP message read by [`read_message`], its
/// chunks joined when it came chunked.
pub(crate) fn body_json(raw: &[u8]) -> Result<serde_json::Value> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow::anyhow!("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let mut body = &raw[end + 4..];
    if !head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked")) {
        return Ok(serde_json::from_slice(body)?);
    }
    let mut joined = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or_else(|| anyhow::anyhow!("a cut chunk"))?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16)?;
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        joined.extend_from_slice(body.get(start..start + size).ok_or_else(|| anyhow::anyhow!("a short chunk"))?);
        body = body.get(start + size + 2..).unwrap_or_default();
    }
    Ok(serde_json::from_slice(&joined)?)
}
