//! The per-request entry point hyper calls: picks the app for a request and runs it.
//!
//! Today every request goes to the one WSGI app; the mount table slots in here.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::http::connection::ConnectionInfo;
use crate::http::response_body::ResponseBody;
use crate::wsgi::WsgiApp;

pub struct Service {
    wsgi: WsgiApp,
}

impl Service {
    pub fn new(wsgi: WsgiApp) -> Self {
        Self { wsgi }
    }

    pub fn wsgi(&self) -> &WsgiApp {
        &self.wsgi
    }

    pub async fn handle(&self, request: Request<Incoming>, connection: Arc<ConnectionInfo>) -> Response<ResponseBody> {
        self.wsgi.handle(request, connection).await
    }
}
