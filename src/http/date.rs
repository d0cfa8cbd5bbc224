//! The `date` field of a response (RFC 9110 §6.6.1), as hyper writes it on HTTP/1.1: the
//! current second, formatted once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

thread_local! {
    static CACHED: RefCell<(u64, HeaderValue)> = const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// Now, as a `date` field value.
pub fn now() -> HeaderValue {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            let text = httpdate::fmt_http_date(now);
            // An IMF-fixdate is always a valid field value.
            if let Ok(value) = HeaderValue::from_str(&text) {
                *cached = (second, value);
            }
        }
        cached.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_an_imf_fixdate_of_this_second() {
        let before = SystemTime::now();
        let value = now();
        let parsed = httpdate::parse_http_date(value.to_str().unwrap_or_default());
        let parsed = parsed.map_err(|error| error.to_string());
        assert!(parsed.is_ok(), "{value:?}");
        let seconds = |time: SystemTime| time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        assert!(parsed
            .as_ref()
            .is_ok_and(|parsed| seconds(*parsed) >= seconds(before) && seconds(*parsed) <= seconds(before) + 1));
    }
}
