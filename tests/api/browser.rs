//! A real browser walks through the app: headless Chromium driven through
//! chromedriver (WebDriver), asserting on what a user sees. It also takes the
//! README's screenshots (`docs/screenshots/`).
//!
//! Needs `chromium` and `chromium-driver` (Debian's packages). Without a
//! chromedriver the test says it was skipped and passes, unless
//! `CI_REQUIRE_BROWSER` is set (CI sets it), then it fails.
//!
//! Environment: `CHROMEDRIVER` (path to chromedriver), `CHROME_BIN` (path to
//! the browser), `UPDATE_SCREENSHOTS=1` (rewrite the screenshots; otherwise
//! only missing ones are written, so test runs do not dirty the tree).

use std::{
    future::Future,
    net::TcpListener,
    os::unix::process::CommandExt,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, error::CmdError};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

/// How long any one wait (for chromedriver, an element, a page) may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// How long Chromium may take to start (slow on a busy machine).
pub(crate) const BROWSER_START: Duration = Duration::from_secs(60);
/// How long the whole walk through the app may take.
const WALK: Duration = Duration::from_secs(120);
/// The desktop window and the phone-sized one.
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (375, 812);

#[tokio::test]
async fn a_real_browser_counts_registers_shops_inspects_and_logs_out() {
    let Some(chromedriver) = find_chromedriver() else {
        if std::env::var_os("CI_REQUIRE_BROWSER").is_some() {
            panic!(
                "CI_REQUIRE_BROWSER is set but no chromedriver was found \
                 (set CHROMEDRIVER, or install chromium and chromium-driver)"
            );
        }
        println!(
            "browser test skipped: chromedriver not found (install chromium and chromium-driver)"
        );
        return;
    };
    let started = Instant::now();
    let driver = Chromedriver::start(&chromedriver).await;
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities(driver.profile.path()));
    let connect = builder.connect(&driver.url);
    let client = match tokio::time::timeout(BROWSER_START, connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("chromedriver did not start Chromium: {e}\n{}", driver.log()),
        Err(_) => panic!(
            "Chromium did not start within {BROWSER_START:?}\n{}",
            driver.log()
        ),
    };
    let app = spawn_app().await;

    // Whatever happens in the walk (a failed assertion, a timeout), the browser
    // session is closed; the guard then stops chromedriver.
    let walk =
        tokio::time::timeout(WALK, AssertUnwindSafe(walk(&client, &app)).catch_unwind()).await;
    let _ = tokio::time::timeout(WAIT, client.close()).await;
    app.stop().await;
    match walk {
        Err(_) => panic!("the browser walk took longer than {WALK:?}"),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Ok(Ok(())) => {}
    }
    drop(driver);
    println!("browser test took {:.1?}", started.elapsed());
}

