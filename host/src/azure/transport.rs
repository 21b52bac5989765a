//! The HTTP transport of the Azure SDK clients, built here so that it
//! trusts the same extra CAs as the rest of the host (`O365_EXTRA_CA_CERT`:
//! a TLS-inspecting proxy's CA, a simulator's test CA). `azure_core` 1.1
//! sends through reqwest 0.13 (the host's own client is 0.12), so this is a
//! second client built like the SDK's default one.

use anyhow::Context as _;
use azure_core::http::{ClientOptions, Transport};
use std::sync::Arc;
use std::time::Duration;

/// Client options for an Azure SDK client: the SDK's defaults, plus
/// `extra_ca_pems` trusted next to the system's roots.
pub fn client_options(extra_ca_pems: &[String]) -> anyhow::Result<ClientOptions> {
    if extra_ca_pems.is_empty() {
        return Ok(ClientOptions::default());
    }
    let mut certificates = Vec::new();
    for pem in extra_ca_pems {
        certificates.extend(
            reqwest_azure::Certificate::from_pem_bundle(pem.as_bytes())
                .context("O365_EXTRA_CA_CERT holds no readable PEM certificate")?,
        );
    }
    let client = reqwest_azure::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest_azure::redirect::Policy::none())
        .tls_certs_merge(certificates)
        .build()
        .context("building the Azure SDK's HTTP client with O365_EXTRA_CA_CERT")?;
    Ok(ClientOptions {
        transport: Some(Transport::new(Arc::new(client))),
        ..ClientOptions::default()
    })
}
