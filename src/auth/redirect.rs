//! Where to go after signing in: only ever a path on this site.

/// Returns `next` if it is a local path, else `None`.
///
/// An attacker could send someone a link to `/login?next=https://evil.example`
/// and have our own login page forward the freshly signed-in victim to a fake
/// site (an "open redirect"). So `next` must be a path on this site:
/// it starts with exactly one `/` (`//host` means another host to a browser),
/// contains no backslash (browsers read `/\host` as `//host`) and no control
/// characters (a tab or newline inside a URL is dropped by browsers).
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    local.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_pass() {
        for good in ["/", "/account", "/cart?x=1", "/a/b#c"] {
            assert_eq!(local_path(good), Some(good));
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
