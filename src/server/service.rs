//! The per-request entry point hyper calls: picks the app for a request and runs it.
//!
//! Today the server holds one app, WSGI or ASGI; the mount table slots in here.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::asgi::AsgiApp;
use crate::http::connection::ConnectionInfo;
use crate::http::response_body::ResponseBody;
use crate::wsgi::WsgiApp;

pub enum App {
    Wsgi(WsgiApp),
    Asgi(AsgiApp),
}

pub struct Service {
    app: App,
}

impl Service {
    pub fn new(app: App) -> Self {
        Self { app }
    }

    pub async fn handle(&self, request: Request<Incoming>, connection: Arc<ConnectionInfo>) -> Response<ResponseBody> {
        match &self.app {
            App::Wsgi(app) => app.handle(request, connection).await,
            App::Asgi(app) => app.handle(request, connection).await,
        }
    }
}
