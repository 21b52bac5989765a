//! Names, addresses and IP addresses shared by the audit and trace generators.

use crate::rng::Rng;

const FIRST: [&str; 16] = [
    "adele",
    "alex",
    "allan",
    "diego",
    "grady",
    "henrietta",
    "isaiah",
    "joni",
    "lee",
    "lidia",
    "lynne",
    "megan",
    "miriam",
    "nestor",
    "patti",
    "pradeep",
];
const LAST: [&str; 12] = [
    "vance",
    "wilber",
    "deyoung",
    "siciliani",
    "archie",
    "mueller",
    "langer",
    "sherman",
    "gu",
    "holloway",
    "robbins",
    "bowen",
];
const EXTERNAL: [&str; 8] = [
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "tailspintoys.com",
    "woodgrovebank.com",
    "litwareinc.com",
    "proseware.com",
    "wideworldimporters.com",
];

/// A user principal name in the tenant's domain, from a pool of 192 users.
pub(crate) fn upn(rng: &mut Rng, domain: &str) -> String {
    format!("{}.{}@{domain}", rng.pick(&FIRST), rng.pick(&LAST))
}

/// An address outside the tenant.
pub(crate) fn external_address(rng: &mut Rng) -> String {
    format!(
        "{}.{}@{}",
        rng.pick(&FIRST),
        rng.pick(&LAST),
        rng.pick(&EXTERNAL)
    )
}

/// A public-looking IPv4 address.
pub(crate) fn ipv4(rng: &mut Rng) -> String {
    let prefix = *rng.pick(&[20u64, 40, 52, 104, 137, 185, 203, 81]);
    format!(
        "{prefix}.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

/// An IPv6 address in documentation-like form.
pub(crate) fn ipv6(rng: &mut Rng) -> String {
    format!(
        "2603:10a6:{:x}:{:x}::{:x}",
        rng.below(0xffff),
        rng.below(0xffff),
        1 + rng.below(0xfff)
    )
}

/// A `ClientIP` the way the audit log records it: IPv4, IPv4 with port,
/// IPv6, bracketed IPv6 with port, or absent (`None`).
pub(crate) fn client_ip(rng: &mut Rng) -> Option<String> {
    match rng.below(20) {
        0..=7 => Some(ipv4(rng)),
        8..=10 => Some(format!("{}:{}", ipv4(rng), 1024 + rng.below(60000))),
        11..=14 => Some(ipv6(rng)),
        15..=16 => Some(format!(
            "[{}]:{}",
            ipv6(rng),
            *rng.pick(&[443u64, 80, 50123])
        )),
        _ => None,
    }
}
