//! Secrets at rest: passwords and device tokens are stored as argon2id hashes only.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::Alphanumeric;
use rand::Rng;

/// argon2id PHC string of `secret`. Deliberately slow: call it off the async executor.
pub fn hash(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Whether `secret` matches the stored PHC string; a malformed hash never matches.
pub fn verify(secret: &str, stored: &str) -> bool {
    PasswordHash::new(stored).map(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// A random alphanumeric string of `len` characters from the OS-seeded thread RNG.
pub fn random_token(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_same_secret() {
        let h = hash("s3cret-pass");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("s3cret-pass", &h));
        assert!(!verify("s3cret-pasS", &h));
        assert!(!verify("s3cret-pass", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_sized() {
        let a = random_token(24);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_token(24));
    }
}
