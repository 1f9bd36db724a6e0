//! The fixed key pairs and certificates every test uses (RSA key
//! generation is slow in debug builds), in one place.

/// RSA keys: the DM's token key (PKCS#1 and PKCS#8), its public half (SPKI
/// and PKCS#1), and an unrelated pair.
pub mod keys {
    pub const DM_KEY_PKCS1: &str = include_str!("../testdata/keys/dm_key_pkcs1.pem");
    pub const DM_KEY_PKCS8: &str = include_str!("../testdata/keys/dm_key_pkcs8.pem");
    pub const DM_PUB: &str = include_str!("../testdata/keys/dm_pub.pem");
    pub const DM_PUB_PKCS1: &str = include_str!("../testdata/keys/dm_pub_pkcs1.pem");
    pub const OTHER_KEY: &str = include_str!("../testdata/keys/other_key.pem");
    pub const OTHER_PUB: &str = include_str!("../testdata/keys/other_pub.pem");
}

/// mTLS material: a CA, the DM's and the Manager's certificates signed by
/// it (`dm.key` SEC1, `dm_pkcs8.key` the same key as PKCS#8), and a rogue
/// certificate from another CA.
pub mod mtls {
    pub const CA: &str = include_str!("../testdata/mtls/ca.crt");
    pub const DM_CERT: &str = include_str!("../testdata/mtls/dm.crt");
    pub const DM_KEY: &str = include_str!("../testdata/mtls/dm.key");
    pub const DM_KEY_PKCS8: &str = include_str!("../testdata/mtls/dm_pkcs8.key");
    pub const MANAGER_CERT: &str = include_str!("../testdata/mtls/manager.crt");
    pub const MANAGER_KEY: &str = include_str!("../testdata/mtls/manager.key");
    pub const ROGUE_CERT: &str = include_str!("../testdata/mtls/rogue.crt");
    pub const ROGUE_KEY: &str = include_str!("../testdata/mtls/rogue.key");
    pub const ROGUE_CA: &str = include_str!("../testdata/mtls/rogue_ca.crt");
}
