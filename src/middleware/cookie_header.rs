//! One unreadable cookie must not cost the others.
//!
//! actix-web reads the `Cookie` header as UTF-8 text and, when one byte of it
//! is not (`z=caf\xe9; session=...`, from a sibling site on the same domain or
//! a broken client), gives up on the whole header: the session cookie beside
//! the bad pair would be ignored and the visitor signed out. This middleware
//! runs before anything reads cookies and rewrites such a header, keeping
//! every pair that is valid UTF-8. (Pairs that are text but not a cookie,
//! actix-web already skips one by one.)

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{COOKIE, HeaderValue},
    middleware::Next,
};

/// Drops the pairs of the `Cookie` header that are not UTF-8, keeping the rest.
pub(crate) async fn keep_readable_cookies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let readable = |value: &HeaderValue| std::str::from_utf8(value.as_bytes()).is_ok();
    if !req.headers().get_all(COOKIE).all(readable) {
        let kept = readable_pairs(req.headers().get_all(COOKIE).map(HeaderValue::as_bytes));
        let headers = req.headers_mut();
        headers.remove(COOKIE);
        // The pairs come from a valid header value, so they make one again.
        if let Ok(value) = HeaderValue::from_bytes(kept.as_bytes())
            && !kept.is_empty()
        {
            headers.insert(COOKIE, value);
        }
    }
    next.call(req).await
}

/// The `name=value` pairs of these header values that are UTF-8, joined by `"; "`.
fn readable_pairs<'a>(values: impl Iterator<Item = &'a [u8]>) -> String {
    values
        .flat_map(|value| value.split(|&byte| byte == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_unreadable_pair_is_dropped() {
        let header: &[u8] = b"z=caf\xe9; session=abc;other=1; ;  tail=\xff\xfe";
        assert_eq!(readable_pairs([header].into_iter()), "session=abc; other=1");
    }
}
