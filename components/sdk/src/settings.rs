//! Reading settings handed over by the host as data.
//!
//! A bad value fails `describe` with a [`ConfigError`] naming the setting;
//! in `plan` and `step` the same error is a `bad-request` ([`for_call`]), so
//! an operator sees the setting's name either way.

use crate::{ConfigError, FetchError, RequestBudget, Setting, SettingDoc, SettingKind};

/// Looks up a setting by name; blank values count as unset, as they do for
/// Function App settings.
pub fn get<'a>(settings: &'a [Setting], name: &str) -> Option<&'a str> {
    settings
        .iter()
        .rev()
        .find(|s| s.name == name)
        .map(|s| s.value.trim())
        .filter(|v| !v.is_empty())
}

/// Splits a comma-separated setting into trimmed, non-empty items.
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds a [`ConfigError`] for `setting`.
pub fn invalid(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_string(),
        message: message.into(),
    }
}

/// A configuration result for `plan` and `step`, where a bad setting is a
/// request that cannot work: `bad-request`, starting `setting NAME: `.
pub fn for_call<T>(result: Result<T, ConfigError>) -> Result<T, FetchError> {
    result.map_err(|e| FetchError::BadRequest(format!("setting {}: {}", e.setting, e.message)))
}

/// The authority (`host` or `host:port`) of an `http(s)` base URL given in a
/// setting, with a clear error when the value is not such a URL.
pub fn authority_of(setting: &str, url: &str) -> Result<String, ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                setting,
                format!(
                    "`{url}` is not an http(s) URL; give a base such as https://manage.office.com"
                ),
            )
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid(
            setting,
            format!("`{url}` has no host name (or carries credentials, which is not allowed)"),
        ));
    }
    Ok(authority.to_ascii_lowercase())
}

/// The request budget set by `name` (requests per `per_ms`), `default` when
/// unset; `0` means no pacing.
pub fn budget(
    settings: &[Setting],
    name: &str,
    default: u32,
    per_ms: u64,
) -> Result<Option<RequestBudget>, ConfigError> {
    let requests = match get(settings, name) {
        None => default,
        Some(text) => text.parse::<u32>().map_err(|_| {
            invalid(
                name,
                format!("`{text}` is not a whole number of requests (0 turns pacing off)"),
            )
        })?,
    };
    Ok((requests > 0).then_some(RequestBudget {
        requests,
        per: per_ms,
    }))
}

/// The documentation of a budget setting made by [`budget`].
pub fn budget_doc(name: &str, default: u32, span: &str, api: &str) -> SettingDoc {
    SettingDoc {
        name: name.to_string(),
        default_value: Some(default.to_string()),
        kind: SettingKind::Number,
        description: format!(
            "Requests per {span} per tenant the host sends to {api} ({default} is the \
             documented quota; 0 turns pacing off)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_setting_in_a_call_is_a_bad_request_naming_it() {
        assert_eq!(for_call(Ok::<_, ConfigError>(7)).unwrap(), 7);
        match for_call::<()>(Err(invalid("O365_EVENT_TYPES", "unknown"))) {
            Err(FetchError::BadRequest(m)) => assert_eq!(m, "setting O365_EVENT_TYPES: unknown"),
            other => panic!("{other:?}"),
        }
    }
}
