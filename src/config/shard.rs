//! Splitting the watched domains between replicas: each replica probes the
//! domains whose stable hash falls in its shard.

/// One replica's share: domains whose stable hash modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This replica's index, `0..count`.
    pub index: u32,
    /// The number of replicas.
    pub count: u32,
}

impl Shard {
    /// Whether `domain` belongs to this shard.
    pub fn owns(&self, domain: &str) -> bool {
        domain_hash(domain) % u64::from(self.count) == u64::from(self.index)
    }
}

/// The stable hash deciding a domain's shard: 64-bit FNV-1a of the ASCII
/// name, then MurmurHash3's 64-bit finalizer so the low bits (used by the
/// modulo) are well mixed. Fixed by its definition, so every replica and
/// every version agrees.
pub fn domain_hash(domain: &str) -> u64 {
    let mut hash = domain
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_in_exactly_one_shard() {
        let domains: Vec<String> = (0..10_000).map(|i| format!("d{i}.example")).collect();
        for count in [1u32, 2, 3, 7, 16] {
            let mut per_shard = vec![0usize; count as usize];
            for domain in &domains {
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Shard { index, count }.owns(domain))
                    .collect();
                assert_eq!(owners.len(), 1, "{domain} in shards {owners:?} of {count}");
                per_shard[owners[0] as usize] += 1;
            }
            // Balanced within 10% of the even share.
            let even = domains.len() / count as usize;
            assert!(
                per_shard.iter().all(|&n| n.abs_diff(even) <= even / 10),
                "{count}: {per_shard:?}"
            );
        }
        // The hash is fixed by definition: known values stay known.
        assert_eq!(domain_hash("example.com"), 0x9591_d642_1994_d599);
    }
}
