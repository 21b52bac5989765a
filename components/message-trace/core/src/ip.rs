//! IP addresses as the message trace APIs write them (`fromIP`, `toIP`),
//! cleaned into a bare address: the same rule as the audit component's
//! `clientIp` (a bracketed or port-suffixed form loses the decoration; a
//! bare IPv6 address stays as it is), so one consumer rule fits both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The bare address in `raw`, without port or brackets; none when `raw` is
/// blank or holds no IP address. The address keeps its original spelling.
pub fn clean(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.parse::<IpAddr>().is_ok() {
        return Some(raw.to_string());
    }
    if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return (port_ok && inside.parse::<Ipv6Addr>().is_ok()).then(|| inside.to_string());
    }
    let (address, port) = raw.rsplit_once(':')?;
    let unambiguous = address.parse::<Ipv4Addr>().is_ok()
        || (address.contains('.') && address.parse::<Ipv6Addr>().is_ok());
    (is_port(port) && unambiguous).then(|| address.to_string())
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn bare_addresses_stay_and_decorations_go() {
        assert_eq!(clean("40.107.22.35").as_deref(), Some("40.107.22.35"));
        assert_eq!(
            clean("2a01:111:f403:c200::1").as_deref(),
            Some("2a01:111:f403:c200::1")
        );
        assert_eq!(clean(" 10.0.0.1 ").as_deref(), Some("10.0.0.1"));
        assert_eq!(clean("1.2.3.4:25").as_deref(), Some("1.2.3.4"));
        assert_eq!(clean("[2001:db8::1]:25").as_deref(), Some("2001:db8::1"));
        assert_eq!(clean("::ffff:1.2.3.4").as_deref(), Some("::ffff:1.2.3.4"));
    }

    #[test]
    fn blanks_and_non_addresses_are_absent() {
        for bad in [
            "",
            " ",
            "null",
            "unknown",
            "300.1.1.1",
            "1.2.3.4:",
            "[2001:db8::1",
        ] {
            assert_eq!(clean(bad), None, "{bad}");
        }
    }
}
