//! The five content types of the Management Activity API.
//!
//! A closed enum rather than strings, so that a typo in a setting or a
//! corrupted payload is caught once, at the edge, with the list of valid
//! names, instead of turning into a request the API refuses later.

use std::fmt;

/// One content type (a feed the API keeps a subscription for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContentType {
    /// Entra ID (Azure AD) sign-ins and directory changes.
    AzureActiveDirectory,
    /// Exchange Online admin and mailbox activity.
    Exchange,
    /// SharePoint Online and OneDrive activity.
    SharePoint,
    /// Every other workload (Teams, Power BI, Forms, Defender, ...).
    General,
    /// Data loss prevention rule matches (needs `ActivityFeed.ReadDlp`).
    DlpAll,
}

impl ContentType {
    /// Every content type, in the order the API documents them.
    pub const ALL: [ContentType; 5] = [
        ContentType::AzureActiveDirectory,
        ContentType::Exchange,
        ContentType::SharePoint,
        ContentType::General,
        ContentType::DlpAll,
    ];

    /// The name the API uses, for example `Audit.Exchange`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::AzureActiveDirectory => "Audit.AzureActiveDirectory",
            ContentType::Exchange => "Audit.Exchange",
            ContentType::SharePoint => "Audit.SharePoint",
            ContentType::General => "Audit.General",
            ContentType::DlpAll => "DLP.All",
        }
    }

    /// Parses a name, ignoring case and surrounding blanks.
    pub fn parse(name: &str) -> Option<ContentType> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The valid names, comma-separated, for error messages.
    pub fn valid_names() -> String {
        Self::ALL.map(ContentType::as_str).join(", ")
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Written as its API name.
impl serde::Serialize for ContentType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Read from its API name (any case); an unknown name is an error listing
/// the valid ones.
impl<'de> serde::Deserialize<'de> for ContentType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(deserializer)?;
        ContentType::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown content type `{name}`; valid ones are {}",
                ContentType::valid_names()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ignore_case() {
        for t in ContentType::ALL {
            assert_eq!(ContentType::parse(t.as_str()), Some(t));
        }
        assert_eq!(
            ContentType::parse(" audit.exchange "),
            Some(ContentType::Exchange)
        );
        assert_eq!(ContentType::parse("dlp.all"), Some(ContentType::DlpAll));
        assert_eq!(ContentType::parse("Audit.Teams"), None);
        assert_eq!(ContentType::parse(""), None);
    }

    #[test]
    fn serde_uses_the_api_name() {
        let json = serde_json::to_string(&ContentType::DlpAll).unwrap();
        assert_eq!(json, "\"DLP.All\"");
        let back: ContentType = serde_json::from_str("\"audit.general\"").unwrap();
        assert_eq!(back, ContentType::General);
        let err = serde_json::from_str::<ContentType>("\"Audit.Teams\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown content type `Audit.Teams`"),
            "{err}"
        );
    }
}
