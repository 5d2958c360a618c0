//! The binary: settings, logging, then the application. Everything else is in the library.

use session_demo::{config::Settings, logging, startup::Application};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A `.env` file, if present, fills in variables the environment does not set.
    let _ = dotenvy::dotenv();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("session-demo: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    logging::init(settings.log_format, &settings.rust_log);

    let result = async {
        let app = Application::build(settings).await?;
        app.run_until_stopped().await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line on stderr, whatever RUST_LOG says; `{:#}` keeps the cause chain.
            eprintln!("session-demo: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
