//! Tokens for several tenants: each tenant has its own app registration
//! and credential, so a request for a tenant goes to that tenant's provider.

use super::{AccessToken, TokenError, TokenProvider};
use std::collections::HashMap;
use std::sync::Arc;

/// A [`TokenProvider`] per tenant id.
#[derive(Default)]
pub struct TenantTokens {
    by_tenant: HashMap<String, Arc<dyn TokenProvider>>,
}

impl TenantTokens {
    /// Uses `provider` for `tenant` (ids compare without case).
    pub fn insert(&mut self, tenant: &str, provider: Arc<dyn TokenProvider>) {
        self.by_tenant.insert(tenant.to_ascii_lowercase(), provider);
    }

    fn provider(&self, tenant: &str) -> Option<&Arc<dyn TokenProvider>> {
        self.by_tenant.get(&tenant.to_ascii_lowercase())
    }
}

#[async_trait::async_trait]
impl TokenProvider for TenantTokens {
    async fn token(&self, tenant: &str, audience: &str) -> Result<AccessToken, TokenError> {
        match self.provider(tenant) {
            Some(provider) => provider.token(tenant, audience).await,
            None => Err(TokenError::NotConfigured(format!(
                "{audience} in tenant {tenant} (not a tenant of this deployment)"
            ))),
        }
    }

    fn invalidate(&self, tenant: &str, audience: &str) {
        if let Some(provider) = self.provider(tenant) {
            provider.invalidate(tenant, audience);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::StaticToken;

    #[tokio::test]
    async fn each_tenant_gets_its_own_credential_and_no_other() {
        let mut tokens = TenantTokens::default();
        tokens.insert("AAAA", Arc::new(StaticToken::new("token-a")));
        tokens.insert("bbbb", Arc::new(StaticToken::new("token-b")));
        let a = tokens
            .token("aaaa", "https://manage.office.com")
            .await
            .unwrap();
        let b = tokens
            .token("bbbb", "https://manage.office.com")
            .await
            .unwrap();
        assert_eq!(a.value.expose(), "token-a");
        assert_eq!(b.value.expose(), "token-b");
        assert!(matches!(
            tokens.token("cccc", "https://manage.office.com").await,
            Err(TokenError::NotConfigured(_))
        ));
    }
}