/// The walk: everything a user does, and what they see.
async fn walk(client: &Client, app: &TestApp) {
    let base = &app.address;
    let page = Page { client, base };

    // The visit counter: the second visit shows 2.
    page.open("/").await;
    assert_eq!(page.text("h1").await, "Visit counter");
    page.open("/").await;
    assert_eq!(
        page.text("p.counter").await,
        "You have visited this page 2 times."
    );
    page.screenshot("counter.png").await;

    // Register through the navigation's link; the form lands on the account page.
    page.click(Locator::XPath("//nav//a[normalize-space(.)='Register']"))
        .await;
    page.wait_for_path("/register").await;
    page.fill("#username", "ada.lovelace").await;
    page.fill("#password", "analytical engine").await;
    page.fill("#password_confirm", "analytical engine").await;
    page.screenshot("register.png").await;
    page.click(Locator::XPath(
        "//main//button[normalize-space(.)='Create account']",
    ))
    .await;
    page.wait_for_path("/account").await;
    assert_eq!(page.text("h1").await, "Your account");
    assert_eq!(page.text("#you-heading").await, "Signed in as ada.lovelace");
    assert!(
        page.text("nav").await.contains("ada.lovelace"),
        "the navigation names the signed-in user"
    );
    page.screenshot("account.png").await;

    // The cart, through the navigation: two products, one of them twice.
    page.click(Locator::XPath(
        "//nav//a[starts-with(normalize-space(.), 'Cart')]",
    ))
    .await;
    page.wait_for_path("/cart").await;
    assert_eq!(page.text("p.empty").await, "Your cart is empty.");
    let products = page.products().await;
    assert!(products.len() >= 2, "the shop has at least two products");
    let chosen = [(&products[0], 2_i64), (&products[1], 1_i64)];
    for (added, ((id, _), quantity)) in chosen.iter().enumerate() {
        let product = format!("li.product[data-product-id='{id}']");
        page.fill(
            &format!("{product} input[name='quantity']"),
            &quantity.to_string(),
        )
        .await;
        page.click(Locator::Css(&format!("{product} button[type='submit']")))
            .await;
        page.wait_for_count("tr.cart-line", added + 1).await;
    }
    let mut lines = page.cart_lines().await;
    let mut expected: Vec<(String, i64)> = chosen
        .iter()
        .map(|((id, _), quantity)| (id.clone(), *quantity))
        .collect();
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected, "the cart's lines: (product id, quantity)");
    let total: i64 = chosen
        .iter()
        .map(|((_, price), quantity)| price * quantity)
        .sum();
    assert_eq!(
        page.attr("[data-total-cents]", "data-total-cents").await,
        total.to_string(),
        "the total is the sum of price times quantity"
    );
    assert_eq!(
        page.attr("[data-cart-count]", "data-cart-count").await,
        "3",
        "the navigation counts the items"
    );
    page.screenshot("cart.png").await;

    // The same cart on a phone: no horizontal scrolling.
    page.resize(PHONE).await;
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("the widths");
    let (scroll_width, inner_width) = (widths[0].as_i64(), widths[1].as_i64());
    assert!(
        scroll_width.zip(inner_width).is_some_and(|(s, w)| s <= w),
        "the cart scrolls sideways on a phone: scrollWidth {scroll_width:?} > innerWidth {inner_width:?}"
    );
    page.screenshot("phone-cart.png").await;
    page.resize(DESKTOP).await;

    // The session inspector, through the navigation.
    assert_eq!(
        app.get("/session").await.status(),
        StatusCode::OK,
        "GET /session"
    );
    page.click(Locator::XPath(
        "//nav//a[normalize-space(.)='Session inspector']",
    ))
    .await;
    page.wait_for_path("/session").await;
    assert_eq!(page.text("h1").await, "Session inspector");
    let text = page.text("body").await;
    assert!(
        text.contains("Step 5: the app decrypted your cookie"),
        "the inspector found this browser's session: {text}"
    );
    assert!(
        text.contains("\"cart_id\""),
        "the inspector shows the stored state, cart id included: {text}"
    );
    page.screenshot("inspector.png").await;

    // Log out with the navigation's button: the cart is gone with the session.
    page.click(Locator::XPath(
        "//nav//button[normalize-space(.)='Log out']",
    ))
    .await;
    page.wait_for(Locator::XPath("//nav//a[normalize-space(.)='Log in']"))
        .await;
    page.click(Locator::XPath(
        "//nav//a[starts-with(normalize-space(.), 'Cart')]",
    ))
    .await;
    page.wait_for_path("/cart").await;
    assert_eq!(page.text("p.empty").await, "Your cart is empty.");
    assert_eq!(
        page.attr("[data-total-cents]", "data-total-cents").await,
        "0"
    );
    assert_eq!(page.attr("[data-cart-count]", "data-cart-count").await, "0");
}

/// The browser on one app: short, bounded steps.
pub(crate) struct Page<'a> {
    pub(crate) client: &'a Client,
    pub(crate) base: &'a str,
}

