//! The per-request entry point hyper calls: routes the request through the mount table and
//! runs the mount's app; a path no mount covers gets `404`.

use std::sync::Arc;

use http::header::HOST;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::router::Router;
use crate::asgi::AsgiApp;
use crate::http::connection::ConnectionInfo;
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::wsgi::WsgiApp;

pub enum App {
    Wsgi(WsgiApp),
    Asgi(AsgiApp),
}

pub struct Service {
    router: Router<App>,
}

impl Service {
    pub fn new(router: Router<App>) -> Self {
        Self { router }
    }

    pub async fn handle(&self, request: Request<Incoming>, connection: Arc<ConnectionInfo>) -> Response<ResponseBody> {
        let host = match request.uri().authority() {
            Some(authority) => Some(authority.as_str()),
            None => request.headers().get(HOST).and_then(|value| value.to_str().ok()),
        };
        match self.router.route(host, request.uri().path()) {
            Some((_, App::Wsgi(app))) => app.handle(request, connection).await,
            Some((_, App::Asgi(app))) => app.handle(request, connection).await,
            None => status::plain(StatusCode::NOT_FOUND),
        }
    }
}
