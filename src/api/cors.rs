//! CORS for the web UI, with the allowed origins held in a shared value that a
//! SIGHUP replaces without rebuilding the router.

use std::sync::{Arc, RwLock};

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The origins allowed to call the API from a browser. Cheap to clone; all
/// clones see [`CorsOrigins::replace`].
#[derive(Clone, Default)]
pub struct CorsOrigins {
    origins: Arc<RwLock<Vec<HeaderValue>>>,
}

impl CorsOrigins {
    pub fn new(origins: &[String]) -> Self {
        let shared = CorsOrigins::default();
        shared.replace(origins);
        shared
    }

    /// Swaps in a new list. Entries that cannot be a header value are skipped
    /// (and could never match a browser's `Origin` anyway).
    pub fn replace(&self, origins: &[String]) {
        let parsed = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        *self
            .origins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = parsed;
    }

    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.origins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .any(|o| o == origin)
    }

    /// The layer answering preflights and adding CORS headers, reading the list per request.
    pub fn layer(&self) -> CorsLayer {
        let origins = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _request| {
                origins.allows(origin)
            }))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_the_list_is_seen_by_every_clone() {
        let origins = CorsOrigins::new(&["https://a.example".to_owned()]);
        let reader = origins.clone();
        let a = HeaderValue::from_static("https://a.example");
        let b = HeaderValue::from_static("https://b.example");
        assert!(reader.allows(&a) && !reader.allows(&b));
        origins.replace(&["https://b.example".to_owned(), "bad\nvalue".to_owned()]);
        assert!(!reader.allows(&a) && reader.allows(&b));
    }
}
