//! Checks that an image exists in its registry and prints its digest.
//!
//! ```text
//! cargo run -p registry-client --example check -- IMAGE [--plain-http] [--ca-file PEM]
//! ```
//!
//! Credentials come from `REGISTRY_USERNAME` / `REGISTRY_PASSWORD` when both are set, else from
//! `~/.docker/config.json` (`auths`), else none. `--plain-http` reaches the image's registry over
//! plain HTTP (for a local test registry). Exit code 0 when the image exists, 1 when it does not,
//! 2 for any other failure.

use std::process::ExitCode;
use std::time::Duration;

use registry_client::{Credentials, DockerConfig, ImageReference, RegistryClient, RegistryError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut image = None;
    let mut plain_http = false;
    let mut ca_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plain-http" => plain_http = true,
            "--ca-file" => ca_file = Some(args.next().ok_or("--ca-file needs a path")?),
            _ if image.is_none() => image = Some(arg),
            _ => return Err(format!("unexpected argument `{arg}`").into()),
        }
    }
    let image =
        ImageReference::parse(&image.ok_or("usage: check IMAGE [--plain-http] [--ca-file PEM]")?)?;

    let mut builder = RegistryClient::builder().timeout(Duration::from_secs(10));
    if plain_http {
        builder = builder.plain_http_host(image.registry_host());
    }
    if let Some(path) = ca_file {
        builder = builder.add_root_certificate_pem(std::fs::read(path)?);
    }
    let client = builder.build()?;

    let credentials = credentials_for(&image)?;
    match client.check_manifest(&image, &credentials).await {
        Ok(manifest) => {
            println!(
                "{image}\n  digest     {}\n  media type {}\n  size       {} bytes",
                manifest.digest, manifest.media_type, manifest.size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(
            error @ (RegistryError::ManifestUnknown { .. } | RegistryError::NameUnknown { .. }),
        ) => {
            println!("{error}");
            Ok(ExitCode::from(1))
        }
        Err(error) => Err(error.into()),
    }
}

fn credentials_for(image: &ImageReference) -> Result<Credentials, Box<dyn std::error::Error>> {
    if let (Ok(username), Ok(password)) = (
        std::env::var("REGISTRY_USERNAME"),
        std::env::var("REGISTRY_PASSWORD"),
    ) {
        return Ok(Credentials::basic(username, password));
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Ok(Credentials::Anonymous);
    };
    let path = std::path::Path::new(&home).join(".docker/config.json");
    if !path.is_file() {
        return Ok(Credentials::Anonymous);
    }
    Ok(DockerConfig::from_path(path)?.credentials_for(image.domain())?)
}
