//! `hyper-hello PORT [WORKERS]`: answers every request on 127.0.0.1:PORT with the 13-byte
//! body `Hello, world!`, and a request to a path ending in `/echo` with its own body, over
//! HTTP/1.1 keep-alive, on a multi-thread tokio runtime with WORKERS worker threads (default:
//! one per core, as amphicorn's I/O threads). The echo reads the whole body before it answers,
//! as the benchmark's echo apps do (`wsgi.input.read()`, every `http.request` message).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

static BODY: &[u8] = b"Hello, world!";

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (body, content_type) = if request.uri().path().ends_with("/echo") {
        // The frames as hyper gives them, joined (without a copy when the body came as one).
        let body = request.into_body().collect().await.map_or_else(|_| Bytes::new(), |collected| collected.to_bytes());
        (body, "application/octet-stream")
    } else {
        (Bytes::from_static(BODY), "text/plain")
    };
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    Ok(response)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8000);
    let workers: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(address).await.expect("bind");
        eprintln!("Listening on http://{address}");
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
}
