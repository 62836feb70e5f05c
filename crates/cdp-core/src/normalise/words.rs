//! Small sets of short ASCII words, looked up without allocation or `memcmp`: each word (at most
//! 16 bytes) is packed into a `u128` at compile time.

/// Pack up to 15 bytes into a `u128` (little-endian, with the length in the top byte so "a"
/// and "a\0" differ). 0 for an empty or longer slice (never the key of a listed word).
#[inline]
pub fn pack(s: &[u8]) -> u128 {
    if s.is_empty() || s.len() > 15 {
        return 0;
    }
    let mut a = [0u8; 16];
    a[..s.len()].copy_from_slice(s);
    a[15] = s.len() as u8;
    u128::from_le_bytes(a)
}

/// [`pack`] for compile-time tables.
const fn pack_const(s: &[u8]) -> u128 {
    if s.is_empty() || s.len() > 15 {
        return 0;
    }
    let mut a = [0u8; 16];
    let mut i = 0;
    while i < s.len() {
        a[i] = s[i];
        i += 1;
    }
    a[15] = s.len() as u8;
    u128::from_le_bytes(a)
}

/// A fixed set of words (each 1–15 bytes), sorted at compile time for binary search.
pub struct Words<const N: usize> {
    /// packed keys, ascending
    keys: [u128; N],
    /// `index[i]`: position in the original list of `keys[i]`
    index: [u16; N],
}

impl<const N: usize> Words<N> {
    /// Fails to compile (when used in a `static`/`const`) if a word is empty, longer than 15
    /// bytes, or listed twice.
    pub const fn new(words: [&str; N]) -> Self {
        let mut keys = [0u128; N];
        let mut index = [0u16; N];
        let mut i = 0;
        while i < N {
            let k = pack_const(words[i].as_bytes());
            assert!(k != 0, "word must be 1..=15 bytes");
            // insertion sort
            let mut j = i;
            while j > 0 && keys[j - 1] > k {
                keys[j] = keys[j - 1];
                index[j] = index[j - 1];
                j -= 1;
            }
            assert!(j == 0 || keys[j - 1] != k, "duplicate word");
            keys[j] = k;
            index[j] = i as u16;
            i += 1;
        }
        Words { keys, index }
    }

    /// Index of `w` in the original list.
    #[inline]
    pub fn position_bytes(&self, w: &[u8]) -> Option<usize> {
        let k = pack(w);
        if k == 0 {
            return None;
        }
        self.keys
            .binary_search(&k)
            .ok()
            .map(|i| self.index[i] as usize)
    }

    /// Index of `w` in the original list.
    #[inline]
    pub fn position(&self, w: &str) -> Option<usize> {
        self.position_bytes(w.as_bytes())
    }

    #[inline]
    pub fn contains(&self, w: &str) -> bool {
        self.position_bytes(w.as_bytes()).is_some()
    }

    #[inline]
    pub fn contains_bytes(&self, w: &[u8]) -> bool {
        self.position_bytes(w).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Words<4> = Words::new(["a", "mr", "extension", "fifteen_bytes__"]);

    #[test]
    fn lookups() {
        assert!(W.contains("a"));
        assert!(W.contains("mr"));
        assert!(W.contains("extension"));
        assert!(W.contains("fifteen_bytes__"));
        assert_eq!(W.position("extension"), Some(2));
        assert_eq!(W.position("a"), Some(0));
        assert_eq!(W.position("mr"), Some(1));
        assert_eq!(W.position("fifteen_bytes__"), Some(3));
        assert!(W.contains_bytes(b"mr"));
        assert!(!W.contains(""));
        assert!(!W.contains("\0a"));
        assert!(!W.contains("a\0"));
        assert!(!W.contains("mrs"));
        assert!(!W.contains("m"));
        assert!(!W.contains("fifteen_bytes___"));
        assert!(!W.contains("ş"));
        assert_ne!(pack(b"a"), pack(b"\0a"));
        assert_ne!(pack(b"a"), pack(b"a\0"));
        for w in ["a", "mr", "extension", "fifteen_bytes__", "\u{0}"] {
            assert_eq!(pack(w.as_bytes()), pack_const(w.as_bytes()));
        }
        assert_eq!(pack(b""), 0);
        assert_eq!(pack(&[b'x'; 16]), 0);
    }
}
