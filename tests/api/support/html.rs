//! Reading answers: redirects, and values out of the HTML of a page.

use reqwest::{Response, StatusCode};

/// The `Location` header of a redirect.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Asserts a `303 See Other` to `path`.
pub fn assert_redirect_to(response: &Response, path: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response), path);
}

/// The values of `attribute="..."` in `html`, in order.
pub fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"");
    html.split(&marker)
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("closing quote")].to_string())
        .collect()
}

/// The cart lines on a cart page: product id -> quantity.
pub fn cart_lines(html: &str) -> std::collections::BTreeMap<i64, i64> {
    html.split("class=\"cart-line\"")
        .skip(1)
        .map(|row| {
            let id = attribute_values(row, "data-product-id")[0]
                .parse()
                .expect("id");
            let quantity = attribute_values(row, "data-quantity")[0]
                .parse()
                .expect("qty");
            (id, quantity)
        })
        .collect()
}

/// The value of the first hidden `csrf_token` field in a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end].to_string()
}
