//! Client IP addresses as Microsoft's APIs write them, cleaned into a bare
//! address.
//!
//! Exchange writes `[2001:db8::5]:51234` or `1.2.3.4:5678`, Entra ID a bare
//! address, SharePoint sometimes an empty string; the message trace APIs
//! (`fromIP`, `toIP`) much the same. Consumers (a SIEM matching on
//! `clientIp` or `fromIp`) want just the address, so every envelope carries
//! the cleaned form, by this one rule, and the record keeps the original.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The bare address in `raw`, without port or brackets; none when `raw` is
/// blank or holds no IP address. The address keeps its original spelling
/// (`::ffff:1.2.3.4` stays as it is). The address is a slice of `raw`: one
/// per record, so no allocation.
pub fn clean(raw: &str) -> Option<&str> {
    let raw = raw.trim();
    if raw.parse::<IpAddr>().is_ok() {
        return Some(raw);
    }
    // `[v6]` or `[v6]:port`.
    if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return (port_ok && inside.parse::<Ipv6Addr>().is_ok()).then_some(inside);
    }
    // `v4:port`, or `v6-with-dotted-tail:port` (after a dotted quad no more
    // colons belong to the address, so the last one starts the port).
    let (address, port) = raw.rsplit_once(':')?;
    let unambiguous = address.parse::<Ipv4Addr>().is_ok()
        || (address.contains('.') && address.parse::<Ipv6Addr>().is_ok());
    (is_port(port) && unambiguous).then_some(address)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn ports_and_brackets_are_removed() {
        for (raw, address) in [
            ("1.2.3.4:5678", "1.2.3.4"),
            ("1.2.3.4:25", "1.2.3.4"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:1.2.3.4:80", "::ffff:1.2.3.4"),
            (" 10.0.0.1 ", "10.0.0.1"),
        ] {
            assert_eq!(clean(raw), Some(address), "{raw}");
        }
    }

    #[test]
    fn bare_addresses_stay_intact() {
        for raw in [
            "2001:db8::1",
            "2a01:111:f403:c200::1",
            "::ffff:1.2.3.4",
            "1.2.3.4",
            "40.107.22.35",
            // Eight groups: the last one is part of the address, not a port.
            "2001:db8:0:0:0:0:0:443",
        ] {
            assert_eq!(clean(raw), Some(raw));
        }
    }

    #[test]
    fn blanks_and_non_addresses_are_absent() {
        for bad in [
            "",
            "  ",
            "<null>",
            "null",
            "unknown",
            "300.1.1.1",
            "1.2.3.4:",
            "1.2.3.4:http",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[1.2.3.4]:80",
            "300.1.1.1:80",
            "1.2.3.4:123456",
        ] {
            assert_eq!(clean(bad), None, "{bad}");
        }
    }
}
