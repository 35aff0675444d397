//! `kv bench --etcd`: the same load against an etcd v3 server, to compare on one machine.
//!
//! One connection per bench connection, HTTP/2 without TLS (prior knowledge, as gRPC
//! clients do on a plain port), one request at a time on it, like the ringkv client.
//! Only two calls are needed, so their protobuf messages are written and read by hand
//! instead of pulling in a gRPC stack: `etcdserverpb.KV/Put` (`PutRequest{key=1,
//! value=2}`) and `etcdserverpb.KV/Range` (`RangeRequest{key=1}`, linearizable by
//! default, like a ringkv get; the answer's `kvs=2` each hold `value=5`).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use tokio::net::TcpStream;

/// Error kinds, counted like the ringkv client's.
pub(super) const CONNECT: &str = "connect";
pub(super) const GRPC: &str = "server";
pub(super) const PROTOCOL: &str = "protocol";
pub(super) const TIMEOUT: &str = "timeout";

/// One HTTP/2 connection to an etcd member, reopened after a failure.
pub(super) struct EtcdConn {
    addr: String,
    timeout: Duration,
    send: Option<SendRequest<Bytes>>,
}

impl EtcdConn {
    /// A connection to `addr` (HOST:PORT of a client URL), opened on first use; each
    /// request gets `timeout` in all.
    pub(super) fn new(addr: String, timeout: Duration) -> Self {
        EtcdConn {
            addr,
            timeout,
            send: None,
        }
    }

    /// Stores `value` at `key`.
    pub(super) async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), &'static str> {
        let mut msg = BytesMut::new();
        put_field(&mut msg, 1, key);
        put_field(&mut msg, 2, value);
        self.call("/etcdserverpb.KV/Put", msg.freeze())
            .await
            .map(drop)
    }

    /// The value at `key`, if any (a linearizable read).
    pub(super) async fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>, &'static str> {
        let mut msg = BytesMut::new();
        put_field(&mut msg, 1, key);
        let answer = self.call("/etcdserverpb.KV/Range", msg.freeze()).await?;
        range_value(answer).ok_or(PROTOCOL)
    }

    /// One unary gRPC call: the answer's message bytes.
    async fn call(&mut self, path: &str, msg: Bytes) -> Result<Bytes, &'static str> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.call_once(path, msg)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(kind)) => {
                self.send = None;
                Err(kind)
            }
            Err(_) => {
                self.send = None;
                Err(TIMEOUT)
            }
        }
    }

    async fn call_once(&mut self, path: &str, msg: Bytes) -> Result<Bytes, &'static str> {
        if self.send.is_none() {
            self.send = Some(self.connect().await?);
        }
        let send = self.send.take().ok_or(CONNECT)?;
        let mut send = send.ready().await.map_err(|_| CONNECT)?;
        let request = http::Request::post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .map_err(|_| PROTOCOL)?;
        let (response, mut stream) = send.send_request(request, false).map_err(|_| CONNECT)?;
        let mut frame = BytesMut::with_capacity(5 + msg.len());
        frame.put_u8(0);
        frame.put_u32(msg.len() as u32);
        frame.put_slice(&msg);
        stream
            .send_data(frame.freeze(), true)
            .map_err(|_| CONNECT)?;
        let response = response.await.map_err(|_| CONNECT)?;
        self.send = Some(send);
        if response.status() != http::StatusCode::OK {
            return Err(GRPC);
        }
        // A trailers-only answer carries the status in its headers.
        if let Some(status) = response.headers().get("grpc-status") {
            if status != "0" {
                return Err(GRPC);
            }
        }
        let mut body = response.into_body();
        let mut data = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|_| CONNECT)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(|_| CONNECT)?;
        if let Some(trailers) = trailers {
            if trailers.get("grpc-status").is_some_and(|s| s != "0") {
                return Err(GRPC);
            }
        }
        if data.len() < 5 || data[0] != 0 {
            return Err(PROTOCOL);
        }
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if data.len() != 5 + len {
            return Err(PROTOCOL);
        }
        Ok(data.freeze().slice(5..))
    }

    async fn connect(&self) -> Result<SendRequest<Bytes>, &'static str> {
        let tcp = TcpStream::connect(&self.addr).await.map_err(|_| CONNECT)?;
        let _ = tcp.set_nodelay(true);
        let (send, connection) = h2::client::handshake(tcp).await.map_err(|_| CONNECT)?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        Ok(send)
    }
}

/// Appends a length-delimited protobuf field.
fn put_field(out: &mut BytesMut, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.put_slice(bytes);
}

fn put_varint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn varint(buf: &mut Bytes) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let b = buf.get_u8();
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The fields of one protobuf message: `(field number, bytes)` of its length-delimited
/// fields; other wire types are skipped. `None` if malformed.
fn fields(mut buf: Bytes) -> Option<Vec<(u64, Bytes)>> {
    let mut out = Vec::new();
    while buf.has_remaining() {
        let key = varint(&mut buf)?;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if buf.remaining() < n {
                    return None;
                }
                buf.advance(n);
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                if buf.remaining() < len {
                    return None;
                }
                out.push((key >> 3, buf.split_to(len)));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The value of a `RangeResponse` for one key: its first `kvs` entry's `value`.
fn range_value(answer: Bytes) -> Option<Option<Bytes>> {
    let Some((_, kv)) = fields(answer)?.into_iter().find(|(f, _)| *f == 2) else {
        return Some(None);
    };
    let value = fields(kv)?
        .into_iter()
        .find(|(f, _)| *f == 5)
        .map_or_else(Bytes::new, |(_, v)| v);
    Some(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_answer_yields_its_value_or_nothing() {
        let mut kv = BytesMut::new();
        put_field(&mut kv, 1, b"k");
        kv.put_slice(&[0x10, 0x05]); // create_revision = 5 (a varint field, skipped)
        put_field(&mut kv, 5, b"value");
        let mut answer = BytesMut::new();
        put_field(&mut answer, 1, b"header");
        put_field(&mut answer, 2, &kv);
        assert_eq!(
            range_value(answer.freeze()),
            Some(Some(Bytes::from_static(b"value")))
        );
        let mut empty = BytesMut::new();
        put_field(&mut empty, 1, b"header");
        assert_eq!(range_value(empty.freeze()), Some(None));
        assert_eq!(range_value(Bytes::from_static(&[0x12, 0x09, 1])), None);
    }

    #[test]
    fn long_fields_get_multi_byte_lengths() {
        let mut out = BytesMut::new();
        put_field(&mut out, 2, &[7u8; 300]);
        assert_eq!(&out[..3], &[0x12, 0xac, 0x02]);
        assert_eq!(fields(out.freeze()).map(|f| f[0].1.len()), Some(300));
    }
}