impl Page<'_> {
    pub(crate) async fn open(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Waits (up to [`WAIT`]) for an element to be there.
    pub(crate) async fn wait_for(&self, locator: Locator<'_>) -> fantoccini::elements::Element {
        let described = format!("{locator:?}");
        match self.client.wait().at_most(WAIT).for_element(locator).await {
            Ok(element) => element,
            Err(e) => panic!("waiting for {described} on {}: {e}", self.here().await),
        }
    }

    pub(crate) async fn click(&self, locator: Locator<'_>) {
        let described = format!("{locator:?}");
        let element = self.wait_for(locator).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {described}: {e}"));
    }

    /// Replaces the value of the input `css` with `value`, as typed.
    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let input = self.wait_for(Locator::Css(css)).await;
        input.clear().await.expect("the input clears");
        input.send_keys(value).await.expect("typing into the input");
        assert_eq!(
            input.prop("value").await.expect("its value").as_deref(),
            Some(value),
            "the input {css} holds what was typed"
        );
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let element = self.wait_for(Locator::Css(css)).await;
        element
            .text()
            .await
            .unwrap_or_else(|e| panic!("the text of {css}: {e}"))
            .trim()
            .to_string()
    }

    pub(crate) async fn attr(&self, css: &str, name: &str) -> String {
        let element = self.wait_for(Locator::Css(css)).await;
        element
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("{name} of {css}: {e}"))
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    /// The current URL, for messages.
    pub(crate) async fn here(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("(unknown page: {e})"),
        }
    }

    /// Waits until the browser shows `path` (after a click that navigates).
    pub(crate) async fn wait_for_path(&self, path: &str) {
        poll(&format!("the page {path}"), || async {
            Ok(self.client.current_url().await?.path() == path)
        })
        .await;
        self.wait_for(Locator::Css("footer")).await;
    }

    /// Waits until exactly `n` elements match `css`.
    pub(crate) async fn wait_for_count(&self, css: &str, n: usize) {
        poll(&format!("{n} of {css}"), || async {
            Ok(self.client.find_all(Locator::Css(css)).await?.len() == n)
        })
        .await;
    }

    /// The products on the cart page: (id, price in cents), in page order.
    pub(crate) async fn products(&self) -> Vec<(String, i64)> {
        let mut products = Vec::new();
        for li in self.all("li.product").await {
            let id = li.attr("data-product-id").await.expect("an attribute");
            let price = li.attr("data-price-cents").await.expect("an attribute");
            products.push((
                id.expect("a product id"),
                price.expect("a price").parse().expect("cents"),
            ));
        }
        products
    }

    /// The cart's lines: (product id, quantity).
    pub(crate) async fn cart_lines(&self) -> Vec<(String, i64)> {
        let mut lines = Vec::new();
        for tr in self.all("tr.cart-line").await {
            let id = tr.attr("data-product-id").await.expect("an attribute");
            let quantity = tr.attr("data-quantity").await.expect("an attribute");
            lines.push((
                id.expect("a product id"),
                quantity.expect("a quantity").parse().expect("a number"),
            ));
        }
        lines
    }

    pub(crate) async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding {css}: {e}"))
    }

    pub(crate) async fn resize(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resizing the window to {width}x{height}: {e}"));
        poll(&format!("a {width} px wide window"), || async {
            let inner = self
                .client
                .execute("return window.innerWidth;", vec![])
                .await?;
            Ok(inner.as_u64() == Some(u64::from(width)))
        })
        .await;
    }

    /// Saves a screenshot for the README, unless one is there already and
    /// `UPDATE_SCREENSHOTS=1` is not set.
    pub(crate) async fn screenshot(&self, name: &str) {
        let path = screenshots_dir().join(name);
        let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
        if path.exists() && !update {
            return;
        }
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("a screenshot for {name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        std::fs::create_dir_all(screenshots_dir()).expect("the screenshot folder");
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// Polls `ready` every 100 ms until it says yes; panics after [`WAIT`] with
/// the last error, if any.
async fn poll<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, CmdError>>,
{
    let deadline = Instant::now() + WAIT;
    let mut last_error = None;
    loop {
        match ready().await {
            Ok(true) => return,
            Ok(false) => {}
            // The page may be between two documents; try again.
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            panic!("waited {WAIT:?} for {what}; last error: {last_error:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
}

/// `CHROMEDRIVER`, else `chromedriver` on the `PATH`, else Debian's path.
pub(crate) fn find_chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|path| path.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/bin/chromedriver");
        debian.is_file().then_some(debian)
    })
}

/// Headless Chromium in a fresh profile, with nothing that goes online
/// (on an offline machine, background networking gets connections refused).
pub(crate) fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let mut options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let binary = std::env::var_os("CHROME_BIN")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|path| path.is_file()));
    if let Some(binary) = binary {
        options["binary"] = json!(binary.display().to_string());
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    capabilities
}

/// A chromedriver child process on a free port; dropping it kills its whole
/// process group (chromedriver and any Chromium it started).
pub(crate) struct Chromedriver {
    child: Child,
    pub(crate) url: String,
    /// Chromium's profile and chromedriver's log.
    pub(crate) profile: tempfile::TempDir,
}

impl Chromedriver {
    pub(crate) async fn start(path: &Path) -> Chromedriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let profile = tempfile::tempdir().expect("a temporary folder");
        let log = std::fs::File::create(profile.path().join("chromedriver.log")).expect("a log");
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited at start ({status}): {}", driver.log());
            }
            if driver.is_ready().await {
                return driver;
            }
            if Instant::now() > deadline {
                panic!(
                    "chromedriver did not answer within {WAIT:?}: {}",
                    driver.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether `GET /status` says ready.
    async fn is_ready(&self) -> bool {
        let Ok(response) = reqwest::get(format!("{}/status", self.url)).await else {
            return false;
        };
        let Ok(status) = response.json::<Value>().await else {
            return false;
        };
        status["value"]["ready"] == json!(true)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromedriver.log")).unwrap_or_default()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
